//! Writer behaviour, checked with the `zip` crate as an independent reader.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::{Cursor, Read};
use taco_format::{parse_header, CrcPolicy, Entry};
use taco_writer::{update_header, ArchiveWriter, MemberSpan, WriteError, WriterOptions};

fn build(
    members: &[(&str, Vec<u8>)],
    entries_from: impl Fn(&[MemberSpan]) -> Vec<Entry>,
) -> Vec<u8> {
    let mut writer = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    let spans: Vec<MemberSpan> = members
        .iter()
        .map(|(name, data)| {
            writer
                .add_reader(name, data.as_slice(), data.len() as u64, None)
                .unwrap()
        })
        .collect();
    let entries = entries_from(&spans);
    writer.finish(&entries).unwrap().0.into_inner()
}

fn sample_members() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.txt", b"alpha".to_vec()),
        ("empty", Vec::new()),
        (
            "dir/ünï.bin",
            (0..3_000_000u32).map(|i| (i % 251) as u8).collect(),
        ),
        ("dir/z", vec![7u8; 10]),
    ]
}

#[test]
fn zip_crate_reads_every_member_byte_for_byte() {
    let members = sample_members();
    let bytes = build(&members, |spans| {
        spans.iter().map(MemberSpan::data_entry).collect()
    });
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes.clone())).unwrap();
    assert_eq!(zip.len(), members.len() + 1);
    assert_eq!(zip.by_index(0).unwrap().name(), "TACO_HEADER");
    for (name, data) in &members {
        let mut file = zip.by_name(name).unwrap();
        let mut got = Vec::new();
        file.read_to_end(&mut got).unwrap();
        assert_eq!(&got, data, "{name}");
    }
    // Data entries point at exactly the member bytes.
    let header = parse_header(&bytes, CrcPolicy::Strict).unwrap();
    for (entry, (_, data)) in header.entries.iter().zip(&members) {
        let start = entry.offset as usize;
        assert_eq!(
            &bytes[start..start + entry.length as usize],
            data.as_slice()
        );
    }
}

#[test]
fn span_entry_covers_complete_local_entries() {
    let members = sample_members();
    let bytes = build(&members, |s| vec![MemberSpan::span_entry(&s[1], &s[3])]);
    let entry = parse_header(&bytes, CrcPolicy::Strict).unwrap().entries[0];
    let span = &bytes[entry.offset as usize..(entry.offset + entry.length) as usize];
    assert_eq!(&span[..4], b"PK\x03\x04");
    assert!(span.ends_with(&[7u8; 10]));
}

#[test]
fn rejects_duplicates_bad_names_and_size_changes() {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    w.add_bytes("x", b"1", None).unwrap();
    assert!(matches!(
        w.add_bytes("x", b"2", None),
        Err(WriteError::DuplicateName { .. })
    ));
    assert!(matches!(
        w.add_bytes("../x", b"2", None),
        Err(WriteError::Format(_))
    ));
    assert!(matches!(
        w.add_bytes("TACO_HEADER", b"2", None),
        Err(WriteError::Format(_))
    ));
    let short: &[u8] = b"abc";
    assert!(matches!(
        w.add_reader("short", short, 4, None),
        Err(WriteError::SourceShrank {
            expected: 4,
            got: 3,
            ..
        })
    ));
    assert!(matches!(
        w.add_reader("long", short, 2, None),
        Err(WriteError::SourceGrew { .. })
    ));
    let big = vec![1u8; 3 << 20];
    assert!(matches!(
        w.add_reader("big-short", big.as_slice(), (4 << 20) as u64, None),
        Err(WriteError::SourceShrank { .. })
    ));
}

#[test]
fn entries_outside_the_archive_are_refused_unless_allowed() {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    w.add_bytes("x", b"1", None).unwrap();
    let err = w.finish(&[Entry::new(0, 10_000)]).unwrap_err();
    assert!(
        matches!(err, WriteError::EntryOutside { index: 0, .. }),
        "{err}"
    );

    let options = WriterOptions {
        allow_entries_outside: true,
        ..WriterOptions::default()
    };
    let w = ArchiveWriter::new(Cursor::new(Vec::new()), options).unwrap();
    assert!(w.finish(&[Entry::new(0, 10_000)]).is_ok());

    let w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    assert!(matches!(
        w.finish(&[Entry::default(); 8]),
        Err(WriteError::Format(_))
    ));
}

