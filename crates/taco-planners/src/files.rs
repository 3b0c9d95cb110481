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
    /// These absolute byte ranges, as given (the writer checks they lie inside the archive
    /// unless told otherwise).
    Ranges(Vec<Entry>),
    /// Entry *i* is the data of member *i* (at most 7 files).
    PerFile,
}

/// Plans `taco pack OUT INPUT...`: a FILE is stored under its file name, a DIR recursively as
/// `DIR/rel/path` sorted by name, in the order given. A file that is the existing `out`
/// (about to be replaced) is left out with a note: an archive is never packed into itself.
///
/// # Errors
/// [`PlanError::Io`] for a missing input, [`PlanError::NotRegular`],
/// [`PlanError::DuplicateName`] when two inputs map to one member name,
/// [`PlanError::BadOption`] for more than 7 entries (or files with [`FileEntries::PerFile`]),
/// and directory walking errors.
pub fn plan_files(inputs: &[PathBuf], out: &Path, entries: FileEntries) -> Result<Plan, PlanError> {
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
    for input in inputs {
        let meta = fs::metadata(input).map_err(|source| PlanError::Io {
            path: input.clone(),
            source,
        })?;
        if meta.is_dir() {
            let prefix = match input.file_name() {
                Some(name) => utf8(input, name)?,
                None => String::new(),
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
            let name = input.file_name().ok_or_else(|| PlanError::NotRegular {
                path: input.clone(),
            })?;
            add(utf8(input, name)?, input.clone(), meta.len());
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
        FileEntries::Ranges(ranges) => {
            if ranges.len() > MAX_ENTRIES {
                return Err(PlanError::BadOption(format!(
                    "{} entries given, a TACO header holds at most {MAX_ENTRIES}",
                    ranges.len()
                )));
            }
            ranges
                .into_iter()
                .enumerate()
                .map(|(i, range)| group(format!("entry {i}"), GroupRange::Fixed(range)))
                .collect()
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

fn utf8(path: &Path, part: &std::ffi::OsStr) -> Result<String, PlanError> {
    part.to_str()
        .map(str::to_owned)
        .ok_or_else(|| PlanError::NonUtf8Name {
            path: path.to_path_buf(),
        })
}
