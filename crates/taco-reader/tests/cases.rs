//! One table of archives — valid, corrupted and truncated — checked through every source: an
//! in-memory buffer and a local file. Each corruption must be named by the right error variant,
//! at the right level.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::sample;

use proptest::prelude::*;
use std::io::Cursor;
use taco_format::Entry;
use taco_reader::{validate, Archive, Level, LocalFile, ReadAt, ReadError};
use taco_writer::{ArchiveWriter, MemberSpan, WriterOptions};

/// Bytes read the way a remote source is: each read a request, so readers batch them.
struct AsRequests(Vec<u8>);

impl ReadAt for AsRequests {
    fn size(&self) -> Result<u64, ReadError> {
        self.0.size()
    }

    fn label(&self) -> String {
        "requests".to_string()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
        self.0.read_exact_at(buf, offset)
    }

    fn reads_are_requests(&self) -> bool {
        true
    }
}

/// Runs `check` on the bytes as a buffer, as a file on disk, as a source whose reads are
/// requests (which validation batches differently), and as an in-memory object store's object.
fn through_every_source(bytes: &[u8], mut check: impl FnMut(&dyn ReadAt, &str)) {
    check(&bytes.to_vec(), "memory");
    check(&AsRequests(bytes.to_vec()), "requests");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.taco");
    std::fs::write(&path, bytes).unwrap();
    check(&LocalFile::open(&path).unwrap(), "file");
    #[cfg(feature = "remote")]
    check(&in_memory_object(bytes), "object store");
}

/// The bytes as an object of `object_store`'s `InMemory` store, read through the remote
/// source with all its checks (ETag, exact ranges, answer lengths).
#[cfg(feature = "remote")]
fn in_memory_object(bytes: &[u8]) -> taco_reader::RemoteSource {
    use std::future::Future;
    use std::sync::Arc;
    use taco_reader::object_store::{memory::InMemory, path::Path, ObjectStore, PutPayload};
    let store = InMemory::new();
    let location = Path::from("case.taco");
    {
        // InMemory completes a put on its first poll: no runtime needed to drive it.
        let mut put = std::pin::pin!(store.put_opts(
            &location,
            PutPayload::from(bytes.to_vec()),
            Default::default(),
        ));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match put.as_mut().poll(&mut context) {
            std::task::Poll::Ready(result) => drop(result.unwrap()),
            std::task::Poll::Pending => panic!("InMemory put did not complete at once"),
        }
    }
    taco_reader::RemoteSource::from_store(Arc::new(store), "case.taco", None).unwrap()
}

fn kind_at(bytes: &[u8], level: Level) -> Result<(), &'static str> {
    let mut result = Ok(());
    let mut first = true;
    through_every_source(bytes, |source, via| {
        let got = validate(source, level)
            .map(drop)
            .map_err(|e| e.kind().name());
        if first {
            result = got;
            first = false;
        } else {
            assert_eq!(got, result, "sources disagree ({via})");
        }
    });
    result
}

fn flipped(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= 0x5A;
    b
}

/// `bytes` with the byte at `at` set to `value`.
fn patched(bytes: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] = value;
    b
}

/// `bytes` with `insert` placed at `at`, nothing else changed.
fn spliced(bytes: &[u8], at: usize, insert: &[u8]) -> Vec<u8> {
    let mut b = bytes[..at].to_vec();
    b.extend_from_slice(insert);
    b.extend_from_slice(&bytes[at..]);
    b
}

/// `bytes` (no comment yet) with `comment` as the end record's comment.
fn with_comment(bytes: &[u8], comment: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let at = b.len() - 2;
    b[at..].copy_from_slice(&(comment.len() as u16).to_le_bytes());
    b.extend_from_slice(comment);
    b
}

/// `bytes` with `insert` placed before the central directory at `cd_offset`, and the end
/// record's directory offset moved to match: a well-formed ZIP with bytes no member owns.
fn moved_directory(bytes: &[u8], cd_offset: usize, insert: &[u8]) -> Vec<u8> {
    let mut b = spliced(bytes, cd_offset, insert);
    let field = b.len() - 22 + 16;
    let moved = u32::try_from(cd_offset + insert.len()).unwrap();
    b[field..field + 4].copy_from_slice(&moved.to_le_bytes());
    b
}

