mod copy;

use crate::central::CentralDirectory;
use crate::{AtomicFile, FileId, Sequential, WriteError};
use copy::start_writeback;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

impl<S: Write> ArchiveOutput for Sequential<S> {}

/// A piece of a member's data, for [`ArchiveWriter::add_pieces`].
#[derive(Debug, Clone, Copy)]
pub enum Piece<'a> {
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// `len` bytes of `file` from `offset`; `label` names the file in errors.
    FileRange {
        file: &'a File,
        offset: u64,
        len: u64,
        label: &'a str,
    },
}

impl Piece<'_> {
    /// Number of bytes this piece contributes.
    pub fn len(&self) -> u64 {
        match self {
            Piece::Bytes(bytes) => bytes.len() as u64,
            Piece::FileRange { len, .. } => *len,
        }
    }

    /// True for a piece of no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    /// CRC-32 of the header's payload (the entries), as stored at byte 14.
    pub header_crc32: u32,
    /// CRC-32 of the central directory's bytes: with the length and the header CRC, the
    /// archive's identity (a sidecar records it to be recognised as stale).
    pub directory_crc32: u32,
}

/// Streams STORED members into a TACO archive. See the crate documentation.
pub struct ArchiveWriter<W: ArchiveOutput> {
    out: W,
    label: PathBuf,
    /// Logical position: bytes written to `out` plus bytes waiting in `pending`.
    pos: u64,
    pending: Vec<u8>,
    chunk: Vec<u8>,
    /// `TACO_HEADER`'s central record, completed in `finish`.
    header_member: StoredMember,
    /// Every other member's central record, and the names claimed.
    directory: CentralDirectory,
    options: WriterOptions,
    progress: Option<Box<dyn FnMut(u64)>>,
    /// Set by the caller to stop: checked between chunks of every copy.
    cancel: Option<Arc<AtomicBool>>,
    /// Start of the written bytes not yet handed to writeback.
    writeback_from: u64,
    /// The files this writer writes or replaces, which it must never read as a source.
    outputs: Vec<FileId>,
    /// For an output written front to back: the entries and time of the header already
    /// written at byte 0, which `finish` must agree with. Every member's CRC is then computed
    /// before its local header is written, from a first read of its source.
    promised: Option<(Vec<Entry>, i64)>,
}

fn is_set(flag: Option<&Arc<AtomicBool>>) -> bool {
    flag.is_some_and(|f| f.load(Ordering::Relaxed))
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
        let replaced = FileId::of_path(dest);
        let file = AtomicFile::create(dest, overwrite)?;
        let mut writer = ArchiveWriter::new(file, options)?;
        writer.label = dest.to_path_buf();
        // A large central directory waits beside the archive, where the user made room.
        let dir = dest.parent().filter(|p| !p.as_os_str().is_empty());
        writer.directory = CentralDirectory::new(Some(dir.unwrap_or(Path::new("."))));
        writer.outputs.extend(replaced);
        Ok(writer)
    }
}

