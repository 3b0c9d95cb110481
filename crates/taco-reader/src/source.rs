use crate::ReadError;
use rustix::fs::{Mode, OFlags};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::Path;
use taco_format::Entry;

/// A byte source read by position: the one interface everything above it is written against.
///
/// Only `size`, `label` and `read_exact_at` must be written; the other methods have defaults
/// built on them, which a remote source replaces so each costs one request and learns the
/// object's size from the answer instead of asking for it first.
pub trait ReadAt {
    /// Total length of the source in bytes.
    ///
    /// # Errors
    /// A remote source that has not answered yet asks the server (one request).
    fn size(&self) -> Result<u64, ReadError>;

    /// A name for the source in error messages (a path or URL).
    fn label(&self) -> String;

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    ///
    /// # Errors
    /// [`ReadError::Io`] when the bytes cannot be read, including when the range passes the end.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError>;

    /// True when every read is a request over a network: then fewer, larger reads are
    /// cheaper than many small ones, even if they carry bytes nobody asked for.
    fn reads_are_requests(&self) -> bool {
        false
    }

    /// The first `len` bytes, or the whole source if it is shorter.
    ///
    /// # Errors
    /// As [`ReadAt::read_exact_at`].
    fn read_head(&self, len: usize) -> Result<Vec<u8>, ReadError> {
        let len = self.size()?.min(len as u64) as usize;
        let mut head = vec![0u8; len];
        self.read_exact_at(&mut head, 0)?;
        Ok(head)
    }

    /// The last `len` bytes (or the whole source if it is shorter) and the offset they start at.
    ///
    /// # Errors
    /// As [`ReadAt::read_exact_at`].
    fn read_tail(&self, len: u64) -> Result<(u64, Vec<u8>), ReadError> {
        let size = self.size()?;
        let offset = size - size.min(len);
        // Callers ask for tails that fit in memory.
        let mut tail = vec![0u8; (size - offset) as usize];
        self.read_exact_at(&mut tail, offset)?;
        Ok((offset, tail))
    }

    /// A reader of exactly the bytes of `range`, which must lie inside the source: one
    /// streamed request for a remote source, positioned reads for a local one. Reading fails
    /// (never ends early) if the bytes stop coming.
    ///
    /// # Errors
    /// As [`ReadAt::read_exact_at`].
    fn open_range(&self, range: Entry) -> Result<Box<dyn io::Read + '_>, ReadError> {
        Ok(Box::new(crate::RangeReader::new(self, range)?))
    }
}

/// A reference or a shared pointer to a source reads as the source itself (every method
/// forwarded, so a remote source keeps its one-request reads).
macro_rules! forward_read_at {
    ($($wrapper:ty),*) => {$(
        impl<T: ReadAt + ?Sized> ReadAt for $wrapper {
            fn size(&self) -> Result<u64, ReadError> {
                (**self).size()
            }

            fn label(&self) -> String {
                (**self).label()
            }

            fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
                (**self).read_exact_at(buf, offset)
            }

            fn reads_are_requests(&self) -> bool {
                (**self).reads_are_requests()
            }

            fn read_head(&self, len: usize) -> Result<Vec<u8>, ReadError> {
                (**self).read_head(len)
            }

            fn read_tail(&self, len: u64) -> Result<(u64, Vec<u8>), ReadError> {
                (**self).read_tail(len)
            }

            fn open_range(&self, range: Entry) -> Result<Box<dyn io::Read + '_>, ReadError> {
                (**self).open_range(range)
            }
        }
    )*};
}

forward_read_at!(&T, Box<T>, std::sync::Arc<T>);

fn past_end(label: String, offset: u64, len: u64) -> ReadError {
    ReadError::Io {
        source_label: label,
        offset,
        len,
        source: io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "range passes the end of the source",
        ),
    }
}

impl ReadAt for [u8] {
    fn size(&self) -> Result<u64, ReadError> {
        Ok(self.len() as u64)
    }

    fn label(&self) -> String {
        "<memory>".to_string()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
        let len = buf.len() as u64;
        let range = usize::try_from(offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(buf.len())?))
            .filter(|r| r.end <= self.len())
            .ok_or_else(|| past_end(self.label(), offset, len))?;
        buf.copy_from_slice(&self[range]);
        Ok(())
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> Result<u64, ReadError> {
        self.as_slice().size()
    }

    fn label(&self) -> String {
        self.as_slice().label()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
        self.as_slice().read_exact_at(buf, offset)
    }
}

/// A local file opened for positioned reads; its length is taken once at open.
#[derive(Debug)]
pub struct LocalFile {
    file: File,
    len: u64,
    label: String,
}

