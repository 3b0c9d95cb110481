//! Where a command's result goes: standard output, a device or FIFO written in place, or a new
//! file that appears only when complete — never an input of the same command.

use crate::{AtomicFile, WriteError};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A file's identity: two paths name the same file exactly when their device and inode agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device holding the file.
    pub dev: u64,
    /// Inode number on that device.
    pub ino: u64,
}

impl FileId {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// The identity of the file at `path` (following symlinks), if it exists.
    pub fn of_path(path: &Path) -> Option<FileId> {
        fs::metadata(path).ok().map(|meta| FileId::of(&meta))
    }
}

/// True for nodes that are written to in place rather than replaced: FIFOs and devices.
fn is_stream_node(meta: &Metadata) -> bool {
    let kind = meta.file_type();
    kind.is_fifo() || kind.is_char_device() || kind.is_block_device()
}

/// Refuses to replace `path` when it is one of `inputs` (compared by device and inode, so a
/// hard link or another spelling of the same path is caught too).
///
/// # Errors
/// [`WriteError::WouldReplaceInput`].
pub fn check_not_input(path: &Path, inputs: &[FileId]) -> Result<(), WriteError> {
    match FileId::of_path(path) {
        Some(id) if inputs.contains(&id) => Err(WriteError::WouldReplaceInput {
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

/// One output of a command.
#[derive(Debug)]
pub enum Output {
    /// Standard output (`-o -`).
    Stdout(io::Stdout),
    /// An existing FIFO or device, written to as it is.
    Node {
        /// The opened node.
        file: File,
        /// Its path, for messages.
        path: PathBuf,
    },
    /// A new regular file, in place only after [`Output::commit`].
    File(AtomicFile),
}

impl Output {
    /// Opens `path` for writing: `-` is standard output; an existing FIFO or device is written
    /// in place (never replaced); anything else becomes a regular file that appears at `path`
    /// only when committed, replacing an existing one only with `overwrite` and never a file
    /// among `inputs`.
    ///
    /// # Errors
    /// [`WriteError::WouldReplaceInput`], [`WriteError::OutputExists`], [`WriteError::Output`].
    pub fn create(path: &Path, overwrite: bool, inputs: &[FileId]) -> Result<Output, WriteError> {
        if path.as_os_str() == "-" {
            return Ok(Output::Stdout(io::stdout()));
        }
        check_not_input(path, inputs)?;
        if fs::metadata(path).is_ok_and(|meta| is_stream_node(&meta)) {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|source| WriteError::Output {
                    path: path.to_path_buf(),
                    source,
                })?;
            return Ok(Output::Node {
                file,
                path: path.to_path_buf(),
            });
        }
        Ok(Output::File(AtomicFile::create(path, overwrite)?))
    }

    /// True when the bytes go to standard output.
    pub fn is_stdout(&self) -> bool {
        matches!(self, Output::Stdout(_))
    }

    /// Finishes the output: flushes it, and for a new file fsyncs and renames it into place.
    ///
    /// # Errors
    /// As [`AtomicFile::commit`]; [`WriteError::Output`] when flushing fails.
    pub fn commit(self) -> Result<(), WriteError> {
        match self {
            Output::Stdout(mut out) => out.flush().map_err(|source| WriteError::Output {
                path: PathBuf::from("<standard output>"),
                source,
            }),
            Output::Node { mut file, path } => file
                .flush()
                .map_err(|source| WriteError::Output { path, source }),
            Output::File(file) => file.commit(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(out) => out.write(buf),
            Output::Node { file, .. } => file.write(buf),
            Output::File(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.flush(),
            Output::Node { file, .. } => file.flush(),
            Output::File(file) => file.flush(),
        }
    }
}

/// An output written front to back only — a pipe, an object-store upload — for
/// [`crate::ArchiveWriter::sequential`]. It answers where it is, and refuses any seek elsewhere, so a
/// writer that tried to patch earlier bytes would fail loudly rather than write a wrong archive.
#[derive(Debug)]
pub struct Sequential<S: Write> {
    inner: S,
    pos: u64,
}

impl<S: Write> Sequential<S> {
    pub(crate) fn new(inner: S) -> Sequential<S> {
        Sequential { inner, pos: 0 }
    }

    /// The output the archive was written to.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Write> Write for Sequential<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: Write> Seek for Sequential<S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match to {
            SeekFrom::Current(0) => Ok(self.pos),
            SeekFrom::Start(at) if at == self.pos => Ok(self.pos),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this output is written front to back only",
            )),
        }
    }
}
