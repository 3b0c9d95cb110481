//! Writing files under a directory without ever leaving it.
//!
//! Every path below the target directory is resolved one component at a time from an open
//! handle of its parent (`openat` with `O_NOFOLLOW | O_DIRECTORY`), and files are created and
//! renamed relative to the handle of the directory they go in. A symlink swapped in for a
//! directory after it was checked therefore cannot redirect a write: there is no later lookup
//! by path for it to affect (DESIGN §6, extraction).

use crate::{ExtractOptions, ReadError};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes the temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);
/// Attempts at a fresh temporary name before giving up (names collide only if another process
/// picked the same one).
const TEMP_ATTEMPTS: u32 = 16;

fn output_error(path: &Path, errno: Errno) -> ReadError {
    ReadError::Output {
        path: path.to_path_buf(),
        source: io::Error::from(errno),
    }
}

/// The target directory of an extraction, held open. It remembers what it created, so a
/// failed extraction can take it back ([`ConfinedDir::roll_back`]).
#[derive(Debug)]
pub(crate) struct ConfinedDir {
    fd: OwnedFd,
    path: PathBuf,
    /// Relative paths of the files and directories created so far, in order.
    created: RefCell<Vec<Created>>,
}

#[derive(Debug)]
struct Created {
    relative: String,
    is_dir: bool,
}

impl ConfinedDir {
    /// Opens `path`, creating it (and its parents) if missing. The directory itself is the
    /// user's choice and may be reached through symlinks; nothing below it is.
    ///
    /// # Errors
    /// [`ReadError::Output`] when it cannot be created or opened.
    pub(crate) fn open(path: &Path) -> Result<ConfinedDir, ReadError> {
        std::fs::create_dir_all(path).map_err(|source| ReadError::Output {
            path: path.to_path_buf(),
            source,
        })?;
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| output_error(path, e))?;
        Ok(ConfinedDir {
            fd,
            path: path.to_path_buf(),
            created: RefCell::new(Vec::new()),
        })
    }

    /// Opens (creating as needed) the directories of `relative` (`/`-separated, already checked
    /// to hold no `..`, `.` or empty component) below this one; returns the deepest handle and
    /// its path for messages.
    ///
    /// # Errors
    /// [`ReadError::UnsafeOutputPath`] when a component is a symlink or not a directory;
    /// [`ReadError::Output`] for other failures.
    pub(crate) fn subdir(&self, relative: &str) -> Result<(OwnedFd, PathBuf), ReadError> {
        let mut path = self.path.clone();
        let mut current = self.fd.try_clone().map_err(|source| ReadError::Output {
            path: path.clone(),
            source,
        })?;
        let mut walked = String::new();
        for component in relative.split('/').filter(|c| !c.is_empty()) {
            path.push(component);
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(component);
            let (fd, created) = open_or_create_dir(&current, component, &path)?;
            if created {
                self.created.borrow_mut().push(Created {
                    relative: walked.clone(),
                    is_dir: true,
                });
            }
            current = fd;
        }
        Ok((current, path))
    }

    /// Removes, newest first, every file and directory this handle created (a directory only
    /// if it is empty): after a failure, nothing the failed extraction wrote is left. Files it
    /// replaced (when overwriting) hold their new, checked contents and stay. Best effort, and
    /// as confined as writing: nothing outside is touched.
    pub(crate) fn roll_back(&self) {
        let created = std::mem::take(&mut *self.created.borrow_mut());
        for item in created.iter().rev() {
            let (parent_rel, name) = item
                .relative
                .rsplit_once('/')
                .unwrap_or(("", &item.relative));
            let Ok(parent) = self.open_existing(parent_rel) else {
                continue;
            };
            let flags = if item.is_dir {
                AtFlags::REMOVEDIR
            } else {
                AtFlags::empty()
            };
            let _ = rustix::fs::unlinkat(&parent, name, flags);
        }
    }

    /// Opens the existing directory `relative` below this one, following no symlink.
    fn open_existing(&self, relative: &str) -> Result<OwnedFd, Errno> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut current = rustix::fs::openat(&self.fd, ".", flags, Mode::empty())?;
        for component in relative.split('/').filter(|c| !c.is_empty()) {
            current = rustix::fs::openat(&current, component, flags, Mode::empty())?;
        }
        Ok(current)
    }

    /// Writes the file `name` (a checked relative name) below this directory: `fill` streams
    /// the bytes into a new temporary file beside it and returns their CRC-32, `verify` accepts
    /// or refuses that CRC, and only then is the file renamed into place — without replacing
    /// an existing file unless `options.overwrite`, and never a directory or a file among
    /// `options.inputs`. A failure removes the temporary file, so nothing is left under the
    /// final name.
    ///
    /// # Errors
    /// [`ReadError::OutputExists`], [`ReadError::OutputIsInput`],
    /// [`ReadError::UnsafeOutputPath`], [`ReadError::Output`], and whatever `fill` or `verify`
    /// return.
    pub(crate) fn write_file(
        &self,
        name: &str,
        options: &ExtractOptions,
        fill: impl FnOnce(&mut File) -> Result<u32, ReadError>,
        verify: impl FnOnce(u32) -> Result<(), ReadError>,
    ) -> Result<PathBuf, ReadError> {
        let overwrite = options.overwrite;
        let (parent_rel, file_name) = name.rsplit_once('/').unwrap_or(("", name));
        let (parent, parent_path) = self.subdir(parent_rel)?;
        let target = parent_path.join(file_name);
        let existed = match rustix::fs::statat(&parent, file_name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                return Err(ReadError::UnsafeOutputPath { path: target });
            }
            Ok(stat) if options.inputs.contains(&(stat.st_dev, stat.st_ino)) => {
                return Err(ReadError::OutputIsInput { path: target });
            }
            Ok(_) if !overwrite => return Err(ReadError::OutputExists { path: target }),
            Ok(_) => true,
            Err(Errno::NOENT) => false,
            Err(e) => return Err(output_error(&target, e)),
        };
        let (temp_name, fd) = create_temp(&parent, &target)?;
        let mut file = File::from(fd);
        let written = fill(&mut file).and_then(verify);
        drop(file);
        let placed = written.and_then(|()| {
            place(&parent, &temp_name, file_name, overwrite).map_err(|e| match e {
                Errno::EXIST => ReadError::OutputExists {
                    path: target.clone(),
                },
                Errno::ISDIR => ReadError::UnsafeOutputPath {
                    path: target.clone(),
                },
                e => output_error(&target, e),
            })
        });
        if placed.is_err() {
            // Best effort: the error being returned matters more than this one.
            let _ = rustix::fs::unlinkat(&parent, temp_name.as_str(), AtFlags::empty());
        } else if !existed {
            self.created.borrow_mut().push(Created {
                relative: name.to_string(),
                is_dir: false,
            });
        }
        placed.map(|()| target)
    }
}

