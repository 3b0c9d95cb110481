use std::io;
use std::path::PathBuf;
use taco_format::{FormatError, FormatErrorKind};
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
    /// A byte range asked for does not lie inside the file.
    #[error("range {offset}:{length} lies outside the {file_len}-byte file")]
    RangeOutside {
        offset: u64,
        length: u64,
        file_len: u64,
    },
    /// The archive has no index: it was not written by a taco planner.
    #[error("no {} member: not packed by a taco planner", taco_index::INDEX_MEMBER)]
    NoIndex,
    /// The index cannot be used.
    #[error(transparent)]
    Index(#[from] taco_index::IndexError),
    /// The manifest (index v2, `TACO_MANIFEST.parquet`) cannot be read or says something
    /// impossible.
    #[error("manifest {}: {problem}", taco_index::MANIFEST_MEMBER)]
    BadManifest { problem: String },
    /// The lookup directory (index v2) does not list exactly the archive's members.
    #[error("lookup directory disagrees with the central directory: {problem}")]
    LookupMismatch { problem: String },
    /// The index lists no such tile.
    #[error("no tile {z}/{x}/{y} in the index")]
    NoSuchTile { z: u32, x: u32, y: u32 },
    /// The index places a member's data where no member data can be.
    #[error(
        "index places {name:?} at {offset}:{length}, past the member data (which ends at {limit})"
    )]
    IndexOutside {
        name: String,
        offset: u64,
        length: u64,
        limit: u64,
    },
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
    /// An entry asked to be extracted as files holds no whole member: it is a byte range
    /// inside one (a verbatim Parquet row group, say).
    #[error(
        "entry {index} ({offset}:{length}) holds no whole member, only bytes inside {within}: \
         write them with `taco get --entry {index} -o FILE`"
    )]
    EntryHoldsNoMember {
        index: usize,
        offset: u64,
        length: u64,
        /// The member the range lies in, or "no member".
        within: String,
    },
    /// The requested member is not in the archive.
    #[error("no member named {name:?}")]
    NoSuchMember { name: String },
    /// A name pattern matches no member.
    #[error("no member matches {pattern:?}")]
    NoMatch { pattern: String },
    /// A span holds a local entry the archive's directory (central, or the lookup directory
    /// of index v2) does not list there.
    #[error(
        "local entry {name:?} at offset {offset} is not listed there in the archive's directory"
    )]
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
    /// Which failure this is, without its details.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ArchiveError::Format(f) => ErrorKind::Format(f.kind()),
            ArchiveError::EntryCountMismatch { .. } => ErrorKind::EntryCountMismatch,
            ArchiveError::HeaderNotFirst { .. } => ErrorKind::HeaderNotFirst,
            ArchiveError::HeaderRecordMismatch { .. } => ErrorKind::HeaderRecordMismatch,
            ArchiveError::MemberOutOfBounds { .. } => ErrorKind::MemberOutOfBounds,
            ArchiveError::OverlappingMembers { .. } => ErrorKind::OverlappingMembers,
            ArchiveError::LocalHeaderMismatch { .. } => ErrorKind::LocalHeaderMismatch,
            ArchiveError::NotStored { .. } => ErrorKind::NotStored,
            ArchiveError::DataDescriptor { .. } => ErrorKind::DataDescriptor,
            ArchiveError::BadName { .. } => ErrorKind::BadName,
            ArchiveError::DuplicateName { .. } => ErrorKind::DuplicateName,
            ArchiveError::EntryOutside { .. } => ErrorKind::EntryOutside,
            ArchiveError::RangeOutside { .. } => ErrorKind::RangeOutside,
            ArchiveError::NoIndex => ErrorKind::NoIndex,
            ArchiveError::Index(_) => ErrorKind::BadIndex,
            ArchiveError::NoSuchTile { .. } => ErrorKind::NoSuchTile,
            ArchiveError::LookupMismatch { .. } => ErrorKind::LookupMismatch,
            ArchiveError::IndexOutside { .. } => ErrorKind::IndexOutside,
            ArchiveError::BadManifest { .. } => ErrorKind::BadManifest,
            ArchiveError::CrcMismatch { .. } => ErrorKind::CrcMismatch,
            ArchiveError::TruncatedSpan { .. } => ErrorKind::TruncatedSpan,
            ArchiveError::NoSuchEntry { .. } => ErrorKind::NoSuchEntry,
            ArchiveError::EntryHoldsNoMember { .. } => ErrorKind::EntryHoldsNoMember,
            ArchiveError::NoSuchMember { .. } => ErrorKind::NoSuchMember,
            ArchiveError::NoMatch { .. } => ErrorKind::NoMatch,
            ArchiveError::NotInDirectory { .. } => ErrorKind::NotInDirectory,
            ArchiveError::TooLarge { .. } => ErrorKind::TooLarge,
            ArchiveError::StaleSidecar { .. } => ErrorKind::StaleSidecar,
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

    /// Which failure this is, without its details: [`ErrorKind::class`] tells archive,
    /// transport and output failures apart.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ReadError::Invalid { problem, .. } => problem.kind(),
            ReadError::Io { .. } => ErrorKind::Io,
            ReadError::Open { .. } => ErrorKind::Open,
            ReadError::Output { .. } => ErrorKind::Output,
            ReadError::OutputExists { .. } => ErrorKind::OutputExists,
            ReadError::UnsafeOutputPath { .. } => ErrorKind::UnsafeOutputPath,
            ReadError::OutputIsInput { .. } => ErrorKind::OutputIsInput,
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

