//! The index of a planned TACO archive — `TACO_INDEX.json`, its last member, and the
//! `<archive>.meta.json` sidecar beside it — as typed records: one schema the planners write
//! and the reader reads, so a field can be neither misspelt on one side nor silently read as 0
//! on the other. Also the calendar times NetCDF records carry and the `taco query` selection.
//!
//! Pure: no file or network I/O (callers hand in bytes and get bytes back). Unknown fields are
//! ignored so newer writers stay readable; a missing required field is an error naming it.
//!
//! ```
//! use taco_index::{Index, MemberFields, MemberRecord};
//! let text = br#"{"format":"taco-index","version":1,"planner":"tiles","entries":[],
//!   "members":[{"name":"3/1/2.png","data_offset":200,"length":10,"crc32":7,"z":3,"x":1,"y":2}],
//!   "tiles":{"skipped":0}}"#;
//! let index = Index::from_json(text)?;
//! let tile = index.tile(3, 1, 2).expect("listed");
//! assert_eq!((tile.data_offset, tile.length), (200, 10));
//! assert!(Index::from_json(br#"{"format":"taco-index","version":1}"#).is_err());
//! # Ok::<(), taco_index::IndexError>(())
//! ```

mod time;

use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;

pub use time::{parse_period, CivilTime, TimeSelection};

/// Name of the index member, always the last member of a planned archive.
pub const INDEX_MEMBER: &str = "TACO_INDEX.json";
/// Name of the manifest member (index v2), right before the index member.
pub const MANIFEST_MEMBER: &str = "TACO_MANIFEST.parquet";
/// Value of the index's `format` field.
pub const INDEX_FORMAT: &str = "taco-index";
/// Version of the index format written today; readers refuse newer ones.
pub const INDEX_VERSION: u64 = 1;

/// Why index bytes or a time could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// Not JSON, or a field missing or of the wrong type (serde names which).
    #[error("{INDEX_MEMBER} is not a valid index: {0}")]
    Json(#[from] serde_json::Error),
    /// The `format` field is something else.
    #[error("{INDEX_MEMBER} is not a taco index (format {found:?})")]
    NotAnIndex {
        /// The format found.
        found: String,
    },
    /// A version this reader does not know.
    #[error("{INDEX_MEMBER} has version {found}; this reader knows version {INDEX_VERSION}")]
    UnsupportedVersion {
        /// The version found.
        found: u64,
    },
    /// The index was written by another planner than the command needs.
    #[error("not a {expected} archive (its index comes from planner {found:?})")]
    WrongPlanner {
        /// The planner the command needs.
        expected: &'static str,
        /// The planner that wrote the index.
        found: String,
    },
    /// A NetCDF member record without its start or end time.
    #[error("index record of {name:?} has no start/end times")]
    MissingTime {
        /// The member's name.
        name: String,
    },
    /// A time in the index that is not `YYYY-MM-DDTHH:MM:SS`.
    #[error("time {text:?} in the index is not YYYY-MM-DDTHH:MM:SS")]
    BadTime {
        /// The text found.
        text: String,
    },
    /// A user's time that is none of the accepted forms.
    #[error("time {text:?}: expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]")]
    BadSelection {
        /// The text given.
        text: String,
    },
    /// `--from` after `--to`.
    #[error("--from is after --to: the range selects nothing")]
    EmptySelection,
}

/// What an entry covers (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// Exactly the stored bytes of one member (or a slice of them).
    Data,
    /// A run of complete local entries, local headers included.
    Span,
    /// A byte range given by hand (`taco pack --entry OFF:LEN`), whatever it covers.
    Range,
}

impl EntryKind {
    /// The name the index and the manifest record: `data`, `span` or `range`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Data => "data",
            EntryKind::Span => "span",
            EntryKind::Range => "range",
        }
    }
}

