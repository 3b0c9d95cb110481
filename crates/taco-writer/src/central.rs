//! The central directory as it is built: each member's record is encoded when the member is
//! added and kept in memory up to [`SPILL_AT`] bytes, beyond that in an anonymous temporary
//! file, so a writer's memory stays flat whatever the member count (DESIGN §5). Duplicate names
//! are caught through keyed 128-bit hashes of the names, not copies of them.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use taco_format::StoredMember;

/// Records held in memory before the directory moves to a temporary file.
const SPILL_AT: usize = 4 << 20;

/// Encoded central records of every member after `TACO_HEADER` (whose record is written
/// first, at the end, once its CRC is known), in order.
pub(crate) struct CentralDirectory {
    memory: Vec<u8>,
    spill: Option<BufWriter<File>>,
    /// Where the temporary file goes (beside the archive); the system's temporary directory
    /// when that fails.
    spill_dir: Option<PathBuf>,
    len: u64,
    records: u64,
    /// Two independently keyed SipHash values of each name: a false "duplicate" needs a
    /// 128-bit collision under keys chosen per process, so no input can aim for one.
    names: HashSet<(u64, u64)>,
    keys: (RandomState, RandomState),
}

impl CentralDirectory {
    /// An empty directory whose temporary file, if it needs one, goes in `spill_dir`.
    pub(crate) fn new(spill_dir: Option<&Path>) -> CentralDirectory {
        CentralDirectory {
            // Grows by doubling up to SPILL_AT, never past it.
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

    /// Appends `member`'s central record.
    ///
    /// # Errors
    /// Creating or writing the temporary file failed; the error names its directory.
    pub(crate) fn push(&mut self, member: &StoredMember) -> Result<(), (PathBuf, io::Error)> {
        // Spilled before the buffer would grow past SPILL_AT: a record is its fixed part, the
        // name and at most a 28-byte ZIP64 extra field.
        let most = 46 + member.name.len() + 28;
        if !self.memory.is_empty() && self.memory.len() + most > SPILL_AT {
            self.spill_memory()?;
        }
        let before = self.memory.len();
        member.encode_central(&mut self.memory);
        self.len += (self.memory.len() - before) as u64;
        self.records += 1;
        Ok(())
    }

    fn spill_memory(&mut self) -> Result<(), (PathBuf, io::Error)> {
        let dir = self.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
        if self.spill.is_none() {
            let file = self
                .spill_dir
                .as_deref()
                .map_or_else(tempfile::tempfile, tempfile::tempfile_in)
                .or_else(|_| tempfile::tempfile())
                .map_err(|e| (dir.clone(), e))?;
            self.spill = Some(BufWriter::with_capacity(1 << 20, file));
        }
        if let Some(spill) = self.spill.as_mut() {
            spill.write_all(&self.memory).map_err(|e| (dir, e))?;
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

    /// Hands the records to `write` in order, in pieces of at most 1 MiB (or the memory held).
    ///
    /// # Errors
    /// Reading the temporary file back failed (named by its directory), or `write` failed.
    pub(crate) fn drain<E>(
        mut self,
        mut write: impl FnMut(&[u8]) -> Result<(), E>,
        io_error: impl Fn(PathBuf, io::Error) -> E,
    ) -> Result<(), E> {
        let dir = self.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
        let mut drained = 0u64;
        if let Some(spill) = self.spill.take() {
            let mut file = spill
                .into_inner()
                .map_err(|e| io_error(dir.clone(), e.into_error()))?;
            file.rewind().map_err(|e| io_error(dir.clone(), e))?;
            let mut chunk = vec![0u8; 1 << 20];
            loop {
                let n = file
                    .read(&mut chunk)
                    .map_err(|e| io_error(dir.clone(), e))?;
                if n == 0 {
                    break;
                }
                drained += n as u64;
                write(&chunk[..n])?;
            }
        }
        drained += self.memory.len() as u64;
        if drained != self.len {
            // The end records already say `len`: a directory that came back shorter or longer
            // (a temporary file cut short) must not be written under them.
            return Err(io_error(
                dir,
                io::Error::other(format!(
                    "the central directory's temporary file holds {drained} bytes, {} were written",
                    self.len
                )),
            ));
        }
        write(&self.memory)
    }
}