/// Which failure an error is, without its details; [`ErrorKind::name`] is the stable name
/// machine-readable output reports. One variant per variant of [`ArchiveError`] (the index's
/// own errors as `BadIndex`), [`ReadError`] and [`crate::RemoteError`], of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum ErrorKind {
    /// The bytes of a header or ZIP record.
    Format(FormatErrorKind),
    EntryCountMismatch,
    HeaderNotFirst,
    HeaderRecordMismatch,
    MemberOutOfBounds,
    OverlappingMembers,
    LocalHeaderMismatch,
    NotStored,
    DataDescriptor,
    BadName,
    DuplicateName,
    EntryOutside,
    RangeOutside,
    NoIndex,
    BadIndex,
    NoSuchTile,
    LookupMismatch,
    IndexOutside,
    BadManifest,
    CrcMismatch,
    TruncatedSpan,
    NoSuchEntry,
    EntryHoldsNoMember,
    NoSuchMember,
    NoMatch,
    NotInDirectory,
    TooLarge,
    StaleSidecar,
    Io,
    Open,
    BadUrl,
    NotFound,
    NoSuchBucket,
    AccessDenied,
    RangeIgnored,
    Changed,
    PastEnd,
    ShortBody,
    LongBody,
    GaveUp,
    Failed,
    Output,
    OutputExists,
    UnsafeOutputPath,
    OutputIsInput,
}

/// The three families of failure a caller handles differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The archive's bytes (or its index) are wrong: retrying will not help.
    Archive,
    /// Reaching the bytes failed: the file or the server; a retry may help.
    Transport,
    /// Writing the result failed: the destination's problem.
    Output,
}

