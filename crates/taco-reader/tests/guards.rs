//! The checks that guard data, each broken the way a mutation (or an attacker) would: a member
//! one byte into the central directory, member data whose CRC does not match on every path
//! that writes or returns it, and a span whose local sizes lie.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::sample;

use std::io::{Cursor, Read};
use taco_reader::{validate, Archive, ExtractOptions, Level, ReadError, Selection, TacoArchive};
use taco_writer::{ArchiveWriter, MemberSpan, WriterOptions};

/// Offset of the central record of `name`.
fn central_record(bytes: &[u8], name: &[u8]) -> usize {
    (0..bytes.len() - 46)
        .find(|&i| {
            bytes[i..i + 4] == *b"PK\x01\x02" && {
                let len = usize::from(u16::from_le_bytes([bytes[i + 28], bytes[i + 29]]));
                bytes.get(i + 46..i + 46 + len) == Some(name)
            }
        })
        .unwrap()
}

fn set_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// The sample with `dir/c` claiming `size` bytes in its local header and central record (both
/// sizes, and the CRC of that many bytes as they lie in the file), so only the bounds say no.
fn c_claiming(size: u32) -> Vec<u8> {
    let s = sample();
    let mut b = s.bytes.clone();
    let c = s.spans[2];
    let data = c.data_offset as usize;
    let crc = crc32fast::hash(&b[data..data + size as usize]);
    let local = c.header_offset as usize;
    let central = central_record(&b, b"dir/c");
    for (crc_at, sizes_at) in [(local + 14, local + 18), (central + 16, central + 20)] {
        set_u32(&mut b, crc_at, crc);
        set_u32(&mut b, sizes_at, size);
        set_u32(&mut b, sizes_at + 4, size);
    }
    b
}

#[test]
fn a_member_one_byte_into_the_central_directory_is_refused_everywhere() {
    // Control: the same edit keeping the true size passes.
    let exact = c_claiming(1);
    validate(&exact, Level::Deep).unwrap();

    let over = c_claiming(2);
    let kind = |e: ReadError| e.kind().name();
    assert_eq!(
        kind(validate(&over, Level::Normal).unwrap_err()),
        "MemberOutOfBounds"
    );
    let refused_on_open = Archive::open(&over).err().map(kind);
    let archive = TacoArchive::from_source(over.clone()).unwrap();
    let read = archive.read_member("dir/c").map(drop).map_err(kind);
    let dir = tempfile::tempdir().unwrap();
    let extracted = archive
        .extract(dir.path(), Selection::All, &ExtractOptions::default())
        .map(drop)
        .map_err(kind);
    // Opening may accept it (only the directory is read); nothing may read it.
    assert!(
        matches!(refused_on_open, None | Some("MemberOutOfBounds")),
        "{refused_on_open:?}"
    );
    assert_eq!(read, Err("MemberOutOfBounds"), "read_member");
    assert_eq!(extracted, Err("MemberOutOfBounds"), "extract");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "something was written"
    );
}

#[test]
fn a_wrong_crc_is_refused_on_every_path_that_returns_or_writes_member_data() {
    let s = sample();
    let b = s.spans[1];
    let mut bad = s.bytes.clone();
    bad[b.data_offset as usize + 150] ^= 0x01;
    let archive = TacoArchive::from_source(bad.clone()).unwrap();
    let kind = |e: ReadError| e.kind().name();

    assert_eq!(
        kind(archive.read_member("dir/b.bin").unwrap_err()),
        "CrcMismatch"
    );
    let (_, mut reader) = archive.open_member("dir/b.bin").unwrap();
    let streamed = reader.read_to_end(&mut Vec::new()).unwrap_err();
    let inner = streamed
        .into_inner()
        .unwrap()
        .downcast::<ReadError>()
        .unwrap();
    assert_eq!(kind(*inner), "CrcMismatch");
    assert_eq!(
        kind(validate(&bad, Level::Deep).unwrap_err()),
        "CrcMismatch"
    );

    for selection in [Selection::All, Selection::Entry(1)] {
        let dir = tempfile::tempdir().unwrap();
        let err = archive
            .extract(dir.path(), selection, &ExtractOptions::default())
            .unwrap_err();
        assert_eq!(kind(err), "CrcMismatch", "{selection:?}");
        assert!(
            !dir.path().join("dir/b.bin").exists(),
            "{selection:?}: the corrupt member was written"
        );
    }
    // A span cut from the archive, extracted on its own, checks every local CRC too.
    let span = archive.entry(1).unwrap();
    let bytes = &bad[span.offset as usize..(span.offset + span.length) as usize];
    let dir = tempfile::tempdir().unwrap();
    let err = taco_reader::extract_span(bytes, "span", dir.path(), &ExtractOptions::default())
        .unwrap_err();
    assert_eq!(kind(err), "CrcMismatch");
    assert!(!dir.path().join("dir/b.bin").exists());
}