/// Opens the directory `name` inside `parent` without following a symlink, creating it when
/// it does not exist (accepting one a concurrent writer created first, if it is a directory);
/// says whether this call created it.
fn open_or_create_dir(
    parent: &OwnedFd,
    name: &str,
    path: &Path,
) -> Result<(OwnedFd, bool), ReadError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let unsafe_path = || ReadError::UnsafeOutputPath {
        path: path.to_path_buf(),
    };
    match rustix::fs::openat(parent, name, flags, Mode::empty()) {
        Ok(fd) => return Ok((fd, false)),
        // A symlink (ELOOP under O_NOFOLLOW) or a file in the way.
        Err(Errno::LOOP | Errno::NOTDIR) => return Err(unsafe_path()),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(output_error(path, e)),
    }
    let created = match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(e) => return Err(output_error(path, e)),
    };
    let fd = rustix::fs::openat(parent, name, flags, Mode::empty()).map_err(|e| match e {
        Errno::LOOP | Errno::NOTDIR => unsafe_path(),
        e => output_error(path, e),
    })?;
    Ok((fd, created))
}

/// Creates a new hidden temporary file in `parent` (never following or reusing a name).
fn create_temp(parent: &OwnedFd, target: &Path) -> Result<(String, OwnedFd), ReadError> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut last = Errno::EXIST;
    for _ in 0..TEMP_ATTEMPTS {
        let name = format!(
            ".taco-extract.{}.{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        match rustix::fs::openat(parent, name.as_str(), flags, Mode::from_raw_mode(0o644)) {
            Ok(fd) => return Ok((name, fd)),
            Err(Errno::EXIST) => last = Errno::EXIST,
            Err(e) => return Err(output_error(target, e)),
        }
    }
    Err(output_error(target, last))
}

/// Renames `temp` to `name` inside `parent`: atomically refusing an existing `name` unless
/// `overwrite` (with a hard link where the file system has no `RENAME_NOREPLACE`).
fn place(parent: &OwnedFd, temp: &str, name: &str, overwrite: bool) -> Result<(), Errno> {
    if overwrite {
        return rustix::fs::renameat(parent, temp, parent, name);
    }
    match rustix::fs::renameat_with(parent, temp, parent, name, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
            rustix::fs::linkat(parent, temp, parent, name, AtFlags::empty())?;
            rustix::fs::unlinkat(parent, temp, AtFlags::empty())
        }
        other => other,
    }
}
