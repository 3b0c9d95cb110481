//! `TacoArchive` end to end over one archive with a planner's index: entries, members, tiles,
//! time queries, coalesced range reads and extraction, through a buffer, a file and a source
//! that counts its requests (each read or opened range one request, as remotely).

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::Counting;

use std::borrow::Cow;
use std::io::{Cursor, Read};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use taco_format::Entry;
use taco_index::{
    EntryFields, EntryKind, EntryRecord, Index, MemberFields, MemberRecord, TimeSelection,
    INDEX_FORMAT, INDEX_MEMBER, INDEX_VERSION,
};
use taco_reader::{
    ErrorClass, ExtractOptions, LocalFile, ReadAt, ReadError, Selection, TacoArchive,
};
use taco_writer::{ArchiveWriter, MemberSpan, WriterOptions};

/// Tiles 0/0/0 and 1/0/0..1/1/1 (`z/x/y.png`, five bytes each, distinct), a NetCDF-like
/// time range on each, and the index; entry 0 = zoom 0 (data), entry 1 = zoom 1 (span).
fn tiles_archive(index_planner: &str) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    tiles_archive_with(index_planner, |_| {})
}

/// As [`tiles_archive`], with `edit` applied to the index before it is written.
fn tiles_archive_with(
    index_planner: &str,
    edit: impl FnOnce(&mut Index),
) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let tiles = [(0, 0, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0)];
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    let mut files = Vec::new();
    let mut records = Vec::new();
    let mut spans: Vec<MemberSpan> = Vec::new();
    for (i, &(z, x, y)) in tiles.iter().enumerate() {
        let name = format!("{z}/{x}/{y}.png");
        let body = format!("tile{i}").into_bytes();
        let span = w.add_bytes(&name, &body, None).unwrap();
        let month = i + 1;
        records.push(MemberRecord {
            name: Cow::Owned(name.clone()),
            data_offset: span.data_offset,
            length: span.data_len,
            crc32: span.crc32,
            fields: Cow::Owned(MemberFields {
                z: Some(z),
                x: Some(x),
                y: Some(y),
                start: Some(format!("2024-{month:02}-01T00:00:00").parse().unwrap()),
                end: Some(format!("2024-{month:02}-20T00:00:00").parse().unwrap()),
                ..MemberFields::default()
            }),
        });
        files.push((name, body));
        spans.push(span);
    }
    let entries = [
        spans[0].data_entry(),
        MemberSpan::span_entry(&spans[1], &spans[4]),
    ];
    let mut index = Index {
        format: INDEX_FORMAT.into(),
        version: INDEX_VERSION,
        planner: index_planner.into(),
        entries: entries
            .iter()
            .enumerate()
            .map(|(i, e)| EntryRecord {
                index: i,
                label: format!("zoom {i}"),
                kind: if i == 0 {
                    EntryKind::Data
                } else {
                    EntryKind::Span
                },
                offset: e.offset,
                length: e.length,
                fields: EntryFields::default(),
            })
            .collect(),
        members: records,
        sections: serde_json::Map::new(),
    };
    edit(&mut index);
    let json = serde_json::to_vec(&index).unwrap();
    w.add_bytes(INDEX_MEMBER, &json, None).unwrap();
    (w.finish(&entries).unwrap().0.into_inner(), files)
}

fn counting(bytes: &[u8]) -> Counting {
    Counting::new(bytes)
}

/// Runs `check` over a buffer, a file and the counting source.
fn through_every_source(bytes: &[u8], check: impl Fn(TacoArchive<Box<dyn ReadAt + Send + Sync>>)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.taco");
    std::fs::write(&path, bytes).unwrap();
    let sources: Vec<Box<dyn ReadAt + Send + Sync>> = vec![
        Box::new(bytes.to_vec()),
        Box::new(LocalFile::open(&path).unwrap()),
        Box::new(counting(bytes)),
    ];
    for source in sources {
        check(TacoArchive::from_source(source).unwrap());
    }
}