/// One entry's record: where it is and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryRecord {
    /// Position in the header.
    pub index: usize,
    /// Human label ("part-0", "zoom 3", "val").
    pub label: String,
    /// Data or span.
    pub kind: EntryKind,
    /// Absolute offset in the archive.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// The planner's fields.
    #[serde(flatten)]
    pub fields: EntryFields,
}

/// The planners' own fields of an entry record; each planner fills the ones it knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntryFields {
    /// Tiles: the zoom level the span holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoom: Option<u32>,
    /// Tiles: how many tiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiles: Option<u64>,
    /// Splits: the split's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Splits: how many files; NetCDF: their names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<EntryFiles>,
    /// Splits: data bytes of the split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Parquet: the source row groups the entry holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_groups: Option<Vec<u64>>,
    /// Parquet: rows in those row groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// NetCDF: the first time of the entry's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<CivilTime>,
    /// NetCDF: the last time of the entry's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<CivilTime>,
}

/// The files of an entry: a count (splits) or the names (NetCDF).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EntryFiles {
    /// How many files.
    Count(u64),
    /// Their member names, in archive order.
    Names(Vec<String>),
}

/// One member's record: where its data is, its CRC, and the planner's fields. Borrows when
/// written (a pyramid has a record per tile, none of which should be copied) and owns when read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRecord<'a> {
    /// Name in the archive.
    pub name: Cow<'a, str>,
    /// Absolute offset of the member's data.
    pub data_offset: u64,
    /// Data length.
    pub length: u64,
    /// CRC-32 of the data.
    pub crc32: u32,
    /// The planner's fields.
    #[serde(flatten)]
    pub fields: Cow<'a, MemberFields>,
}

impl MemberRecord<'_> {
    /// The record's data range as (offset, length).
    pub fn range(&self) -> (u64, u64) {
        (self.data_offset, self.length)
    }
}

/// The planners' own fields of a member record; each planner fills the ones it knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberFields {
    /// Tiles: zoom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<u32>,
    /// Tiles: column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<u32>,
    /// Tiles: row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<u32>,
    /// Splits: the split the file belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Parquet: the source row groups the member holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_groups: Option<Vec<u64>>,
    /// Parquet: rows in the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// NetCDF: the time coordinate variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_variable: Option<String>,
    /// NetCDF: its CF units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<String>,
    /// NetCDF: its CF calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    /// NetCDF: number of time steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// NetCDF: first time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<CivilTime>,
    /// NetCDF: last time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<CivilTime>,
}

/// The index: its format and version, the planner that wrote it, one record per entry and per
/// member, and the planner's summary section (under the planner's name). `M` is the member
/// list: a `Vec` when read, anything serializing as a sequence of [`MemberRecord`] when written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index<M = Vec<MemberRecord<'static>>> {
    /// Always [`INDEX_FORMAT`].
    pub format: String,
    /// [`INDEX_VERSION`] when written here.
    pub version: u64,
    /// The planner's name ("parquet", "tiles", "splits", "netcdf").
    pub planner: String,
    /// Entry records, in header order.
    pub entries: Vec<EntryRecord>,
    /// Member records, in archive order.
    pub members: M,
    /// The planner's summary section, keyed by planner name (informational: no reader needs
    /// it), and anything a newer writer added.
    #[serde(flatten)]
    pub sections: serde_json::Map<String, serde_json::Value>,
}

impl Index {
    /// Reads an index (or a sidecar, whose `archive` field lands in [`Index::sections`]).
    ///
    /// # Errors
    /// [`IndexError::Json`] naming a missing or mistyped field; [`IndexError::NotAnIndex`],
    /// [`IndexError::UnsupportedVersion`].
    pub fn from_json(bytes: &[u8]) -> Result<Index, IndexError> {
        /// Format and version first, so another document or a newer index is named as such
        /// rather than by the first field it lacks.
        #[derive(Deserialize)]
        struct Head {
            format: String,
            version: u64,
        }
        let head: Head = serde_json::from_slice(bytes)?;
        if head.format != INDEX_FORMAT {
            return Err(IndexError::NotAnIndex { found: head.format });
        }
        if head.version != INDEX_VERSION {
            return Err(IndexError::UnsupportedVersion {
                found: head.version,
            });
        }
        Ok(serde_json::from_slice(bytes)?)
    }

