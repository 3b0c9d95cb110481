//! The plan of `taco pack`: files and directories as given, entries as given (or one per file).

use crate::plan::{Group, GroupRange, MemberSource, Plan, PlannedMember};
use crate::walk::walk_files;
use crate::PlanError;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use taco_format::{Entry, MAX_ENTRIES};
use taco_index::{EntryFields, MemberFields};
use taco_writer::FileId;

/// The entries of a [`plan_files`] archive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FileEntries {
    /// No entries: the header's count is 0.
    #[default]
    None,
    /// These entries, in this order: absolute byte ranges as given (the writer checks they lie
    /// inside the archive unless told otherwise) or the data of a named member.
    Given(Vec<GivenEntry>),
    /// Entry *i* is the data of member *i* (at most 7 files).
    PerFile,
}

/// One entry of [`FileEntries::Given`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GivenEntry {
    /// An absolute byte range of the archive (`--entry OFF:LEN`).
    Range(Entry),
    /// The data of the member of this name (`--entry-member NAME`).
    Member(String),
}

/// Plans `taco pack OUT INPUT...`: a FILE is stored under its file name, a DIR recursively as
/// `DIR/rel/path` sorted by name, in the order given. With `base` (`-C DIR`), each input is a
/// path relative to `base` and is stored under that path (`-C data sub/a.txt` stores
/// `data/sub/a.txt` as `sub/a.txt`). A file that is the existing `out` (about to be replaced)
/// is left out with a note: an archive is never packed into itself.
///
/// # Errors
/// [`PlanError::Io`] for a missing input, [`PlanError::NotRegular`],
/// [`PlanError::DuplicateName`] when two inputs map to one member name,
/// [`PlanError::BadOption`] for more than 7 entries (or files with [`FileEntries::PerFile`]), an
/// entry naming no member, or with `base` an input that is absolute or climbs out with `..`;
/// and directory walking errors.
pub fn plan_files(
    inputs: &[PathBuf],
    base: Option<&Path>,
    out: &Path,
    entries: FileEntries,
) -> Result<Plan, PlanError> {
    let out_meta = fs::metadata(out).ok().filter(fs::Metadata::is_file);
    let is_out = |path: &Path, size: u64| {
        out_meta.as_ref().is_some_and(|meta| {
            size == meta.len()
                && fs::metadata(path).is_ok_and(|m| FileId::of(&m) == FileId::of(meta))
        })
    };
    let mut members = Vec::new();
    let mut notes = Vec::new();
    let mut total_bytes = 0u64;
    let mut add = |name: String, path: PathBuf, size: u64| {
        total_bytes += size;
        members.push(PlannedMember {
            name,
            source: MemberSource::Path { path, size },
            fields: MemberFields::default().into(),
        });
    };
    for given in inputs {
        // Under `-C DIR` the name is the path as given, opened below DIR.
        let (input, named_as) = match base {
            Some(base) => (base.join(given), Some(relative_name(given)?)),
            None => (given.clone(), None),
        };
        let input = &input;
        let meta = fs::metadata(input).map_err(|source| PlanError::Io {
            path: input.clone(),
            source,
        })?;
        if meta.is_dir() {
            let prefix = match (&named_as, input.file_name()) {
                (Some(named), _) => named.clone(),
                (None, Some(name)) => utf8(input, name)?,
                (None, None) => String::new(),
            };
            for file in walk_files(input)? {
                if is_out(&file.path, file.size) {
                    notes.push(format!(
                        "{}: is the output archive; not packed into itself",
                        file.path.display()
                    ));
                    continue;
                }
                let name = if prefix.is_empty() {
                    file.relative
                } else {
                    format!("{prefix}/{}", file.relative)
                };
                add(name, file.path, file.size);
            }
        } else if meta.is_file() {
            let name = match named_as {
                Some(named) if !named.is_empty() => named,
                _ => {
                    let name = input.file_name().ok_or_else(|| PlanError::NotRegular {
                        path: input.clone(),
                    })?;
                    utf8(input, name)?
                }
            };
            add(name, input.clone(), meta.len());
        } else {
            return Err(PlanError::NotRegular {
                path: input.clone(),
            });
        }
    }
    finish_plan(members, entries, notes, total_bytes)
}