#[test]
fn tiles_and_times_come_from_the_index_and_are_crc_checked() {
    let (bytes, files) = tiles_archive("tiles");
    through_every_source(&bytes, |archive| {
        let tile = archive.tile(1, 1, 1).unwrap();
        assert_eq!(tile.name, "1/1/1.png");
        let mut got = Vec::new();
        archive
            .open_located(&tile)
            .unwrap()
            .1
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, files[3].1);
        let missing = archive.tile(2, 0, 0).unwrap_err();
        assert_eq!(missing.kind().name(), "NoSuchTile");
        assert_eq!(missing.kind().class(), ErrorClass::Archive);
        assert!(missing.to_string().contains("no tile 2/0/0 in the index"));
        // A tiles index is no NetCDF index.
        let wrong = archive.query_time(&TimeSelection::default()).unwrap_err();
        assert!(
            wrong.to_string().contains("not a netcdf archive"),
            "{wrong}"
        );
    });
    let netcdf = tiles_archive("netcdf").0;
    through_every_source(&netcdf, |archive| {
        let march = TimeSelection::parse(Some("2024-03"), None, None).unwrap();
        let found = archive.query_time(&march).unwrap();
        let names: Vec<&str> = found.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["1/0/1.png"]);
        assert_eq!(found[0].entry, Some(1), "inside the zoom-1 span");
        assert!(
            archive.tile(0, 0, 0).is_err(),
            "a netcdf index has no tiles"
        );
    });
}

#[test]
fn a_tile_of_a_v1_archive_costs_three_requests_and_no_central_directory() {
    let (bytes, _) = tiles_archive("tiles");
    let archive = TacoArchive::from_source_lazy(counting(&bytes));
    let tile = archive.tile(0, 0, 0).unwrap();
    archive
        .open_located(&tile)
        .unwrap()
        .1
        .read_to_end(&mut Vec::new())
        .unwrap();
    // The head (which would hold an index-v2 lookup directory; a v1 archive has none), the
    // tail (end records, the index's central record and, in a small archive, the index
    // itself), then the tile.
    assert_eq!(archive.source().requests.load(Ordering::Relaxed), 3);
}

#[test]
fn an_index_placing_data_past_the_members_is_refused() {
    // The first tile placed on the central directory: inside the file, outside member data.
    let (good, _) = tiles_archive("tiles");
    let (bad, _) = tiles_archive_with("tiles", |index| {
        index.members[0].data_offset = good.len() as u64 - 30;
    });
    let archive = TacoArchive::from_source_lazy(counting(&bad));
    let err = archive.tile(0, 0, 0).unwrap_err();
    assert_eq!(err.kind().name(), "IndexOutside", "{err}");
    assert!(err.to_string().contains("past the member data"), "{err}");
    assert_eq!(
        archive.source().requests.load(Ordering::Relaxed),
        2,
        "refused after the head and the tail, before any read of the tile"
    );
    let (wrapped, _) = tiles_archive_with("tiles", |index| {
        index.members[0].data_offset = u64::MAX - 2;
    });
    let archive = TacoArchive::from_source_lazy(wrapped);
    assert_eq!(
        archive.tile(0, 0, 0).unwrap_err().kind().name(),
        "IndexOutside"
    );
}

#[test]
fn read_ranges_hands_each_range_its_bytes_with_one_request_for_neighbours() {
    let (bytes, files) = tiles_archive("tiles");
    let archive = TacoArchive::from_source_lazy(counting(&bytes));
    let ranges: Vec<Entry> = archive.members().unwrap()[1..6]
        .iter()
        .map(|m| archive.directory().unwrap().data_range(m).unwrap())
        .collect();
    let before = archive.source().requests.load(Ordering::Relaxed);
    let got = Mutex::new(vec![Vec::new(); ranges.len()]);
    archive
        .read_ranges(&ranges, 4, |i, reader| {
            let mut buf = Vec::new();
            reader.read_to_end(&mut buf).map_err(|e| ReadError::Io {
                source_label: "test".into(),
                offset: 0,
                len: 0,
                source: e,
            })?;
            got.lock().unwrap()[i] = buf;
            Ok::<_, ReadError>(())
        })
        .unwrap();
    let got = got.into_inner().unwrap();
    for (i, (_, body)) in files.iter().enumerate() {
        assert_eq!(&got[i], body);
    }
    assert_eq!(
        archive.source().requests.load(Ordering::Relaxed) - before,
        1,
        "five tiles side by side: one request"
    );
}

