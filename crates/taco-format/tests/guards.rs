//! The format's guards, each at the boundary a mutation would move: the tail length that always
//! holds the end records, multi-disk and impossible counts, a second end record, name limits,
//! flag and attribute bits as written, ZIP64 sizes in local headers, and data offsets.

#![allow(clippy::unwrap_used, clippy::panic)]

use taco_format::{
    check_member_name, local_header_len, read_directory_end, CentralRecord, DosDateTime,
    EndOfCentralDirectory, FormatError, LocalHeader, NameProblem, StoredMember, Zip64Eocd,
    Zip64Locator, EOCD_LEN, FLAG_DATA_DESCRIPTOR, FLAG_UTF8, MAX_TAIL_LEN, U32_MARKER,
    ZIP64_EOCD_LEN, ZIP64_LOCATOR_LEN,
};

fn member(name: &str, size: u64, header_offset: u64) -> StoredMember {
    StoredMember {
        name: name.as_bytes().to_vec(),
        crc32: 0x1234_5678,
        size,
        modified: DosDateTime::default(),
        header_offset,
    }
}

/// A one-member central directory at offset 0 and its classic end record with `comment`.
fn directory_with(comment: &[u8], edit: impl FnOnce(&mut EndOfCentralDirectory)) -> Vec<u8> {
    let mut cd = Vec::new();
    member("a", 1, 0).encode_central(&mut cd);
    let mut eocd = EndOfCentralDirectory::for_directory(1, cd.len() as u64, 0);
    eocd.comment_len = comment.len() as u16;
    edit(&mut eocd);
    let mut bytes = cd;
    bytes.extend_from_slice(&eocd.encode());
    bytes.extend_from_slice(comment);
    bytes
}

#[test]
fn the_tail_length_holds_the_longest_end_records() {
    assert_eq!(
        MAX_TAIL_LEN,
        (EOCD_LEN + 65_535 + ZIP64_LOCATOR_LEN + ZIP64_EOCD_LEN) as u64
    );
    assert_eq!(MAX_TAIL_LEN, 22 + 65_535 + 20 + 56);
    // ZIP64 records and a comment of the greatest length: all inside MAX_TAIL_LEN bytes.
    let mut cd = Vec::new();
    member("a", 1, 0).encode_central(&mut cd);
    let cd_len = cd.len() as u64;
    let mut bytes = cd;
    let zip64_at = bytes.len() as u64;
    bytes.extend_from_slice(
        &Zip64Eocd {
            entries_this_disk: 1,
            total_entries: 1,
            cd_size: cd_len,
            cd_offset: 0,
            disk: 0,
            cd_disk: 0,
        }
        .encode(),
    );
    bytes.extend_from_slice(
        &Zip64Locator {
            eocd_disk: 0,
            eocd_offset: zip64_at,
            total_disks: 1,
        }
        .encode(),
    );
    let mut eocd = EndOfCentralDirectory::for_directory(1, cd_len, 0);
    eocd.total_entries = 0xFFFF;
    eocd.entries_this_disk = 0xFFFF;
    eocd.comment_len = u16::MAX;
    bytes.extend_from_slice(&eocd.encode());
    bytes.extend(std::iter::repeat_n(b'c', 65_535));
    let tail_start = bytes.len() - MAX_TAIL_LEN as usize;
    assert_eq!(
        tail_start as u64, cd_len,
        "the tail starts right after the directory"
    );
    let end = read_directory_end(&bytes[tail_start..], tail_start as u64).unwrap();
    assert!(end.zip64);
    assert_eq!((end.cd_offset, end.cd_size, end.entries), (0, cd_len, 1));
}

#[test]
fn multi_disk_end_records_are_refused_whichever_disk_field_says_so() {
    assert!(read_directory_end(&directory_with(b"", |_| {}), 0).is_ok());
    for edit in [
        (|e: &mut EndOfCentralDirectory| e.disk = 1) as fn(&mut EndOfCentralDirectory),
        |e| e.cd_disk = 1,
    ] {
        let err = read_directory_end(&directory_with(b"", edit), 0).unwrap_err();
        assert!(matches!(err, FormatError::OutOfRange { .. }), "{err}");
    }
}

