//! Streaming writer for TACO archives, and in-place header updates.
//!
//! [`ArchiveWriter`] writes a placeholder header, streams each STORED member (local header, then
//! data while computing CRC-32; no data descriptors), patches the CRC into the member's local
//! header, and on [`ArchiveWriter::finish`] writes the central directory, the end records (ZIP64
//! exactly when needed) and finally the real header at byte 0. Memory is constant in the size of
//! members; only the central directory grows with their number.
//!
//! [`AtomicFile`] makes the output appear under its final name only after a successful finish and
//! fsync. [`update_header`] rewrites the entries of an existing archive in place.
//!
//! This crate is synchronous std I/O only; it must not depend on the reader or do network I/O.
//!
//! ```
//! use taco_writer::{ArchiveWriter, WriterOptions};
//! use taco_format::Entry;
//!
//! let mut writer = ArchiveWriter::new(std::io::Cursor::new(Vec::new()), WriterOptions::default())?;
//! let span = writer.add_bytes("hello.txt", b"hello world", None)?;
//! let (out, summary) = writer.finish(&[span.data_entry()])?;
//! let bytes = out.into_inner();
//! assert_eq!(summary.archive_len, bytes.len() as u64);
//! assert_eq!(&bytes[span.data_offset as usize..][..11], b"hello world");
//! # Ok::<(), taco_writer::WriteError>(())
//! ```

mod atomic;
mod central;
mod error;
mod output;
mod update;
mod writer;

pub use atomic::AtomicFile;
pub use error::WriteError;
pub use output::{check_not_input, FileId, Output, Sequential};
pub use update::update_header;
pub use writer::{ArchiveOutput, ArchiveWriter, FinishSummary, MemberSpan, Piece, WriterOptions};