/// Plans an archive of exactly these files under exactly these names, in this order (tacozip's
/// `create(zip_path, src_files, arc_files, entries)`): no directory walking, names as given
/// (checked by the writer), each file's size taken now.
///
/// # Errors
/// [`PlanError::Io`] for a missing file, [`PlanError::NotRegular`] for a directory or special
/// file, [`PlanError::DuplicateName`], [`PlanError::BadOption`] for more than 7 entries.
pub fn plan_named_files(
    files: Vec<(String, PathBuf)>,
    entries: FileEntries,
) -> Result<Plan, PlanError> {
    let mut members = Vec::with_capacity(files.len());
    let mut total_bytes = 0u64;
    for (name, path) in files {
        let meta = fs::metadata(&path).map_err(|source| PlanError::Io {
            path: path.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(PlanError::NotRegular { path });
        }
        total_bytes += meta.len();
        members.push(PlannedMember {
            name,
            source: MemberSource::Path {
                path,
                size: meta.len(),
            },
            fields: MemberFields::default().into(),
        });
    }
    finish_plan(members, entries, Vec::new(), total_bytes)
}

/// Refuses duplicate names and turns `entries` into groups: the rest of a `pack` plan.
fn finish_plan(
    members: Vec<PlannedMember>,
    entries: FileEntries,
    notes: Vec<String>,
    total_bytes: u64,
) -> Result<Plan, PlanError> {
    let mut seen = HashSet::new();
    for member in &members {
        if !seen.insert(member.name.as_str()) {
            let path = match &member.source {
                MemberSource::Path { path, .. } => path.clone(),
                MemberSource::Named { dir, .. } => dir.join(&member.name),
                _ => PathBuf::from(&member.name),
            };
            return Err(PlanError::DuplicateName {
                name: member.name.clone(),
                path,
            });
        }
    }
    let groups = match entries {
        FileEntries::None => Vec::new(),
        FileEntries::Given(given) => {
            if given.len() > MAX_ENTRIES {
                return Err(PlanError::BadOption(format!(
                    "{} entries given, a TACO header holds at most {MAX_ENTRIES}",
                    given.len()
                )));
            }
            given
                .into_iter()
                .enumerate()
                .map(|(i, entry)| match entry {
                    GivenEntry::Range(range) => {
                        Ok(group(format!("entry {i}"), GroupRange::Fixed(range)))
                    }
                    GivenEntry::Member(name) => {
                        let index =
                            members.iter().position(|m| m.name == name).ok_or_else(|| {
                                PlanError::BadOption(format!(
                                    "--entry-member {name:?}: no member has that name (members \
                                 are named as `taco ls` shows them, e.g. {:?})",
                                    members.first().map_or("", |m| m.name.as_str())
                                ))
                            })?;
                        Ok(group(name, GroupRange::Data(index)))
                    }
                })
                .collect::<Result<Vec<_>, PlanError>>()?
        }
        FileEntries::PerFile => {
            if members.len() > MAX_ENTRIES {
                return Err(PlanError::BadOption(format!(
                    "--entry-per-file: {} files, a TACO header holds at most {MAX_ENTRIES} entries",
                    members.len()
                )));
            }
            members
                .iter()
                .enumerate()
                .map(|(i, m)| group(m.name.clone(), GroupRange::Data(i)))
                .collect()
        }
    };
    Ok(Plan {
        planner: "pack",
        members,
        groups,
        section: None,
        notes,
        total_bytes,
    })
}

fn group(label: String, range: GroupRange) -> Group {
    Group {
        label,
        range,
        fields: EntryFields::default(),
    }
}

/// An input given under `-C DIR` as the member name it becomes: `/`-separated, `.` components
/// dropped (`.` alone names DIR itself: its files keep their paths below it); absolute paths
/// and `..` are refused, since the name would not say where the file was.
fn relative_name(given: &Path) -> Result<String, PlanError> {
    use std::path::Component;
    let mut parts = Vec::new();
    for component in given.components() {
        match component {
            Component::Normal(part) => parts.push(utf8(given, part)?),
            Component::CurDir => {}
            _ => {
                return Err(PlanError::BadOption(format!(
                    "{}: with -C DIR, give paths relative to DIR, without .. (they become the \
                     member names)",
                    given.display()
                )))
            }
        }
    }
    Ok(parts.join("/"))
}

fn utf8(path: &Path, part: &std::ffi::OsStr) -> Result<String, PlanError> {
    part.to_str()
        .map(str::to_owned)
        .ok_or_else(|| PlanError::NonUtf8Name {
            path: path.to_path_buf(),
        })
}