#[test]
fn valid_archive_passes_every_level_through_every_source() {
    let s = sample();
    for level in [Level::Quick, Level::Normal, Level::Deep] {
        assert_eq!(kind_at(&s.bytes, level), Ok(()), "{level:?}");
    }
    through_every_source(&s.bytes, |source, _| {
        let archive = Archive::open(source).unwrap();
        assert_eq!(archive.members().len(), 4);
        let data = archive.data_range(&archive.members()[2]).unwrap();
        assert_eq!(data, s.spans[1].data_entry());
        assert_eq!(archive.read_range(data).unwrap(), vec![9u8; 300]);
    });
}

#[test]
fn each_corruption_is_named_at_the_level_that_catches_it() {
    let s = sample();
    let a = s.spans[0];
    let cases: Vec<(&str, Vec<u8>, Level, &str)> = vec![
        (
            "header payload",
            flipped(&s.bytes, 60),
            Level::Quick,
            "HeaderCrcMismatch",
        ),
        (
            "header signature",
            flipped(&s.bytes, 1),
            Level::Quick,
            "BadSignature",
        ),
        (
            "header name",
            flipped(&s.bytes, 33),
            Level::Quick,
            "NotTacoHeader",
        ),
        (
            "local signature",
            flipped(&s.bytes, a.header_offset as usize),
            Level::Normal,
            "BadSignature",
        ),
        (
            "local CRC",
            flipped(&s.bytes, a.header_offset as usize + 15),
            Level::Normal,
            "LocalHeaderMismatch",
        ),
        (
            "local name",
            flipped(&s.bytes, a.header_offset as usize + 31),
            Level::Normal,
            "LocalHeaderMismatch",
        ),
        (
            "local method",
            flipped(&s.bytes, a.header_offset as usize + 8),
            Level::Normal,
            "LocalHeaderMismatch",
        ),
        (
            "central signature",
            flipped(&s.bytes, s.cd_offset + 1),
            Level::Normal,
            "BadSignature",
        ),
        (
            "central CRC of a member",
            flipped(&s.bytes, s.cd_offset + 57 + 16 + 1),
            Level::Normal,
            "LocalHeaderMismatch",
        ),
        (
            "central CRC of TACO_HEADER",
            flipped(&s.bytes, s.cd_offset + 16),
            Level::Normal,
            "HeaderRecordMismatch",
        ),
        (
            "member data",
            flipped(&s.bytes, a.data_offset as usize + 2),
            Level::Deep,
            "CrcMismatch",
        ),
        (
            "end record",
            flipped(&s.bytes, s.bytes.len() - 22),
            Level::Normal,
            "BadSignature",
        ),
        (
            "STORED sizes differ in the central record",
            flipped(&s.bytes, s.cd_offset + 57 + 20),
            Level::Normal,
            "StoredSizeMismatch",
        ),
        (
            "encryption flag in the central record",
            patched(&s.bytes, s.cd_offset + 57 + 8, 0x01),
            Level::Normal,
            "UnsupportedFeature",
        ),
        (
            "version needed newer than readers know",
            patched(&s.bytes, s.cd_offset + 57 + 6, 64),
            Level::Normal,
            "UnsupportedFeature",
        ),
        (
            "local flags differ from the central record's",
            patched(&s.bytes, a.header_offset as usize + 7, 0x08),
            Level::Normal,
            "LocalHeaderMismatch",
        ),
        (
            "signature in the end record's comment",
            with_comment(&s.bytes, b"see PK\x05\x06 here"),
            Level::Normal,
            "SignatureInComment",
        ),
        (
            "junk between the directory and the end record",
            spliced(&s.bytes, s.bytes.len() - 22, b"junk"),
            Level::Normal,
            "UnaccountedBytes",
        ),
        (
            "junk between the last member and the directory",
            moved_directory(&s.bytes, s.cd_offset, b"hidden bytes"),
            Level::Normal,
            "UnaccountedBytes",
        ),
    ];
    for (what, bytes, level, kind) in cases {
        assert_eq!(kind_at(&bytes, level), Err(kind), "{what}");
        if level > Level::Quick {
            let lower = if level == Level::Deep {
                Level::Normal
            } else {
                Level::Quick
            };
            assert_eq!(kind_at(&bytes, lower), Ok(()), "{what} must pass {lower:?}");
        }
    }
}

