//! The ML split planner (DESIGN §7): one span entry per split directory.

use crate::plan::{Group, GroupRange, MemberSource, Plan, PlannedFields, PlannedMember};
use crate::walk::{list_dir, walk_files};
use crate::PlanError;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::sync::Arc;
use taco_format::MAX_ENTRIES;
use taco_index::{EntryFields, EntryFiles};
use taco_writer::MemberSpan;

/// Splits that come first, in this order, when present.
const CONVENTIONAL: [&str; 3] = ["train", "val", "test"];

/// Settings for [`plan_splits`].
#[derive(Debug, Clone, Default)]
pub struct SplitOptions {
    /// Which split directories to pack, in this order; default: all, conventional order.
    pub splits: Option<Vec<String>>,
}

/// Plans an ML dataset whose immediate subdirectories are splits (DESIGN §7): `train`, `val`,
/// `test` first, then the others alphabetically (or the order of `options.splits`); members keep
/// their paths (`val/shard-0003.tfrecord`); entry *i* is the span of split *i*. Files directly
/// in `dir` (a `labels.csv`, a `README.md`) belong to no split: they are stored after the
/// splits, outside every entry. Hidden files and directories (names starting with `.`, such as
/// `.cache/` or `.DS_Store`) are left out, with a note.
///
/// # Errors
/// [`PlanError::NoSplits`], [`PlanError::TooManySplits`] for more than 7 splits without a choice,
/// [`PlanError::UnknownSplit`], [`PlanError::EmptySplit`], and directory walking errors.
pub fn plan_splits(dir: &Path, options: &SplitOptions) -> Result<Plan, PlanError> {
    let mut found = Vec::new();
    let mut loose = Vec::new();
    let mut hidden = Vec::new();
    for (_, path, name) in list_dir(dir)? {
        // Hidden entries first: a dangling `.#lock` link is skipped, not an error.
        if name.starts_with('.') {
            hidden.push(name);
            continue;
        }
        let meta = fs::metadata(&path).map_err(|source| PlanError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            found.push(name);
        } else if meta.is_file() {
            loose.push((name, path, meta.len()));
        }
    }
    found.sort();
    let chosen: Vec<String> = match &options.splits {
        Some(wanted) => {
            for name in wanted {
                if !found.contains(name) {
                    return Err(PlanError::UnknownSplit {
                        path: dir.to_path_buf(),
                        name: name.clone(),
                        found: found.clone(),
                    });
                }
            }
            wanted.clone()
        }
        None => {
            let mut ordered: Vec<String> = CONVENTIONAL
                .iter()
                .filter(|c| found.iter().any(|f| f == *c))
                .map(|c| c.to_string())
                .collect();
            ordered.extend(
                found
                    .iter()
                    .filter(|f| !CONVENTIONAL.contains(&f.as_str()))
                    .cloned(),
            );
            ordered
        }
    };
    if chosen.is_empty() {
        return Err(PlanError::NoSplits {
            path: dir.to_path_buf(),
        });
    }
    if chosen.len() > MAX_ENTRIES {
        return Err(PlanError::TooManySplits {
            path: dir.to_path_buf(),
            names: chosen,
        });
    }
    let mut notes = Vec::new();
    loose.sort();

    let mut members = Vec::new();
    let mut groups = Vec::new();
    let mut ranges = Vec::new();
    for split in &chosen {
        let mut files = walk_files(&dir.join(split))?;
        files.retain(|f| {
            let visible = !f.relative.split('/').any(|part| part.starts_with('.'));
            if !visible {
                hidden.push(format!("{split}/{}", f.relative));
            }
            visible
        });
        if files.is_empty() {
            return Err(PlanError::EmptySplit {
                path: dir.to_path_buf(),
                name: split.clone(),
            });
        }
        let first = members.len();
        let bytes: u64 = files.iter().map(|f| f.size).sum();
        let count = files.len();
        // One copy of the split's name, shared by its members.
        let shared: Arc<str> = Arc::from(split.as_str());
        for file in files {
            let fields = PlannedFields::Split(shared.clone());
            members.push(PlannedMember {
                name: format!("{split}/{}", file.relative),
                source: MemberSource::Path {
                    path: file.path,
                    size: file.size,
                },
                fields,
            });
        }
        let last = members.len() - 1;
        let fields = EntryFields {
            split: Some(split.clone()),
            files: Some(EntryFiles::Count(count as u64)),
            bytes: Some(bytes),
            ..EntryFields::default()
        };
        groups.push(Group {
            label: split.clone(),
            range: GroupRange::Span { first, last },
            fields,
        });
        ranges.push((split.clone(), count, bytes, first, last));
    }
    // Files beside the splits, after them: no span includes them.
    let mut loose_bytes = 0;
    for (name, path, size) in loose {
        loose_bytes += size;
        members.push(PlannedMember {
            name,
            source: MemberSource::Path { path, size },
            fields: PlannedFields::None,
        });
    }
    hidden.sort();
    if let Some(first) = hidden.first() {
        notes.push(format!(
            "{} hidden file(s) or directories in {} were left out, e.g. {first}",
            hidden.len(),
            dir.display()
        ));
    }
    let total_bytes = ranges.iter().map(|r| r.2).sum::<u64>() + loose_bytes;
    let section = move |spans: &[MemberSpan]| {
        let splits: Vec<Value> = ranges
            .iter()
            .enumerate()
            .map(|(entry, (name, files, bytes, first, last))| {
                let start = spans.get(*first).map_or(0, |s| s.header_offset);
                let end = spans.get(*last).map_or(0, MemberSpan::end);
                json!({"name": name, "files": files, "bytes": bytes, "entry": entry,
                       "offset": start, "length": end.saturating_sub(start)})
            })
            .collect();
        json!({ "splits": splits })
    };
    Ok(Plan {
        planner: "splits",
        members,
        groups,
        section: Some(Box::new(section)),
        notes,
        total_bytes,
    })
}