impl<S: Write> ArchiveWriter<Sequential<S>> {
    /// Starts an archive on an output that is written front to back only (an object-store
    /// upload, a pipe), named `label` in errors: the header with `entries` is written first, so the caller computes
    /// them beforehand from planned offsets, and [`ArchiveWriter::finish`] fails with
    /// [`WriteError::EntriesMoved`] if the members did not land where planned. Each member's
    /// source is read twice — once for its CRC, which the local header needs before the data,
    /// and once to copy it — and a source whose bytes differ between the two reads is
    /// [`WriteError::SourceChanged`]. Members from streams longer than 1 MiB are refused
    /// ([`WriteError::StreamOnSequential`]): they cannot be read twice.
    ///
    /// # Errors
    /// [`WriteError::Format`] for more than 7 entries, [`WriteError::Output`].
    pub fn sequential(
        out: S,
        label: &str,
        entries: &[Entry],
        options: WriterOptions,
    ) -> Result<ArchiveWriter<Sequential<S>>, WriteError> {
        let time = options.fixed_time.unwrap_or_else(now_unix);
        let header = encode_header(entries, DosDateTime::from_unix(time))?;
        let mut writer = ArchiveWriter::new(Sequential::new(out), options)?;
        writer.label = PathBuf::from(label);
        writer.pending.clear();
        writer.pending.extend_from_slice(&header);
        writer.promised = Some((entries.to_vec(), time));
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
            header_member: StoredMember {
                name: HEADER_NAME.to_vec(),
                crc32: 0,
                size: PAYLOAD_LEN as u64,
                modified: DosDateTime::default(),
                header_offset: 0,
            },
            directory: CentralDirectory::new(None),
            options,
            progress: None,
            cancel: None,
            writeback_from: 0,
            outputs: Vec::new(),
            promised: None,
        };
        if let Some(meta) = writer.out.as_file().and_then(|f| f.metadata().ok()) {
            writer.outputs.push(FileId::of(&meta));
        }
        // A valid zero-entry header, so even the placeholder is well-formed.
        let placeholder = encode_header(&[], DosDateTime::default())?;
        writer.pending.extend_from_slice(&placeholder);
        writer.pos = HEADER_LEN as u64;
        Ok(writer)
    }

    /// Whether this writer writes front to back ([`ArchiveWriter::sequential`]).
    fn is_sequential(&self) -> bool {
        self.promised.is_some()
    }

    /// Calls `report(bytes)` with the number of data bytes copied, as copying progresses.
    pub fn set_progress(&mut self, report: impl FnMut(u64) + 'static) {
        self.progress = Some(Box::new(report));
    }

    /// Stops the member being copied (and every later one) with [`WriteError::Cancelled`] once
    /// `flag` is set, between chunks of at most 16 MiB: a long copy ends promptly. Nothing is
    /// left behind (the temporary output goes with the writer).
    pub fn set_cancel(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }

    fn check_cancel(&self) -> Result<(), WriteError> {
        if is_set(self.cancel.as_ref()) {
            return Err(WriteError::Cancelled);
        }
        Ok(())
    }

    /// Makes room for `count` more members (a caller that knows how many are coming, such as a
    /// plan's executor), so the name table is sized once rather than grown.
    pub fn reserve_members(&mut self, count: usize) {
        self.directory.reserve(count);
    }

    /// Number of members added so far, not counting `TACO_HEADER`.
    pub fn member_count(&self) -> usize {
        usize::try_from(self.directory.records()).unwrap_or(usize::MAX)
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
            // `pos` lags inside a member being written, so this only ever hints less.
            let unhinted = self.pos.saturating_sub(self.writeback_from);
            if unhinted >= WRITEBACK_STEP {
                if let Some(file) = self.out.as_file() {
                    start_writeback(file, self.writeback_from, unhinted);
                }
                self.writeback_from = self.pos;
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
        if !self.directory.claim(name.as_bytes()) {
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
        // Non-blocking, so opening a FIFO returns at once (instead of waiting for a writer) and
        // is refused below; on regular files the flag changes nothing.
        let nonblocking = rustix::fs::OFlags::NONBLOCK.bits() as i32;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nonblocking)
            .open(path)
            .map_err(source_error)?;
        let meta = file.metadata().map_err(source_error)?;
        if !meta.is_file() {
            return Err(WriteError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        if self.outputs.contains(&FileId::of(&meta)) {
            // The archive being written (or the one it replaces) would be read into itself.
            return Err(WriteError::InputIsOutput {
                path: path.to_path_buf(),
            });
        }
        let label = path.display().to_string();
        let len = meta.len();
        if len <= CHUNK_LEN as u64 {
            // Read whole into one buffer: the CRC is of exactly the bytes written, and reading
            // to end of file catches a size change.
            return self.add_source(name, &file, len, meta.modified().ok(), &label);
        }
        let whole = Piece::FileRange {
            file: &file,
            offset: 0,
            len,
            label: &label,
        };
        let span = self.add_pieces(name, &[whole], meta.modified().ok())?;
        let mut probe = [0u8; 1];
        if file.read_at(&mut probe, len).map_err(source_error)? > 0 {
            return Err(WriteError::SourceGrew {
                source_name: label,
                expected: len,
            });
        }
        // The copy and the CRC read the file separately: a rewrite in between (same size)
        // would leave a CRC that does not match the data.
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
        if self.is_sequential() && bytes.len() > CHUNK_LEN {
            // Bytes in memory can be read twice: once for the CRC, once to copy.
            return self.add_pieces(name, &[Piece::Bytes(bytes)], modified);
        }
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
        self.flush_pending()?;
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
        self.record_member(member)
    }

    fn record_member(&mut self, member: StoredMember) -> Result<MemberSpan, WriteError> {
        let span = MemberSpan {
            header_offset: member.header_offset,
            data_offset: member.data_offset(),
            data_len: member.size,
            crc32: member.crc32,
        };
        self.pos = span.end();
        self.directory
            .push(&member)
            .map_err(|(path, source)| WriteError::Output { path, source })?;
        Ok(span)
    }

    /// Adds a member made of `pieces` in order: bytes in memory and ranges of files. The
    /// length is known up front (so ZIP64 is decided exactly); the CRC is computed on the way and
    /// patched into the local header. File ranges of 4 MiB or more going to a file output are
    /// copied inside the kernel while a second thread reads them for the CRC.
    ///
    /// # Errors
    /// [`WriteError::SourceShrank`] when a file ends before its range does, [`WriteError::Source`]
    /// on read failure, name and output errors as for [`ArchiveWriter::add_reader`].
    pub fn add_pieces(
        &mut self,
        name: &str,
        pieces: &[Piece<'_>],
        modified: Option<SystemTime>,
    ) -> Result<MemberSpan, WriteError> {
        let len = pieces
            .iter()
            .try_fold(0u64, |total, piece| total.checked_add(piece.len()))
            .ok_or_else(|| self.output_error(io::Error::other("member length overflows")))?;
        let mut member = self.start_member(name, len, modified)?;
        let first_read = if self.is_sequential() {
            let crc = self.pieces_crc(pieces)?;
            member.crc32 = crc;
            Some(crc)
        } else {
            None
        };
        member.encode_local(&mut self.pending);
        let mut hasher = crc32fast::Hasher::new();
        for piece in pieces {
            match *piece {
                Piece::Bytes(bytes) => {
                    hasher.update(bytes);
                    self.write_data(bytes)?;
                    self.report(bytes.len() as u64);
                }
                Piece::FileRange {
                    file,
                    offset,
                    len,
                    label,
                } => {
                    let piece_crc = if len >= KERNEL_COPY_MIN && self.out.as_file().is_some() {
                        self.kernel_copy(file, offset, len, label)?
                    } else {
                        self.buffered_copy(file, offset, len, label)?
                    };
                    hasher.combine(&piece_crc);
                }
            }
        }
        let copied_crc = hasher.finalize();
        if let Some(first) = first_read {
            if first != copied_crc {
                // The header already sent holds the first CRC: the copy is not what it says.
                let label = pieces.iter().find_map(|p| match p {
                    Piece::FileRange { label, .. } => Some(*label),
                    Piece::Bytes(_) => None,
                });
                return Err(WriteError::SourceChanged {
                    source_name: label.unwrap_or(name).to_string(),
                });
            }
            self.flush_pending()?;
            return self.record_member(member);
        }
        member.crc32 = copied_crc;
        self.finish_streamed_member(member)
    }

    /// Appends data bytes to the pending buffer, or writes them through when they do not fit.
    fn write_data(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        if self.pending.len() + bytes.len() > PENDING_LEN {
            self.flush_pending()?;
            if bytes.len() > PENDING_LEN {
                return self.out.write_all(bytes).map_err(|e| self.output_error(e));
            }
        }
        self.pending.extend_from_slice(bytes);
        Ok(())
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
            if self.is_sequential() {
                return Err(WriteError::StreamOnSequential {
                    name: name.to_string(),
                    len,
                });
            }
            member.encode_local(&mut self.pending);
            self.flush_pending()?;
            let mut hasher = crc32fast::Hasher::new();
            let mut copied = 0u64;
            while copied < len {
                self.check_cancel()?;
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
        self.record_member(member)
    }

    /// Writes the central directory, the end records and the header holding `entries`, and
    /// returns the output and a summary. Entries are checked before anything is written.
    ///
    /// # Errors
    /// [`WriteError::Format`] for more than 7 entries, [`WriteError::EntryOutside`] for an entry
    /// past the end of the archive (unless allowed in the options), [`WriteError::Output`].
    pub fn finish(mut self, entries: &[Entry]) -> Result<(W, FinishSummary), WriteError> {
        let payload = encode_payload(entries)?;
        let time = match &self.promised {
            Some((written, _)) if written.as_slice() != entries => {
                return Err(WriteError::EntriesMoved {
                    written: written.clone(),
                    finished: entries.to_vec(),
                });
            }
            Some((_, time)) => *time,
            None => self.options.fixed_time.unwrap_or_else(now_unix),
        };
        self.header_member.crc32 = crc32fast::hash(&payload);
        self.header_member.modified = DosDateTime::from_unix(time);

        let mut header_record = Vec::new();
        self.header_member.encode_central(&mut header_record);
        let directory = std::mem::replace(&mut self.directory, CentralDirectory::new(None));
        let cd_offset = self.pos;
        let cd_size = header_record.len() as u64 + directory.len();
        let header_crc32 = self.header_member.crc32;
        let records = directory.records() + 1;
        let eocd = EndOfCentralDirectory::for_directory(records, cd_size, cd_offset);
        let zip64 = eocd.needs_zip64();
        let zip64_len = if zip64 {
            (ZIP64_EOCD_LEN + ZIP64_LOCATOR_LEN) as u64
        } else {
            0
        };
        let archive_len = cd_offset + cd_size + zip64_len + eocd.encode().len() as u64;
        check_entries_inside(entries, archive_len, self.options.allow_entries_outside)?;

        // The records stream out (from memory or the temporary file), hashed on the way.
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&header_record);
        self.pending.extend_from_slice(&header_record);
        directory.drain(
            |records| {
                hasher.update(records);
                self.pending.extend_from_slice(records);
                if self.pending.len() >= PENDING_LEN {
                    self.flush_pending()?;
                }
                Ok(())
            },
            |path, source| WriteError::Output { path, source },
        )?;
        let directory_crc32 = hasher.finalize();
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

        let written = if self.is_sequential() {
            // The header went out first, with these entries.
            self.out.flush()
        } else {
            let header = encode_header(entries, DosDateTime::from_unix(time))?;
            self.out
                .seek(SeekFrom::Start(0))
                .and_then(|_| self.out.write_all(&header))
                .and_then(|()| self.out.seek(SeekFrom::Start(archive_len)))
                .and_then(|_| self.out.flush())
        };
        if let Err(e) = written {
            return Err(self.output_error(e));
        }
        let summary = FinishSummary {
            archive_len,
            members: records - 1,
            entries: entries.to_vec(),
            zip64,
            header_crc32,
            directory_crc32,
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
