//! What a planner makes: members in order (name, where the bytes come from, typed fields) and
//! up to 7 groups, executed by [`crate::execute`].

use serde_json::Value;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use taco_format::Entry;
use taco_index::{EntryFields, EntryKind, MemberFields};
use taco_writer::MemberSpan;

/// Where a planned member's bytes come from.
#[derive(Debug)]
pub enum MemberSource {
    /// A whole file, copied as is, of the size it had when planned (a file that has changed
    /// size by the time it is copied is an error).
    Path {
        /// The file.
        path: PathBuf,
        /// Its size when planned.
        size: u64,
    },
    /// Bytes in memory followed by a range of a file followed by more bytes (a Parquet part:
    /// magic, copied column chunks, new footer). Boxed: a plan's members are mostly whole files.
    Assembled(Box<Assembled>),
    /// Bytes made in memory (small generated members).
    Bytes(Vec<u8>),
    /// The file `dir/<member name>`, of the size it had when planned: a whole file whose path
    /// is the member's name under a directory the members share (a tile pyramid), so the plan
    /// keeps no path of its own for each of millions of members.
    Named {
        /// The directory the name is relative to.
        dir: Arc<Path>,
        /// Its size when planned.
        size: u64,
    },
}

/// A member assembled from bytes and a file range ([`MemberSource::Assembled`]).
#[derive(Debug)]
pub struct Assembled {
    /// The file the range is copied from.
    pub path: PathBuf,
    /// Bytes before the range.
    pub prefix: Vec<u8>,
    /// Offset of the range in the file.
    pub offset: u64,
    /// Length of the range.
    pub len: u64,
    /// Bytes after the range.
    pub suffix: Vec<u8>,
}

/// One member of a plan.
#[derive(Debug)]
pub struct PlannedMember {
    /// Member name in the archive.
    pub name: String,
    /// Where its bytes come from.
    pub source: MemberSource,
    /// The planner's own fields for this member's index record.
    pub fields: PlannedFields,
}

/// A planned member's typed fields, held compactly: a plan holds one per member (10^6 and
/// more), and most have none or only a tile's z/x/y, which need 16 bytes rather than a whole
/// [`MemberFields`]. Made from a [`MemberFields`] with `into()`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum PlannedFields {
    /// No fields.
    #[default]
    None,
    /// A tile's zoom, column and row, and nothing else.
    Tile {
        /// Zoom.
        z: u32,
        /// Column.
        x: u32,
        /// Row.
        y: u32,
    },
    /// An ML split's name, shared by its members, and nothing else.
    Split(Arc<str>),
    /// Anything else.
    Other(Box<MemberFields>),
}

impl From<MemberFields> for PlannedFields {
    fn from(fields: MemberFields) -> PlannedFields {
        if let (Some(z), Some(x), Some(y)) = (fields.z, fields.x, fields.y) {
            let tile_only = MemberFields {
                z: Some(z),
                x: Some(x),
                y: Some(y),
                ..MemberFields::default()
            };
            if fields == tile_only {
                return PlannedFields::Tile { z, x, y };
            }
        }
        if let Some(split) = &fields.split {
            let split_only = MemberFields {
                split: Some(split.clone()),
                ..MemberFields::default()
            };
            if fields == split_only {
                return PlannedFields::Split(Arc::from(split.as_str()));
            }
        }
        if fields == MemberFields::default() {
            PlannedFields::None
        } else {
            PlannedFields::Other(Box::new(fields))
        }
    }
}

impl PlannedFields {
    /// The fields as the index and the manifest record them.
    pub fn get(&self) -> Cow<'_, MemberFields> {
        match self {
            PlannedFields::None => Cow::Owned(MemberFields::default()),
            PlannedFields::Tile { z, x, y } => Cow::Owned(MemberFields {
                z: Some(*z),
                x: Some(*x),
                y: Some(*y),
                ..MemberFields::default()
            }),
            PlannedFields::Split(split) => Cow::Owned(MemberFields {
                split: Some(split.to_string()),
                ..MemberFields::default()
            }),
            PlannedFields::Other(fields) => Cow::Borrowed(fields),
        }
    }
}