#[test]
fn fixed_time_makes_archives_reproducible() {
    let options = WriterOptions {
        fixed_time: Some(1_700_000_000),
        ..WriterOptions::default()
    };
    let make = || {
        let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), options.clone()).unwrap();
        w.add_bytes("a", b"same", None).unwrap();
        w.finish(&[]).unwrap().0.into_inner()
    };
    assert_eq!(make(), make());
}

#[test]
fn update_header_changes_only_payload_and_crcs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.taco");
    let members = sample_members();
    let before = build(&members, |s| vec![s[0].data_entry()]);
    std::fs::write(&path, &before).unwrap();
    let new_entries = [Entry::new(157, 5), Entry::new(0, 0), Entry::new(200, 10)];
    update_header(&path, &new_entries, false).unwrap();
    let after = std::fs::read(&path).unwrap();
    assert_eq!(before.len(), after.len());
    let cd_offset = {
        let eocd = &after[after.len() - 22..];
        u32::from_le_bytes([eocd[16], eocd[17], eocd[18], eocd[19]]) as usize
    };
    let allowed = |i: usize| {
        (14..18).contains(&i)
            || (41..157).contains(&i)
            || (cd_offset + 16..cd_offset + 20).contains(&i)
    };
    for (i, (a, b)) in before.iter().zip(&after).enumerate() {
        if !allowed(i) {
            assert_eq!(a, b, "byte {i} changed");
        }
    }
    assert_eq!(
        parse_header(&after, CrcPolicy::Strict).unwrap().entries,
        new_entries
    );
    assert_eq!(&after[14..18], &after[cd_offset + 16..cd_offset + 20]);
    // The zip crate still accepts it (it checks the central CRC when reading TACO_HEADER).
    let mut zip = zip::ZipArchive::new(Cursor::new(after)).unwrap();
    let mut payload = Vec::new();
    zip.by_index(0).unwrap().read_to_end(&mut payload).unwrap();
    assert_eq!(payload.len(), 116);

    let err = update_header(&path, &[Entry::new(0, 1 << 40)], false).unwrap_err();
    assert!(matches!(err, WriteError::EntryOutside { .. }));
    std::fs::write(&path, b"not a zip at all").unwrap();
    assert!(matches!(
        update_header(&path, &[], false),
        Err(WriteError::NotTaco { .. })
    ));
}

#[test]
fn atomic_output_appears_only_on_commit_and_never_clobbers() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.taco");
    {
        let mut w = ArchiveWriter::create(&dest, false, WriterOptions::default()).unwrap();
        w.add_bytes("a", b"1", None).unwrap();
        // Dropped without finishing: nothing at dest, no temp left.
    }
    assert!(!dest.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let w = ArchiveWriter::create(&dest, false, WriterOptions::default()).unwrap();
    let (file, _) = w.finish(&[]).unwrap();
    file.commit().unwrap();
    assert!(dest.exists());
    assert!(matches!(
        ArchiveWriter::create(&dest, false, WriterOptions::default()),
        Err(WriteError::OutputExists { .. })
    ));
    assert!(ArchiveWriter::create(&dest, true, WriterOptions::default()).is_ok());
}

#[test]
fn large_file_members_take_the_kernel_copy_path_with_correct_crc() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big.bin");
    // Above the kernel-copy threshold and not a multiple of any buffer size.
    let data: Vec<u8> = (0..(9 << 20) + 12_345u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&source, &data).unwrap();
    let dest = dir.path().join("out.taco");
    let mut w = ArchiveWriter::create(&dest, false, WriterOptions::default()).unwrap();
    let small = w.add_bytes("small", b"before", None).unwrap();
    let span = w.add_path("big.bin", &source).unwrap();
    w.add_bytes("after", b"after", None).unwrap();
    let (file, _) = w.finish(&[small.data_entry(), span.data_entry()]).unwrap();
    file.commit().unwrap();

    let bytes = std::fs::read(&dest).unwrap();
    assert_eq!(
        &bytes[span.data_offset as usize..span.end() as usize],
        data.as_slice()
    );
    // The zip crate checks each member's CRC-32 as it reads.
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    for name in ["small", "big.bin", "after"] {
        let mut got = Vec::new();
        zip.by_name(name).unwrap().read_to_end(&mut got).unwrap();
    }
    let mut got = Vec::new();
    zip.by_name("big.bin")
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, data);
}

