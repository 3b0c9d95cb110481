//! The central directory as it is built: each member's record is encoded when the member is
//! added and kept in memory up to [`SPILL_AT`] bytes, beyond that in an anonymous temporary
//! file, so a writer's memory stays flat whatever the member count (DESIGN §5). Duplicate names
//! are caught through keyed 128-bit hashes of the names, not copies of them.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use taco_format::StoredMember;

/// Records held in memory before the directory moves to a temporary file.
const SPILL_AT: usize = 4 << 20;

/// Encoded central records of every member after `TACO_HEADER` (whose record is written
/// first, at the end, once its CRC is known), in order.
pub(crate) struct CentralDirectory {
    memory: Vec<u8>,
    /// The temporary file the records moved to, and its directory (for messages).
    spill: Option<(File, PathBuf)>,
    /// Where the temporary file goes: beside the archive, or the system's temporary directory
    /// for a writer on another output.
    spill_dir: Option<PathBuf>,
    len: u64,
    records: u64,
    /// Two SipHash values of each name under two secret keys chosen per process: a false
    /// "duplicate" needs both to collide at once, which no input can aim for.
    names: HashSet<(u64, u64)>,
    keys: (RandomState, RandomState),
}

impl CentralDirectory {
    /// An empty directory whose temporary file, if it needs one, goes in `spill_dir`.
    pub(crate) fn new(spill_dir: Option<&Path>) -> CentralDirectory {
        CentralDirectory {
            memory: Vec::new(),
            spill: None,
            spill_dir: spill_dir.map(Path::to_path_buf),
            len: 0,
            records: 0,
            names: HashSet::new(),
            keys: (RandomState::new(), RandomState::new()),
        }
    }

    /// Makes room for `additional` more names at once (no rehash, and no old and new table
    /// side by side, while they are added).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.names.reserve(additional);
    }

    /// Claims `name`: false when a member of that name was claimed before.
    pub(crate) fn claim(&mut self, name: &[u8]) -> bool {
        let hash = |state: &RandomState| {
            let mut hasher = state.build_hasher();
            hasher.write(name);
            hasher.finish()
        };
        self.names.insert((hash(&self.keys.0), hash(&self.keys.1)))
    }

    /// Appends `member`'s central record. The record is kept whatever happens: if moving the
    /// records to the temporary file fails, they stay in memory (the error is returned, and a
    /// writer that goes on still lists every member it wrote).
    ///
    /// # Errors
    /// Creating or writing the temporary file failed; the error names its directory.
    pub(crate) fn push(&mut self, member: &StoredMember) -> Result<(), (PathBuf, io::Error)> {
        let before = self.memory.len();
        member.encode_central(&mut self.memory);
        self.len += (self.memory.len() - before) as u64;
        self.records += 1;
        if self.memory.len() >= SPILL_AT {
            self.spill_memory()?;
        }
        Ok(())
    }

    fn spill_memory(&mut self) -> Result<(), (PathBuf, io::Error)> {
        if self.spill.is_none() {
            let dir = self.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
            let file = tempfile::tempfile_in(&dir).map_err(|e| (dir.clone(), spill_error(e)))?;
            self.spill = Some((file, dir));
        }
        if let Some((file, dir)) = self.spill.as_mut() {
            file.write_all(&self.memory)
                .map_err(|e| (dir.clone(), spill_error(e)))?;
        }
        self.memory.clear();
        Ok(())
    }

    /// Number of records.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// Length of the records in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Hands the records to `write` in order, in pieces of at most [`SPILL_AT`] bytes.
    ///
    /// # Errors
    /// Reading the temporary file back failed, or gave other than the bytes written (named by
    /// its directory), or `write` failed.
    pub(crate) fn drain<E>(
        mut self,
        mut write: impl FnMut(&[u8]) -> Result<(), E>,
        io_error: impl Fn(PathBuf, io::Error) -> E,
    ) -> Result<(), E> {
        let mut drained = 0u64;
        let mut tail = std::mem::take(&mut self.memory);
        if let Some((mut file, dir)) = self.spill.take() {
            let read_error = |e| io_error(dir.clone(), spill_error(e));
            file.rewind().map_err(read_error)?;
            // The records still in memory go last; the buffer is reused to read the file back.
            let mut chunk = vec![0u8; SPILL_AT];
            loop {
                let n = match file.read(&mut chunk) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(read_error(e)),
                };
                if n == 0 {
                    break;
                }
                drained += n as u64;
                write(&chunk[..n])?;
            }
            if drained + tail.len() as u64 != self.len {
                // The end records already say `len`: a directory that came back shorter or
                // longer must not be written under them.
                return Err(read_error(io::Error::other(format!(
                    "read back {} bytes of {}",
                    drained + tail.len() as u64,
                    self.len
                ))));
            }
        }
        write(&std::mem::take(&mut tail))
    }
}

/// An I/O error on the central directory's temporary file, saying so.
fn spill_error(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("temporary file for the central directory: {e}"),
    )
}