/// The byte range a group covers, by member position in [`Plan::members`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRange {
    /// Exactly the data of one member (kind "data").
    Data(usize),
    /// From the local header of `first` to the last data byte of `last` (kind "span").
    Span { first: usize, last: usize },
    /// `length` bytes at `offset` inside one member's data (kind "data"), such as one row group
    /// of a Parquet file stored whole.
    Slice {
        member: usize,
        offset: u64,
        length: u64,
    },
    /// An absolute byte range given by hand (kind "range"): `taco pack --entry OFF:LEN`.
    Fixed(Entry),
}

impl GroupRange {
    /// The kind the index records: data or span.
    pub fn kind(&self) -> EntryKind {
        match self {
            GroupRange::Data(_) | GroupRange::Slice { .. } => EntryKind::Data,
            GroupRange::Span { .. } => EntryKind::Span,
            GroupRange::Fixed(_) => EntryKind::Range,
        }
    }

    pub(crate) fn entry(&self, spans: &[MemberSpan]) -> Option<Entry> {
        match *self {
            GroupRange::Data(i) => Some(spans.get(i)?.data_entry()),
            GroupRange::Span { first, last } if first <= last => {
                Some(MemberSpan::span_entry(spans.get(first)?, spans.get(last)?))
            }
            GroupRange::Span { .. } => None,
            GroupRange::Slice {
                member,
                offset,
                length,
            } => {
                let span = spans.get(member)?;
                let end = offset.checked_add(length)?;
                (end <= span.data_len).then(|| Entry::new(span.data_offset + offset, length))
            }
            GroupRange::Fixed(entry) => Some(entry),
        }
    }
}

/// One entry-to-be of a plan.
#[derive(Debug, Clone)]
pub struct Group {
    /// Human label for the index ("part-0", "zoom 3", "val").
    pub label: String,
    /// The bytes it covers.
    pub range: GroupRange,
    /// The planner's own fields for this entry's index record.
    pub fields: EntryFields,
}

/// Computes the planner's own index section once the real member spans are known.
pub type IndexSection = Box<dyn FnOnce(&[MemberSpan]) -> Value>;

/// What to write: members in order, at most 7 groups, and the planner's index section.
pub struct Plan {
    /// Planner name, recorded in the index ("parquet").
    pub planner: &'static str,
    /// Members in archive order.
    pub members: Vec<PlannedMember>,
    /// Groups in entry order.
    pub groups: Vec<Group>,
    /// The planner's section of the v1 index, under the key [`Plan::planner`]; `None` writes
    /// no `TACO_INDEX.json` and no `.meta.json` (`taco pack`).
    pub section: Option<IndexSection>,
    /// Things the user should be told (merged groups, clamped options), one line each.
    pub notes: Vec<String>,
    /// Total data bytes, for progress reporting.
    pub total_bytes: u64,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("planner", &self.planner)
            .field("members", &self.members)
            .field("groups", &self.groups)
            .field("notes", &self.notes)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// About how long the archive will be: the data, each member's local and central records,
    /// and the manifest's row. An upload sizes its parts by it (a bounded number of parts).
    pub fn estimated_len(&self) -> u64 {
        let records: u64 = self
            .members
            .iter()
            .map(|m| 2 * (m.name.len() as u64 + 76) + 64)
            .sum();
        self.total_bytes
            .saturating_add(records)
            .saturating_add(1 << 20)
    }
}

impl MemberSource {
    /// The number of bytes the member will hold, as planned (no file is looked at again).
    pub(crate) fn planned_size(&self) -> u64 {
        match self {
            MemberSource::Path { size, .. } | MemberSource::Named { size, .. } => *size,
            MemberSource::Assembled(assembled) => {
                assembled.prefix.len() as u64 + assembled.len + assembled.suffix.len() as u64
            }
            MemberSource::Bytes(bytes) => bytes.len() as u64,
        }
    }
}
