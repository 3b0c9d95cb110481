use std::io;
use std::path::PathBuf;
use taco_format::FormatError;
use thiserror::Error;

/// A problem with the archive's bytes: each validation failure is its own variant, carrying the
/// offset or member it concerns.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The TACO header or a ZIP record failed to parse.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The central directory holds a different number of records than the end record says.
    #[error(
        "central directory at offset {offset} holds {found} records, end record says {expected}"
    )]
    EntryCountMismatch {
        offset: u64,
        expected: u64,
        found: u64,
    },
    /// The central directory does not list `TACO_HEADER` first at offset 0.
    #[error("central directory does not list TACO_HEADER first at offset 0 (first is {first:?} at {offset})")]
    HeaderNotFirst { first: String, offset: u64 },
    /// The TACO_HEADER central record disagrees with the header at byte 0.
    #[error("TACO_HEADER central record {field} is {central}, header at byte 0 has {local}")]
    HeaderRecordMismatch {
        field: &'static str,
        central: u64,
        local: u64,
    },
    /// A member's bytes would run past the central directory (or the file).
    #[error(
        "member {name:?}: local entry at offset {offset} runs past the member area end {limit}"
    )]
    MemberOutOfBounds {
        name: String,
        offset: u64,
        limit: u64,
    },
    /// Two members' local entries overlap.
    #[error("member {name:?} at offset {offset} overlaps the previous member, which ends at {previous_end}")]
    OverlappingMembers {
        name: String,
        offset: u64,
        previous_end: u64,
    },
    /// A field of a local header disagrees with the member's central record.
    #[error("member {name:?}: local header at offset {offset} has {field} {local}, central directory has {central}")]
    LocalHeaderMismatch {
        name: String,
        offset: u64,
        field: &'static str,
        local: String,
        central: String,
    },
    /// A member is compressed; TACO stores every member uncompressed.
    #[error("member {name:?} uses compression method {method}, TACO members must be STORED (0)")]
    NotStored { name: String, method: u16 },
    /// A member uses a data descriptor; TACO members carry CRC and sizes in the local header.
    #[error("member {name:?} uses a data descriptor (flag bit 3)")]
    DataDescriptor { name: String },
    /// A member's name is unsafe or invalid.
    #[error("member name {name:?} at offset {offset}: {problem}")]
    BadName {
        name: String,
        offset: u64,
        problem: taco_format::NameProblem,
    },
    /// Two members share a name.
    #[error("duplicate member name {name:?}")]
    DuplicateName { name: String },
    /// An entry of the header does not lie inside the file.
    #[error("entry {index} ({offset}:{length}) lies outside the {file_len}-byte file")]
    EntryOutside {
        index: usize,
        offset: u64,
        length: u64,
        file_len: u64,
    },
    /// A member's data does not match its CRC-32.
    #[error("member {name:?}: CRC-32 mismatch in data at offset {offset}: stored 0x{stored:08x}, computed 0x{computed:08x}")]
    CrcMismatch {
        name: String,
        offset: u64,
        stored: u32,
        computed: u32,
    },
    /// A span ended inside a member.
    #[error("span is cut short inside member {name:?} at span offset {offset}: {complete} complete file(s) before it")]
    TruncatedSpan {
        name: String,
        offset: u64,
        complete: u64,
    },
    /// The requested entry number is not in the header.
    #[error("no entry {index}: the header has {count} entries")]
    NoSuchEntry { index: usize, count: usize },
    /// The requested member is not in the archive.
    #[error("no member named {name:?}")]
    NoSuchMember { name: String },
    /// A span holds a local entry the central directory does not list there.
    #[error("local entry {name:?} at offset {offset} is not listed in the central directory")]
    NotInDirectory { name: String, offset: u64 },
    /// A sidecar beside the archive records another archive's identity.
    #[error("sidecar is stale: it records {field} {recorded}, the archive has {actual} (written for another version of the archive; repack or delete it)")]
    StaleSidecar {
        field: &'static str,
        recorded: String,
        actual: u64,
    },
    /// Something would be read into memory that is larger than this reader allows.
    #[error("{what} is {size} bytes, more than the {limit} bytes read into memory")]
    TooLarge { what: String, size: u64, limit: u64 },
}