    /// Checks the index was written by `planner`.
    ///
    /// # Errors
    /// [`IndexError::WrongPlanner`].
    pub fn expect_planner(&self, planner: &'static str) -> Result<(), IndexError> {
        if self.planner == planner {
            Ok(())
        } else {
            Err(IndexError::WrongPlanner {
                expected: planner,
                found: self.planner.clone(),
            })
        }
    }

    /// The record of tile `z/x/y`, if the index lists it.
    pub fn tile(&self, z: u32, x: u32, y: u32) -> Option<&MemberRecord<'static>> {
        let key = (Some(z), Some(x), Some(y));
        self.members
            .iter()
            .find(|m| (m.fields.z, m.fields.x, m.fields.y) == key)
    }

    /// The member records whose time range overlaps `selection`, each with the first entry
    /// that holds its data whole (if any), in archive order.
    ///
    /// # Errors
    /// [`IndexError::MissingTime`] for a record without start and end times.
    pub fn select_time(&self, selection: &TimeSelection) -> Result<Vec<TimeMatch>, IndexError> {
        let mut matches = Vec::new();
        for member in &self.members {
            let (Some(start), Some(end)) = (member.fields.start, member.fields.end) else {
                return Err(IndexError::MissingTime {
                    name: member.name.to_string(),
                });
            };
            if selection.overlaps(start, end) {
                matches.push(TimeMatch {
                    name: member.name.to_string(),
                    data_offset: member.data_offset,
                    length: member.length,
                    start,
                    end,
                    entry: self.entry_holding(member.data_offset, member.length),
                });
            }
        }
        Ok(matches)
    }

    /// The first entry whose range holds `length` bytes at `offset` whole.
    pub fn entry_holding(&self, offset: u64, length: u64) -> Option<usize> {
        entry_holding(&self.entries, offset, length)
    }
}

/// The position of the first of `entries` whose range holds `length` bytes at `offset` whole.
pub fn entry_holding(entries: &[EntryRecord], offset: u64, length: u64) -> Option<usize> {
    let end = offset.checked_add(length)?;
    entries.iter().position(|e| {
        e.offset <= offset
            && e.offset
                .checked_add(e.length)
                .is_some_and(|e_end| end <= e_end)
    })
}

/// One member a time query kept ([`Index::select_time`], or a reader's query of the manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeMatch {
    /// The member's name.
    pub name: String,
    /// Absolute offset of its data.
    pub data_offset: u64,
    /// Its data length.
    pub length: u64,
    /// Its first time.
    pub start: CivilTime,
    /// Its last time.
    pub end: CivilTime,
    /// The first entry holding its data whole.
    pub entry: Option<usize>,
}

/// A sequence serialized from an iterator made on demand: lets a writer serialize an
/// [`Index`] whose member records are computed from its own plan without collecting them.
pub struct SerializeIter<F>(pub F);

impl<F, I, T> Serialize for SerializeIter<F>
where
    F: Fn() -> I,
    I: IntoIterator<Item = T>,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

/// The identity of the archive a sidecar describes (DESIGN §7): its size and the CRC-32s of
/// its header payload and central directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidecarIdentity {
    /// Archive length in bytes.
    pub size: u64,
    /// CRC-32 of the header payload.
    pub header_crc32: u32,
    /// CRC-32 of the central directory's bytes.
    pub cd_crc32: u32,
}

