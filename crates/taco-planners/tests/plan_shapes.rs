//! The shape of each planner's plan on the sample data in `examples/data` — members in order,
//! groups with their labels and ranges — and the entries `execute` derives from where the bytes
//! landed, checked against the written archive's own local headers. A planner change shows up
//! here under `cargo test`, before any end-to-end run.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use taco_planners::{
    execute, plan_netcdf, plan_parquet, plan_splits, plan_tiles, ExecuteOptions, GroupRange,
    MemberSource, NetcdfOptions, ParquetLayout, ParquetOptions, Plan, SplitOptions,
};

fn sample(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data")
        .join(relative)
}

fn names(plan: &Plan) -> Vec<&str> {
    plan.members.iter().map(|m| m.name.as_str()).collect()
}

fn groups(plan: &Plan) -> Vec<(&str, GroupRange)> {
    plan.groups
        .iter()
        .map(|g| (g.label.as_str(), g.range))
        .collect()
}

/// Where member `name`'s local header and data sit in `bytes`, read from its local header.
fn local_entry(bytes: &[u8], name: &str) -> (u64, u64, u64) {
    let needle = [b"PK\x03\x04".as_slice()].concat();
    let mut at = 0;
    while let Some(pos) = bytes[at..].windows(4).position(|w| w == needle.as_slice()) {
        let start = at + pos;
        let field = |o: usize| u16::from_le_bytes([bytes[start + o], bytes[start + o + 1]]);
        let (name_len, extra_len) = (usize::from(field(26)), usize::from(field(28)));
        if bytes.get(start + 30..start + 30 + name_len) == Some(name.as_bytes()) {
            let size = u32::from_le_bytes(bytes[start + 22..start + 26].try_into().unwrap());
            let data = start + 30 + name_len + extra_len;
            return (start as u64, data as u64, u64::from(size));
        }
        at = start + 4;
    }
    panic!("no local header for {name}");
}

/// Executes `plan` and checks every entry against the archive's bytes: a data group is exactly
/// its member's data, a span runs from the first member's local header to the last's data end.
fn check_entries(plan: Plan) {
    let members: Vec<String> = plan.members.iter().map(|m| m.name.clone()).collect();
    let ranges: Vec<GroupRange> = plan.groups.iter().map(|g| g.range).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.taco");
    let executed = execute(plan, &out, ExecuteOptions::default()).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(executed.archive_len, bytes.len() as u64);
    assert_eq!(executed.entries.len(), ranges.len());
    for (entry, range) in executed.entries.iter().zip(ranges) {
        let (offset, length) = match range {
            GroupRange::Data(i) => {
                let (_, data, size) = local_entry(&bytes, &members[i]);
                (data, size)
            }
            GroupRange::Span { first, last } => {
                let (header, _, _) = local_entry(&bytes, &members[first]);
                let (_, data, size) = local_entry(&bytes, &members[last]);
                (header, data + size - header)
            }
            GroupRange::Slice {
                member,
                offset,
                length,
            } => {
                let (_, data, _) = local_entry(&bytes, &members[member]);
                (data + offset, length)
            }
            GroupRange::Fixed(entry) => (entry.offset, entry.length),
        };
        assert_eq!((entry.offset, entry.length), (offset, length), "{range:?}");
    }
}

#[test]
fn tiles_are_planned_by_zoom_then_hilbert_order_with_a_span_per_zoom() {
    let plan = plan_tiles(&sample("tiles")).unwrap();
    let names = names(&plan);
    assert_eq!(names.len(), 1 + 4 + 16 + 64);
    assert_eq!(
        names[..5],
        [
            "0/0/0.png",
            "1/0/0.png",
            "1/0/1.png",
            "1/1/1.png",
            "1/1/0.png"
        ]
    );
    let zooms: Vec<u32> = names
        .iter()
        .map(|n| n.split('/').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        zooms.windows(2).all(|w| w[0] <= w[1]),
        "not ordered by zoom"
    );
    assert_eq!(
        groups(&plan),
        [
            ("zoom 0", GroupRange::Span { first: 0, last: 0 }),
            ("zoom 1", GroupRange::Span { first: 1, last: 4 }),
            ("zoom 2", GroupRange::Span { first: 5, last: 20 }),
            (
                "zoom 3",
                GroupRange::Span {
                    first: 21,
                    last: 84
                }
            ),
        ]
    );
    // canonically named tiles keep no path of their own: the file is the name under the root
    assert!(plan
        .members
        .iter()
        .all(|m| matches!(&m.source, MemberSource::Named { dir, .. } if dir.ends_with("tiles"))));
    check_entries(plan);
}