#[test]
fn every_truncation_fails_normal_validation() {
    let s = sample();
    for len in 0..s.bytes.len() {
        let result = kind_at(&s.bytes[..len], Level::Normal);
        assert!(result.is_err(), "truncated to {len} bytes passed");
    }
}

#[test]
fn entries_outside_the_file_are_named() {
    let s = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.taco");
    std::fs::write(&path, &s.bytes).unwrap();
    taco_writer::update_header(&path, &[Entry::new(0, 1 << 30)], true).unwrap();
    let err = validate(LocalFile::open(&path).unwrap(), Level::Normal).unwrap_err();
    assert_eq!(err.kind().name(), "EntryOutside");
}

#[test]
fn extraction_refuses_escaping_names_before_writing_anything() {
    // A valid archive whose member name is rewritten (same length) to escape the directory.
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    w.add_bytes("ok.txt", b"fine", None).unwrap();
    w.add_bytes("xx/evil", b"bad", None).unwrap();
    let mut bytes = w.finish(&[]).unwrap().0.into_inner();
    let needle = b"xx/evil";
    let positions: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(positions.len(), 2, "local and central name");
    for p in positions {
        bytes[p..p + 7].copy_from_slice(b"../evil");
    }
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("out");
    let archive = Archive::open(bytes.clone()).unwrap();
    let err = taco_reader::extract_all(&archive, &target, &Default::default()).unwrap_err();
    assert_eq!(err.kind().name(), "BadName");
    assert!(!root.path().join("evil").exists());
    assert!(
        !target.join("ok.txt").exists(),
        "nothing written before the check"
    );
    let err = taco_reader::extract_span(bytes.as_slice(), "span", &target, &Default::default())
        .unwrap_err();
    assert_eq!(err.kind().name(), "BadName");
    assert!(!root.path().join("evil").exists());
}

#[cfg(unix)]
#[test]
fn extraction_never_writes_through_a_symlink() {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    w.add_bytes("link/file", b"x", None).unwrap();
    let bytes = w.finish(&[]).unwrap().0.into_inner();
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let target = root.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("link")).unwrap();
    let archive = Archive::open(bytes).unwrap();
    let err = taco_reader::extract_all(&archive, &target, &Default::default()).unwrap_err();
    assert!(matches!(err, ReadError::UnsafeOutputPath { .. }), "{err}");
    assert!(!outside.join("file").exists());
}

#[cfg(unix)]
#[test]
fn a_symlink_at_the_file_name_is_replaced_not_followed_and_inputs_are_kept() {
    let s = sample();
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside.txt");
    std::fs::write(&outside, b"keep me").unwrap();
    let target = root.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("a.txt")).unwrap();
    let archive = Archive::open(s.bytes.clone()).unwrap();
    let options = taco_reader::ExtractOptions {
        overwrite: true,
        ..Default::default()
    };
    taco_reader::extract_all(&archive, &target, &options).unwrap();
    assert_eq!(std::fs::read(&outside).unwrap(), b"keep me");
    assert!(!target.join("a.txt").is_symlink());
    assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"alpha alpha");

    // A file among the inputs is never replaced, even when overwriting.
    let meta = std::fs::metadata(target.join("a.txt")).unwrap();
    let options = taco_reader::ExtractOptions {
        overwrite: true,
        inputs: vec![(
            std::os::unix::fs::MetadataExt::dev(&meta),
            std::os::unix::fs::MetadataExt::ino(&meta),
        )],
        ..Default::default()
    };
    let err = taco_reader::extract_all(&archive, &target, &options).unwrap_err();
    assert_eq!(err.kind().name(), "OutputIsInput");
}