impl ErrorKind {
    /// The variant's name: a stable identifier for machine-readable output.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Format(kind) => kind.name(),
            ErrorKind::EntryCountMismatch => "EntryCountMismatch",
            ErrorKind::HeaderNotFirst => "HeaderNotFirst",
            ErrorKind::HeaderRecordMismatch => "HeaderRecordMismatch",
            ErrorKind::MemberOutOfBounds => "MemberOutOfBounds",
            ErrorKind::OverlappingMembers => "OverlappingMembers",
            ErrorKind::LocalHeaderMismatch => "LocalHeaderMismatch",
            ErrorKind::NotStored => "NotStored",
            ErrorKind::DataDescriptor => "DataDescriptor",
            ErrorKind::BadName => "BadName",
            ErrorKind::DuplicateName => "DuplicateName",
            ErrorKind::EntryOutside => "EntryOutside",
            ErrorKind::RangeOutside => "RangeOutside",
            ErrorKind::NoIndex => "NoIndex",
            ErrorKind::BadIndex => "BadIndex",
            ErrorKind::NoSuchTile => "NoSuchTile",
            ErrorKind::LookupMismatch => "LookupMismatch",
            ErrorKind::IndexOutside => "IndexOutside",
            ErrorKind::BadManifest => "BadManifest",
            ErrorKind::CrcMismatch => "CrcMismatch",
            ErrorKind::TruncatedSpan => "TruncatedSpan",
            ErrorKind::NoSuchEntry => "NoSuchEntry",
            ErrorKind::EntryHoldsNoMember => "EntryHoldsNoMember",
            ErrorKind::NoSuchMember => "NoSuchMember",
            ErrorKind::NoMatch => "NoMatch",
            ErrorKind::NotInDirectory => "NotInDirectory",
            ErrorKind::TooLarge => "TooLarge",
            ErrorKind::StaleSidecar => "StaleSidecar",
            ErrorKind::Io => "Io",
            ErrorKind::Open => "Open",
            ErrorKind::BadUrl => "BadUrl",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::NoSuchBucket => "NoSuchBucket",
            ErrorKind::AccessDenied => "AccessDenied",
            ErrorKind::RangeIgnored => "RangeIgnored",
            ErrorKind::Changed => "Changed",
            ErrorKind::PastEnd => "PastEnd",
            ErrorKind::ShortBody => "ShortBody",
            ErrorKind::LongBody => "LongBody",
            ErrorKind::GaveUp => "GaveUp",
            ErrorKind::Failed => "Failed",
            ErrorKind::Output => "Output",
            ErrorKind::OutputExists => "OutputExists",
            ErrorKind::UnsafeOutputPath => "UnsafeOutputPath",
            ErrorKind::OutputIsInput => "OutputIsInput",
        }
    }

    /// The family of the failure.
    pub fn class(self) -> ErrorClass {
        match self {
            ErrorKind::Format(_)
            | ErrorKind::EntryCountMismatch
            | ErrorKind::HeaderNotFirst
            | ErrorKind::HeaderRecordMismatch
            | ErrorKind::MemberOutOfBounds
            | ErrorKind::OverlappingMembers
            | ErrorKind::LocalHeaderMismatch
            | ErrorKind::NotStored
            | ErrorKind::DataDescriptor
            | ErrorKind::BadName
            | ErrorKind::DuplicateName
            | ErrorKind::EntryOutside
            | ErrorKind::RangeOutside
            | ErrorKind::NoIndex
            | ErrorKind::BadIndex
            | ErrorKind::NoSuchTile
            | ErrorKind::LookupMismatch
            | ErrorKind::IndexOutside
            | ErrorKind::BadManifest
            | ErrorKind::CrcMismatch
            | ErrorKind::TruncatedSpan
            | ErrorKind::NoSuchEntry
            | ErrorKind::EntryHoldsNoMember
            | ErrorKind::NoSuchMember
            | ErrorKind::NoMatch
            | ErrorKind::NotInDirectory
            | ErrorKind::TooLarge
            | ErrorKind::StaleSidecar => ErrorClass::Archive,
            ErrorKind::Io
            | ErrorKind::Open
            | ErrorKind::BadUrl
            | ErrorKind::NotFound
            | ErrorKind::NoSuchBucket
            | ErrorKind::AccessDenied
            | ErrorKind::RangeIgnored
            | ErrorKind::Changed
            | ErrorKind::PastEnd
            | ErrorKind::ShortBody
            | ErrorKind::LongBody
            | ErrorKind::GaveUp
            | ErrorKind::Failed => ErrorClass::Transport,
            ErrorKind::Output
            | ErrorKind::OutputExists
            | ErrorKind::UnsafeOutputPath
            | ErrorKind::OutputIsInput => ErrorClass::Output,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
