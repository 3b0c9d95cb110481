//! [`TacoArchive`]: the one front door to an archive, local or remote.

use crate::archive::invalid as invalid_archive;
use crate::{
    read_header, Archive, ArchiveError, ExtractOptions, ExtractReport, Level, Member, ReadAt,
    ReadError, RemoteOptions, Source, ValidationReport,
};
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use taco_format::{CrcPolicy, Entry, ParsedHeader};

/// An open TACO archive. Opening reads the 157-byte header (one read, one request remotely);
/// everything else — the central directory, members, entries — is read when first asked for,
/// and the directory only once. Safe to share between threads.
///
/// ```
/// use taco_reader::TacoArchive;
/// # let mut w = taco_writer::ArchiveWriter::new(std::io::Cursor::new(Vec::new()), Default::default())?;
/// # let a = w.add_bytes("a.txt", b"hello", None)?;
/// # let b = w.add_bytes("dir/b.bin", &[7u8; 300], None)?;
/// # let bytes = w.finish(&[a.data_entry(), b.data_entry()])?.0.into_inner();
/// // `bytes` holds an archive; `TacoArchive::open("x.taco" or a URL, ...)` reads a file or object.
/// let archive = TacoArchive::from_source(bytes)?;
/// assert_eq!(archive.entries().len(), 2);
///
/// let mut entry = Vec::new();
/// archive.open_entry(0)?.read_to_end(&mut entry)?; // exactly the entry's byte range
/// assert_eq!(entry, b"hello");
///
/// let names: Vec<String> = archive.members()?.iter().map(|m| m.name_lossy()).collect();
/// assert_eq!(names, ["TACO_HEADER", "a.txt", "dir/b.bin"]);
/// assert_eq!(archive.read_member("dir/b.bin")?, [7u8; 300]); // CRC-checked
/// # use std::io::Read;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TacoArchive<S: ReadAt = Source> {
    source: Arc<S>,
    header: ParsedHeader,
    directory: OnceLock<Archive<Arc<S>>>,
}

impl TacoArchive<Source> {
    /// Opens a local path, or a URL (`http(s)://`, `s3://`; with the `remote` feature), and
    /// reads its header.
    ///
    /// # Errors
    /// As [`Source::open`] and [`TacoArchive::from_source`].
    pub fn open(src: &str, options: &RemoteOptions) -> Result<TacoArchive<Source>, ReadError> {
        TacoArchive::from_source(Source::open(src, options)?)
    }
}

impl<S: ReadAt> TacoArchive<S> {
    /// Reads the header of an archive held by any positioned-read source (a buffer, a file,
    /// a caller's own [`ReadAt`]). A header whose CRC does not match is an error.
    ///
    /// # Errors
    /// [`ReadError::Invalid`] when the first 157 bytes are not a TACO header; read errors.
    pub fn from_source(source: S) -> Result<TacoArchive<S>, ReadError> {
        let header = read_header(&source, CrcPolicy::Strict)?;
        Ok(TacoArchive {
            source: Arc::new(source),
            header,
            directory: OnceLock::new(),
        })
    }

    /// The source the archive is read from (for its label, or a remote source's statistics).
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The parsed header.
    pub fn header(&self) -> &ParsedHeader {
        &self.header
    }