impl LocalFile {
    /// Opens `path` for reading.
    ///
    /// # Errors
    /// [`ReadError::Open`] if it cannot be opened or is not a regular file (a directory, FIFO,
    /// socket or device: opening never blocks).
    pub fn open(path: &Path) -> Result<LocalFile, ReadError> {
        let open_error = |source| ReadError::Open {
            path: path.to_path_buf(),
            source,
        };
        // Refused before opening (a socket cannot be opened at all), and again after, on the
        // opened file, in case the path changed in between. O_NONBLOCK: opening a FIFO must not
        // wait for a writer.
        check_regular(std::fs::metadata(path).map_err(open_error)?.file_type())
            .map_err(open_error)?;
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| open_error(io::Error::from(e)))?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(open_error)?;
        check_regular(meta.file_type()).map_err(open_error)?;
        Ok(LocalFile {
            file,
            len: meta.len(),
            label: path.display().to_string(),
        })
    }
}

/// An archive is read by position: only a regular file will do.
fn check_regular(file_type: std::fs::FileType) -> io::Result<()> {
    if file_type.is_file() {
        return Ok(());
    }
    let what = if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "not a file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file ({what}): archives are read by position"),
    ))
}

impl ReadAt for LocalFile {
    fn size(&self) -> Result<u64, ReadError> {
        Ok(self.len)
    }

    fn label(&self) -> String {
        self.label.clone()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
        let len = buf.len() as u64;
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(past_end(self.label(), offset, len));
        }
        self.file
            .read_exact_at(buf, offset)
            .map_err(|source| ReadError::Io {
                source_label: self.label(),
                offset,
                len,
                source,
            })
    }
}

/// A source named on a command line: a local path, or (with the `remote` feature) a remote
/// object (`http(s)://`, `s3://`).
#[derive(Debug)]
pub enum Source {
    /// A local file.
    Local(LocalFile),
    /// An object read by range requests.
    #[cfg(feature = "remote")]
    Remote(crate::RemoteSource),
}

/// The scheme of `text` when it reads as `scheme://…` (letters first, then letters, digits,
/// `+`, `-`, `.`): a URL, whether or not taco reads or writes that kind.
pub fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

impl Source {
    /// Opens `text` as a URL when it starts with `http://`, `https://` or `s3://`, else as a
    /// local path. Opening a remote source sends nothing.
    ///
    /// # Errors
    /// [`ReadError::Open`] for a local file that cannot be opened; [`ReadError::Remote`] for a
    /// malformed URL, or for any URL when the crate is built without the `remote` feature.
    pub fn open(text: &str, options: &crate::RemoteOptions) -> Result<Source, ReadError> {
        if !crate::is_remote(text) {
            return match LocalFile::open(Path::new(text)) {
                Ok(file) => Ok(Source::Local(file)),
                // `ftp://…` or `gs://…` is no file either: say which URLs are read rather
                // than "No such file".
                Err(ReadError::Open { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    match url_scheme(text) {
                        Some(scheme) => Err(ReadError::Remote {
                            url: text.to_string(),
                            problem: crate::RemoteError::BadUrl {
                                reason: format!(
                                    "{scheme}:// URLs are not read (taco reads paths, http://, \
                                     https://, s3:// and az:// URLs)"
                                ),
                            },
                        }),
                        None => Err(ReadError::Open {
                            path: text.into(),
                            source,
                        }),
                    }
                }
                Err(other) => Err(other),
            };
        }
        #[cfg(feature = "remote")]
        {
            Ok(Source::Remote(crate::RemoteSource::open(text, options)?))
        }
        #[cfg(not(feature = "remote"))]
        {
            let _ = options;
            Err(ReadError::Remote {
                url: text.to_string(),
                problem: crate::RemoteError::BadUrl {
                    reason: "taco-reader was built without the `remote` feature".to_string(),
                },
            })
        }
    }

    /// Requests sent and bytes received so far (zero for a local file).
    pub fn stats(&self) -> crate::TransferStats {
        match self {
            Source::Local(_) => crate::TransferStats::default(),
            #[cfg(feature = "remote")]
            Source::Remote(remote) => remote.stats(),
        }
    }

    fn inner(&self) -> &dyn ReadAt {
        match self {
            Source::Local(file) => file,
            #[cfg(feature = "remote")]
            Source::Remote(remote) => remote,
        }
    }
}

impl ReadAt for Source {
    fn size(&self) -> Result<u64, ReadError> {
        self.inner().size()
    }

    fn label(&self) -> String {
        self.inner().label()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
        self.inner().read_exact_at(buf, offset)
    }

    fn reads_are_requests(&self) -> bool {
        self.inner().reads_are_requests()
    }

    fn read_head(&self, len: usize) -> Result<Vec<u8>, ReadError> {
        self.inner().read_head(len)
    }

    fn read_tail(&self, len: u64) -> Result<(u64, Vec<u8>), ReadError> {
        self.inner().read_tail(len)
    }

    fn open_range(&self, range: Entry) -> Result<Box<dyn io::Read + '_>, ReadError> {
        self.inner().open_range(range)
    }
}
