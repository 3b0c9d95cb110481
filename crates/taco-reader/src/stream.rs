//! Byte ranges as streams: copying exactly a range with its CRC-32, and reading a range of
//! any source as an `io::Read`.

use crate::archive::{invalid, STREAM_CHUNK};
use crate::{ArchiveError, ReadAt, ReadError};
use std::cell::RefCell;
use std::io::{self, Read};
use taco_format::Entry;

/// Passes the bytes of `range` of `source` to `sink` in pieces of at most 1 MiB and returns
/// their CRC-32; needs no central directory (for fetching an entry after [`crate::read_header`]).
///
/// # Errors
/// [`ArchiveError::RangeOutside`] when the range is not inside the source; [`ReadError::Io`]
/// for read failures; whatever `sink` returns.
pub fn stream_range<S: ReadAt + ?Sized>(
    source: &S,
    range: Entry,
    sink: impl FnMut(&[u8]) -> Result<(), ReadError>,
) -> Result<u32, ReadError> {
    let size = source.size()?;
    if !range.fits_in(size) {
        return Err(ReadError::Invalid {
            source_label: source.label(),
            problem: ArchiveError::RangeOutside {
                offset: range.offset,
                length: range.length,
                file_len: size,
            },
        });
    }
    let mut reader = source.open_range(range)?;
    copy_exact(&mut reader, &source.label(), range, sink)
}

/// Passes exactly `range.length` bytes of `reader` to `sink` in pieces of at most 1 MiB and
/// returns their CRC-32; `range` and `label` name the bytes in errors. For readers from
/// [`ReadAt::open_range`], e.g. to write several ranges fetched with one request.
///
/// # Errors
/// [`ReadError::Io`] when the reader fails or ends early (a remote failure keeps its own
/// [`ReadError::Remote`]); whatever `sink` returns (it names its own output).
pub fn copy_exact(
    reader: &mut dyn Read,
    label: &str,
    range: Entry,
    sink: impl FnMut(&[u8]) -> Result<(), ReadError>,
) -> Result<u32, ReadError> {
    let want = range.length.min(STREAM_CHUNK as u64) as usize;
    // One buffer per thread, zeroed once: callers copy member after member, and zeroing a
    // fresh buffer for each small member cost more than copying it.
    COPY_BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < want {
                buf.resize(want, 0);
            }
            copy_with(reader, label, range, sink, &mut buf[..want])
        }
        // A sink that copies a range itself gets a buffer of its own.
        Err(_) => copy_with(reader, label, range, sink, &mut vec![0u8; want]),
    })
}

thread_local! {
    static COPY_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn copy_with(
    reader: &mut dyn Read,
    label: &str,
    range: Entry,
    mut sink: impl FnMut(&[u8]) -> Result<(), ReadError>,
    buf: &mut [u8],
) -> Result<u32, ReadError> {
    let mut hasher = crc32fast::Hasher::new();
    let mut done = 0u64;
    while done < range.length {
        let (offset, len) = (range.offset + done, range.length - done);
        let io_error = |source| ReadError::Io {
            source_label: label.to_string(),
            offset,
            len,
            source,
        };
        let want = len.min(buf.len() as u64) as usize;
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(io_error(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "source ended early",
                )))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::unwrap_io(e, io_error)),
        };
        hasher.update(&buf[..n]);
        sink(&buf[..n])?;
        done += n as u64;
    }
    Ok(hasher.finalize())
}

/// Reads a byte range of a source as a stream, so span extraction works on a range of any
/// source without copying it first. Pair with a large `BufReader` for few, big reads.
#[derive(Debug)]
pub struct RangeReader<S> {
    source: S,
    next: u64,
    end: u64,
}

impl<S: ReadAt> RangeReader<S> {
    /// A reader of `range` of `source`.
    ///
    /// # Errors
    /// [`ArchiveError::RangeOutside`] when the range is not inside the source.
    pub fn new(source: S, range: Entry) -> Result<RangeReader<S>, ReadError> {
        let size = source.size()?;
        match range.end() {
            Some(end) if end <= size => Ok(RangeReader {
                source,
                next: range.offset,
                end,
            }),
            _ => Err(invalid(
                &source,
                ArchiveError::RangeOutside {
                    offset: range.offset,
                    length: range.length,
                    file_len: size,
                },
            )),
        }
    }
}

impl<S: ReadAt> io::Read for RangeReader<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.end - self.next).min(buf.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.source
            .read_exact_at(&mut buf[..n], self.next)
            .map_err(io::Error::other)?;
        self.next += n as u64;
        Ok(n)
    }
}

/// A reader of one member's data that computes its CRC-32 on the way and, once the last byte
/// is read, fails unless it equals the central directory's: the one CRC check for member data
/// read as a stream.
pub struct CrcReader<'a> {
    inner: ExactReader<Box<dyn Read + 'a>>,
    hasher: crc32fast::Hasher,
    expected: u32,
    name: String,
    range: Entry,
    label: String,
}

impl std::fmt::Debug for CrcReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrcReader")
            .field("name", &self.name)
            .field("range", &self.range)
            .field("remaining", &self.inner.remaining())
            .finish_non_exhaustive()
    }
}

impl<'a> CrcReader<'a> {
    /// Wraps `inner`, which yields member `name`'s data at `range` and must have CRC-32
    /// `expected`; `label` names the archive.
    pub fn new(
        inner: Box<dyn Read + 'a>,
        name: String,
        expected: u32,
        range: Entry,
        label: String,
    ) -> CrcReader<'a> {
        CrcReader {
            inner: ExactReader::new(inner, range.length),
            hasher: crc32fast::Hasher::new(),
            expected,
            name,
            range,
            label,
        }
    }

    /// The member's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CRC-32 the member's data must have (checked when the reader reaches its end).
    pub fn expected_crc32(&self) -> u32 {
        self.expected
    }

    fn fail(&self, problem: ArchiveError) -> io::Error {
        io::Error::other(ReadError::Invalid {
            source_label: self.label.clone(),
            problem,
        })
    }
}

impl Read for CrcReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(
                    e.kind(),
                    format!("{}: member {:?}: {e}", self.label, self.name),
                )
            } else {
                e
            }
        })?;
        self.hasher.update(&buf[..n]);
        if n > 0 && self.inner.remaining() == 0 {
            let computed = self.hasher.clone().finalize();
            if computed != self.expected {
                return Err(self.fail(ArchiveError::CrcMismatch {
                    name: self.name.clone(),
                    offset: self.range.offset,
                    stored: self.expected,
                    computed,
                }));
            }
        }
        Ok(n)
    }
}

/// Exactly `len` bytes of `inner`: it ends there, and an earlier end is an `UnexpectedEof`
/// error, never a short success.
pub(crate) struct ExactReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> ExactReader<R> {
    pub(crate) fn new(inner: R, len: u64) -> ExactReader<R> {
        ExactReader {
            inner,
            remaining: len,
        }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("source ended {} bytes early", self.remaining),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}