impl ArchiveError {
    /// The variant's name, a stable identifier for machine-readable output.
    pub fn kind(&self) -> &'static str {
        match self {
            ArchiveError::Format(f) => f.kind(),
            ArchiveError::EntryCountMismatch { .. } => "EntryCountMismatch",
            ArchiveError::HeaderNotFirst { .. } => "HeaderNotFirst",
            ArchiveError::HeaderRecordMismatch { .. } => "HeaderRecordMismatch",
            ArchiveError::MemberOutOfBounds { .. } => "MemberOutOfBounds",
            ArchiveError::OverlappingMembers { .. } => "OverlappingMembers",
            ArchiveError::LocalHeaderMismatch { .. } => "LocalHeaderMismatch",
            ArchiveError::NotStored { .. } => "NotStored",
            ArchiveError::DataDescriptor { .. } => "DataDescriptor",
            ArchiveError::BadName { .. } => "BadName",
            ArchiveError::DuplicateName { .. } => "DuplicateName",
            ArchiveError::EntryOutside { .. } => "EntryOutside",
            ArchiveError::CrcMismatch { .. } => "CrcMismatch",
            ArchiveError::TruncatedSpan { .. } => "TruncatedSpan",
            ArchiveError::NoSuchEntry { .. } => "NoSuchEntry",
            ArchiveError::NoSuchMember { .. } => "NoSuchMember",
            ArchiveError::NotInDirectory { .. } => "NotInDirectory",
            ArchiveError::TooLarge { .. } => "TooLarge",
            ArchiveError::StaleSidecar { .. } => "StaleSidecar",
        }
    }
}

/// Any failure of a reading operation: the archive is invalid, reading it failed, or writing
/// extracted files failed. Each names the file concerned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The archive's bytes are wrong.
    #[error("{source_label}: {problem}")]
    Invalid {
        source_label: String,
        #[source]
        problem: ArchiveError,
    },
    /// Reading the source failed (including reading past its end).
    #[error("{source_label}: reading {len} bytes at offset {offset}: {source}")]
    Io {
        source_label: String,
        offset: u64,
        len: u64,
        #[source]
        source: io::Error,
    },
    /// The source could not be opened.
    #[error("{path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing an output file failed.
    #[error("{path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An output file exists and overwriting was not asked for.
    #[error("{path} already exists")]
    OutputExists { path: PathBuf },
    /// An output would replace a file the command reads.
    #[error("{path} is also an input of this command; refusing to replace it")]
    OutputIsInput { path: PathBuf },
    /// A path under the extraction directory is a symlink or not a directory.
    #[error("{path}: refusing to extract through a symlink or non-directory")]
    UnsafeOutputPath { path: PathBuf },
    /// A remote object could not be read as asked.
    #[error("{url}: {problem}")]
    Remote {
        url: String,
        #[source]
        problem: crate::RemoteError,
    },
}

impl ReadError {
    /// The archive problem, if this error is one.
    pub fn archive_error(&self) -> Option<&ArchiveError> {
        match self {
            ReadError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// A stable identifier of the failure for machine-readable output.
    pub fn kind(&self) -> &'static str {
        match self {
            ReadError::Invalid { problem, .. } => problem.kind(),
            ReadError::Io { .. } => "Io",
            ReadError::Open { .. } => "Open",
            ReadError::Output { .. } => "Output",
            ReadError::OutputExists { .. } => "OutputExists",
            ReadError::UnsafeOutputPath { .. } => "UnsafeOutputPath",
            ReadError::OutputIsInput { .. } => "OutputIsInput",
            ReadError::Remote { problem, .. } => problem.kind(),
        }
    }

    /// The error a [`ReadAt`](crate::ReadAt) reader carried inside an `io::Error`, or `other`
    /// built from it: keeps a remote failure's own message instead of wrapping it twice.
    pub(crate) fn unwrap_io(error: io::Error, other: impl FnOnce(io::Error) -> ReadError) -> Self {
        if error
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<ReadError>().is_some())
        {
            if let Some(inner) = error.into_inner() {
                if let Ok(read_error) = inner.downcast::<ReadError>() {
                    return *read_error;
                }
            }
            // Unreachable: checked above.
            return other(io::Error::other("lost inner error"));
        }
        other(error)
    }
}
