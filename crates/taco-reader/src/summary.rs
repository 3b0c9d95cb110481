//! What an archive is, in a few reads: `taco info`.

use crate::{ArchiveTail, ReadAt, ReadError, TacoArchive, MANIFEST_MEMBER};
use std::sync::Arc;
use taco_format::{Entry, FormatErrorKind};
use taco_index::{EntryFiles, EntryKind, EntryRecord, Index, INDEX_MEMBER};

/// Which index an archive carries (DESIGN §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexVersion {
    /// None: entries are bare byte ranges (`taco pack --no-index`, tacozip).
    None,
    /// `TACO_INDEX.json` as the last member, without a lookup directory or manifest.
    V1,
    /// A manifest (`TACO_MANIFEST.parquet`) and, when `lookup` is set, a lookup directory
    /// after the header.
    V2 {
        /// Whether `TACO_DIRECTORY` follows the header.
        lookup: bool,
    },
}

/// What an archive is: its size, member count, ZIP64, its TACO header's entries, and what
/// its index says about them (planner, kind, label and what each covers).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Summary {
    /// Bytes in the archive.
    pub size: u64,
    /// Members the end of central directory record counts (the header and taco's own
    /// members included).
    pub members: u64,
    /// Whether the archive ends with ZIP64 records.
    pub zip64: bool,
    /// The header's entries; `None` for a ZIP whose first member is not `TACO_HEADER`.
    pub entries: Option<Vec<Entry>>,
    /// Which index the archive carries.
    pub index: IndexVersion,
    /// The planner that wrote the index (`tiles`, `parquet`, `splits`, `netcdf`, `files`).
    pub planner: Option<String>,
    /// The index's record of each entry, in header order (empty without an index).
    pub records: Vec<EntryRecord>,
    /// Members outside every entry (taco's own left out), in archive order: a `pack-splits`
    /// archive's top-level files. Looked for only when the records count fewer files than the
    /// archive has (then the central directory is read).
    pub outside: Vec<String>,
}

impl<S: ReadAt> TacoArchive<S> {
    /// Describes the archive with as few reads as possible: the head (header and lookup
    /// root), the tail (end records and the last central records), and the manifest's footer
    /// or a v1 index — three requests remotely for a planned archive. The central directory
    /// is not read.
    ///
    /// # Errors
    /// Read errors; a broken header (other than a plain ZIP's first member, which gives
    /// `entries: None`), end records, manifest or index.
    pub fn summary(&self) -> Result<Summary, ReadError> {
        // The head first: it holds the header, so that costs no second read.
        let head = self.lookup().map(|root| root.is_some());
        let entries = match self.header() {
            Ok(header) => Some(header.entries.clone()),
            Err(e) if is_plain_zip(&e) => None,
            Err(e) => return Err(e),
        };
        let lookup = match head {
            Ok(found) => found && entries.is_some(),
            Err(_) if entries.is_none() => false,
            Err(e) => return Err(e),
        };
        let tail = ArchiveTail::read(Arc::clone(&self.source))?;
        let members = tail.directory_end().entries;
        let zip64 = tail.directory_end().zip64;
        let last = tail.last_members(2);
        let named = |name: &str| last.iter().find(|m| m.record.name == name.as_bytes());
        let has_index_member = named(INDEX_MEMBER).is_some();
        let (index, planner, records) = if let Some(manifest) = named(MANIFEST_MEMBER) {
            let (planner, records) = self.manifest_entries(&tail, manifest)?;
            (IndexVersion::V2 { lookup }, planner, records)
        } else if let Some(member) = named(INDEX_MEMBER) {
            let bytes = tail.read_member(member)?;
            let index =
                Index::from_json(&bytes).map_err(|e| crate::archive::invalid(&*self.source, e))?;
            (IndexVersion::V1, Some(index.planner), index.entries)
        } else {
            (IndexVersion::None, None, Vec::new())
        };
        // Members the records account for: the files or tiles of each span, each distinct data
        // entry once; and taco's own.
        let mut data_entries: Vec<(u64, u64)> = records
            .iter()
            .filter(|r| r.kind == EntryKind::Data)
            .map(|r| (r.offset, r.length))
            .collect();
        data_entries.sort_unstable();
        data_entries.dedup();
        let covered = records
            .iter()
            .filter(|r| r.kind == EntryKind::Span)
            .map(|r| match (&r.fields.tiles, &r.fields.files) {
                (Some(tiles), _) => *tiles,
                (None, Some(EntryFiles::Count(n))) => *n,
                (None, Some(EntryFiles::Names(names))) => names.len() as u64,
                (None, None) => 0,
            })
            .fold(data_entries.len() as u64, u64::saturating_add);
        let own = 1
            + u64::from(lookup)
            + u64::from(matches!(index, IndexVersion::V2 { .. }))
            + u64::from(has_index_member);
        // A pyramid's zooms past the seventh are in no entry by design (`get --tile` finds
        // them): not worth reading a planet-sized central directory to list them.
        let by_design = planner.as_deref() == Some("tiles");
        let outside = if !records.is_empty() && !by_design && members > own.saturating_add(covered)
        {
            // The tail read is the central directory's start: no second read of it.
            let opened = tail.into_archive()?;
            let directory = self.directory.get_or_init(|| opened);
            members_outside(directory.members(), entries.as_deref().unwrap_or_default())
        } else {
            Vec::new()
        };
        Ok(Summary {
            size: self.source.size()?,
            members,
            zip64,
            entries,
            index,
            planner,
            records,
            outside,
        })
    }
}

/// The members (taco's own left out) inside no entry: neither starting in a span nor holding
/// a data entry's bytes (judged from the central records: a data entry starts after its
/// member's local header, at most a name and a maximal extra field later).
fn members_outside(members: &[crate::Member], entries: &[Entry]) -> Vec<String> {
    let inside = |m: &crate::Member| {
        let at = m.header_offset();
        let data_min = at + (taco_format::LOCAL_FIXED_LEN + m.record.name.len()) as u64;
        entries.iter().any(|e| {
            let in_span = at >= e.offset && e.end().is_some_and(|end| at < end);
            let is_data = e.length == m.record.compressed_size
                && e.offset >= data_min
                && e.offset - data_min <= u64::from(u16::MAX);
            in_span || is_data
        })
    };
    members
        .iter()
        .filter(|m| !crate::located::NOT_LOOKED_UP.contains(&m.name_lossy().as_str()))
        .filter(|m| !m.is_dir() && !inside(m))
        .map(crate::Member::name_lossy)
        .collect()
}

/// Whether reading the header failed because the first member is some other ZIP entry.
fn is_plain_zip(error: &ReadError) -> bool {
    matches!(
        error.kind(),
        crate::ErrorKind::Format(FormatErrorKind::NotTacoHeader)
    )
}
