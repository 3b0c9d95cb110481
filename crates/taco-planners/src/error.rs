use std::path::PathBuf;
use thiserror::Error;

/// Why a plan could not be made or executed. Each variant names the input file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The caller asked to stop ([`crate::ExecuteOptions::cancel`]); nothing was written.
    #[error("interrupted; nothing was written")]
    Cancelled,
    /// An input could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The input is not a file of the kind the planner reads.
    #[error("{path}: not a Parquet file ({reason})")]
    NotParquet { path: PathBuf, reason: String },
    /// The Parquet file's footer is encrypted; its layout cannot be read without keys.
    #[error(
        "{path}: encrypted Parquet file (footer magic PARE); encrypted files are not supported"
    )]
    Encrypted { path: PathBuf },
    /// The input ends before its own metadata says it should.
    #[error("{path}: truncated: {detail}")]
    Truncated { path: PathBuf, detail: String },
    /// The Parquet file holds no row groups, so there is nothing to make entries of.
    #[error("{path}: has no row groups")]
    NoRowGroups { path: PathBuf },
    /// The Parquet metadata is inconsistent or could not be encoded.
    #[error("{path}: {detail}")]
    BadParquet { path: PathBuf, detail: String },
    /// An input file name cannot become a member name.
    #[error("{path}: file name is not valid UTF-8")]
    NonUtf8Name { path: PathBuf },
    /// A directory symlink points back to one of its ancestors.
    #[error("{path}: symlink loop (directory contains itself)")]
    SymlinkLoop { path: PathBuf },
    /// A symlink points nowhere.
    #[error("{path}: dangling symlink")]
    DanglingSymlink { path: PathBuf },
    /// A FIFO, socket or device where a file or directory was expected.
    #[error("{path}: not a regular file or directory")]
    NotRegular { path: PathBuf },
    /// A directory holds no tiles.
    #[error("{path}: no tiles found (expected files named Z/X/Y.EXT)")]
    NoTiles { path: PathBuf },
    /// A file shaped like a tile path has a bad z, x or y.
    #[error("{path}: not a valid tile path: {reason}")]
    BadTilePath { path: PathBuf, reason: String },
    /// More split directories than a header has entries.
    #[error("{path}: {} split directories ({}), a TACO header holds at most 7: choose with --splits", names.len(), names.join(", "))]
    TooManySplits { path: PathBuf, names: Vec<String> },
    /// The directory has no subdirectories to use as splits.
    #[error("{path}: no split directories (expected e.g. train/, val/, test/)")]
    NoSplits { path: PathBuf },
    /// A split directory holds no files.
    #[error("{path}: split {name:?} has no files")]
    EmptySplit { path: PathBuf, name: String },
    /// `--splits` names a directory that does not exist.
    #[error("{path}: no split directory {name:?} (found: {})", found.join(", "))]
    UnknownSplit {
        path: PathBuf,
        name: String,
        found: Vec<String>,
    },
    /// A NetCDF file's time coordinate cannot be read.
    #[error("{path}: {reason}")]
    BadNetcdf { path: PathBuf, reason: String },
    /// A directory holds no usable NetCDF file.
    #[error("{path}: no NetCDF files with a time coordinate (*.nc, *.nc4, *.cdf)")]
    NoNetcdf { path: PathBuf },
    /// Two inputs would be stored under one member name.
    #[error("duplicate member name {name:?} (from {path})")]
    DuplicateName { name: String, path: PathBuf },
    /// An input would be stored under a name taco's own members use.
    #[error("{path}: member name {name:?} is reserved for taco's own members (rename the file or put it in a directory)")]
    ReservedName { name: String, path: PathBuf },
    /// A requested option is out of range.
    #[error("{0}")]
    BadOption(String),
    /// A plan holds more groups than a header has entries.
    #[error("plan has {count} groups, a TACO header holds at most 7")]
    TooManyGroups { count: usize },
    /// A group refers to members that do not exist, or a slice outside its member.
    #[error("group {label:?} refers to members or bytes outside the plan")]
    BadGroup { label: String },
    /// A member did not land where the plan put it (an earlier source changed size).
    #[error("{name}: planned at offset {planned}, written at {actual} (a source changed size after planning)")]
    PlannedOffset {
        name: String,
        planned: u64,
        actual: u64,
    },
    /// A member's source did not have the size the plan recorded when it was written.
    #[error("{name}: planned with {planned} bytes, {actual} written (its source changed size after planning)")]
    PlannedSize {
        name: String,
        planned: u64,
        actual: u64,
    },
    /// The manifest could not be encoded.
    #[error("encoding the manifest: {0}")]
    Manifest(String),
    /// The lookup directory could not be built.
    #[error("building the lookup directory: {0}")]
    Lookup(#[from] taco_format::FormatError),
    /// Writing the archive failed.
    #[error(transparent)]
    Write(#[from] taco_writer::WriteError),
    /// The index could not be encoded.
    #[error("encoding the index: {0}")]
    Index(#[from] serde_json::Error),
}
