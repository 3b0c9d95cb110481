//! Index v2 through `TacoArchive`: archives written by the planners carry a lookup directory
//! after `TACO_HEADER`, and a tile or member is found with the head (first 64 KiB), at most one
//! directory block and the member's local entry — counted here as requests.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::Counting;

use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};
use taco_planners::{Assembled, MemberSource, Plan, PlannedFields, PlannedMember};
use taco_reader::{Place, ReadError, TacoArchive};

fn counting(path: &Path) -> TacoArchive<Counting> {
    TacoArchive::from_source_lazy(Counting::new(&std::fs::read(path).unwrap()))
}

fn tile_body(z: u32, x: u32, y: u32) -> Vec<u8> {
    format!("tile {z}/{x}/{y}").into_bytes()
}

/// A full pyramid of zooms `0..=max_zoom` written through the planners' `execute` with the
/// tiles planner's order and fields, built once per test binary and shared.
fn pyramid(max_zoom: u32) -> std::path::PathBuf {
    static BUILT: Mutex<Vec<(u32, std::path::PathBuf)>> = Mutex::new(Vec::new());
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let mut built = BUILT.lock().unwrap();
    if let Some((_, path)) = built.iter().find(|(z, _)| *z == max_zoom) {
        return path.clone();
    }
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap()).path();
    // The tiles as slices of one file, in zoom-then-Hilbert order, as the tiles planner orders
    // them: the plan is the planner's but no inode is made per tile.
    let mut cells: Vec<(u32, u32, u32)> = (0..=max_zoom)
        .flat_map(|z| (0..1u32 << z).flat_map(move |x| (0..1u32 << z).map(move |y| (z, x, y))))
        .collect();
    cells.sort_by_key(|&(z, x, y)| (z, taco_format::hilbert_index(z, x, y)));
    let bodies = dir.join(format!("bodies-{max_zoom}.bin"));
    let mut all = Vec::new();
    let mut members = Vec::with_capacity(cells.len());
    for &(z, x, y) in &cells {
        let body = tile_body(z, x, y);
        members.push(PlannedMember {
            name: format!("{z}/{x}/{y}.png"),
            source: MemberSource::Assembled(Box::new(Assembled {
                path: bodies.clone(),
                prefix: Vec::new(),
                offset: all.len() as u64,
                len: body.len() as u64,
                suffix: Vec::new(),
            })),
            fields: PlannedFields::Tile { z, x, y },
        });
        all.extend_from_slice(&body);
    }
    std::fs::write(&bodies, &all).unwrap();
    let plan = Plan {
        planner: "tiles",
        members,
        groups: Vec::new(),
        section: Some(Box::new(|_| serde_json::json!({}))),
        notes: Vec::new(),
        total_bytes: all.len() as u64,
    };
    let out = dir.join(format!("tiles-{max_zoom}.taco"));
    taco_planners::execute(plan, &out, Default::default()).unwrap();
    built.push((max_zoom, out.clone()));
    out
}

fn read_tile(archive: &TacoArchive<Counting>, z: u32, x: u32, y: u32) -> Vec<u8> {
    let located = archive.tile(z, x, y).unwrap();
    assert!(matches!(located.place, Place::Tile { .. }), "{located:?}");
    let (_, mut reader) = archive.open_located(&located).unwrap();
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    got
}

#[test]
fn a_tile_of_a_small_pyramid_is_two_requests() {
    let archive = counting(&pyramid(4));
    assert_eq!(read_tile(&archive, 4, 9, 13), tile_body(4, 9, 13));
    assert_eq!(archive.source().requests.load(Ordering::Relaxed), 2);
    // The first read is the head, 64 KiB at most.
    let root = archive.lookup().unwrap().unwrap();
    assert_eq!(root.members, (0..=4).map(|z| 1u64 << (2 * z)).sum::<u64>());
    let err = archive.tile(4, 16, 0).unwrap_err();
    assert_eq!(err.kind().name(), "NoSuchTile");
    let err = archive.tile(5, 0, 0).unwrap_err();
    assert_eq!(err.kind().name(), "NoSuchTile");
}

#[test]
fn a_tile_of_a_pyramid_with_leaves_is_three_requests_and_blocks_are_reused() {
    let archive = counting(&pyramid(7));
    let root = archive.lookup().unwrap().unwrap();
    assert!(
        root.root_len < 65_536 && root.total_len() > 65_536,
        "{root:?}"
    );
    assert_eq!(read_tile(&archive, 7, 100, 3), tile_body(7, 100, 3));
    let requests = archive.source().requests.load(Ordering::Relaxed);
    assert_eq!(requests, 3, "head, one leaf, the tile");
    assert!(archive.source().read.load(Ordering::Relaxed) <= 2 * 65_536 + 200);
    // Its neighbour lies in the same leaf: one more request, for the tile only.
    assert_eq!(read_tile(&archive, 7, 100, 2), tile_body(7, 100, 2));
    assert_eq!(
        archive.source().requests.load(Ordering::Relaxed),
        requests + 1
    );
}