#[test]
fn extracting_an_entry_writes_exactly_its_members() {
    let (bytes, files) = tiles_archive("tiles");
    through_every_source(&bytes, |archive| {
        let dir = tempfile::tempdir().unwrap();
        let report = archive
            .extract(dir.path(), Selection::Entry(1), &ExtractOptions::default())
            .unwrap();
        let mut names: Vec<String> = report
            .files
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["1/0/0.png", "1/0/1.png", "1/1/0.png", "1/1/1.png"]);
        let bytes: usize = files[1..].iter().map(|(_, body)| body.len()).sum();
        assert_eq!(
            report.bytes, bytes as u64,
            "the report counts the data written"
        );
        for (name, body) in &files[1..] {
            assert_eq!(&std::fs::read(dir.path().join(name)).unwrap(), body);
        }
        let none = archive
            .extract(dir.path(), Selection::Entry(7), &ExtractOptions::default())
            .unwrap_err();
        assert_eq!(none.kind().name(), "NoSuchEntry");
    });
}

const SHAPE_LEN: usize = 40_000;

/// An archive of three members and entries of every shape `extract --entry` meets.
fn entry_shapes() -> (Vec<u8>, [MemberSpan; 3]) {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    // Big enough that the tail read at open holds none of the local headers.
    let a = w.add_bytes("a.bin", &[1u8; SHAPE_LEN], None).unwrap();
    let b = w.add_bytes("b.bin", &[2u8; SHAPE_LEN], None).unwrap();
    let c = w.add_bytes("c.bin", &[3u8; SHAPE_LEN], None).unwrap();
    let entries = [
        // 0: b's data exactly
        b.data_entry(),
        // 1: from inside a's data through c's data: b and c lie wholly inside, a does not
        Entry::new(a.data_offset + 50, c.end() - (a.data_offset + 50)),
        // 2: a slice inside b's data: no member lies wholly inside
        Entry::new(b.data_offset + 10, 20),
        // 3: starts in the local header of c, not in any member's data
        Entry::new(c.header_offset + 5, 10),
        // 4: a's data and b's local header, but not b's data: only a
        Entry::new(a.data_offset, b.data_offset + 50 - a.data_offset),
    ];
    let bytes = w.finish(&entries).unwrap().0.into_inner();
    (bytes, [a, b, c])
}

#[test]
fn an_entry_extracts_exactly_the_members_whose_data_it_holds_whole() {
    let (bytes, _) = entry_shapes();
    // Entries holding no whole member are refused, naming the member they lie in, and
    // write nothing (extracting them would otherwise "succeed" with no file).
    for (entry, within) in [(2, "b.bin"), (3, "c.bin")] {
        through_every_source(&bytes, |archive| {
            let dir = tempfile::tempdir().unwrap();
            let err = archive
                .extract(
                    dir.path(),
                    Selection::Entry(entry),
                    &ExtractOptions::default(),
                )
                .unwrap_err();
            assert_eq!(err.kind().name(), "EntryHoldsNoMember", "entry {entry}");
            assert!(err.to_string().contains(within), "{err}");
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        });
    }
    let (bytes, _) = entry_shapes();
    for (entry, want) in [
        (0, vec!["b.bin"]),
        (1, vec!["b.bin", "c.bin"]),
        (4, vec!["a.bin"]),
    ] {
        through_every_source(&bytes, |archive| {
            let dir = tempfile::tempdir().unwrap();
            let report = archive
                .extract(
                    dir.path(),
                    Selection::Entry(entry),
                    &ExtractOptions::default(),
                )
                .unwrap();
            let mut got: Vec<String> = report
                .files
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect();
            got.sort();
            assert_eq!(got, want, "entry {entry}");
            for name in &got {
                let fill = name.as_bytes()[0] - b'a' + 1;
                assert_eq!(
                    std::fs::read(dir.path().join(name)).unwrap(),
                    vec![fill; SHAPE_LEN]
                );
            }
        });
    }
    // Only the local headers of members the entry can hold are read: b's data entry costs the
    // header, the tail, b's local header (its start) and b's bytes, never a's or c's headers.
    let archive = TacoArchive::from_source_lazy(counting(&bytes));
    let dir = tempfile::tempdir().unwrap();
    archive
        .extract(dir.path(), Selection::Entry(0), &ExtractOptions::default())
        .unwrap();
    assert_eq!(archive.source().requests.load(Ordering::Relaxed), 4);
}
