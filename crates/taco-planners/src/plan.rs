use crate::PlanError;
use serde_json::{json, Value};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use taco_format::{Entry, MAX_ENTRIES};
use taco_writer::{
    check_not_input, ArchiveWriter, AtomicFile, FileId, MemberSpan, Piece, WriterOptions,
};

/// Name of the index member, always the last member of a planned archive.
pub const INDEX_MEMBER: &str = "TACO_INDEX.json";
/// Version of the index format written by [`execute`].
pub const INDEX_VERSION: u64 = 1;

/// A planner's own fields for one index record, in the order they are written. A small vector
/// rather than a map: a tile pyramid has a record per tile, so each record must stay small.
pub type Fields = Vec<(&'static str, Value)>;

/// Where a planned member's bytes come from.
#[derive(Debug)]
pub enum MemberSource {
    /// A whole file, copied as is.
    Path(PathBuf),
    /// Bytes in memory followed by a range of a file followed by more bytes (a Parquet part:
    /// magic, copied column chunks, new footer).
    Assembled {
        /// The file the range is copied from.
        path: PathBuf,
        /// Bytes before the range.
        prefix: Vec<u8>,
        /// Offset of the range in the file.
        offset: u64,
        /// Length of the range.
        len: u64,
        /// Bytes after the range.
        suffix: Vec<u8>,
    },
}

/// One member of a plan.
#[derive(Debug)]
pub struct PlannedMember {
    /// Member name in the archive.
    pub name: String,
    /// Where its bytes come from.
    pub source: MemberSource,
    /// The planner's own fields for this member's index record.
    pub fields: Fields,
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
}

impl GroupRange {
    /// The kind the index records: "data" or "span".
    pub fn kind(&self) -> &'static str {
        match self {
            GroupRange::Data(_) | GroupRange::Slice { .. } => "data",
            GroupRange::Span { .. } => "span",
        }
    }

    fn entry(&self, spans: &[MemberSpan]) -> Option<Entry> {
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
    pub fields: Fields,
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
    /// The planner's section of the index, under the key [`Plan::planner`].
    pub section: IndexSection,
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

/// Settings for [`execute`].
#[derive(Default)]
pub struct ExecuteOptions {
    /// Replace an existing archive (and its `.meta.json`).
    pub overwrite: bool,
    /// Fixed timestamp for every member, as [`WriterOptions::fixed_time`].
    pub fixed_time: Option<i64>,
    /// Called with the number of bytes copied as the archive is written.
    pub progress: Option<Box<dyn FnMut(u64)>>,
}

/// What [`execute`] wrote.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The archive's entries.
    pub entries: Vec<Entry>,
    /// Length of the index as stored in the archive (the `.meta.json` file adds the archive's
    /// identity).
    pub index_len: u64,
    /// Archive length in bytes.
    pub archive_len: u64,
    /// Path of the `.meta.json` file.
    pub meta_path: PathBuf,
}

/// `<archive>.meta.json`, where [`execute`] writes the index beside the archive.
pub fn meta_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".meta.json");
    PathBuf::from(name)
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> PlanError + '_ {
    move |source| PlanError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `plan` to `dest`: every member in order, then `TACO_INDEX.json`, with one entry per