#[test]
fn members_are_found_by_name_and_checked_against_their_local_header() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("ml");
    for split in ["train", "val"] {
        std::fs::create_dir_all(src.join(split)).unwrap();
        for i in 0..50 {
            std::fs::write(
                src.join(format!("{split}/s{i}.bin")),
                format!("{split} {i}"),
            )
            .unwrap();
        }
    }
    let out = dir.path().join("ml.taco");
    let plan = taco_planners::plan_splits(&src, &Default::default()).unwrap();
    taco_planners::execute(plan, &out, Default::default()).unwrap();
    let archive = counting(&out);
    let found = archive.locate("val/s7.bin").unwrap().unwrap();
    let (_, mut reader) = archive.open_located(&found[0]).unwrap();
    let mut got = String::new();
    reader.read_to_string(&mut got).unwrap();
    assert_eq!(got, "val 7");
    assert_eq!(archive.source().requests.load(Ordering::Relaxed), 2);
    let err = archive.locate("val/s50.bin").unwrap_err();
    assert_eq!(err.kind().name(), "NoSuchMember");

    // A directory entry pointing at another member's local entry is refused by name.
    let mut wrong = found[0].clone();
    let other = archive.locate("train/s3.bin").unwrap().unwrap();
    wrong.place = other[0].place;
    let err = archive.open_located(&wrong).unwrap_err();
    assert_eq!(err.kind().name(), "LocalHeaderMismatch", "{err}");
}

#[test]
fn the_lookup_directory_lists_exactly_what_the_central_directory_does() {
    let path = pyramid(7);
    let bytes = std::fs::read(&path).unwrap();
    let archive = TacoArchive::from_source(bytes.clone()).unwrap();
    let root = archive.lookup().unwrap().unwrap();
    let base = 157 + 30 + taco_format::LOOKUP_MEMBER.len();
    let leaves = &bytes[base + root.root_len..base + root.total_len() as usize];
    let listed = root.all_entries(leaves).unwrap();
    let directory = archive.directory().unwrap();
    let mut central: Vec<(u64, u64)> = archive
        .members()
        .unwrap()
        .iter()
        .filter(|m| m.name_lossy().ends_with(".png"))
        .map(|m| (m.header_offset(), directory.data_range(m).unwrap().length))
        .collect();
    central.sort_unstable();
    let mut from_lookup: Vec<(u64, u64)> = listed
        .iter()
        .map(|e| (e.header_offset, e.data_len))
        .collect();
    from_lookup.sort_unstable();
    assert_eq!(from_lookup, central);
    archive.validate(taco_reader::Level::Deep).unwrap();
}

#[test]
fn neighbouring_tiles_share_one_request_and_each_is_checked() {
    let archive = counting(&pyramid(7));
    // Consecutive on the Hilbert curve: neighbours in the archive.
    let mut cells: Vec<(u32, u32)> = (0..128u32)
        .flat_map(|x| (0..128u32).map(move |y| (x, y)))
        .collect();
    cells.sort_by_key(|&(x, y)| taco_format::hilbert_index(7, x, y));
    let wanted = &cells[500..505];
    let located: Vec<_> = wanted
        .iter()
        .map(|&(x, y)| archive.tile(7, x, y).unwrap())
        .collect();
    let before = archive.source().requests.load(Ordering::Relaxed);
    let got = std::sync::Mutex::new(vec![Vec::new(); located.len()]);
    archive
        .read_located(&located, 4, |i, name, _, reader| {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).unwrap();
            let (x, y) = wanted[i];
            assert_eq!(name, format!("7/{x}/{y}.png"));
            got.lock().unwrap()[i] = bytes;
            Ok::<_, ReadError>(())
        })
        .unwrap();
    for (i, &(x, y)) in wanted.iter().enumerate() {
        assert_eq!(got.lock().unwrap()[i], tile_body(7, x, y));
    }
    assert_eq!(
        archive.source().requests.load(Ordering::Relaxed) - before,
        1,
        "five neighbours, one request"
    );
}

#[test]
fn validation_refuses_a_lookup_directory_that_lists_other_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("ml");
    std::fs::create_dir_all(src.join("train")).unwrap();
    for i in 0..20 {
        std::fs::write(src.join(format!("train/s{i}.bin")), vec![b'x'; 40]).unwrap();
    }
    let out = dir.path().join("ml.taco");
    let plan = taco_planners::plan_splits(&src, &Default::default()).unwrap();
    taco_planners::execute(plan, &out, Default::default()).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let level = taco_reader::Level::Normal;
    taco_reader::validate(&bytes, level).unwrap();

    // Re-encode the directory with one member one byte longer: same length, valid blocks.
    let archive = TacoArchive::from_source(bytes.clone()).unwrap();
    let root = archive.lookup().unwrap().unwrap().clone();
    let base = 157 + 30 + taco_format::LOOKUP_MEMBER.len();
    let mut entries = root.all_entries(&[]).unwrap();
    entries[3].data_len += 1;
    let lying = taco_format::encode_lookup(taco_format::KeyKind::Name, &mut entries).unwrap();
    assert_eq!(lying.len() as u64, root.total_len());
    let mut bad = bytes.clone();
    bad[base..base + lying.len()].copy_from_slice(&lying);
    let err = taco_reader::validate(&bad, level).unwrap_err();
    assert_eq!(err.kind().name(), "LookupMismatch", "{err}");
}