#[test]
fn a_named_file_with_the_wrong_crc_is_never_renamed_into_place() {
    let dir = tempfile::tempdir().unwrap();
    let options = ExtractOptions::default();
    let body = b"tile bytes";
    let fill = |file: &mut std::fs::File| {
        std::io::Write::write_all(file, body).unwrap();
        Ok(crc32fast::hash(body))
    };
    let wrong = crc32fast::hash(body) ^ 1;
    let err = taco_reader::write_named_file(
        dir.path(),
        "z/x.png",
        "src",
        &options,
        4242,
        Some(wrong),
        fill,
    )
    .unwrap_err();
    assert_eq!(err.kind().name(), "CrcMismatch");
    assert!(err.to_string().contains("4242"), "names the offset: {err}");
    let left: Vec<_> = walk(dir.path());
    assert!(
        left.iter().all(|p| p.is_dir()),
        "files left behind: {left:?}"
    );
    let right = crc32fast::hash(body);
    let path = taco_reader::write_named_file(
        dir.path(),
        "z/x.png",
        "src",
        &options,
        4242,
        Some(right),
        fill,
    )
    .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
}

/// Everything below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[test]
fn a_span_entry_whose_local_size_differs_from_the_directory_is_not_in_it() {
    // The span of b and c, fetched from a server that lies about b's size in its local
    // header: same name, same offset, one byte longer. Not the member the directory lists.
    let s = sample();
    let archive = Archive::open(s.bytes.clone()).unwrap();
    let span = MemberSpan::span_entry(&s.spans[1], &s.spans[2]);
    let mut bytes = s.bytes[span.offset as usize..(span.offset + span.length) as usize].to_vec();
    for field in [18, 22] {
        bytes[field..field + 4].copy_from_slice(&301u32.to_le_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let err = taco_reader::extract_listed_span(
        &bytes[..],
        "span",
        &archive,
        span.offset,
        dir.path(),
        &ExtractOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind().name(), "NotInDirectory", "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Yields `chunks` in order: bytes, or an error of the given kind.
struct Scripted(Vec<Result<Vec<u8>, std::io::ErrorKind>>);

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Ok(0);
        }
        match self.0.remove(0) {
            Ok(mut bytes) => {
                // At most what fits; the rest comes next time.
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.0.insert(0, Ok(bytes.split_off(n)));
                }
                Ok(n)
            }
            Err(kind) => Err(std::io::Error::new(kind, "scripted")),
        }
    }
}