#[test]
fn pieces_join_bytes_and_file_ranges_into_one_member() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src.bin");
    let data: Vec<u8> = (0..(6u32 << 20)).map(|i| (i % 253) as u8).collect();
    std::fs::write(&source, &data).unwrap();
    let file = std::fs::File::open(&source).unwrap();
    let label = "src.bin";
    let big = taco_writer::Piece::FileRange {
        file: &file,
        offset: 100,
        len: (5 << 20) + 7,
        label,
    };
    let small = taco_writer::Piece::FileRange {
        file: &file,
        offset: 3,
        len: 1000,
        label,
    };
    let pieces = [
        taco_writer::Piece::Bytes(b"HEAD"),
        big,
        taco_writer::Piece::Bytes(b"MID"),
        small,
    ];
    let mut expected = b"HEAD".to_vec();
    expected.extend_from_slice(&data[100..100 + (5 << 20) + 7]);
    expected.extend_from_slice(b"MID");
    expected.extend_from_slice(&data[3..1003]);

    // File output (kernel copy for the big range) and in-memory output (buffered) agree.
    let dest = dir.path().join("out.taco");
    let mut w = ArchiveWriter::create(&dest, false, WriterOptions::default()).unwrap();
    let span = w.add_pieces("joined", &pieces, None).unwrap();
    let (out, _) = w.finish(&[span.data_entry()]).unwrap();
    out.commit().unwrap();
    let mut m = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    let mem_span = m.add_pieces("joined", &pieces, None).unwrap();
    let mem_bytes = m.finish(&[]).unwrap().0.into_inner();
    assert_eq!(span.crc32, mem_span.crc32);
    assert_eq!(span.crc32, crc32fast::hash(&expected));

    for bytes in [std::fs::read(&dest).unwrap(), mem_bytes] {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut got = Vec::new();
        zip.by_name("joined")
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert!(got == expected, "member bytes differ");
    }

    let past_end = taco_writer::Piece::FileRange {
        file: &file,
        offset: 6 << 20,
        len: 10,
        label,
    };
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    assert!(matches!(
        w.add_pieces("short", &[past_end], None),
        Err(WriteError::SourceShrank { .. })
    ));
}

/// The DOS time and date of the first member after `TACO_HEADER` (local header bytes 10–13).
fn first_member_dos_time(bytes: &[u8]) -> [u8; 4] {
    let at = taco_format::HEADER_LEN + 10;
    [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]
}

#[test]
fn a_fixed_time_wins_over_the_source_files_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.txt");
    std::fs::write(&path, b"from 2001").unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let write = |fixed_time: Option<i64>| {
        let options = WriterOptions {
            fixed_time,
            ..WriterOptions::default()
        };
        let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), options).unwrap();
        w.add_path("old.txt", &path).unwrap();
        w.finish(&[]).unwrap().0.into_inner()
    };
    let fixed = write(Some(1_700_000_000));
    let from_mtime = write(None);
    let dos = |unix| taco_format::DosDateTime::from_unix(unix);
    let expected = |d: taco_format::DosDateTime| {
        let [t0, t1] = d.time.to_le_bytes();
        let [d0, d1] = d.date.to_le_bytes();
        [t0, t1, d0, d1]
    };
    assert_eq!(first_member_dos_time(&fixed), expected(dos(1_700_000_000)));
    assert_eq!(
        first_member_dos_time(&from_mtime),
        expected(dos(1_000_000_000))
    );
}

#[test]
fn entries_outside_the_file_need_allow_outside_and_a_refusal_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.taco");
    let before = build(&sample_members(), |s| vec![s[0].data_entry()]);
    std::fs::write(&path, &before).unwrap();
    let len = before.len() as u64;
    // One byte past the end is outside; ending exactly at the end is inside.
    let err = update_header(&path, &[Entry::new(len - 10, 11)], false).unwrap_err();
    assert!(matches!(err, WriteError::EntryOutside { .. }), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a refusal rewrote the file"
    );
    update_header(&path, &[Entry::new(len - 10, 10)], false).unwrap();
    update_header(&path, &[Entry::new(len - 10, 11)], true).unwrap();
    let after = std::fs::read(&path).unwrap();
    assert_eq!(
        parse_header(&after, CrcPolicy::Strict).unwrap().entries,
        [Entry::new(len - 10, 11)]
    );
}