#[test]
fn more_records_than_the_directory_can_hold_are_refused() {
    // One 47-byte record: a count of 1 fits, 2 cannot (each record is at least 46 bytes).
    let ok = directory_with(b"", |_| {});
    assert_eq!(read_directory_end(&ok, 0).unwrap().entries, 1);
    let lying = directory_with(b"", |e| {
        e.total_entries = 2;
        e.entries_this_disk = 2;
    });
    let err = read_directory_end(&lying, 0).unwrap_err();
    assert!(
        matches!(err, FormatError::OutOfRange { value: 2, .. }),
        "{err}"
    );
}

#[test]
fn an_end_record_inside_an_earlier_ones_comment_is_ambiguous() {
    // The last record has a short comment; an earlier record's comment runs to the end of the
    // file and swallows it: two readers could pick either.
    let inner = directory_with(b"zz", |_| {});
    let mut bytes = inner.clone();
    let cd_len = inner.len() - EOCD_LEN - 2;
    let mut outer = EndOfCentralDirectory::for_directory(1, cd_len as u64, 0);
    outer.comment_len = (EOCD_LEN + 2) as u16;
    bytes.splice(cd_len..cd_len, outer.encode());
    let err = read_directory_end(&bytes, 0).unwrap_err();
    // Named as what it is, before the gap it also leaves is noticed.
    assert!(matches!(err, FormatError::AmbiguousEnd { .. }), "{err}");
}

