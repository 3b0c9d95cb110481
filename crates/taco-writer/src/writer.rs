use crate::{AtomicFile, WriteError};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use taco_format::{
    check_member_name, encode_header, encode_payload, DosDateTime, EndOfCentralDirectory, Entry,
    StoredMember, Zip64Eocd, Zip64Locator, HEADER_LEN, HEADER_NAME, LOCAL_CRC_OFFSET, PAYLOAD_LEN,
    ZIP64_EOCD_LEN, ZIP64_LOCATOR_LEN,
};

/// Size of the buffer each member's data is read into. Large enough that per-call overhead
/// vanishes, small enough to stay in L2/L3 cache between read, CRC and write.
const CHUNK_LEN: usize = 1 << 20;
/// Small members and headers are gathered up to this size before one write call.
const PENDING_LEN: usize = 1 << 20;

/// Member data of at least this size, from a file into a file, is copied inside the kernel
/// (`copy_file_range`) while a second thread computes its CRC-32 from the page cache.
const KERNEL_COPY_MIN: u64 = 4 << 20;
/// Kernel copies are issued in steps of this size, so progress is reported and writeback of
/// each step starts while the next one is copied.
const KERNEL_COPY_STEP: u64 = 16 << 20;
/// Small members are handed to writeback whenever this much has been written since last time.
const WRITEBACK_STEP: u64 = 16 << 20;

/// Where an archive is written. Outputs backed by a file let the writer copy member data inside
/// the kernel; any `Write + Seek` works with the default method.
pub trait ArchiveOutput: Write + Seek {
    /// The file behind this output, if there is one.
    fn as_file(&self) -> Option<&File> {
        None
    }
}

impl ArchiveOutput for File {
    fn as_file(&self) -> Option<&File> {
        Some(self)
    }
}

impl ArchiveOutput for AtomicFile {
    fn as_file(&self) -> Option<&File> {
        Some(self.file())
    }
}

impl<T: AsRef<[u8]>> ArchiveOutput for io::Cursor<T> where io::Cursor<T>: Write {}

/// The sink handed to the closure of [`ArchiveWriter::add_streamed`]: bytes written here become
/// the member's data, counted and checksummed on the way. `Send` when the output is, so it can
/// back writers that require it (the `parquet` crate's).
pub struct StreamedMember<'a, W> {
    out: &'a mut W,
    hasher: crc32fast::Hasher,
    written: u64,
}

impl<W: Write> Write for StreamedMember<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Settings for an [`ArchiveWriter`].
#[derive(Debug, Clone, Default)]
pub struct WriterOptions {
    /// Timestamp (seconds since the Unix epoch) for the header and every member, for reproducible
    /// archives. `None`: members keep their source's modification time, the header gets "now".
    pub fixed_time: Option<i64>,
    /// Accept entries that do not lie inside the finished archive.
    pub allow_entries_outside: bool,
}

/// Where a member landed in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberSpan {
    /// Absolute offset of the member's local file header.
    pub header_offset: u64,
    /// Absolute offset of the member's first data byte.
    pub data_offset: u64,
    /// Number of data bytes.
    pub data_len: u64,
    /// CRC-32 of the data.
    pub crc32: u32,
}

impl MemberSpan {
    /// One past the member's last data byte.
    pub fn end(&self) -> u64 {
        self.data_offset + self.data_len
    }

    /// The entry whose bytes are exactly this member's data (DESIGN §3, kind *data*).
    pub fn data_entry(&self) -> Entry {
        Entry::new(self.data_offset, self.data_len)
    }

    /// The entry running from `first`'s local header to `last`'s final data byte (DESIGN §3,
    /// kind *span*): a run of complete local entries. `first` must not come after `last`.
    pub fn span_entry(first: &MemberSpan, last: &MemberSpan) -> Entry {
        Entry::new(
            first.header_offset,
            last.end().saturating_sub(first.header_offset),
        )
    }
}