#[test]
fn a_copy_retries_interruptions_and_names_where_anything_else_stopped_it() {
    use std::io::ErrorKind::{ConnectionReset, Interrupted};
    let range = taco_format::Entry::new(1000, 6);
    let mut interrupted = Scripted(vec![
        Ok(b"abc".to_vec()),
        Err(Interrupted),
        Ok(b"def".to_vec()),
    ]);
    let mut got = Vec::new();
    let crc = taco_reader::copy_exact(&mut interrupted, "src", range, |c| {
        got.extend_from_slice(c);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        (got.as_slice(), crc),
        (&b"abcdef"[..], crc32fast::hash(b"abcdef"))
    );

    let mut reset = Scripted(vec![Ok(b"abcd".to_vec()), Err(ConnectionReset)]);
    let err = taco_reader::copy_exact(&mut reset, "src", range, |_| Ok(())).unwrap_err();
    // Named at the byte it stopped at, with what was still to come.
    assert!(
        err.to_string().contains("reading 2 bytes at offset 1004"),
        "{err}"
    );
    let mut short = Scripted(vec![Ok(b"abc".to_vec())]);
    let err = taco_reader::copy_exact(&mut short, "src", range, |_| Ok(())).unwrap_err();
    assert!(
        err.to_string().contains("reading 3 bytes at offset 1003"),
        "{err}"
    );
}

#[test]
fn a_span_reset_midway_is_a_read_error_not_a_short_span_and_interruptions_are_retried() {
    use std::io::ErrorKind::{ConnectionReset, Interrupted};
    let s = sample();
    let span = MemberSpan::span_entry(&s.spans[1], &s.spans[2]);
    let bytes = s.bytes[span.offset as usize..(span.offset + span.length) as usize].to_vec();
    // Interrupted inside the first local header, then everything: extracts whole.
    let dir = tempfile::tempdir().unwrap();
    let interrupted = Scripted(vec![
        Ok(bytes[..10].to_vec()),
        Err(Interrupted),
        Ok(bytes[10..].to_vec()),
    ]);
    let report =
        taco_reader::extract_span(interrupted, "span", dir.path(), &ExtractOptions::default())
            .unwrap();
    assert_eq!(report.files.len(), 2);
    // Reset inside b's data: the transport failed, the span was not cut short.
    let dir = tempfile::tempdir().unwrap();
    let reset = Scripted(vec![Ok(bytes[..100].to_vec()), Err(ConnectionReset)]);
    let err = taco_reader::extract_span(reset, "span", dir.path(), &ExtractOptions::default())
        .unwrap_err();
    assert_eq!(err.kind().name(), "Io", "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_sidecar_must_name_this_archive_field_by_field() {
    let s = sample();
    let identity = validate(&s.bytes, Level::Normal).unwrap().identity.unwrap();
    let sidecar = |size: u64, header: u32, cd: u32| {
        format!(
            r#"{{"format":"taco-index","archive":{{"size":{size},"header_crc32":{header},"cd_crc32":{cd}}}}}"#
        )
    };
    let (size, header, cd) = (
        identity.size,
        identity.header_crc32,
        identity.directory_crc32,
    );
    identity
        .check_sidecar(&sidecar(size, header, cd), "m")
        .unwrap();
    for (text, field) in [
        (sidecar(size + 1, header, cd), "size"),
        (sidecar(size, header ^ 1, cd), "header_crc32"),
        (sidecar(size, header, cd ^ 1), "cd_crc32"),
        (r#"{"format":"taco-index"}"#.to_string(), "size"),
    ] {
        let err = identity.check_sidecar(&text, "m").unwrap_err();
        assert_eq!(err.kind().name(), "StaleSidecar", "{text}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

#[test]
fn the_first_central_record_must_be_the_header_at_offset_zero() {
    let s = sample();
    let cd = central_record(&s.bytes, b"TACO_HEADER");
    let mut moved = s.bytes.clone();
    moved[cd + 42..cd + 46].copy_from_slice(&5u32.to_le_bytes());
    let mut renamed = s.bytes.clone();
    renamed[cd + 46] = b'X';
    let err = validate(&renamed, Level::Normal).unwrap_err();
    assert_eq!(err.kind().name(), "HeaderNotFirst", "{err}");
    // Moved, it lands on the next member: refused as that first.
    assert!(validate(&moved, Level::Normal).is_err());
}

#[test]
fn a_non_ascii_name_without_the_utf8_flag_is_refused() {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    let span = w.add_bytes("dir/ünï.bin", b"x", None).unwrap();
    let bytes = w.finish(&[]).unwrap().0.into_inner();
    validate(&bytes, Level::Normal).unwrap();
    // Clear flag bit 11 in both records, so they still agree with each other.
    let mut bad = bytes.clone();
    let local = span.header_offset as usize;
    let central = central_record(&bad, "dir/ünï.bin".as_bytes());
    for flags in [local + 6, central + 8] {
        bad[flags..flags + 2].copy_from_slice(&0u16.to_le_bytes());
    }
    let err = validate(&bad, Level::Normal).unwrap_err();
    assert_eq!(err.kind().name(), "BadName", "{err}");
    assert!(
        err.to_string().contains("UTF-8") || err.to_string().contains("flag"),
        "{err}"
    );
}

#[test]
fn bytes_between_members_are_unaccounted_and_the_report_counts_members() {
    let s = sample();
    let report = validate(&s.bytes, Level::Normal).unwrap();
    assert_eq!(report.members, Some(3));
    // Ten bytes slipped in before b's local header, every later offset moved to match: a
    // well-formed ZIP with bytes no member owns.
    let at = s.spans[1].header_offset as usize;
    let mut bad = s.bytes[..at].to_vec();
    bad.extend_from_slice(&[0xAA; 10]);
    bad.extend_from_slice(&s.bytes[at..]);
    for name in [&b"dir/b.bin"[..], b"dir/c"] {
        let cd = central_record(&bad, name);
        let offset = u32::from_le_bytes(bad[cd + 42..cd + 46].try_into().unwrap()) + 10;
        bad[cd + 42..cd + 46].copy_from_slice(&offset.to_le_bytes());
    }
    let eocd = bad.len() - 22;
    let cd_offset = u32::from_le_bytes(bad[eocd + 16..eocd + 20].try_into().unwrap()) + 10;
    bad[eocd + 16..eocd + 20].copy_from_slice(&cd_offset.to_le_bytes());
    let err = validate(&bad, Level::Normal).unwrap_err();
    assert_eq!(err.kind().name(), "UnaccountedBytes", "{err}");
    assert!(err.to_string().contains("between members"), "{err}");
}

#[test]
fn opening_refuses_a_central_record_whose_member_runs_past_the_directory() {
    let s = sample();
    let mut bad = s.bytes.clone();
    let central = central_record(&bad, b"dir/c");
    for at in [central + 20, central + 24] {
        bad[at..at + 4].copy_from_slice(&10_000u32.to_le_bytes());
    }
    let Err(err) = Archive::open(&bad) else {
        panic!("accepted at open")
    };
    assert_eq!(err.kind().name(), "MemberOutOfBounds", "{err}");
}

#[test]
fn the_identity_names_the_directory_by_the_crc_of_its_bytes() {
    let s = sample();
    let identity = validate(&s.bytes, Level::Normal).unwrap().identity.unwrap();
    let eocd = s.bytes.len() - 22;
    let cd_size = u32::from_le_bytes(s.bytes[eocd + 12..eocd + 16].try_into().unwrap()) as usize;
    let cd_offset = u32::from_le_bytes(s.bytes[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    assert_eq!(
        identity.directory_crc32,
        crc32fast::hash(&s.bytes[cd_offset..cd_offset + cd_size])
    );
    assert_eq!(identity.size, s.bytes.len() as u64);
}

/// Sets the 16-bit field at `local` (in a's local header) and `central` (in its central record).
fn patch_a(bytes: &[u8], local: usize, central: usize, value: u16) -> Vec<u8> {
    let s = sample();
    let mut b = bytes.to_vec();
    let at = s.spans[0].header_offset as usize + local;
    b[at..at + 2].copy_from_slice(&value.to_le_bytes());
    let c = central_record(&b, b"a.txt") + central;
    b[c..c + 2].copy_from_slice(&value.to_le_bytes());
    b
}

#[test]
fn member_data_is_read_only_from_stored_members_without_descriptors() {
    let s = sample();
    let kind = |bytes: Vec<u8>| {
        let archive = TacoArchive::from_source(bytes).unwrap();
        archive.read_member("a.txt").unwrap_err().kind().name()
    };
    // Method 8 (deflate) in both records: they agree, and still it is not STORED.
    assert_eq!(kind(patch_a(&s.bytes, 8, 10, 8)), "NotStored");
    // Flag bit 3 in both records: a data descriptor.
    assert_eq!(kind(patch_a(&s.bytes, 6, 8, 1 << 3)), "DataDescriptor");
}

#[test]
fn two_central_records_on_one_local_entry_are_refused_at_open() {
    let s = sample();
    let b = &s.bytes;
    let at = central_record(b, b"a.txt");
    let len = 46 + 5;
    let mut copy = b[at..at + len].to_vec();
    copy[46 + 4] = b'X'; // "a.txX": another name, the same local header offset
    let mut bad = b[..at + len].to_vec();
    bad.extend_from_slice(&copy);
    bad.extend_from_slice(&b[at + len..]);
    let eocd = bad.len() - 22;
    for field in [8, 10] {
        let n = u16::from_le_bytes(bad[eocd + field..eocd + field + 2].try_into().unwrap()) + 1;
        bad[eocd + field..eocd + field + 2].copy_from_slice(&n.to_le_bytes());
    }
    let size = u32::from_le_bytes(bad[eocd + 12..eocd + 16].try_into().unwrap()) + len as u32;
    bad[eocd + 12..eocd + 16].copy_from_slice(&size.to_le_bytes());
    let Err(err) = Archive::open(&bad) else {
        panic!("accepted at open")
    };
    assert_eq!(err.kind().name(), "OverlappingMembers", "{err}");
}