/// `<archive>.meta.json`: the index plus the identity of the archive it was written for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar<M = Vec<MemberRecord<'static>>> {
    /// The index, as in the archive.
    #[serde(flatten)]
    pub index: Index<M>,
    /// The archive's identity (missing in sidecars written before it existed).
    pub archive: Option<SidecarIdentity>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> Index {
        Index {
            format: INDEX_FORMAT.into(),
            version: INDEX_VERSION,
            planner: "netcdf".into(),
            entries: vec![EntryRecord {
                index: 0,
                label: "all".into(),
                kind: EntryKind::Span,
                offset: 0,
                length: 1000,
                fields: EntryFields {
                    files: Some(EntryFiles::Names(vec!["a.nc".into()])),
                    ..EntryFields::default()
                },
            }],
            members: vec![MemberRecord {
                name: "a.nc".into(),
                data_offset: 100,
                length: 50,
                crc32: 0xDEAD_BEEF,
                fields: Cow::Owned(MemberFields {
                    start: Some("2024-01-01T00:00:00".parse().unwrap()),
                    end: Some("2024-01-31T18:00:00".parse().unwrap()),
                    ..MemberFields::default()
                }),
            }],
            sections: serde_json::Map::new(),
        }
    }

    #[test]
    fn an_index_reads_back_what_it_writes() {
        let index = sample();
        let bytes = serde_json::to_vec(&index).unwrap();
        assert_eq!(Index::from_json(&bytes).unwrap(), index);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(r#""kind":"span""#), "{text}");
        assert!(text.contains(r#""files":["a.nc"]"#), "{text}");
        assert!(!text.contains("null"), "absent fields are left out: {text}");
    }

    #[test]
    fn missing_required_fields_are_named_not_defaulted() {
        let text = r#"{"format":"taco-index","version":1,"planner":"tiles","entries":[],
            "members":[{"name":"0/0/0.png","length":3,"crc32":1}]}"#;
        let err = Index::from_json(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("data_offset"), "{err}");
        let wrong = text.replace(r#""taco-index""#, r#""other""#);
        assert!(matches!(
            Index::from_json(wrong.as_bytes()),
            Err(IndexError::NotAnIndex { .. })
        ));
        let newer = text.replace(r#""version":1"#, r#""version":2"#);
        assert!(matches!(
            Index::from_json(newer.as_bytes()),
            Err(IndexError::UnsupportedVersion { found: 2 })
        ));
        let big_crc = r#"{"format":"taco-index","version":1,"planner":"x","entries":[],
            "members":[{"name":"a","data_offset":0,"length":3,"crc32":4294967296}]}"#;
        assert!(Index::from_json(big_crc.as_bytes()).is_err());
    }

    #[test]
    fn queries_find_members_and_their_entries() {
        let index = sample();
        let january = TimeSelection::parse(Some("2024-01-15"), None, None).unwrap();
        let found = index.select_time(&january).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].entry, Some(0));
        let march = TimeSelection::parse(Some("2024-03"), None, None).unwrap();
        assert!(index.select_time(&march).unwrap().is_empty());
        assert_eq!(index.entry_holding(990, 10), Some(0));
        assert_eq!(index.entry_holding(990, 11), None);
        assert_eq!(index.entry_holding(u64::MAX, 2), None);
        assert!(index.tile(0, 0, 0).is_none());
        assert!(matches!(
            index.expect_planner("tiles"),
            Err(IndexError::WrongPlanner { .. })
        ));
    }

    #[test]
    fn a_sidecar_is_the_index_plus_the_archive_identity() {
        let sidecar = Sidecar {
            index: sample(),
            archive: Some(SidecarIdentity {
                size: 5000,
                header_crc32: 1,
                cd_crc32: 2,
            }),
        };
        let bytes = serde_json::to_vec(&sidecar).unwrap();
        let back: Sidecar = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, sidecar);
        assert!(
            Index::from_json(&bytes).is_ok(),
            "a sidecar reads as an index"
        );
    }
}