#[test]
fn update_header_refuses_a_directory_that_does_not_list_the_header_first_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.taco");
    let good = build(&sample_members(), |s| vec![s[0].data_entry()]);
    let cd_offset = {
        let eocd = &good[good.len() - 22..];
        u32::from_le_bytes([eocd[16], eocd[17], eocd[18], eocd[19]]) as usize
    };
    // TACO_HEADER first but at another offset; another name first at offset 0.
    let mut moved = good.clone();
    moved[cd_offset + 42..cd_offset + 46].copy_from_slice(&5u32.to_le_bytes());
    let mut renamed = good.clone();
    renamed[cd_offset + 46] = b'X';
    for bad in [moved, renamed] {
        std::fs::write(&path, &bad).unwrap();
        let err = update_header(&path, &[Entry::new(157, 5)], false).unwrap_err();
        assert!(matches!(err, WriteError::NotTaco { .. }), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bad,
            "a refusal changed the file"
        );
    }
}

#[test]
fn the_finish_summary_describes_the_archive_written() {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    let a = w.add_bytes("a", b"alpha", None).unwrap();
    w.add_bytes("b", b"beta", None).unwrap();
    let (out, summary) = w.finish(&[a.data_entry()]).unwrap();
    let bytes = out.into_inner();
    assert_eq!(summary.archive_len, bytes.len() as u64);
    assert_eq!(summary.members, 2);
    assert!(!summary.zip64);
    assert_eq!(summary.entries, [a.data_entry()]);
    let header = parse_header(&bytes, CrcPolicy::Strict).unwrap();
    assert_eq!(summary.header_crc32, header.stored_crc);
    let eocd = &bytes[bytes.len() - 22..];
    let cd_size = u32::from_le_bytes([eocd[12], eocd[13], eocd[14], eocd[15]]) as usize;
    let cd_offset = u32::from_le_bytes([eocd[16], eocd[17], eocd[18], eocd[19]]) as usize;
    assert_eq!(
        summary.directory_crc32,
        taco_format::crc32(&bytes[cd_offset..cd_offset + cd_size])
    );
}

#[test]
fn entries_may_end_exactly_at_the_end_of_the_archive_and_not_a_byte_later() {
    let write = |extra: u64| {
        let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
        w.add_bytes("a", b"alpha", None).unwrap();
        // The finished length is known before finishing: header, one member, directory, end.
        let len = (157 + 30 + 1 + 5) + (46 + 11 + 46 + 1) + 22;
        w.finish(&[Entry::new(0, len + extra)])
    };
    assert!(write(0).is_ok());
    assert!(matches!(write(1), Err(WriteError::EntryOutside { .. })));
}

#[test]
fn a_zip64_locator_points_at_the_zip64_end_record() {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    for i in 0..65_535u32 {
        w.add_bytes(&format!("m{i}"), &[], None).unwrap();
    }
    let (out, summary) = w.finish(&[]).unwrap();
    let bytes = out.into_inner();
    assert!(summary.zip64);
    assert_eq!(summary.archive_len, bytes.len() as u64);
    let locator = &bytes[bytes.len() - 22 - 20..bytes.len() - 22];
    assert_eq!(&locator[..4], b"PK\x06\x07");
    let at = u64::from_le_bytes(locator[8..16].try_into().unwrap()) as usize;
    assert_eq!(
        at,
        bytes.len() - 22 - 20 - 56,
        "the record sits right before the locator"
    );
    assert_eq!(&bytes[at..at + 4], b"PK\x06\x06");
    let total = u64::from_le_bytes(bytes[at + 32..at + 40].try_into().unwrap());
    assert_eq!(total, 65_536, "TACO_HEADER and 65 535 members");
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    assert_eq!(zip.len(), 65_536);
    assert_eq!(zip.by_index(65_535).unwrap().name(), "m65534");
}

