use crate::ReadError;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A byte source read by position: the one interface everything above it is written against.
pub trait ReadAt {
    /// Total length of the source in bytes.
    fn size(&self) -> u64;

    /// A name for the source in error messages (a path or URL).
    fn label(&self) -> String;

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    ///
    /// # Errors
    /// [`ReadError::Io`] when the bytes cannot be read, including when the range passes the end.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError>;
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn size(&self) -> u64 {
        (**self).size()
    }

    fn label(&self) -> String {
        (**self).label()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
        (**self).read_exact_at(buf, offset)
    }
}

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
    fn size(&self) -> u64 {
        self.len() as u64
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
    fn size(&self) -> u64 {
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
    /// [`ReadError::Open`] if it cannot be opened or is a directory.
    pub fn open(path: &Path) -> Result<LocalFile, ReadError> {
        let open_error = |source| ReadError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(open_error)?;
        let meta = file.metadata().map_err(open_error)?;
        if meta.is_dir() {
            return Err(open_error(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            )));
        }
        Ok(LocalFile {
            file,
            len: meta.len(),
            label: path.display().to_string(),
        })
    }
}

impl ReadAt for LocalFile {
    fn size(&self) -> u64 {
        self.len
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