    /// The header's entries: absolute byte ranges of the archive, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.header.entries
    }

    /// Entry `index`, checked to lie inside the archive.
    ///
    /// # Errors
    /// [`ArchiveError::NoSuchEntry`], [`ArchiveError::EntryOutside`]; reading the size.
    pub fn entry(&self, index: usize) -> Result<Entry, ReadError> {
        let entries = self.entries();
        let entry = *entries.get(index).ok_or_else(|| {
            invalid_archive(
                &*self.source,
                ArchiveError::NoSuchEntry {
                    index,
                    count: entries.len(),
                },
            )
        })?;
        let file_len = self.source.size()?;
        if !entry.fits_in(file_len) {
            return Err(invalid_archive(
                &*self.source,
                ArchiveError::EntryOutside {
                    index,
                    offset: entry.offset,
                    length: entry.length,
                    file_len,
                },
            ));
        }
        Ok(entry)
    }

    /// A reader of exactly entry `index`'s bytes: one streamed request for a remote archive.
    ///
    /// # Errors
    /// As [`TacoArchive::entry`].
    pub fn open_entry(&self, index: usize) -> Result<Box<dyn Read + '_>, ReadError> {
        let entry = self.entry(index)?;
        self.source.open_range(entry)
    }

    /// The central directory, read on first use (one read of the tail, plus one of the rest
    /// of the directory when it is bigger).
    ///
    /// # Errors
    /// As [`Archive::open`].
    pub fn directory(&self) -> Result<&Archive<Arc<S>>, ReadError> {
        if let Some(directory) = self.directory.get() {
            return Ok(directory);
        }
        let opened = Archive::open(Arc::clone(&self.source))?;
        Ok(self.directory.get_or_init(|| opened))
    }

    /// Every member in central directory order, `TACO_HEADER` included.
    ///
    /// # Errors
    /// As [`TacoArchive::directory`].
    pub fn members(&self) -> Result<&[Member], ReadError> {
        Ok(self.directory()?.members())
    }

    /// The member named `name`.
    ///
    /// # Errors
    /// [`ArchiveError::NoSuchMember`]; as [`TacoArchive::directory`].
    pub fn member(&self, name: &str) -> Result<&Member, ReadError> {
        self.directory()?.member(name).ok_or_else(|| {
            invalid_archive(
                &*self.source,
                ArchiveError::NoSuchMember {
                    name: name.to_string(),
                },
            )
        })
    }

    /// A reader of member `name`'s data that checks its CRC-32 as the last byte arrives (a
    /// mismatch is a read error carrying [`ArchiveError::CrcMismatch`]), and the data's
    /// absolute range. Its local header and data come with one request remotely.
    ///
    /// # Errors
    /// As [`TacoArchive::member`] and [`crate::ArchiveTail::open_member`].
    pub fn open_member(&self, name: &str) -> Result<(Entry, CrcReader<'_>), ReadError> {
        let directory = self.directory()?;
        let member = self.member(name)?;
        let (range, reader) = directory.open_member(member)?;
        let reader = CrcReader::new(reader, member, range, self.source.label());
        Ok((range, reader))
    }

    /// Member `name`'s data, read whole into memory and CRC-checked (for small members).
    ///
    /// # Errors
    /// As [`crate::ArchiveTail::read_member`] (members over 64 MiB are refused).
    pub fn read_member(&self, name: &str) -> Result<Vec<u8>, ReadError> {
        let member = self.member(name)?;
        self.directory()?.read_member(member)
    }

    /// Checks the archive at `level` (see [`crate::validate`]).
    ///
    /// # Errors
    /// The first failure, as [`crate::validate`] names it.
    pub fn validate(&self, level: Level) -> Result<ValidationReport, ReadError> {
        crate::validate(&*self.source, level)
    }

    /// Extracts every member (except `TACO_HEADER`) under `dir`, confined to it and CRC-checked
    /// (see [`crate::extract_all`]).
    ///
    /// # Errors
    /// As [`crate::extract_all`].
    pub fn extract(
        &self,
        dir: &Path,
        options: &ExtractOptions,
    ) -> Result<ExtractReport, ReadError> {
        crate::extract_all(self.directory()?, dir, options)
    }
}

/// A reader of one member's data that computes its CRC-32 on the way and, once the last byte
/// is read, fails unless it equals the central directory's: the one CRC check for member data
/// read as a stream.
pub struct CrcReader<'a> {
    inner: Box<dyn Read + 'a>,
    hasher: crc32fast::Hasher,
    remaining: u64,
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
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl<'a> CrcReader<'a> {
    /// Wraps `inner`, which yields `member`'s data at `range`; `label` names the archive.
    pub fn new(
        inner: Box<dyn Read + 'a>,
        member: &Member,
        range: Entry,
        label: String,
    ) -> CrcReader<'a> {
        CrcReader {
            inner,
            hasher: crc32fast::Hasher::new(),
            remaining: range.length,
            expected: member.record.crc32,
            name: member.name_lossy(),
            range,
            label,
        }
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
                format!(
                    "{}: member {:?} ended {} bytes early",
                    self.label, self.name, self.remaining
                ),
            ));
        }
        self.hasher.update(&buf[..n]);
        self.remaining -= n as u64;
        if self.remaining == 0 {
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
