use std::io;
use std::path::PathBuf;
use taco_format::FormatError;
use thiserror::Error;

/// Everything that can go wrong while writing or updating an archive.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The caller asked to stop ([`crate::ArchiveWriter::set_cancel`]).
    #[error("interrupted; nothing was written")]
    Cancelled,
    /// A source could not be opened, inspected or read.
    #[error("{path}: {source}")]
    Source {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A source path is not a regular file (a directory, FIFO, device…).
    #[error("{path}: not a regular file")]
    NotAFile { path: PathBuf },
    /// A source had more bytes than its size said when packing started.
    #[error("{source_name}: source grew while being packed (expected {expected} bytes)")]
    SourceGrew { source_name: String, expected: u64 },
    /// A source ended before its size said it would.
    #[error(
        "{source_name}: source shrank while being packed (expected {expected} bytes, got {got})"
    )]
    SourceShrank {
        source_name: String,
        expected: u64,
        got: u64,
    },
    /// A source was modified (same size, new modification time) while it was read.
    #[error("{source_name}: source changed while being packed")]
    SourceChanged { source_name: String },
    /// Two members would have the same name.
    #[error("duplicate member name {name:?}")]
    DuplicateName { name: String },
    /// An entry does not lie inside the finished archive.
    #[error("entry {index} ({offset}:{length}) lies outside the {archive_len}-byte archive")]
    EntryOutside {
        index: usize,
        offset: u64,
        length: u64,
        archive_len: u64,
    },
    /// The output path exists and overwriting was not asked for.
    #[error("{path} already exists")]
    OutputExists { path: PathBuf },
    /// A source is the archive being written, or the file it replaces.
    #[error("{path} is the output archive itself; it cannot be packed into itself")]
    InputIsOutput { path: PathBuf },
    /// The output path names a file this command reads.
    #[error("{path} is also an input of this command; refusing to replace it")]
    WouldReplaceInput { path: PathBuf },
    /// The output path is a FIFO, device or socket, which an archive cannot be written to
    /// (it needs a seekable regular file) and which is never replaced by one.
    #[error("{path}: not a regular file; an archive is written to a new regular file, not a FIFO or device")]
    NotRegularOutput { path: PathBuf },
    /// Writing, syncing or renaming the output failed.
    #[error("{path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file to update is not a TACO archive, or its records are broken.
    #[error("{path}: {source}")]
    NotTaco {
        path: PathBuf,
        #[source]
        source: FormatError,
    },
    /// A front-to-back output was started with one set of entries and finished with another
    /// ([`crate::ArchiveWriter::sequential`]): the header already written would be wrong.
    #[error("entries at finish differ from the ones written at the start: {written:?} then {finished:?}")]
    EntriesMoved {
        written: Vec<taco_format::Entry>,
        finished: Vec<taco_format::Entry>,
    },
    /// A member read from a stream longer than one buffer, on an output written front to
    /// back: its CRC must be known before its data, and a stream cannot be read twice.
    #[error(
        "{name}: a stream of {len} bytes cannot go to a front-to-back output (add it from a file)"
    )]
    StreamOnSequential { name: String, len: u64 },
    /// A name or entry list breaks the format's rules.
    #[error(transparent)]
    Format(#[from] FormatError),
}
