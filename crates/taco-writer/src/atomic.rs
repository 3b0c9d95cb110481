use crate::WriteError;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// An output file that appears under its final name only when [`AtomicFile::commit`] succeeds.
///
/// Bytes go to a temporary file in the destination directory (so the final rename stays on one
/// file system). Dropping without committing deletes the temporary file; a killed process leaves
/// at most a hidden `.NAME.*.tmp` file, never a partial file under the final name.
#[derive(Debug)]
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
    overwrite: bool,
}

fn output_error(path: &Path, source: io::Error) -> WriteError {
    WriteError::Output {
        path: path.to_path_buf(),
        source,
    }
}

impl AtomicFile {
    /// Creates the temporary file beside `dest`.
    ///
    /// # Errors
    /// [`WriteError::OutputExists`] when `dest` exists and `overwrite` is false (checked again at
    /// commit, so a file that appears meanwhile is not clobbered);
    /// [`WriteError::NotRegularOutput`] when `dest` is a FIFO, device, socket or directory;
    /// [`WriteError::Output`] when the directory is not writable.
    pub fn create(dest: &Path, overwrite: bool) -> Result<AtomicFile, WriteError> {
        if let Ok(meta) = fs::symlink_metadata(dest) {
            let kind = meta.file_type();
            if !(kind.is_file() || kind.is_symlink()) {
                // Renaming over a FIFO, device or directory would replace the node itself.
                return Err(WriteError::NotRegularOutput {
                    path: dest.to_path_buf(),
                });
            }
            if !overwrite {
                return Err(WriteError::OutputExists {
                    path: dest.to_path_buf(),
                });
            }
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let file_name = dest.file_name().ok_or_else(|| {
            output_error(
                dest,
                io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
            )
        })?;
        let prefix = format!(".{}.", file_name.to_string_lossy());
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)
            .map_err(|e| output_error(dest, e))?;
        Ok(AtomicFile {
            temp,
            dest: dest.to_path_buf(),
            overwrite,
        })
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// The open temporary file, for positioned reads and writes.
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// Flushes and fsyncs the file, renames it to its final name, and fsyncs the directory.
    ///
    /// # Errors
    /// [`WriteError::OutputExists`] if the destination appeared and overwriting was not asked
    /// for; [`WriteError::Output`] on I/O failure. The temporary file is removed on error.
    pub fn commit(self) -> Result<(), WriteError> {
        let dest = self.dest;
        self.temp
            .as_file()
            .sync_all()
            .map_err(|e| output_error(&dest, e))?;
        let persisted = if self.overwrite {
            self.temp.persist(&dest).map(drop)
        } else {
            self.temp.persist_noclobber(&dest).map(drop)
        };
        if let Err(e) = persisted {
            // Dropping the returned handle deletes the temporary file.
            if e.error.kind() == io::ErrorKind::AlreadyExists {
                return Err(WriteError::OutputExists { path: dest });
            }
            return Err(output_error(&dest, e.error));
        }
        if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Make the rename itself durable; failure here is reported, the file is in place.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| output_error(&dest, e))?;
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.as_file_mut().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.temp.as_file_mut().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.as_file_mut().flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.temp.as_file_mut().seek(pos)
    }
}
