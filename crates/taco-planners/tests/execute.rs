//! `execute`: entries from real spans, the index in the archive and beside it, nothing left on
//! failure.

#![allow(clippy::unwrap_used, clippy::panic)]

use serde_json::Value;
use std::path::Path;
use taco_planners::{
    execute, meta_path, EntryFields, ExecuteOptions, Group, GroupRange, MemberFields, MemberSource,
    Plan, PlannedMember,
};

fn member(dir: &Path, name: &str, body: &[u8]) -> PlannedMember {
    let path = dir.join(name.replace('/', "_"));
    std::fs::write(&path, body).unwrap();
    PlannedMember {
        name: name.to_string(),
        source: MemberSource::Path(path),
        fields: MemberFields::default(),
    }
}

fn plan(dir: &Path, groups: Vec<Group>) -> Plan {
    Plan {
        planner: "test",
        members: vec![
            member(dir, "a/one.txt", b"one"),
            member(dir, "a/two.txt", b"two two"),
            member(dir, "b/three.txt", b"three three three"),
        ],
        groups,
        section: Box::new(|spans| serde_json::json!({"members_seen": spans.len()})),
        notes: Vec::new(),
        total_bytes: 27,
    }
}

fn group(label: &str, range: GroupRange) -> Group {
    Group {
        label: label.into(),
        range,
        fields: EntryFields::default(),
    }
}

#[test]
fn entries_and_index_come_from_written_spans() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.taco");
    let groups = vec![
        group("span", GroupRange::Span { first: 0, last: 1 }),
        group("data", GroupRange::Data(2)),
        group(
            "slice",
            GroupRange::Slice {
                member: 2,
                offset: 6,
                length: 5,
            },
        ),
    ];
    let executed = execute(plan(dir.path(), groups), &dest, ExecuteOptions::default()).unwrap();
    let bytes = std::fs::read(&dest).unwrap();
    let slice = |i: usize| {
        let e = executed.entries[i];
        &bytes[e.offset as usize..(e.offset + e.length) as usize]
    };
    assert!(slice(0).starts_with(b"PK\x03\x04") && slice(0).ends_with(b"two two"));
    assert_eq!(slice(1), b"three three three");
    assert_eq!(slice(2), b"three");

    let meta = std::fs::read(meta_path(&dest)).unwrap();
    let index: Value = serde_json::from_slice(&meta).unwrap();
    // The sidecar is the index plus the identity of the archive it was written for.
    assert_eq!(index["archive"]["size"], bytes.len() as u64);
    assert_eq!(
        index["archive"]["header_crc32"],
        u64::from(u32::from_le_bytes([
            bytes[14], bytes[15], bytes[16], bytes[17]
        ]))
    );
    assert!(meta.len() as u64 > executed.index_len);
    assert_eq!(index["entries"][0]["kind"], "span");
    assert_eq!(index["entries"][2]["kind"], "data");
    assert_eq!(index["test"]["members_seen"], 3);
    let members = index["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    let m = &members[1];
    let at = m["data_offset"].as_u64().unwrap() as usize;
    assert_eq!(&bytes[at..at + 7], b"two two");
    assert_eq!(
        m["crc32"].as_u64().unwrap() as u32,
        crc32fast::hash(b"two two")
    );
    // The index is also the archive's last member, byte for byte (the sidecar without its
    // closing identity).
    let tail = String::from_utf8_lossy(&bytes);
    assert!(tail.contains("TACO_INDEX.json"));
    let index_len = executed.index_len as usize;
    let member = &meta[..index_len - 2];
    assert!(bytes.windows(member.len()).any(|w| w == member));
}

#[test]
fn bad_groups_and_existing_outputs_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.taco");
    let outside = vec![group(
        "bad",
        GroupRange::Slice {
            member: 0,
            offset: 2,
            length: 5,
        },
    )];
    let err = execute(plan(dir.path(), outside), &dest, ExecuteOptions::default()).unwrap_err();
    assert!(err.to_string().contains("bad"), "{err}");
    assert!(!dest.exists() && !meta_path(&dest).exists());

    let eight = (0..8)
        .map(|i| group(&i.to_string(), GroupRange::Data(0)))
        .collect();
    assert!(execute(plan(dir.path(), eight), &dest, ExecuteOptions::default()).is_err());
    assert!(!dest.exists() && !meta_path(&dest).exists());

    std::fs::write(&dest, b"keep me").unwrap();
    assert!(execute(plan(dir.path(), vec![]), &dest, ExecuteOptions::default()).is_err());
    assert_eq!(std::fs::read(&dest).unwrap(), b"keep me");
    assert!(!meta_path(&dest).exists());
}
