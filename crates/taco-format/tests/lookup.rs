//! The lookup directory codec (`docs/FORMAT.md` §4): round trips, block limits, sizes per
//! member, corrupted bytes, missing keys and tile key order, through the public API.

#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;
use taco_format::{
    encode_lookup, hilbert_index, name_key, tile_key, BlockRef, KeyKind, LookupEntry, LookupRoot,
    MAX_BLOCK_LEN, MAX_ROOT_LEN,
};
fn names(n: u64) -> Vec<LookupEntry> {
    (0..n)
        .map(|i| LookupEntry {
            key: name_key(format!("train/shard-{:04}/sample-{i:07}.jpg", i / 1000).as_bytes()),
            header_offset: 201 + i * 1_000,
            data_len: 900 + i % 50,
        })
        .collect()
}

fn tiles(n: u64) -> Vec<LookupEntry> {
    let mut at = 201;
    (0..n)
        .map(|i| {
            let e = LookupEntry {
                key: i * 2,
                header_offset: at,
                data_len: 700 + i % 300,
            };
            at += e.data_len + 40;
            e
        })
        .collect()
}

/// Looks every entry up through the root and (when needed) its leaf.
fn check_every_lookup(kind: KeyKind, entries: Vec<LookupEntry>) -> Vec<u8> {
    check_lookups(kind, entries, 1)
}

/// Looks every `stride`-th entry up, and decodes all of them once.
fn check_lookups(kind: KeyKind, mut entries: Vec<LookupEntry>, stride: usize) -> Vec<u8> {
    let bytes = encode_lookup(kind, &mut entries).unwrap();
    let root = LookupRoot::parse(&bytes, 1000).unwrap();
    assert_eq!(root.members, entries.len() as u64);
    assert_eq!(root.total_len(), bytes.len() as u64);
    assert!(root.root_len <= MAX_ROOT_LEN);
    for e in entries.iter().step_by(stride) {
        let leaf = match root.block_of(e.key) {
            BlockRef::Leaf { offset, len } => {
                assert!(len as usize <= MAX_BLOCK_LEN);
                Some((&bytes[offset as usize..(offset + len) as usize], offset))
            }
            BlockRef::Root => None,
            BlockRef::Absent => panic!("{e:?} not found"),
        };
        let found = root.find(e.key, leaf).unwrap();
        assert!(found.contains(e), "{e:?}");
    }
    let all = root.all_entries(&bytes[root.root_len..]).unwrap();
    assert_eq!(all, entries);
    bytes
}

#[test]
fn small_directories_fit_the_root() {
    let bytes = check_every_lookup(KeyKind::Name, names(2_000));
    let root = LookupRoot::parse(&bytes, 0).unwrap();
    assert_eq!(root.block_of(name_key(b"x")), BlockRef::Root);
    assert!(bytes.len() <= MAX_ROOT_LEN);
    check_every_lookup(KeyKind::Tile, tiles(5_000));
}

#[test]
fn big_directories_keep_every_block_within_64_kib() {
    let bytes = check_lookups(KeyKind::Name, names(60_000), 101);
    let per_member = bytes.len() as f64 / 60_000.0;
    eprintln!("lookup: {per_member:.2} bytes a name");
    assert!(per_member <= 40.0, "{per_member} bytes a name");
    let bytes = check_lookups(KeyKind::Tile, tiles(200_000), 101);
    let per_tile = bytes.len() as f64 / 200_000.0;
    eprintln!("lookup: {per_tile:.2} bytes a tile");
    assert!(per_tile <= 12.0, "{per_tile} bytes a tile");
}

#[test]
fn missing_keys_find_nothing() {
    let mut entries = tiles(100_000);
    let bytes = encode_lookup(KeyKind::Tile, &mut entries).unwrap();
    let root = LookupRoot::parse(&bytes, 0).unwrap();
    for key in [1, 3, 2 * 100_000, u64::MAX] {
        let found = match root.block_of(key) {
            BlockRef::Leaf { offset, len } => root
                .find(
                    key,
                    Some((&bytes[offset as usize..(offset + len) as usize], offset)),
                )
                .unwrap(),
            BlockRef::Root => root.find(key, None).unwrap(),
            BlockRef::Absent => Vec::new(),
        };
        assert!(found.is_empty(), "{key}");
    }
}

#[test]
fn every_corrupted_byte_is_an_error_or_a_right_answer() {
    let mut entries = names(300);
    let bytes = encode_lookup(KeyKind::Name, &mut entries).unwrap();
    for at in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5a;
        // The root's CRC covers all of it: every flip is refused.
        assert!(LookupRoot::parse(&bad, 0).is_err(), "byte {at}");
    }
    let mut big = names(40_000);
    let bytes = encode_lookup(KeyKind::Name, &mut big).unwrap();
    let root = LookupRoot::parse(&bytes, 0).unwrap();
    let e = big[12_345];
    let BlockRef::Leaf { offset, len } = root.block_of(e.key) else {
        panic!("a big directory has leaves");
    };
    let leaf = &bytes[offset as usize..(offset + len) as usize];
    for at in (0..leaf.len()).step_by(7) {
        let mut bad = leaf.to_vec();
        bad[at] ^= 0x01;
        let result = root.find(e.key, Some((&bad, offset)));
        assert!(result.is_err(), "leaf byte {at} flipped went unnoticed");
    }
    assert!(root
        .find(e.key, Some((&leaf[..leaf.len() - 1], offset)))
        .is_err());
    assert!(root.find(e.key, Some((leaf, offset + 1))).is_err());
}

#[test]
fn tile_keys_follow_zoom_then_hilbert_order() {
    let mut last = None;
    for z in 0..4u32 {
        let mut cells: Vec<(u32, u32)> = (0..1 << z)
            .flat_map(|x| (0..1 << z).map(move |y| (x, y)))
            .collect();
        cells.sort_by_key(|&(x, y)| hilbert_index(z, x, y));
        for (x, y) in cells {
            let key = tile_key(z, x, y).unwrap();
            assert!(last.is_none_or(|l| key == l + 1), "{z}/{x}/{y}");
            last = Some(key);
        }
    }
    assert_eq!(tile_key(31, (1 << 31) - 1, 0).map(|k| k > 0), Some(true));
    assert_eq!(tile_key(32, 0, 0), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_directories_round_trip(
        raw in prop::collection::vec((any::<u64>(), 0u64..1 << 40, 0u64..1 << 32), 0..800),
    ) {
        let entries: Vec<LookupEntry> = raw
            .iter()
            .map(|&(key, header_offset, data_len)| LookupEntry { key, header_offset, data_len })
            .collect();
        check_every_lookup(KeyKind::Name, entries);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), key: u64) {
        if let Ok(root) = LookupRoot::parse(&bytes, 0) {
            let _ = root.find(key, Some((&bytes, 0)));
            let _ = root.all_entries(&bytes);
        }
    }
}