/// What [`ArchiveWriter::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishSummary {
    /// Final archive length in bytes.
    pub archive_len: u64,
    /// Members written, not counting `TACO_HEADER`.
    pub members: u64,
    /// The entries written into the header.
    pub entries: Vec<Entry>,
    /// True when the archive needed ZIP64 end records.
    pub zip64: bool,
}

/// Streams STORED members into a TACO archive. See the crate documentation.
pub struct ArchiveWriter<W: ArchiveOutput> {
    out: W,
    label: PathBuf,
    /// Logical position: bytes written to `out` plus bytes waiting in `pending`.
    pos: u64,
    pending: Vec<u8>,
    chunk: Vec<u8>,
    /// Central directory records; the first is `TACO_HEADER`, completed in `finish`.
    members: Vec<StoredMember>,
    names: HashSet<Vec<u8>>,
    options: WriterOptions,
    progress: Option<Box<dyn FnMut(u64)>>,
    /// Start of the written bytes not yet handed to writeback.
    writeback_from: u64,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn unix_time(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Reads until `buf` is full or the reader is exhausted; returns the bytes read.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl ArchiveWriter<AtomicFile> {
    /// Starts an archive that will appear at `dest` once finished and committed with
    /// [`AtomicFile::commit`] on the returned file.
    ///
    /// # Errors
    /// See [`AtomicFile::create`].
    pub fn create(
        dest: &Path,
        overwrite: bool,
        options: WriterOptions,
    ) -> Result<ArchiveWriter<AtomicFile>, WriteError> {
        let file = AtomicFile::create(dest, overwrite)?;
        let mut writer = ArchiveWriter::new(file, options)?;
        writer.label = dest.to_path_buf();
        Ok(writer)
    }
}

impl<W: ArchiveOutput> ArchiveWriter<W> {
    /// Starts an archive on `out`, which must be positioned at its start and empty.
    ///
    /// # Errors
    /// [`WriteError::Output`] if the placeholder header cannot be written.
    pub fn new(out: W, options: WriterOptions) -> Result<ArchiveWriter<W>, WriteError> {
        let mut writer = ArchiveWriter {
            out,
            label: PathBuf::from("archive"),
            pos: 0,
            pending: Vec::with_capacity(PENDING_LEN),
            chunk: vec![0u8; CHUNK_LEN],
            members: Vec::new(),
            names: HashSet::new(),
            options,
            progress: None,
            writeback_from: 0,
        };
        // A valid zero-entry header, so even the placeholder is well-formed.
        let placeholder = encode_header(&[], DosDateTime::default())?;
        writer.pending.extend_from_slice(&placeholder);
        writer.pos = HEADER_LEN as u64;
        writer.members.push(StoredMember {
            name: HEADER_NAME.to_vec(),
            crc32: 0,
            size: PAYLOAD_LEN as u64,
            modified: DosDateTime::default(),
            header_offset: 0,
        });
        Ok(writer)
    }

    /// Calls `report(bytes)` with the number of data bytes copied, as copying progresses.
    pub fn set_progress(&mut self, report: impl FnMut(u64) + 'static) {
        self.progress = Some(Box::new(report));
    }

    /// Number of members added so far, not counting `TACO_HEADER`.
    pub fn member_count(&self) -> usize {
        self.members.len() - 1
    }

    /// Bytes written so far: the offset where the next member's local header will go.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn output_error(&self, source: io::Error) -> WriteError {
        WriteError::Output {
            path: self.label.clone(),
            source,
        }
    }

    fn flush_pending(&mut self) -> Result<(), WriteError> {
        if !self.pending.is_empty() {
            if let Err(e) = self.out.write_all(&self.pending) {
                return Err(self.output_error(e));
            }
            self.pending.clear();
            let flushed_to = self.pos;
            if flushed_to - self.writeback_from >= WRITEBACK_STEP {
                if let Some(file) = self.out.as_file() {
                    start_writeback(file, self.writeback_from, flushed_to - self.writeback_from);
                }
                self.writeback_from = flushed_to;
            }
        }
        Ok(())
    }

    fn report(&mut self, bytes: u64) {
        if let Some(report) = self.progress.as_mut() {
            report(bytes);
        }
    }

    fn claim_name(&mut self, name: &str) -> Result<(), WriteError> {
        check_member_name(name.as_bytes())?;
        if !self.names.insert(name.as_bytes().to_vec()) {
            return Err(WriteError::DuplicateName {
                name: name.to_string(),
            });
        }
        Ok(())
    }

    /// Adds the file at `path` as member `name`, with the file's modification time.
    ///
    /// # Errors
    /// [`WriteError::Source`] if the file cannot be opened or read, [`WriteError::NotAFile`] for
    /// directories and special files, [`WriteError::SourceGrew`]/[`WriteError::SourceShrank`] if
    /// its size changes while it is read, name errors as for [`ArchiveWriter::add_reader`].
    pub fn add_path(&mut self, name: &str, path: &Path) -> Result<MemberSpan, WriteError> {
        let source_error = |source| WriteError::Source {
            path: path.to_path_buf(),
            source,
        };
        // Checked before opening: opening a FIFO would block until a writer appears.
        if !std::fs::metadata(path).map_err(source_error)?.is_file() {
            return Err(WriteError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let file = File::open(path).map_err(source_error)?;
        let meta = file.metadata().map_err(source_error)?;
        if !meta.is_file() {
            return Err(WriteError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let label = path.display().to_string();
        let len = meta.len();
        let use_kernel_copy = len >= KERNEL_COPY_MIN && self.out.as_file().is_some();
        let span = if use_kernel_copy {
            self.add_file_kernel_copy(name, &file, len, meta.modified().ok(), &label)?
        } else {
            self.add_source(name, &file, len, meta.modified().ok(), &label)?
        };
        // Same size but rewritten meanwhile would leave a CRC that does not match the data.
        let after = file.metadata().map_err(source_error)?;
        if after.len() != len || after.modified().ok() != meta.modified().ok() {
            return Err(WriteError::SourceChanged { source_name: label });
        }
        Ok(span)
    }

    /// Adds `len` bytes from `reader` as member `name`. `modified` defaults to "now" (or the
    /// fixed time of the options).
    ///
    /// # Errors
    /// [`WriteError::Format`] for an invalid name, [`WriteError::DuplicateName`],
    /// [`WriteError::SourceShrank`] if the reader ends early, [`WriteError::SourceGrew`] if it has
    /// more than `len` bytes, [`WriteError::Source`] on read failure, [`WriteError::Output`] on
    /// write failure.
    pub fn add_reader(
        &mut self,
        name: &str,
        reader: impl Read,
        len: u64,
        modified: Option<SystemTime>,
    ) -> Result<MemberSpan, WriteError> {
        self.add_source(name, reader, len, modified, name)
    }

    /// Adds an in-memory member.
    ///
    /// # Errors
    /// As [`ArchiveWriter::add_reader`].
    pub fn add_bytes(
        &mut self,
        name: &str,
        bytes: &[u8],
        modified: Option<SystemTime>,
    ) -> Result<MemberSpan, WriteError> {
        self.add_source(name, bytes, bytes.len() as u64, modified, name)
    }

    /// Claims the name and describes a member about to be written at the current position.
    fn start_member(
        &mut self,
        name: &str,
        len: u64,
        modified: Option<SystemTime>,
    ) -> Result<StoredMember, WriteError> {
        self.claim_name(name)?;
        let time = match (self.options.fixed_time, modified) {
            (Some(fixed), _) => fixed,
            (None, Some(t)) => unix_time(t),
            (None, None) => now_unix(),
        };
        Ok(StoredMember {
            name: name.as_bytes().to_vec(),
            crc32: 0,
            size: len,
            modified: DosDateTime::from_unix(time),
            header_offset: self.pos,
        })
    }

    /// Writes the CRC into the member's local header (already written with a zero CRC), moves
    /// past its data, and records the member.
    fn finish_streamed_member(&mut self, member: StoredMember) -> Result<MemberSpan, WriteError> {
        let end = member.data_offset() + member.size;
        let crc_at = member.header_offset + LOCAL_CRC_OFFSET as u64;
        let patched = self
            .out
            .seek(SeekFrom::Start(crc_at))
            .and_then(|_| self.out.write_all(&member.crc32.to_le_bytes()))
            .and_then(|()| self.out.seek(SeekFrom::Start(end)));
        if let Err(e) = patched {
            return Err(self.output_error(e));
        }
        let data_offset = member.data_offset();
        Ok(self.record_member(member, data_offset))
    }

    fn record_member(&mut self, member: StoredMember, data_offset: u64) -> MemberSpan {
        let span = MemberSpan {
            header_offset: member.header_offset,
            data_offset,
            data_len: member.size,
            crc32: member.crc32,
        };
        self.pos = span.end();
        self.members.push(member);
        span
    }

    /// Copies a large file member inside the kernel (`copy_file_range`, through `std::io::copy`)
    /// while a scoped thread reads the same bytes from the page cache for the CRC: the data is
    /// copied once instead of through a user-space buffer, and checksumming runs alongside.
    fn add_file_kernel_copy(
        &mut self,
        name: &str,
        src: &File,
        len: u64,
        modified: Option<SystemTime>,
        source_name: &str,
    ) -> Result<MemberSpan, WriteError> {
        let mut member = self.start_member(name, len, modified)?;
        member.encode_local(&mut self.pending);
        self.flush_pending()?;
        let Some(out) = self.out.as_file() else {
            return Err(self.output_error(io::Error::other("output has no file")));
        };
        let chunk = &mut self.chunk;
        let progress = &mut self.progress;
        let data_offset = member.data_offset();
        let (copied, crc) = std::thread::scope(|scope| {
            let crc_thread = scope.spawn(move || crc_of_file_prefix(src, len, chunk));
            let mut copied = 0u64;
            let mut copy_result = Ok(());
            while copied < len {
                let step = (len - copied).min(KERNEL_COPY_STEP);
                match io::copy(&mut Read::take(src, step), &mut &*out) {
                    Ok(0) => break,
                    Ok(n) => {
                        start_writeback(out, data_offset + copied, n);
                        copied += n;
                        if let Some(report) = progress.as_mut() {
                            report(n);
                        }
                    }
                    Err(e) => {
                        copy_result = Err(e);
                        break;
                    }
                }
            }
            let crc = crc_thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("CRC thread panicked")));
            (copy_result.map(|()| copied), crc)
        });
        let copied = copied.map_err(|e| self.output_error(e))?;
        let crc = crc.map_err(|source| WriteError::Source {
            path: PathBuf::from(source_name),
            source,
        })?;
        match crc {
            Some(crc) if copied == len => member.crc32 = crc,
            _ => {
                return Err(WriteError::SourceShrank {
                    source_name: source_name.to_string(),
                    expected: len,
                    got: copied,
                })
            }
        }
        check_exhausted(&mut &*src, source_name, len)?;
        self.writeback_from = member.data_offset() + len;
        self.finish_streamed_member(member)
    }

    fn add_source(
        &mut self,
        name: &str,
        mut reader: impl Read,
        len: u64,
        modified: Option<SystemTime>,
        source_name: &str,
    ) -> Result<MemberSpan, WriteError> {
        let mut member = self.start_member(name, len, modified)?;
        let read_error = |source| WriteError::Source {
            path: PathBuf::from(source_name),
            source,
        };
        let shrank = |got| WriteError::SourceShrank {
            source_name: source_name.to_string(),
            expected: len,
            got,
        };
        let small = usize::try_from(len).ok().filter(|&l| l <= CHUNK_LEN);
        if let Some(small_len) = small {
            // Whole member in one buffer: the CRC is known before the local header is written.
            let got = read_full(&mut reader, &mut self.chunk[..small_len]).map_err(read_error)?;
            if got < small_len {
                return Err(shrank(got as u64));
            }
            check_exhausted(&mut reader, source_name, len)?;
            member.crc32 = crc32fast::hash(&self.chunk[..small_len]);
            member.encode_local(&mut self.pending);
            if self.pending.len() + small_len > PENDING_LEN {
                self.flush_pending()?;
                if let Err(e) = self.out.write_all(&self.chunk[..small_len]) {
                    return Err(self.output_error(e));
                }
            } else {
                self.pending.extend_from_slice(&self.chunk[..small_len]);
            }
            self.report(len);
        } else {
            member.encode_local(&mut self.pending);
            self.flush_pending()?;
            let mut hasher = crc32fast::Hasher::new();
            let mut copied = 0u64;
            while copied < len {
                let want = usize::try_from(len - copied).map_or(CHUNK_LEN, |r| r.min(CHUNK_LEN));
                let got = read_full(&mut reader, &mut self.chunk[..want]).map_err(read_error)?;
                if got == 0 {
                    return Err(shrank(copied));
                }
                hasher.update(&self.chunk[..got]);
                if let Err(e) = self.out.write_all(&self.chunk[..got]) {
                    return Err(self.output_error(e));
                }
                copied += got as u64;
                self.report(got as u64);
            }
            check_exhausted(&mut reader, source_name, len)?;
            member.crc32 = hasher.finalize();
            return self.finish_streamed_member(member);
        }
        let data_offset = member.data_offset();
        Ok(self.record_member(member, data_offset))
    }

    /// Adds a member whose bytes are produced by `write` and whose length is known only at the
    /// end (a generated Parquet part, an index). `max_len` bounds the length: when it is
    /// ≥ 4 GiB − 1 the local header reserves the ZIP64 extra field, since the header is written
    /// before the size is known; otherwise the member stays classic. The local header is
    /// rewritten with the real CRC and sizes afterwards (no data descriptor).
    ///
    /// # Errors
    /// [`WriteError::Generate`] when `write` fails, [`WriteError::BoundExceeded`] when it writes
    /// more than `max_len`, name and output errors as for [`ArchiveWriter::add_reader`]. After an
    /// error the archive is incomplete: drop the writer.
    pub fn add_streamed<E>(
        &mut self,
        name: &str,
        max_len: u64,
        modified: Option<SystemTime>,
        write: impl FnOnce(&mut StreamedMember<'_, W>) -> Result<(), E>,
    ) -> Result<MemberSpan, WriteError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut member = self.start_member(name, 0, modified)?;
        let reserve_zip64 = max_len >= u64::from(taco_format::U32_MARKER);
        member.encode_local_with(reserve_zip64, &mut self.pending);
        self.flush_pending()?;
        let data_offset = member.header_offset + member.local_header_len_with(reserve_zip64);
        let mut stream = StreamedMember {
            out: &mut self.out,
            hasher: crc32fast::Hasher::new(),
            written: 0,
        };
        write(&mut stream).map_err(|e| WriteError::Generate {
            name: name.to_string(),
            source: e.into(),
        })?;
        let (written, crc) = (stream.written, stream.hasher.finalize());
        if written > max_len {
            return Err(WriteError::BoundExceeded {
                name: name.to_string(),
                bound: max_len,
                written,
            });
        }
        member.size = written;
        member.crc32 = crc;
        let mut header = Vec::new();
        member.encode_local_with(reserve_zip64, &mut header);
        let end = data_offset + written;
        let rewritten = self
            .out
            .seek(SeekFrom::Start(member.header_offset))
            .and_then(|_| self.out.write_all(&header))
            .and_then(|()| self.out.seek(SeekFrom::Start(end)));
        if let Err(e) = rewritten {
            return Err(self.output_error(e));
        }
        self.report(written);
        Ok(self.record_member(member, data_offset))
    }

    /// Writes the central directory, the end records and the header holding `entries`, and
    /// returns the output and a summary. Entries are checked before anything is written.
    ///
    /// # Errors
    /// [`WriteError::Format`] for more than 7 entries, [`WriteError::EntryOutside`] for an entry
    /// past the end of the archive (unless allowed in the options), [`WriteError::Output`].
    pub fn finish(mut self, entries: &[Entry]) -> Result<(W, FinishSummary), WriteError> {
        let payload = encode_payload(entries)?;
        let time = self.options.fixed_time.unwrap_or_else(now_unix);
        let header_member = &mut self.members[0];
        header_member.crc32 = crc32fast::hash(&payload);
        header_member.modified = DosDateTime::from_unix(time);

        let mut directory = Vec::new();
        for member in &self.members {
            member.encode_central(&mut directory);
        }
        let cd_offset = self.pos;
        let cd_size = directory.len() as u64;
        let records = self.members.len() as u64;
        let eocd = EndOfCentralDirectory::for_directory(records, cd_size, cd_offset);
        let zip64 = eocd.needs_zip64();
        let zip64_len = if zip64 {
            (ZIP64_EOCD_LEN + ZIP64_LOCATOR_LEN) as u64
        } else {
            0
        };
        let archive_len = cd_offset + cd_size + zip64_len + eocd.encode().len() as u64;
        check_entries_inside(entries, archive_len, self.options.allow_entries_outside)?;

        self.pending.extend_from_slice(&directory);
        drop(directory);
        if zip64 {
            let record = Zip64Eocd {
                entries_this_disk: records,
                total_entries: records,
                cd_size,
                cd_offset,
                disk: 0,
                cd_disk: 0,
            };
            let locator = Zip64Locator {
                eocd_disk: 0,
                eocd_offset: cd_offset + cd_size,
                total_disks: 1,
            };
            self.pending.extend_from_slice(&record.encode());
            self.pending.extend_from_slice(&locator.encode());
        }
        self.pending.extend_from_slice(&eocd.encode());
        self.flush_pending()?;

        let header = encode_header(entries, DosDateTime::from_unix(time))?;
        let written = self
            .out
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.out.write_all(&header))
            .and_then(|()| self.out.seek(SeekFrom::Start(archive_len)))
            .and_then(|_| self.out.flush());
        if let Err(e) = written {
            return Err(self.output_error(e));
        }
        let summary = FinishSummary {
            archive_len,
            members: records - 1,
            entries: entries.to_vec(),
            zip64,
        };
        Ok((self.out, summary))
    }
}

/// Fails with [`WriteError::EntryOutside`] for the first entry not inside `archive_len` bytes,
/// unless `allow_outside`.
pub(crate) fn check_entries_inside(
    entries: &[Entry],
    archive_len: u64,
    allow_outside: bool,
) -> Result<(), WriteError> {
    if allow_outside {
        return Ok(());
    }
    match entries
        .iter()
        .enumerate()
        .find(|(_, e)| !e.fits_in(archive_len))
    {
        Some((index, e)) => Err(WriteError::EntryOutside {
            index,
            offset: e.offset,
            length: e.length,
            archive_len,
        }),
        None => Ok(()),
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk now, without
/// waiting (`POSIX_FADV_DONTNEED` starts writeback of dirty pages). The final fsync then finds
/// most data already on disk instead of flushing it all at the end; measured in BENCHMARKS.md.
/// A failure only loses the head start, so it is ignored.
fn start_writeback(file: &File, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    );
}

/// CRC-32 of the first `len` bytes of `file` by positioned reads (the file offset belongs to
/// the concurrent copy); `None` when the file is shorter.
fn crc_of_file_prefix(file: &File, len: u64, buf: &mut [u8]) -> io::Result<Option<u32>> {
    let mut hasher = crc32fast::Hasher::new();
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        match file.read_exact_at(&mut buf[..n], done) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        hasher.update(&buf[..n]);
        done += n as u64;
    }
    Ok(Some(hasher.finalize()))
}

/// Fails with [`WriteError::SourceGrew`] when `reader` still has bytes after `len` were read.
fn check_exhausted(reader: &mut impl Read, source_name: &str, len: u64) -> Result<(), WriteError> {
    let mut probe = [0u8; 1];
    let extra = read_full(reader, &mut probe).map_err(|source| WriteError::Source {
        path: PathBuf::from(source_name),
        source,
    })?;
    if extra > 0 {
        return Err(WriteError::SourceGrew {
            source_name: source_name.to_string(),
            expected: len,
        });
    }
    Ok(())
}