/// Past 4 MiB of central records the directory moves to a temporary file: the archive still
/// lists every member in order, its directory CRC is the CRC of the bytes written, and a
/// duplicate name is still caught after the spill.
#[test]
fn a_central_directory_larger_than_memory_holds_streams_back_in_order() {
    let count = 180_000usize; // ~74 bytes a record: well past the 4 MiB threshold
    let mut writer = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    for i in 0..count {
        let name = format!("members/m{i:07}.bin");
        writer
            .add_bytes(&name, &i.to_le_bytes()[..3], None)
            .unwrap();
    }
    match writer.add_bytes("members/m0000007.bin", b"again", None) {
        Err(WriteError::DuplicateName { name }) => assert_eq!(name, "members/m0000007.bin"),
        other => panic!("duplicate after the spill not refused: {other:?}"),
    }
    let (out, summary) = writer.finish(&[]).unwrap();
    let bytes = out.into_inner();
    assert_eq!(summary.members, count as u64);

    let mut zip = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
    assert_eq!(zip.len(), count + 1);
    for i in [0, 1, count / 2, count - 1] {
        let mut file = zip.by_index(i + 1).unwrap();
        assert_eq!(file.name(), format!("members/m{i:07}.bin"));
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        assert_eq!(data, &i.to_le_bytes()[..3]);
    }
    // the CRC the summary reports (the sidecar's identity) is that of the directory written
    let eocd = bytes.len() - 22;
    let cd_size = u32::from_le_bytes(bytes[eocd + 12..eocd + 16].try_into().unwrap()) as usize;
    let cd_offset = u32::from_le_bytes(bytes[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    assert!(
        cd_size > 4 << 20,
        "the directory did not pass the spill threshold"
    );
    let directory = &bytes[cd_offset..cd_offset + cd_size];
    assert_eq!(summary.directory_crc32, crc32fast::hash(directory));
}

/// A front-to-back output (a plain `Vec`, never seeked) gets the same bytes as a seeking one.
#[test]
fn sequential_output_equals_the_seeking_writer_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big.bin");
    let data: Vec<u8> = (0..(5u32 << 20) + 77).map(|i| (i % 249) as u8).collect();
    std::fs::write(&source, &data).unwrap();
    let options = WriterOptions {
        fixed_time: Some(1_700_000_000),
        ..WriterOptions::default()
    };
    let mut seeking = ArchiveWriter::new(Cursor::new(Vec::new()), options.clone()).unwrap();
    let small = seeking.add_bytes("small", b"before", None).unwrap();
    let big = seeking.add_path("big.bin", &source).unwrap();
    let entries = [small.data_entry(), MemberSpan::span_entry(&small, &big)];
    let expected = seeking.finish(&entries).unwrap().0.into_inner();

    // Planned entries first; the output is a plain `Vec`, written front to back.
    let mut seq =
        ArchiveWriter::sequential(Vec::new(), "memory", &entries, options.clone()).unwrap();
    assert_eq!(seq.add_bytes("small", b"before", None).unwrap(), small);
    assert_eq!(seq.add_path("big.bin", &source).unwrap(), big);
    let (out, summary) = seq.finish(&entries).unwrap();
    let got = out.into_inner();
    assert_eq!(summary.archive_len, got.len() as u64);
    assert!(got == expected, "sequential output differs");

    // Entries that moved since the header went out are refused at finish.
    let mut seq =
        ArchiveWriter::sequential(Vec::new(), "memory", &entries, options.clone()).unwrap();
    seq.add_bytes("small", b"before", None).unwrap();
    let moved = seq.finish(&entries[..1]);
    assert!(matches!(moved, Err(WriteError::EntriesMoved { .. })));

    // A stream longer than one buffer cannot be read twice for its CRC.
    let mut seq = ArchiveWriter::sequential(Vec::new(), "memory", &[], options.clone()).unwrap();
    let refused = seq.add_reader("stream", data.as_slice(), data.len() as u64, None);
    assert!(matches!(
        refused,
        Err(WriteError::StreamOnSequential { .. })
    ));

    // Bytes in memory of any size can be read twice, so they are taken.
    let big_bytes = vec![5u8; 3 << 20];
    let mut seeking = ArchiveWriter::new(Cursor::new(Vec::new()), options.clone()).unwrap();
    let span = seeking.add_bytes("big", &big_bytes, None).unwrap();
    let expected = seeking.finish(&[span.data_entry()]).unwrap().0.into_inner();
    let mut seq =
        ArchiveWriter::sequential(Vec::new(), "memory", &[span.data_entry()], options).unwrap();
    assert_eq!(seq.add_bytes("big", &big_bytes, None).unwrap(), span);
    let got = seq.finish(&[span.data_entry()]).unwrap().0.into_inner();
    assert!(got == expected, "sequential output of big bytes differs");
}