#[test]
fn name_limits_sit_exactly_at_the_zip_field() {
    let longest = "a".repeat(65_535);
    assert!(check_member_name(longest.as_bytes()).is_ok());
    let too_long = "a".repeat(65_536);
    let problem = |name: &str| match check_member_name(name.as_bytes()) {
        Err(FormatError::BadName { problem, .. }) => Some(problem),
        _ => None,
    };
    assert_eq!(problem(&too_long), Some(NameProblem::TooLong));
    // A backslash anywhere, not only first or alone.
    assert_eq!(problem("dir/a\\b"), Some(NameProblem::Backslash));
    assert_eq!(problem("ok/then\\"), Some(NameProblem::Backslash));
    let texts: Vec<String> = [
        NameProblem::Empty,
        NameProblem::TooLong,
        NameProblem::Backslash,
        NameProblem::ControlCharacter,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert!(texts.iter().all(|t| t.len() > 5), "{texts:?}");
    assert_eq!(
        texts.iter().collect::<std::collections::HashSet<_>>().len(),
        texts.len(),
        "each problem reads differently"
    );
}

#[test]
fn flags_and_attributes_are_written_as_the_zip_specification_numbers_them() {
    assert_eq!(FLAG_DATA_DESCRIPTOR, 0x0008);
    assert_eq!(FLAG_UTF8, 0x0800);
    let mut central = Vec::new();
    member("ünï", 5, 100).encode_central(&mut central);
    let record = CentralRecord::parse(&central, 0).unwrap();
    assert_eq!(
        record.version_made_by, 0x0314,
        "made by Unix (3), version 2.0"
    );
    assert_eq!(record.flags, FLAG_UTF8);
    assert_eq!(
        u32::from_le_bytes([central[38], central[39], central[40], central[41]]),
        0o100_644 << 16,
        "a regular file, rw-r--r--"
    );
    let mut ascii = Vec::new();
    member("plain", 5, 100).encode_central(&mut ascii);
    assert_eq!(CentralRecord::parse(&ascii, 0).unwrap().flags, 0);
}

#[test]
fn data_offsets_count_the_name_and_any_zip64_extra() {
    assert_eq!(member("abc", 10, 1000).data_offset(), 1000 + 30 + 3);
    let big = member("abc", u64::from(U32_MARKER), 1000);
    assert_eq!(big.data_offset(), 1000 + 30 + 3 + 20);
    let mut local = Vec::new();
    big.encode_local(&mut local);
    let parsed = LocalHeader::parse(&local, 1000).unwrap();
    assert_eq!(parsed.header_len, 30 + 3 + 20);
    assert_eq!(parsed.compressed_size, u64::from(U32_MARKER));
    assert_eq!(parsed.uncompressed_size, u64::from(U32_MARKER));
}

#[test]
fn one_zip64_marker_in_a_local_header_is_enough_to_read_the_extra() {
    let mut local = Vec::new();
    member("abc", 5_000_000_000, 0).encode_local(&mut local);
    // Put a real 32-bit value in one size field only: the marker in the other still means
    // both sizes come from the ZIP64 extra.
    for field in [18, 22] {
        let mut one = local.clone();
        one[field..field + 4].copy_from_slice(&7u32.to_le_bytes());
        let parsed = LocalHeader::parse(&one, 0).unwrap();
        let sizes = (parsed.compressed_size, parsed.uncompressed_size);
        assert_eq!(sizes, (5_000_000_000, 5_000_000_000), "field {field}");
    }
}

#[test]
fn names_read_back_as_text_by_their_flag() {
    let mut local = Vec::new();
    member("dir/ünï.bin", 1, 0).encode_local(&mut local);
    let parsed = LocalHeader::parse(&local, 0).unwrap();
    assert_eq!(parsed.text_name(), "dir/ünï.bin");
    assert_eq!(parsed.strict_name().unwrap(), "dir/ünï.bin");
    // The same bytes without the UTF-8 flag are code page 437, as the specification says.
    let mut unflagged = local.clone();
    unflagged[6..8].copy_from_slice(&0u16.to_le_bytes());
    let parsed = LocalHeader::parse(&unflagged, 0).unwrap();
    // ü = C3 BC and ï = C3 AF read as CP437: ├╝ and ├».
    assert_eq!(parsed.text_name(), "dir/├╝n├».bin");
}

/// A central record of `member("a", 5, 0)` with `edit` applied to its bytes.
fn central_with(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut central = Vec::new();
    member("a", 5, 0).encode_central(&mut central);
    edit(&mut central);
    central
}

fn refused(central: &[u8]) -> Option<FormatError> {
    match CentralRecord::parse(central, 0) {
        Err(e) => Some(e),
        Ok(record) => record.check_one_reading().err(),
    }
}

#[test]
fn encryption_patch_data_and_strong_encryption_flags_are_each_refused() {
    assert!(refused(&central_with(|_| {})).is_none());
    for bit in [0, 5, 6, 13] {
        let central = central_with(|c| c[8..10].copy_from_slice(&(1u16 << bit).to_le_bytes()));
        let err = refused(&central).map(|e| e.kind().name());
        assert_eq!(err, Some("UnsupportedFeature"), "flag bit {bit}");
    }
    // Bits readers ignore (UTF-8 names, 11) stay accepted.
    let utf8 = central_with(|c| c[8..10].copy_from_slice(&(1u16 << 11).to_le_bytes()));
    assert!(refused(&utf8).is_none());
}

#[test]
fn versions_needed_up_to_6_3_are_read_and_newer_ones_refused() {
    for (version, ok) in [
        (20u16, true),
        (45, true),
        (63, true),
        (64, false),
        (0x0314, true),
    ] {
        // The host byte (high) does not count: 0x0314 is "Unix, 2.0".
        let central = central_with(|c| c[6..8].copy_from_slice(&version.to_le_bytes()));
        assert_eq!(refused(&central).is_none(), ok, "version {version:#x}");
    }
}

#[test]
fn extra_fields_whose_blocks_overrun_them_are_refused() {
    // A 5-byte extra field: one block header claiming 8 bytes of body, or one that fits.
    let with_extra = |extra: &[u8]| {
        central_with(|c| {
            c[30..32].copy_from_slice(&(extra.len() as u16).to_le_bytes());
            c.splice(46 + 1..46 + 1, extra.iter().copied());
        })
    };
    assert!(
        refused(&with_extra(&[0x99, 0x99, 1, 0, 7])).is_none(),
        "a block that fits"
    );
    assert!(
        refused(&with_extra(&[0x99, 0x99, 0, 0, 7])).is_none(),
        "3 trailing bytes"
    );
    let err = refused(&with_extra(&[0x99, 0x99, 8, 0, 7])).map(|e| e.kind().name());
    assert_eq!(err, Some("UnsupportedFeature"));
}

#[test]
fn stored_sizes_must_agree_and_only_stored_members_are_held_to_it() {
    let sizes = |compressed: u32, uncompressed: u32| {
        central_with(|c| {
            c[20..24].copy_from_slice(&compressed.to_le_bytes());
            c[24..28].copy_from_slice(&uncompressed.to_le_bytes());
        })
    };
    assert!(refused(&sizes(5, 5)).is_none());
    let err = refused(&sizes(5, 6)).map(|e| e.kind().name());
    assert_eq!(err, Some("StoredSizeMismatch"));
    assert!(
        taco_format::check_stored_sizes(8, 5, 6, String::new).is_ok(),
        "deflated"
    );
    assert!(taco_format::check_stored_sizes(0, 6, 6, String::new).is_ok());
    assert!(taco_format::check_stored_sizes(0, 5, 6, String::new).is_err());
}

#[test]
fn any_marker_in_the_end_record_means_zip64() {
    let plain = EndOfCentralDirectory::for_directory(3, 100, 200);
    assert!(!plain.needs_zip64());
    let cases: [fn(&mut EndOfCentralDirectory); 4] = [
        |e| e.entries_this_disk = 0xFFFF,
        |e| e.total_entries = 0xFFFF,
        |e| e.cd_size = U32_MARKER,
        |e| e.cd_offset = U32_MARKER,
    ];
    for (i, mark) in cases.iter().enumerate() {
        let mut e = plain;
        mark(&mut e);
        assert!(e.needs_zip64(), "field {i}");
    }
}

#[test]
fn the_zip64_end_record_says_made_by_unix_version_4_5() {
    let record = Zip64Eocd::default().encode();
    assert_eq!(u16::from_le_bytes([record[12], record[13]]), 0x032D);
    assert_eq!(u16::from_le_bytes([record[14], record[15]]), 45);
}

#[test]
fn central_names_read_back_as_text() {
    let mut central = Vec::new();
    member("dir/ünï.bin", 1, 0).encode_central(&mut central);
    let record = CentralRecord::parse(&central, 0).unwrap();
    assert_eq!(record.text_name(), "dir/ünï.bin");
    assert_eq!(record.strict_name().unwrap(), "dir/ünï.bin");
}

#[test]
fn planned_local_header_length_is_the_encoded_one_across_the_zip64_size_line() {
    // A writer planning offsets (index v2) adds up `local_header_len`; the bytes come from
    // `encode_local`. They must agree on both sides of the 4 GiB − 1 line, where the ZIP64
    // extra field appears, or every member after a big one lands elsewhere than planned.
    for size in [
        0,
        u64::from(u32::MAX) - 1,
        u64::from(u32::MAX),
        1 << 32,
        5 << 30,
    ] {
        let m = member("big.bin", size, 201);
        let mut bytes = Vec::new();
        m.encode_local(&mut bytes);
        assert_eq!(bytes.len() as u64, local_header_len(7, size), "size {size}");
        assert_eq!(m.local_header_len(), local_header_len(7, size));
        assert_eq!(m.data_offset(), 201 + bytes.len() as u64);
    }
    assert_eq!(local_header_len(7, u64::from(u32::MAX) - 1), 37);
    assert_eq!(local_header_len(7, u64::from(u32::MAX)), 57);
}
