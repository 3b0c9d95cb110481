//! How member data gets from a source file into the archive: through the chunk buffer with
//! positioned reads, or inside the kernel (`copy_file_range`) with the CRC computed alongside;
//! and the CRC pre-read a front-to-back output needs before a member's local header.

use super::{is_set, ArchiveOutput, ArchiveWriter, Piece, KERNEL_COPY_STEP};
use crate::WriteError;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

impl<W: ArchiveOutput> ArchiveWriter<W> {
    /// The CRC-32 of `pieces` read once through the chunk buffer: a front-to-back output's
    /// local header needs it before the data is copied.
    pub(super) fn pieces_crc(&mut self, pieces: &[Piece<'_>]) -> Result<u32, WriteError> {
        let mut hasher = crc32fast::Hasher::new();
        for piece in pieces {
            match *piece {
                Piece::Bytes(bytes) => hasher.update(bytes),
                Piece::FileRange {
                    file,
                    offset,
                    len,
                    label,
                } => hasher.combine(&self.read_chunks(file, offset, len, label, |_, _| Ok(()))?),
            }
        }
        Ok(hasher.finalize())
    }

    /// Copies a file range through the chunk buffer with positioned reads.
    pub(super) fn buffered_copy(
        &mut self,
        file: &File,
        offset: u64,
        len: u64,
        label: &str,
    ) -> Result<crc32fast::Hasher, WriteError> {
        self.read_chunks(file, offset, len, label, |writer, bytes| {
            writer.write_data(bytes)?;
            writer.report(bytes.len() as u64);
            Ok(())
        })
    }

    /// Reads a file range through the chunk buffer with positioned reads, checking for a
    /// cancel before each chunk, and hands each chunk to `each`; returns the range's CRC.
    pub(super) fn read_chunks(
        &mut self,
        file: &File,
        offset: u64,
        len: u64,
        label: &str,
        mut each: impl FnMut(&mut Self, &[u8]) -> Result<(), WriteError>,
    ) -> Result<crc32fast::Hasher, WriteError> {
        let mut chunk = std::mem::take(&mut self.chunk);
        let result = (|| {
            let mut hasher = crc32fast::Hasher::new();
            let mut done = 0u64;
            while done < len {
                let n = (len - done).min(chunk.len() as u64) as usize;
                self.check_cancel()?;
                read_range(file, &mut chunk[..n], offset + done, len, done, label)?;
                hasher.update(&chunk[..n]);
                each(self, &chunk[..n])?;
                done += n as u64;
            }
            Ok(hasher)
        })();
        self.chunk = chunk;
        result
    }

    /// Copies a file range with `copy_file_range` (through `std::io::copy`) while a scoped thread
    /// reads the same bytes from the page cache for the CRC: the data crosses memory once
    /// instead of through a user-space buffer, and checksumming runs alongside.
    pub(super) fn kernel_copy(
        &mut self,
        src: &File,
        offset: u64,
        len: u64,
        label: &str,
    ) -> Result<crc32fast::Hasher, WriteError> {
        self.flush_pending()?;
        let data_offset = self
            .out
            .stream_position()
            .map_err(|e| self.output_error(e))?;
        let Some(out) = self.out.as_file() else {
            return Err(self.output_error(io::Error::other("output has no file")));
        };
        (&*src)
            .seek(SeekFrom::Start(offset))
            .map_err(|source| WriteError::Source {
                path: PathBuf::from(label),
                source,
            })?;
        let chunk = &mut self.chunk;
        let progress = &mut self.progress;
        let cancel = self.cancel.as_ref();
        let (copied, crc) = std::thread::scope(|scope| {
            let crc_thread = scope.spawn(move || {
                let mut hasher = crc32fast::Hasher::new();
                let mut done = 0u64;
                while done < len {
                    if is_set(cancel) {
                        return Err(WriteError::Cancelled);
                    }
                    let n = (len - done).min(chunk.len() as u64) as usize;
                    read_range(src, &mut chunk[..n], offset + done, len, done, label)?;
                    hasher.update(&chunk[..n]);
                    done += n as u64;
                }
                Ok::<_, WriteError>(hasher)
            });
            let mut copied = 0u64;
            let mut copy_result = Ok(());
            while copied < len {
                if is_set(cancel) {
                    break;
                }
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
            let crc = crc_thread.join().unwrap_or_else(|_| {
                Err(WriteError::Source {
                    path: PathBuf::from(label),
                    source: io::Error::other("CRC thread panicked"),
                })
            });
            (copy_result.map(|()| copied), crc)
        });
        let copied = copied.map_err(|e| self.output_error(e))?;
        let crc = crc?;
        self.check_cancel()?;
        if copied < len {
            return Err(WriteError::SourceShrank {
                source_name: label.to_string(),
                expected: len,
                got: copied,
            });
        }
        self.writeback_from = data_offset + len;
        Ok(crc)
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk now, without
/// waiting (`POSIX_FADV_DONTNEED` starts writeback of dirty pages). The final fsync then finds
/// most data already on disk instead of flushing it all at the end; measured in BENCHMARKS.md.
/// A failure only loses the head start, so it is ignored.
pub(super) fn start_writeback(file: &File, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    );
}

/// Reads `buf.len()` bytes at `offset` of a file range being copied; the file ending early is
/// [`WriteError::SourceShrank`] (`done` bytes of the `range_len`-byte range were read before).
fn read_range(
    file: &File,
    buf: &mut [u8],
    offset: u64,
    range_len: u64,
    done: u64,
    label: &str,
) -> Result<(), WriteError> {
    file.read_exact_at(buf, offset).map_err(|source| {
        if source.kind() == io::ErrorKind::UnexpectedEof {
            WriteError::SourceShrank {
                source_name: label.to_string(),
                expected: range_len,
                got: done,
            }
        } else {
            WriteError::Source {
                path: PathBuf::from(label),
                source,
            }
        }
    })
}
