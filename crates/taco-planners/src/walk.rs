//! Listing the files of a directory tree, the same way for every planner and for `taco pack`.

use crate::PlanError;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A regular file found under a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// Path relative to the walked directory, `/`-separated, UTF-8.
    pub relative: String,
    /// Path to open.
    pub path: PathBuf,
    /// Size when listed.
    pub size: u64,
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> PlanError + '_ {
    move |source| PlanError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Every regular file under `dir`, recursively, sorted by relative path bytes (so the result
/// does not depend on the file system's listing order). Symlinks are followed: a link to a
/// file lists the file, a link to a directory its contents.
///
/// # Errors
/// [`PlanError::SymlinkLoop`] for a directory link back to an ancestor,
/// [`PlanError::DanglingSymlink`], [`PlanError::NotRegular`] for FIFOs, sockets and devices,
/// [`PlanError::NonUtf8Name`], [`PlanError::Io`] for unreadable directories.
pub fn walk_files(dir: &Path) -> Result<Vec<FoundFile>, PlanError> {
    let mut found = Vec::new();
    walk_each(dir, &mut |file| {
        found.push(file);
        Ok(())
    })?;
    found.sort_by(|a, b| a.relative.as_bytes().cmp(b.relative.as_bytes()));
    Ok(found)
}

/// As [`walk_files`], handing each file to `visit` as it is found, in listing order (not
/// sorted): for planners that keep less than a [`FoundFile`] of each of millions of files.
///
/// # Errors
/// As [`walk_files`], and the first error of `visit`.
pub(crate) fn walk_each(
    dir: &Path,
    visit: &mut dyn FnMut(FoundFile) -> Result<(), PlanError>,
) -> Result<(), PlanError> {
    walk(dir, "", &mut Vec::new(), visit)
}

/// The entries of one directory as (entry, path, UTF-8 name), unsorted.
///
/// # Errors
/// [`PlanError::Io`] when the directory cannot be read, [`PlanError::NonUtf8Name`].
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<(fs::DirEntry, PathBuf, String)>, PlanError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .to_str()
            .ok_or_else(|| PlanError::NonUtf8Name { path: path.clone() })?
            .to_string();
        out.push((entry, path, name));
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    prefix: &str,
    ancestors: &mut Vec<(u64, u64)>,
    visit: &mut dyn FnMut(FoundFile) -> Result<(), PlanError>,
) -> Result<(), PlanError> {
    let meta = fs::metadata(dir).map_err(io_error(dir))?;
    let id = (meta.dev(), meta.ino());
    if ancestors.contains(&id) {
        return Err(PlanError::SymlinkLoop {
            path: dir.to_path_buf(),
        });
    }
    ancestors.push(id);
    for (entry, path, name) in list_dir(dir)? {
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        // A symlink is followed (by path); anything else is asked about relative to the
        // directory being listed, which spares resolving the whole path again for each of
        // millions of files.
        let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
        let meta = match if is_link {
            fs::metadata(&path)
        } else {
            entry.metadata()
        } {
            Ok(meta) => meta,
            Err(_) if is_link => return Err(PlanError::DanglingSymlink { path }),
            Err(e) => return Err(io_error(&path)(e)),
        };
        if meta.is_dir() {
            walk(&path, &relative, ancestors, visit)?;
        } else if meta.is_file() {
            visit(FoundFile {
                relative,
                path,
                size: meta.len(),
            })?;
        } else {
            return Err(PlanError::NotRegular { path });
        }
    }
    ancestors.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_relative_paths_and_loops_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("a/b")).unwrap();
        fs::write(d.join("a.txt"), "1").unwrap();
        fs::write(d.join("a/b/c"), "22").unwrap();
        let found = walk_files(d).unwrap();
        let names: Vec<_> = found.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(names, ["a.txt", "a/b/c"]);
        assert_eq!(found[1].size, 2);
        std::os::unix::fs::symlink(d, d.join("a/b/up")).unwrap();
        assert!(matches!(walk_files(d), Err(PlanError::SymlinkLoop { .. })));
        fs::remove_file(d.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink("missing", d.join("a/dangling")).unwrap();
        assert!(matches!(
            walk_files(d),
            Err(PlanError::DanglingSymlink { .. })
        ));
    }
}
