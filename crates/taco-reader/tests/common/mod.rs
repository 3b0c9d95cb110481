//! Helpers the reader's integration tests share.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use taco_format::Entry;
use taco_reader::{ReadAt, ReadError};
use taco_writer::{ArchiveWriter, MemberSpan, WriterOptions};

/// Bytes where every read and every opened range counts as one request, as remotely.
pub struct Counting {
    pub bytes: Vec<u8>,
    /// Reads and opened ranges so far.
    pub requests: AtomicU64,
    /// Bytes read so far.
    pub read: AtomicU64,
}

impl Counting {
    /// A counting source over a copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Counting {
        Counting {
            bytes: bytes.to_vec(),
            requests: AtomicU64::new(0),
            read: AtomicU64::new(0),
        }
    }

    /// Requests so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl ReadAt for Counting {
    fn size(&self) -> Result<u64, ReadError> {
        Ok(self.bytes.len() as u64)
    }

    fn label(&self) -> String {
        "counting".into()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.bytes.read_exact_at(buf, offset)
    }

    fn reads_are_requests(&self) -> bool {
        true
    }

    fn open_range(&self, range: Entry) -> Result<Box<dyn Read + '_>, ReadError> {
        let mut buf = vec![0u8; range.length as usize];
        self.read_exact_at(&mut buf, range.offset)?;
        Ok(Box::new(Cursor::new(buf)))
    }
}

/// A small archive and where its members landed.
pub struct Sample {
    pub bytes: Vec<u8>,
    pub spans: Vec<MemberSpan>,
    /// Where the central directory starts: `dir/c` ends exactly there.
    pub cd_offset: usize,
}

/// `a.txt` (11 bytes), `dir/b.bin` (300 bytes), `dir/c` (1 byte), the last one ending exactly
/// where the central directory begins; entry 0 = a's data, entry 1 = span of b and c.
pub fn sample() -> Sample {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
    let spans = vec![
        w.add_bytes("a.txt", b"alpha alpha", None).unwrap(),
        w.add_bytes("dir/b.bin", &[9u8; 300], None).unwrap(),
        w.add_bytes("dir/c", b"c", None).unwrap(),
    ];
    let cd_offset = spans[2].end() as usize;
    let entries = [
        spans[0].data_entry(),
        MemberSpan::span_entry(&spans[1], &spans[2]),
    ];
    let bytes = w.finish(&entries).unwrap().0.into_inner();
    Sample {
        bytes,
        spans,
        cd_offset,
    }
}
