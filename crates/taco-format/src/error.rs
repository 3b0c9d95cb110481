use thiserror::Error;

/// Everything that can be wrong with the bytes of a TACO archive record.
///
/// Offsets are absolute archive offsets where the caller supplied one (the parsers take the
/// slice's position in the archive as an argument), so messages point at the offending byte.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// There are no bytes at all: an empty file or object.
    #[error("empty (0 bytes): no {what}; not a TACO archive or a ZIP file")]
    Empty { what: &'static str },
    /// Fewer bytes were available than the record needs.
    #[error("{what} at offset {offset} needs {needed} bytes, only {found} available")]
    TooShort {
        what: &'static str,
        offset: u64,
        needed: u64,
        found: u64,
    },
    /// A record did not start with its signature.
    #[error("{what} at offset {offset}: bad signature 0x{found:08x}")]
    BadSignature {
        what: &'static str,
        offset: u64,
        found: u32,
    },
    /// The first member is a ZIP entry but not named `TACO_HEADER`.
    #[error("first member is {found:?}, not TACO_HEADER: not a TACO archive")]
    NotTacoHeader { found: String },
    /// A fixed field of the TACO header holds the wrong value.
    #[error("TACO header field {field} is {found}, expected {expected}")]
    BadHeaderField {
        field: &'static str,
        expected: u64,
        found: u64,
    },
    /// The header says it has more than 7 entries.
    #[error("TACO header entry count is {count}, at most 7 allowed")]
    TooManyEntries { count: usize },
    /// The three reserved bytes after the count are not zero.
    #[error("TACO header reserved bytes are not zero")]
    ReservedNotZero,
    /// The header payload does not match the CRC stored in its local header.
    #[error("TACO header CRC mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}")]
    HeaderCrcMismatch { stored: u32, computed: u32 },
    /// An extra field is malformed or the ZIP64 extra a record needs is missing or short.
    #[error("{what} at offset {offset}: bad or missing ZIP64 extra field")]
    BadZip64Extra { what: &'static str, offset: u64 },
    /// A member name breaks the naming rules.
    #[error("member name {name:?}: {problem}")]
    BadName {
        name: String,
        problem: crate::NameProblem,
    },
    /// A STORED member whose compressed and uncompressed sizes differ.
    #[error("member {name:?} is STORED but its compressed size {compressed} differs from its uncompressed size {uncompressed}")]
    StoredSizeMismatch {
        name: String,
        compressed: u64,
        uncompressed: u64,
    },
    /// A record uses a ZIP feature TACO does not allow and readers treat differently.
    #[error("member {name:?} uses {what} (0x{value:x}): readers disagree on such members, TACO allows none")]
    UnsupportedFeature {
        name: String,
        what: &'static str,
        value: u64,
    },
    /// More than one end of central directory record could be the real one.
    #[error("end of central directory records at offsets {offset} and {other} both fit: another reader could take the other one")]
    AmbiguousEnd { offset: u64, other: u64 },
    /// The end of central directory comment holds a ZIP record signature.
    #[error("end of central directory comment holds a ZIP signature 0x{signature:08x} at offset {offset}: another reader could take it for a record")]
    SignatureInComment { offset: u64, signature: u32 },
    /// Bytes that no member, directory or end record accounts for.
    #[error("{length} bytes at offset {offset} belong to no member ({place})")]
    UnaccountedBytes {
        offset: u64,
        length: u64,
        place: &'static str,
    },
    /// The lookup directory (index v2) is malformed.
    #[error("lookup directory at offset {offset}: {what}")]
    BadLookup { what: &'static str, offset: u64 },
    /// A number from the file does not fit where it must go.
    #[error("{what} at offset {offset}: value {value} out of range")]
    OutOfRange {
        what: &'static str,
        offset: u64,
        value: u64,
    },
}

impl FormatError {
    /// Which error this is, without its details.
    pub fn kind(&self) -> FormatErrorKind {
        match self {
            FormatError::Empty { .. } => FormatErrorKind::Empty,
            FormatError::TooShort { .. } => FormatErrorKind::TooShort,
            FormatError::BadSignature { .. } => FormatErrorKind::BadSignature,
            FormatError::NotTacoHeader { .. } => FormatErrorKind::NotTacoHeader,
            FormatError::BadHeaderField { .. } => FormatErrorKind::BadHeaderField,
            FormatError::TooManyEntries { .. } => FormatErrorKind::TooManyEntries,
            FormatError::ReservedNotZero => FormatErrorKind::ReservedNotZero,
            FormatError::HeaderCrcMismatch { .. } => FormatErrorKind::HeaderCrcMismatch,
            FormatError::BadZip64Extra { .. } => FormatErrorKind::BadZip64Extra,
            FormatError::BadName { .. } => FormatErrorKind::BadName,
            FormatError::OutOfRange { .. } => FormatErrorKind::OutOfRange,
            FormatError::BadLookup { .. } => FormatErrorKind::BadLookup,
            FormatError::StoredSizeMismatch { .. } => FormatErrorKind::StoredSizeMismatch,
            FormatError::UnsupportedFeature { .. } => FormatErrorKind::UnsupportedFeature,
            FormatError::AmbiguousEnd { .. } => FormatErrorKind::AmbiguousEnd,
            FormatError::SignatureInComment { .. } => FormatErrorKind::SignatureInComment,
            FormatError::UnaccountedBytes { .. } => FormatErrorKind::UnaccountedBytes,
        }
    }
}

/// Which [`FormatError`] an error is: one variant per error variant, of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum FormatErrorKind {
    Empty,
    TooShort,
    BadSignature,
    NotTacoHeader,
    BadHeaderField,
    TooManyEntries,
    ReservedNotZero,
    HeaderCrcMismatch,
    BadZip64Extra,
    BadName,
    OutOfRange,
    BadLookup,
    StoredSizeMismatch,
    UnsupportedFeature,
    AmbiguousEnd,
    SignatureInComment,
    UnaccountedBytes,
}

impl FormatErrorKind {
    /// The variant's name: a stable identifier for machine-readable output.
    pub fn name(self) -> &'static str {
        match self {
            FormatErrorKind::Empty => "Empty",
            FormatErrorKind::TooShort => "TooShort",
            FormatErrorKind::BadSignature => "BadSignature",
            FormatErrorKind::NotTacoHeader => "NotTacoHeader",
            FormatErrorKind::BadHeaderField => "BadHeaderField",
            FormatErrorKind::TooManyEntries => "TooManyEntries",
            FormatErrorKind::ReservedNotZero => "ReservedNotZero",
            FormatErrorKind::HeaderCrcMismatch => "HeaderCrcMismatch",
            FormatErrorKind::BadZip64Extra => "BadZip64Extra",
            FormatErrorKind::BadName => "BadName",
            FormatErrorKind::OutOfRange => "OutOfRange",
            FormatErrorKind::BadLookup => "BadLookup",
            FormatErrorKind::StoredSizeMismatch => "StoredSizeMismatch",
            FormatErrorKind::UnsupportedFeature => "UnsupportedFeature",
            FormatErrorKind::AmbiguousEnd => "AmbiguousEnd",
            FormatErrorKind::SignatureInComment => "SignatureInComment",
            FormatErrorKind::UnaccountedBytes => "UnaccountedBytes",
        }
    }
}
