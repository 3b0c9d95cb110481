//! Time queries through the manifest (index v2): the same answers as the v1 index, row groups
//! ruled out by their statistics never read, and an archive without a manifest still answered
//! from its v1 index.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::Counting;
use taco_index::CivilTime;
use taco_planners::{execute, ExecuteOptions, MemberFields, MemberSource, Plan, PlannedMember};
use taco_reader::{TacoArchive, TimeSelection};

/// Hour `i` of a calendar of 28-day months from 2024-01-01T00:00:00 (every such date is a
/// valid Gregorian one, so the manifest has millisecond times and statistics).
fn hour(i: u64, minute: u32) -> CivilTime {
    let day = i / 24;
    CivilTime {
        year: 2024 + (day / 336) as i64,
        month: 1 + (day % 336 / 28) as u32,
        day: 1 + (day % 28) as u32,
        hour: (i % 24) as u32,
        minute,
        second: 0,
    }
}

/// A netcdf-planner archive of `count` one-hour records (no real NetCDF bytes), with the v1
/// index too, or without index v2.
fn times_archive(count: u64, index_v2: bool) -> Vec<u8> {
    let members = (0..count)
        .map(|i| PlannedMember {
            name: format!("t/{i:06}.nc"),
            source: MemberSource::Bytes(format!("hour {i}").into_bytes()),
            fields: MemberFields {
                start: Some(hour(i, 0)),
                end: Some(hour(i, 59)),
                calendar: Some("standard".into()),
                units: Some("hours since 2024-01-01".into()),
                ..MemberFields::default()
            }
            .into(),
        })
        .collect();
    let plan = Plan {
        planner: "netcdf",
        members,
        groups: Vec::new(),
        section: Some(Box::new(|_| serde_json::json!({}))),
        notes: Vec::new(),
        total_bytes: 0,
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("times.taco");
    let options = ExecuteOptions {
        no_index: !index_v2,
        fixed_time: Some(0),
        ..ExecuteOptions::default()
    };
    execute(plan, &out, options).unwrap();
    std::fs::read(out).unwrap()
}

#[test]
fn a_query_reads_the_footer_and_only_the_row_groups_it_needs() {
    // 140 000 records: three row groups of 65 536 rows; a day of 2024 lies in the first.
    let bytes = times_archive(140_000, true);
    let archive = TacoArchive::from_source_lazy(Counting::new(&bytes));
    let day = TimeSelection::parse(Some("2024-03-10"), None, None).unwrap();
    let found = archive.query_time(&day).unwrap();
    let names: Vec<&str> = found.iter().map(|m| m.name.as_str()).collect();
    // 2024-03-10 is day 2 × 28 + 9 = 65 of that calendar: hours 65 × 24 .. 66 × 24
    let want: Vec<String> = (1560..1584).map(|i| format!("t/{i:06}.nc")).collect();
    assert_eq!(names, want);
    for m in &found {
        let at = m.data_offset as usize;
        assert_eq!(
            &bytes[at..at + m.length as usize],
            format!("hour {}", &m.name[2..8].parse::<u64>().unwrap()).as_bytes()
        );
    }
    let source = archive.source();
    // the tail, the manifest's local header, its footer, one row group
    assert_eq!(source.requests(), 4, "requests");
    let read = source.read.load(std::sync::atomic::Ordering::Relaxed);
    let (range, _) = archive.manifest_range().unwrap();
    assert!(
        read < 64 * 1024 * 2 + range.length / 2,
        "read {read} bytes of a {}-byte manifest",
        range.length
    );

    // the v1 index gives the same answer
    let v1 = TacoArchive::from_source(bytes.clone()).unwrap();
    let from_index = v1.index().unwrap().select_time(&day).unwrap();
    assert_eq!(found, from_index);
}

#[test]
fn an_archive_without_a_manifest_is_answered_from_its_v1_index() {
    let with = times_archive(500, true);
    let without = times_archive(500, false);
    assert!(!without.windows(14).any(|w| w == b"TACO_DIRECTORY"));
    let selection = TimeSelection::parse(None, Some("2024-01-03"), Some("2024-01-04")).unwrap();
    let a = TacoArchive::from_source(with)
        .unwrap()
        .query_time(&selection)
        .unwrap();
    let b = TacoArchive::from_source(without)
        .unwrap()
        .query_time(&selection)
        .unwrap();
    assert_eq!(a.len(), 48);
    let names = |m: &[taco_reader::TimeMatch]| -> Vec<String> {
        m.iter().map(|m| m.name.clone()).collect()
    };
    assert_eq!(names(&a), names(&b));
}

/// Replaces the manifest's data in `bytes` by `edit(data)` and fixes its CRC-32 in the local
/// header and the central record, so only the Parquet bytes are hostile.
fn with_manifest_edited(bytes: &[u8], edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let (start, len, header) = {
        let m = zip.by_name("TACO_MANIFEST.parquet").unwrap();
        (
            m.data_start() as usize,
            m.size() as usize,
            m.header_start() as usize,
        )
    };
    let mut out = bytes.to_vec();
    edit(&mut out[start..start + len]);
    let crc = crc32fast::hash(&out[start..start + len]).to_le_bytes();
    out[header + 14..header + 18].copy_from_slice(&crc);
    let name = b"TACO_MANIFEST.parquet";
    let central = (0..out.len() - 46 - name.len())
        .rev()
        .find(|&at| {
            out[at..at + 4] == [0x50, 0x4b, 1, 2] && &out[at + 46..at + 46 + name.len()] == name
        })
        .unwrap();
    out[central + 16..central + 20].copy_from_slice(&crc);
    out
}

#[test]
fn a_hostile_manifest_footer_is_an_error_never_a_panic() {
    // Every byte of the footer's metadata flipped in turn (CRCs fixed so the ZIP is
    // consistent): query and validate answer or fail, they never panic.
    let bytes = times_archive(300, true);
    let manifest_len = {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
        let len = zip.by_name("TACO_MANIFEST.parquet").unwrap().size() as usize;
        len
    };
    let day = TimeSelection::parse(Some("2024-01-05"), None, None).unwrap();
    let clean = TacoArchive::from_source(bytes.clone())
        .unwrap()
        .query_time(&day)
        .unwrap();
    assert_eq!(clean.len(), 24);
    let mut errors = 0;
    for back in 9..manifest_len.min(2048) {
        let hostile = with_manifest_edited(&bytes, |data| {
            let at = data.len() - back;
            data[at] ^= 0x01;
        });
        let result = std::panic::catch_unwind(|| {
            let archive = TacoArchive::from_source(hostile.clone()).unwrap();
            let query = archive.query_time(&day).map(|m| m.len());
            let valid = archive.validate(taco_reader::Level::Normal).map(|_| ());
            (query, valid)
        });
        let (query, valid) = result.unwrap_or_else(|_| panic!("panic at byte -{back}"));
        errors += usize::from(query.is_err()) + usize::from(valid.is_err());
    }
    assert!(errors > 0, "some corruptions must be caught");
}
