//! Reading TACO archives through positioned reads.
//!
//! Everything here is written once over the [`ReadAt`] trait (read `len` bytes at `offset`), so
//! the same header parsing, listing, validation and fetching serve a local file, an in-memory
//! buffer and, with the `remote` feature, objects over HTTP(S) or S3 (`RemoteSource`, where
//! every read is one range request; without the feature no HTTP stack is compiled).
//! [`read_header`] costs one read of 157 bytes; [`Archive::open`] one read of the tail plus one
//! of the central directory when it does not fit in the tail. [`validate`] checks an archive at
//! the levels of DESIGN §6, refusing anything two ZIP readers could read differently;
//! extraction writes only below its directory, resolving every path from an open handle
//! without following symlinks.
//!
//! This crate must not write archives (that is `taco-writer`) and trusts no number it reads:
//! every offset and length is bounds-checked against the source length before use.
//!
//! ```
//! use taco_reader::{read_header, Archive};
//! # let mut w = taco_writer::ArchiveWriter::new(std::io::Cursor::new(Vec::new()), Default::default())?;
//! # let span = w.add_bytes("a.txt", b"hello", None)?;
//! # let bytes = w.finish(&[span.data_entry()])?.0.into_inner();
//! // `bytes` holds a TACO archive; a `LocalFile` works the same way.
//! let header = read_header(&bytes, taco_format::CrcPolicy::Strict)?;
//! let archive = Archive::open(&bytes)?;
//! let names: Vec<_> = archive.members().iter().map(|m| m.name_lossy()).collect();
//! assert_eq!(names, ["TACO_HEADER", "a.txt"]);
//! assert_eq!(archive.read_range(header.entries[0])?, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod archive;
mod confined;
mod error;
mod extract;
mod local;
mod located;
mod manifest;
mod ranges;
mod remote;
mod source;
mod stream;
mod summary;
mod taco_archive;
mod validate;

pub use archive::{read_header, Archive, ArchiveTail, Member, MAX_MEMBER_IN_MEMORY};
pub use error::{ArchiveError, ErrorClass, ErrorKind, ReadError};
pub use extract::{
    extract_all, extract_entry, extract_listed_span, extract_members, extract_span,
    write_named_file, ExtractOptions, ExtractReport,
};
pub use located::{Located, Place};
pub use manifest::in_manifest_decoder;
/// The `object_store` crate the remote sources are built on, for callers that hand in a store
/// of their own ([`RemoteSource::from_store`]).
#[cfg(feature = "remote")]
pub use object_store;
pub use ranges::{coalesce, read_ranges, run_jobs, COALESCE_GAP, COALESCE_MAX};
#[cfg(feature = "remote")]
pub use remote::RemoteSource;
pub use remote::{is_remote, AwsOptions, RemoteError, RemoteOptions, TransferStats};
#[cfg(feature = "remote")]
pub use remote::{ObjectUpload, UploadOptions, MAX_PARTS, MAX_PART_LEN, MIN_PART_LEN};
pub use source::{url_scheme, LocalFile, ReadAt, Source};
pub use stream::{copy_exact, stream_range, CrcReader, RangeReader};
pub use summary::{IndexVersion, Summary};
pub use taco_archive::{Selection, TacoArchive};
pub use taco_index::{
    EntryFiles, EntryKind, EntryRecord, Index, IndexError, TimeMatch, TimeSelection,
    MANIFEST_MEMBER,
};
/// The tokio runtime handle [`RemoteSource::open_in`] and [`RemoteSource::from_store`] take.
#[cfg(feature = "remote")]
pub use tokio::runtime::Handle as RuntimeHandle;
pub use validate::{validate, ArchiveIdentity, Level, ValidationReport};