#[test]
fn splits_come_train_val_test_with_a_span_each() {
    let plan = plan_splits(&sample("ml_data"), &SplitOptions::default()).unwrap();
    assert_eq!(
        names(&plan),
        [
            "train/extra/labels.csv",
            "train/shard-0000.tfrecord",
            "train/shard-0001.tfrecord",
            "train/shard-0002.tfrecord",
            "val/shard-0000.tfrecord",
            "val/shard-0001.tfrecord",
            "test/shard-0000.tfrecord",
            "test/shard-0001.tfrecord",
        ]
    );
    assert_eq!(
        groups(&plan),
        [
            ("train", GroupRange::Span { first: 0, last: 3 }),
            ("val", GroupRange::Span { first: 4, last: 5 }),
            ("test", GroupRange::Span { first: 6, last: 7 }),
        ]
    );
    check_entries(plan);

    let chosen = SplitOptions {
        splits: Some(vec!["test".into(), "val".into()]),
    };
    let plan = plan_splits(&sample("ml_data"), &chosen).unwrap();
    let labels: Vec<&str> = plan.groups.iter().map(|g| g.label.as_str()).collect();
    assert_eq!(labels, ["test", "val"]);
    assert_eq!(plan.members.len(), 4);
}

#[test]
fn netcdf_files_come_in_time_order_one_data_entry_each() {
    let plan = plan_netcdf(&sample("climate"), &NetcdfOptions::default()).unwrap();
    let months: Vec<String> = (1..=5)
        .map(|m| format!("era5_t2m_2024-{m:02}.nc"))
        .collect();
    assert_eq!(names(&plan), months);
    let ranges: Vec<GroupRange> = plan.groups.iter().map(|g| g.range).collect();
    assert_eq!(ranges, (0..5).map(GroupRange::Data).collect::<Vec<_>>());
    check_entries(plan);
}

#[test]
fn parquet_split_makes_balanced_parts_and_verbatim_one_slice_per_row_group() {
    let path = sample("parquet/observations.parquet");
    let split = ParquetOptions {
        layout: ParquetLayout::Split,
        parts: Some(3),
    };
    let plan = plan_parquet(&path, &split).unwrap();
    assert_eq!(plan.members.len(), 3);
    assert_eq!(
        groups(&plan),
        [
            ("part-0", GroupRange::Data(0)),
            ("part-1", GroupRange::Data(1)),
            ("part-2", GroupRange::Data(2)),
        ]
    );
    assert!(plan
        .members
        .iter()
        .all(|m| matches!(m.source, MemberSource::Assembled { .. })));
    check_entries(plan);

    let verbatim = ParquetOptions {
        layout: ParquetLayout::Verbatim,
        parts: None,
    };
    let plan = plan_parquet(&path, &verbatim).unwrap();
    assert_eq!(plan.members.len(), 1);
    assert!(matches!(plan.members[0].source, MemberSource::Path { .. }));
    // The sample has 10 row groups; entries hold the first 7, each a slice of the one member.
    let labels: Vec<&str> = plan.groups.iter().map(|g| g.label.as_str()).collect();
    assert_eq!(
        labels,
        (0..7).map(|i| format!("row-group-{i}")).collect::<Vec<_>>()
    );
    let mut previous_end = 0;
    for group in &plan.groups {
        let GroupRange::Slice {
            member: 0,
            offset,
            length,
        } = group.range
        else {
            panic!("{:?}", group.range);
        };
        assert!(offset >= previous_end && length > 0, "{:?}", group.range);
        previous_end = offset + length;
    }
    check_entries(plan);
}

/// A tile whose path is not its canonical name (`03/1/2.png`) keeps its own path; the others
/// are read as `<root>/<name>`.
#[test]
fn a_tile_path_that_is_not_its_name_keeps_its_own_path() {
    let dir = tempfile::tempdir().unwrap();
    for (rel, body) in [("03/1/2.png", "odd"), ("3/0/0.png", "plain")] {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let plan = plan_tiles(dir.path()).unwrap();
    let by_name: Vec<_> = plan
        .members
        .iter()
        .map(|m| (m.name.as_str(), &m.source))
        .collect();
    assert!(by_name.iter().any(|(n, s)| *n == "3/1/2.png"
        && matches!(s, MemberSource::Path { path, .. } if path.ends_with("03/1/2.png"))));
    assert!(by_name
        .iter()
        .any(|(n, s)| *n == "3/0/0.png" && matches!(s, MemberSource::Named { .. })));
    let out = dir.path().join("out.taco");
    taco_planners::execute(plan, &out, Default::default()).unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    for (name, body) in [("3/1/2.png", "odd"), ("3/0/0.png", "plain")] {
        let mut data = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut data).unwrap();
        assert_eq!(data, body);
    }
}

/// With several bad tile paths, the one reported is the smallest, whatever order the file
/// system lists them in.
#[test]
fn the_bad_tile_reported_is_the_smallest_path() {
    let dir = tempfile::tempdir().unwrap();
    for rel in ["3/9/1.png", "2/7/0.png", "1/0/0.png"] {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "t").unwrap();
    }
    let err = plan_tiles(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("2/7/0.png") && err.contains("out of range"),
        "{err}"
    );
}