/// group computed from the written spans; then `<dest>.meta.json` with the same index and the
/// archive's identity (`"archive"`: size, header and central directory CRC-32). Both files
/// appear only when everything succeeded, the archive first.
///
/// # Errors
/// [`PlanError::TooManyGroups`], [`PlanError::BadGroup`], input read errors and
/// [`PlanError::Write`] for anything the writer refuses (existing output, changing sources…).
pub fn execute(plan: Plan, dest: &Path, options: ExecuteOptions) -> Result<Executed, PlanError> {
    if plan.groups.len() > MAX_ENTRIES {
        return Err(PlanError::TooManyGroups {
            count: plan.groups.len(),
        });
    }
    let writer_options = WriterOptions {
        fixed_time: options.fixed_time,
        allow_entries_outside: false,
    };
    // Whole-file sources are checked by the writer as it opens them; a file that parts are
    // cut from (a Parquet input) is checked here, before anything is replaced.
    let assembled: Vec<FileId> = plan
        .members
        .iter()
        .filter_map(|m| match &m.source {
            MemberSource::Assembled { path, .. } => FileId::of_path(path),
            MemberSource::Path(_) => None,
        })
        .collect();
    check_not_input(dest, &assembled)?;
    let mut writer = ArchiveWriter::create(dest, options.overwrite, writer_options)?;
    let meta = meta_path(dest);
    let mut meta_file = AtomicFile::create(&meta, options.overwrite)?;
    if let Some(progress) = options.progress {
        writer.set_progress(progress);
    }

    let mut spans = Vec::with_capacity(plan.members.len());
    for member in &plan.members {
        let span = match &member.source {
            MemberSource::Path(path) => writer.add_path(&member.name, path)?,
            MemberSource::Assembled {
                path,
                prefix,
                offset,
                len,
                suffix,
            } => {
                let file = File::open(path).map_err(io_error(path))?;
                let modified = file.metadata().and_then(|m| m.modified()).ok();
                let label = path.display().to_string();
                let pieces = [
                    Piece::Bytes(prefix),
                    Piece::FileRange {
                        file: &file,
                        offset: *offset,
                        len: *len,
                        label: &label,
                    },
                    Piece::Bytes(suffix),
                ];
                writer.add_pieces(&member.name, &pieces, modified)?
            }
        };
        spans.push(span);
    }

    let mut entries = Vec::with_capacity(plan.groups.len());
    for group in &plan.groups {
        let entry = group
            .range
            .entry(&spans)
            .ok_or_else(|| PlanError::BadGroup {
                label: group.label.clone(),
            })?;
        entries.push(entry);
    }
    let section = (plan.section)(&spans);
    let index_bytes = encode_index(
        plan.planner,
        &plan.groups,
        &plan.members,
        &entries,
        &spans,
        &section,
    )?;
    writer.add_bytes(INDEX_MEMBER, &index_bytes, None)?;
    let (archive, summary) = writer.finish(&entries)?;
    meta_file
        .write_all(&sidecar(&index_bytes, &summary))
        .map_err(io_error(&meta))?;
    // Archive first: a crash between the two renames leaves an old sidecar whose identity
    // no longer matches the archive beside it, which readers detect.
    archive.commit()?;
    meta_file.commit()?;
    Ok(Executed {
        entries,
        index_len: index_bytes.len() as u64,
        archive_len: summary.archive_len,
        meta_path: meta,
    })
}

/// The sidecar: the index with the identity of the archive it describes added under
/// `"archive"` (length, header CRC-32, central directory CRC-32), so a reader can tell a sidecar
/// left beside a newer archive.
fn sidecar(index: &[u8], summary: &taco_writer::FinishSummary) -> Vec<u8> {
    let body = index.strip_suffix(b"}\n").unwrap_or(index);
    let mut out = body.to_vec();
    out.extend_from_slice(
        format!(
            ",\n\"archive\":{{\"size\":{},\"header_crc32\":{},\"cd_crc32\":{}}}}}\n",
            summary.archive_len, summary.header_crc32, summary.directory_crc32
        )
        .as_bytes(),
    );
    out
}

/// Writes one JSON object: the fixed keys first, then the planner's fields.
fn write_record(
    out: &mut Vec<u8>,
    fixed: &[(&str, Value)],
    fields: &Fields,
) -> Result<(), serde_json::Error> {
    out.push(b'{');
    for (i, (key, value)) in fixed.iter().chain(fields.iter()).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key)?;
        out.push(b':');
        serde_json::to_writer(&mut *out, value)?;
    }
    out.push(b'}');
    Ok(())
}

/// The index as compact JSON with one entry or member record per line, written record by
/// record so that a plan of 100 000 tiles never holds a JSON tree of all of them.
fn encode_index(
    planner: &str,
    groups: &[Group],
    members: &[PlannedMember],
    entries: &[Entry],
    spans: &[MemberSpan],
    section: &Value,
) -> Result<Vec<u8>, PlanError> {
    let mut out = Vec::new();
    let head = json!({"format": "taco-index", "version": INDEX_VERSION, "planner": planner});
    let head = serde_json::to_string(&head)?;
    out.extend_from_slice(head.trim_end_matches('}').as_bytes());
    out.extend_from_slice(b",\n\"entries\":[");
    for (index, (group, entry)) in groups.iter().zip(entries).enumerate() {
        out.extend_from_slice(if index == 0 { b"\n" } else { b",\n" });
        let fixed = [
            ("index", json!(index)),
            ("label", json!(group.label)),
            ("kind", json!(group.range.kind())),
            ("offset", json!(entry.offset)),
            ("length", json!(entry.length)),
        ];
        write_record(&mut out, &fixed, &group.fields)?;
    }
    out.extend_from_slice(b"],\n\"members\":[");
    for (index, (member, span)) in members.iter().zip(spans).enumerate() {
        out.extend_from_slice(if index == 0 { b"\n" } else { b",\n" });
        let fixed = [
            ("name", json!(member.name)),
            ("data_offset", json!(span.data_offset)),
            ("length", json!(span.data_len)),
            ("crc32", json!(span.crc32)),
        ];
        write_record(&mut out, &fixed, &member.fields)?;
    }
    out.extend_from_slice(b"],\n");
    serde_json::to_writer(&mut out, planner)?;
    out.push(b':');
    serde_json::to_writer(&mut out, section)?;
    out.extend_from_slice(b"}\n");
    Ok(out)
}