#[test]
fn a_span_writes_only_what_the_central_directory_lists_there() {
    let s = sample();
    let span = MemberSpan::span_entry(&s.spans[1], &s.spans[2]);
    let bytes = &s.bytes[span.offset as usize..(span.offset + span.length) as usize];
    let archive = Archive::open(s.bytes.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = Default::default();
    let report = taco_reader::extract_listed_span(
        bytes,
        "span",
        &archive,
        span.offset,
        dir.path(),
        &options,
    )
    .unwrap();
    assert_eq!(report.files.len(), 2);
    // Said to start where a.txt is listed, dir/b.bin's local entry is not what the directory
    // lists there: nothing is written.
    let other = tempfile::tempdir().unwrap();
    let at = s.spans[0].header_offset;
    let err = taco_reader::extract_listed_span(bytes, "span", &archive, at, other.path(), &options)
        .unwrap_err();
    assert_eq!(err.kind().name(), "NotInDirectory");
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
}

#[test]
fn truncated_span_reports_complete_files_and_leaves_no_partial_file() {
    let s = sample();
    let span = MemberSpan::span_entry(&s.spans[0], &s.spans[2]);
    let bytes = &s.bytes[span.offset as usize..(span.offset + span.length) as usize];
    let cut = (s.spans[1].data_offset - span.offset) as usize + 100; // inside dir/b.bin
    let dir = tempfile::tempdir().unwrap();
    let err = taco_reader::extract_span(&bytes[..cut], "span", dir.path(), &Default::default())
        .unwrap_err();
    assert_eq!(err.kind().name(), "TruncatedSpan");
    assert!(err.to_string().contains("1 complete file"), "{err}");
    assert!(dir.path().join("a.txt").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("dir")).unwrap().collect();
    assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");

    let full =
        taco_reader::extract_span(bytes, "span", &dir.path().join("all"), &Default::default())
            .unwrap();
    assert_eq!(full.files.len(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Mutated archives never panic any reading path, through either source kind.
    #[test]
    fn mutated_archives_never_panic(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
                                    cut in any::<usize>(), truncate in any::<bool>()) {
        let mut bytes = sample().bytes;
        for (at, value) in flips {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        let _ = validate(&bytes, Level::Deep);
        let _ = validate(AsRequests(bytes.clone()), Level::Normal);
        if let Ok(tail) = taco_reader::ArchiveTail::read(&bytes) {
            if let Some(last) = tail.last_member() {
                let _ = tail.read_member(&last);
            }
        }
        if let Ok(archive) = Archive::open(&bytes) {
            for m in archive.members() {
                if let Ok(range) = archive.data_range(m) {
                    prop_assert!(range.fits_in(bytes.len() as u64));
                }
                if let Ok((range, mut reader)) = archive.open_member(m) {
                    let mut sink = Vec::new();
                    let _ = std::io::Read::read_to_end(&mut reader, &mut sink);
                    prop_assert!(sink.len() as u64 <= range.length);
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let _ = taco_reader::extract_span(bytes.as_slice(), "span", dir.path(), &Default::default());
    }
}

/// A source that counts its reads, as a remote one counts requests.
struct Counted {
    bytes: Vec<u8>,
    reads: std::cell::Cell<usize>,
}

impl ReadAt for Counted {
    fn size(&self) -> Result<u64, ReadError> {
        self.bytes.size()
    }

    fn label(&self) -> String {
        "counted".to_string()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
        self.reads.set(self.reads.get() + 1);
        self.bytes.read_exact_at(buf, offset)
    }
}

/// An archive whose central directory is bigger than the 64 KiB tail; the last member is big
/// too, so the tail holds only the directory's end.
fn big_directory_archive() -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    let mut files = Vec::new();
    for i in 0..1500 {
        let name = format!("deep/directory/with/a/long/name/file-{i:05}.txt");
        let data = format!("contents of {i}").into_bytes();
        w.add_bytes(&name, &data, None).unwrap();
        files.push((name, data));
    }
    let last = (0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>();
    w.add_bytes("LAST.json", &last, None).unwrap();
    files.push(("LAST.json".to_string(), last));
    (w.finish(&[]).unwrap().0.into_inner(), files)
}

#[test]
fn the_last_member_is_found_in_the_tail_without_the_directory() {
    let (bytes, files) = big_directory_archive();
    let source = Counted {
        bytes,
        reads: 0.into(),
    };
    let tail = taco_reader::ArchiveTail::read(&source).unwrap();
    assert_eq!(source.reads.get(), 1);
    let last = tail.last_member().unwrap();
    assert_eq!(last.record.name, b"LAST.json");
    assert_eq!(last.index, files.len()); // TACO_HEADER is member 0
    assert_eq!(tail.read_member(&last).unwrap(), files.last().unwrap().1);
    assert_eq!(
        source.reads.get(),
        2,
        "one read for header and data together"
    );

    // The whole directory agrees, and costs one more read: only the part before the tail.
    let archive = tail.into_archive().unwrap();
    assert_eq!(source.reads.get(), 3);
    assert_eq!(archive.members().last().unwrap(), &last);
    assert_eq!(archive.members().len(), files.len() + 1);
}

#[test]
fn an_opened_member_yields_exactly_its_data() {
    let (bytes, files) = big_directory_archive();
    let source = Counted {
        bytes,
        reads: 0.into(),
    };
    let archive = Archive::open(&source).unwrap();
    for (name, data) in [&files[0], &files[777], &files[1500]] {
        let member = archive.member(name).unwrap();
        let (range, mut reader) = archive.open_member(member).unwrap();
        assert_eq!(range, archive.data_range(member).unwrap());
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut got).unwrap();
        assert_eq!(
            &got, data,
            "{name}: exactly the data, nothing of the next header"
        );
    }
}

#[test]
fn extraction_through_requests_writes_the_same_files() {
    let (bytes, files) = big_directory_archive();
    let mut trees = Vec::new();
    for source in [
        Box::new(bytes.clone()) as Box<dyn ReadAt>,
        Box::new(AsRequests(bytes)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(&*source).unwrap();
        let report = taco_reader::extract_all(&archive, dir.path(), &Default::default()).unwrap();
        assert_eq!(report.files.len(), files.len());
        let mut tree = Vec::new();
        for (name, data) in &files {
            assert_eq!(
                &std::fs::read(dir.path().join(name)).unwrap(),
                data,
                "{name}"
            );
            tree.push(name.clone());
        }
        trees.push((tree, report.bytes));
    }
    assert_eq!(trees[0], trees[1]);
}

#[test]
fn the_front_door_reads_entries_and_members_and_checks_crcs_as_data_streams() {
    use std::io::Read;
    let s = sample();
    let archive = taco_reader::TacoArchive::from_source(s.bytes.clone()).unwrap();
    assert_eq!(archive.entries().unwrap().len(), 2);
    let mut entry = Vec::new();
    archive
        .open_entry(0)
        .unwrap()
        .read_to_end(&mut entry)
        .unwrap();
    assert_eq!(entry, b"alpha alpha");
    assert_eq!(
        archive.open_entry(2).err().unwrap().kind().name(),
        "NoSuchEntry"
    );
    assert_eq!(
        archive.member("nope").unwrap_err().kind().name(),
        "NoSuchMember"
    );

    let (range, mut reader) = archive.open_member("dir/b.bin").unwrap();
    assert_eq!(range, s.spans[1].data_entry());
    let mut data = Vec::new();
    reader.read_to_end(&mut data).unwrap();
    assert_eq!(data, vec![9u8; 300]);

    // One flipped data byte: the stream fails at its end, naming the CRC mismatch.
    let bad = flipped(&s.bytes, s.spans[1].data_offset as usize + 7);
    let archive = taco_reader::TacoArchive::from_source(bad).unwrap();
    let (_, mut reader) = archive.open_member("dir/b.bin").unwrap();
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    let inner = err.into_inner().unwrap().downcast::<ReadError>().unwrap();
    assert_eq!(inner.kind().name(), "CrcMismatch");
    assert_eq!(
        archive.read_member("dir/b.bin").unwrap_err().kind().name(),
        "CrcMismatch"
    );
}
