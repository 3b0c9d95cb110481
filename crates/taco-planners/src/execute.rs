//! Executing a plan: the archive written in one pass, with the lookup directory at the front
//! (offsets planned from the sources' sizes), the manifest and the v1 index after the data, and
//! the sidecar beside it.

use crate::plan::{Assembled, MemberSource, Plan, PlannedMember};
use crate::PlanError;
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use taco_format::{
    encode_lookup, local_header_len, name_key, tile_key, Entry, KeyKind, LookupEntry, HEADER_LEN,
    LOOKUP_MEMBER, MAX_ENTRIES,
};
use taco_index::{
    EntryRecord, Index, MemberRecord, SerializeIter, Sidecar, SidecarIdentity, INDEX_FORMAT,
    INDEX_VERSION, MANIFEST_MEMBER,
};
use taco_writer::{
    check_not_input, ArchiveOutput, ArchiveWriter, AtomicFile, FileId, MemberSpan, Piece,
    WriterOptions,
};

pub use taco_index::INDEX_MEMBER;

/// Settings for [`execute`].
#[derive(Default)]
pub struct ExecuteOptions {
    /// Replace an existing archive (and its `.meta.json`).
    pub overwrite: bool,
    /// Fixed timestamp for every member, as [`WriterOptions::fixed_time`].
    pub fixed_time: Option<i64>,
    /// Called with the number of bytes copied as the archive is written.
    pub progress: Option<Box<dyn FnMut(u64)>>,
    /// Leave out index v2 (the lookup directory and the manifest): `taco pack --no-index`.
    pub no_index: bool,
    /// Accept entries that reach past the archive's end ([`crate::GroupRange::Fixed`] only), as
    /// [`WriterOptions::allow_entries_outside`].
    pub allow_entries_outside: bool,
    /// Checked before each member and between chunks of each copy: once set, [`execute`]
    /// stops with [`PlanError::Cancelled`] and leaves nothing behind (a caller's Ctrl-C).
    pub cancel: Option<Arc<AtomicBool>>,
}

/// What [`execute`] wrote.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The archive's entries.
    pub entries: Vec<Entry>,
    /// Length of the v1 index as stored in the archive (0 without one; the `.meta.json` file
    /// adds the archive's identity).
    pub index_len: u64,
    /// Archive length in bytes.
    pub archive_len: u64,
    /// Members written, not counting `TACO_HEADER` (the index's members included).
    pub members: u64,
    /// True when the archive needed ZIP64 end records.
    pub zip64: bool,
    /// Path of the `.meta.json` file, when one was written.
    pub meta_path: Option<PathBuf>,
}

/// The fixed member time `SOURCE_DATE_EPOCH` asks for (reproducible builds), if set.
///
/// # Errors
/// [`PlanError::BadOption`] when it is set but not an integer.
pub fn source_date_epoch() -> Result<Option<i64>, PlanError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            PlanError::BadOption(format!("SOURCE_DATE_EPOCH {text:?} is not an integer"))
        }),
        Err(_) => Ok(None),
    }
}

/// Default output of the `pack-*` planners: `<input stem>.taco` in the current directory
/// (`.` and `..` are named after the directory they are).
///
/// # Errors
/// [`PlanError::Io`] when `input` has no name and cannot be resolved.
pub fn default_output(input: &Path) -> Result<PathBuf, PlanError> {
    let resolved;
    let input = if input.file_stem().is_none() {
        resolved = input.canonicalize().map_err(io_error(input))?;
        resolved.as_path()
    } else {
        input
    };
    let Some(stem) = input.file_stem() else {
        return Err(PlanError::BadOption(format!(
            "{}: has no file name to name the archive after",
            input.display()
        )));
    };
    let mut name = stem.to_os_string();
    name.push(".taco");
    Ok(PathBuf::from(name))
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

/// Writes `plan` to `dest`: the lookup directory `TACO_DIRECTORY` right after the header
/// (offsets planned from the sources' sizes), every member in order, the manifest
/// `TACO_MANIFEST.parquet`, then — for a plan with an index section — `TACO_INDEX.json`
/// (index v1), with one entry per group computed from the written spans; then
/// `<dest>.meta.json` with the same index and the archive's identity (`"archive"`: size,
/// header and central directory CRC-32). Both files appear only when everything succeeded, the
/// archive first. [`ExecuteOptions::no_index`] leaves the directory and the manifest out.
///
/// # Errors
/// [`PlanError::TooManyGroups`], [`PlanError::BadGroup`], [`PlanError::ReservedName`] for a
/// member named like taco's own, [`PlanError::PlannedSize`] (and [`PlanError::PlannedOffset`]
/// for the members after it) for a source that changed size after planning,
/// input read errors and [`PlanError::Write`] for anything the writer refuses (existing output,
/// entries outside the archive…).
pub fn execute(plan: Plan, dest: &Path, options: ExecuteOptions) -> Result<Executed, PlanError> {
    check_plan(&plan)?;
    // Whole-file sources are checked by the writer as it opens them; a file that parts are
    // cut from (a Parquet input) is checked here, before anything is replaced.
    let assembled: Vec<FileId> = plan
        .members
        .iter()
        .filter_map(|m| match &m.source {
            MemberSource::Assembled(assembled) => FileId::of_path(&assembled.path),
            MemberSource::Path { .. } | MemberSource::Named { .. } | MemberSource::Bytes(_) => None,
        })
        .collect();
    check_not_input(dest, &assembled)?;
    let layout = Layout::of(&plan, !options.no_index)?;
    let writer = ArchiveWriter::create(dest, options.overwrite, writer_options(&options))?;
    let meta = match plan.section {
        Some(_) => {
            let path = meta_path(dest);
            let file = AtomicFile::create(&path, options.overwrite)?;
            Some((path, file))
        }
        None => None,
    };
    // The index members go through temporary files beside the archive.
    let spill_dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let cancel = options.cancel.clone();
    let (archive, executed, meta_file) =
        write_plan(plan, writer, layout, meta, options, Some(spill_dir))?;
    // Archive first: a crash between the two renames leaves an old sidecar whose identity
    // no longer matches the archive beside it, which readers detect.
    check_cancel(&cancel)?;
    archive.commit()?;
    if let Some(meta_file) = meta_file {
        meta_file.commit()?;
    }
    Ok(executed)
}

/// Writes `plan` front to back into `out` — an object-store upload, a pipe, named `label` in
/// errors — and returns it with what was written: the same bytes [`execute`] writes to a
/// file, without the `.meta.json` sidecar. Every offset is planned from the sources' sizes, so
/// the header goes out first; each source is read twice (once for its CRC, once to copy it).
/// The caller decides what a failure means for `out` (an upload is aborted, not completed).
///
/// # Errors
/// As [`execute`], and [`PlanError::Write`] with `SourceChanged` for a source whose bytes
/// differ between its two reads.
pub fn execute_to<S: Write>(
    plan: Plan,
    out: S,
    label: &str,
    options: ExecuteOptions,
) -> Result<(S, Executed), PlanError> {
    check_plan(&plan)?;
    let layout = Layout::of(&plan, !options.no_index)?;
    let entries = layout.planned_entries(&plan)?;
    let writer = ArchiveWriter::sequential(out, label, &entries, writer_options(&options))?;
    let (out, executed, _) = write_plan(plan, writer, layout, None, options, None)?;
    Ok((out.into_inner(), executed))
}

fn writer_options(options: &ExecuteOptions) -> WriterOptions {
    WriterOptions {
        fixed_time: options.fixed_time,
        allow_entries_outside: options.allow_entries_outside,
    }
}

/// Refuses plans no archive can hold: too many groups, members named like taco's own.
fn check_plan(plan: &Plan) -> Result<(), PlanError> {
    if plan.groups.len() > MAX_ENTRIES {
        return Err(PlanError::TooManyGroups {
            count: plan.groups.len(),
        });
    }
    // Reserved with or without the index: readers take a member of these names for taco's own
    // (and extraction leaves them out), so a user's file under one would be lost.
    let reserved = ["TACO_HEADER", LOOKUP_MEMBER, MANIFEST_MEMBER, INDEX_MEMBER];
    if let Some(member) = plan
        .members
        .iter()
        .find(|m| reserved.contains(&m.name.as_str()))
    {
        let path = match &member.source {
            MemberSource::Path { path, .. } => path.clone(),
            MemberSource::Named { dir, .. } => dir.join(&member.name),
            MemberSource::Assembled(assembled) => assembled.path.clone(),
            MemberSource::Bytes(_) => PathBuf::from(&member.name),
        };
        return Err(PlanError::ReservedName {
            name: member.name.clone(),
            path,
        });
    }
    Ok(())
}

/// Where a plan's members go, decided before a byte is written: the lookup directory (with
/// the index) and every member's local header offset, planned from the sources' sizes.
struct Layout {
    lookup: Option<Vec<u8>>,
    planned: Vec<u64>,
}

impl Layout {
    fn of(plan: &Plan, with_index: bool) -> Result<Layout, PlanError> {
        if with_index {
            let (lookup, planned) = plan_lookup(plan)?;
            Ok(Layout {
                lookup: Some(lookup),
                planned,
            })
        } else {
            Ok(Layout {
                lookup: None,
                planned: member_offsets(plan, HEADER_LEN as u64),
            })
        }
    }

    /// The entries the groups will have once every member lands where planned.
    fn planned_entries(&self, plan: &Plan) -> Result<Vec<Entry>, PlanError> {
        let spans: Vec<MemberSpan> = plan
            .members
            .iter()
            .zip(&self.planned)
            .map(|(member, &header_offset)| {
                let size = member.source.planned_size();
                MemberSpan {
                    header_offset,
                    data_offset: header_offset + local_header_len(member.name.len(), size),
                    data_len: size,
                    crc32: 0,
                }
            })
            .collect();
        group_entries(plan, &spans)
    }
}

/// Each group's entry, from the members' spans.
fn group_entries(plan: &Plan, spans: &[MemberSpan]) -> Result<Vec<Entry>, PlanError> {
    plan.groups
        .iter()
        .map(|group| {
            group.range.entry(spans).ok_or_else(|| PlanError::BadGroup {
                label: group.label.clone(),
            })
        })
        .collect()
}

/// The part of [`execute`] and [`execute_to`] that writes: members, manifest, v1 index and
/// end records through `writer`, then the sidecar into `meta` when given. Returns the output
/// and the sidecar file, both still to be committed.
fn write_plan<W: ArchiveOutput>(
    plan: Plan,
    mut writer: ArchiveWriter<W>,
    layout: Layout,
    meta: Option<(PathBuf, AtomicFile)>,
    options: ExecuteOptions,
    spill_dir: Option<&Path>,
) -> Result<(W, Executed, Option<AtomicFile>), PlanError> {
    if let Some(progress) = options.progress {
        writer.set_progress(progress);
    }
    if let Some(cancel) = &options.cancel {
        writer.set_cancel(cancel.clone());
    }
    // the members, the lookup directory, the manifest and the v1 index
    writer.reserve_members(plan.members.len() + 3);
    let with_index = layout.lookup.is_some();
    if let Some(lookup) = &layout.lookup {
        writer.add_bytes(LOOKUP_MEMBER, lookup, None)?;
    }
    let mut spans = Vec::with_capacity(plan.members.len());
    for (member, &planned) in plan.members.iter().zip(&layout.planned) {
        // The writer's temporary files go with it: nothing is left behind.
        check_cancel(&options.cancel)?;
        let span = match &member.source {
            MemberSource::Path { path, .. } => writer.add_path(&member.name, path)?,
            MemberSource::Named { dir, .. } => {
                // The name is checked before it becomes a path: an absolute name or one with
                // `..` must not reach outside `dir`.
                taco_format::check_member_name(member.name.as_bytes())
                    .map_err(taco_writer::WriteError::from)?;
                writer.add_path(&member.name, &dir.join(&member.name))?
            }
            MemberSource::Bytes(bytes) => writer.add_bytes(&member.name, bytes, None)?,
            MemberSource::Assembled(assembled) => {
                let Assembled {
                    path,
                    prefix,
                    offset,
                    len,
                    suffix,
                } = &**assembled;
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
        if span.header_offset != planned {
            return Err(PlanError::PlannedOffset {
                name: member.name.clone(),
                planned,
                actual: span.header_offset,
            });
        }
        // The lookup directory and the header hold the planned size: a file that changed
        // since it was listed (the last one too, which moves no later member) is refused.
        let planned_size = member.source.planned_size();
        if span.data_len != planned_size {
            return Err(PlanError::PlannedSize {
                name: member.name.clone(),
                planned: planned_size,
                actual: span.data_len,
            });
        }
        spans.push(span);
    }

    let entries = group_entries(&plan, &spans)?;
    let entry_records: Vec<EntryRecord> = plan
        .groups
        .iter()
        .zip(&entries)
        .enumerate()
        .map(|(index, (group, entry))| EntryRecord {
            index,
            label: group.label.clone(),
            kind: group.range.kind(),
            offset: entry.offset,
            length: entry.length,
            fields: group.fields.clone(),
        })
        .collect();
    // The index members go through temporary files: never held in memory, whatever the
    // member count.
    if with_index {
        let (file, len) = spill(spill_dir, |out| {
            crate::manifest::encode_manifest(
                plan.planner,
                &plan.members,
                &spans,
                &entry_records,
                out,
            )
        })?;
        add_spilled(&mut writer, MANIFEST_MEMBER, &file, len)?;
    }
    let Some(section) = plan.section else {
        let (archive, summary) = writer.finish(&entries)?;
        check_cancel(&options.cancel)?;
        let executed = Executed {
            entries,
            index_len: 0,
            archive_len: summary.archive_len,
            members: summary.members,
            zip64: summary.zip64,
            meta_path: None,
        };
        return Ok((archive, executed, None));
    };
    let section = section(&spans);
    let index = Index {
        format: INDEX_FORMAT.to_string(),
        version: INDEX_VERSION,
        planner: plan.planner.to_string(),
        entries: entry_records,
        members: SerializeIter(|| plan.members.iter().zip(&spans).map(member_record)),
        sections: [(plan.planner.to_string(), section)].into_iter().collect(),
    };
    let temp = std::env::temp_dir();
    let (file, index_len) = spill(spill_dir, |out| {
        serde_json::to_writer(&mut *out, &index)?;
        out.write_all(b"\n")
            .map_err(io_error(spill_dir.unwrap_or(&temp)))
    })?;
    add_spilled(&mut writer, INDEX_MEMBER, &file, index_len)?;
    let (archive, summary) = writer.finish(&entries)?;
    let mut executed = Executed {
        entries,
        index_len,
        archive_len: summary.archive_len,
        members: summary.members,
        zip64: summary.zip64,
        meta_path: None,
    };
    let Some((meta_path, mut meta_file)) = meta else {
        return Ok((archive, executed, None));
    };
    let sidecar = Sidecar {
        index,
        archive: Some(SidecarIdentity {
            size: summary.archive_len,
            header_crc32: summary.header_crc32,
            cd_crc32: summary.directory_crc32,
        }),
    };
    {
        let mut out = BufWriter::with_capacity(1 << 20, &mut meta_file);
        serde_json::to_writer(&mut out, &sidecar)?;
        out.write_all(b"\n")
            .and_then(|()| out.flush())
            .map_err(io_error(&meta_path))?;
    }
    executed.meta_path = Some(meta_path);
    Ok((archive, executed, Some(meta_file)))
}

/// Adds a spilled index member from its temporary file, as a file range: a front-to-back
/// output reads it twice (once for its CRC), which a stream would not allow.
fn add_spilled<W: ArchiveOutput>(
    writer: &mut ArchiveWriter<W>,
    name: &str,
    file: &File,
    len: u64,
) -> Result<MemberSpan, PlanError> {
    let piece = Piece::FileRange {
        file,
        offset: 0,
        len,
        label: name,
    };
    Ok(writer.add_pieces(name, &[piece], None)?)
}

/// [`PlanError::Cancelled`] once the caller has asked to stop.
fn check_cancel(cancel: &Option<Arc<AtomicBool>>) -> Result<(), PlanError> {
    match cancel {
        Some(flag) if flag.load(Ordering::Relaxed) => Err(PlanError::Cancelled),
        _ => Ok(()),
    }
}

/// Writes what `write` produces to an anonymous temporary file in `dir` (else the system's
/// temporary directory) and returns the file
/// rewound, with its length: an index member of any size is streamed, never built in memory.
/// A failed write is reported as an I/O error on `dir`, whatever encoder it happened in.
fn spill(
    dir: Option<&Path>,
    write: impl FnOnce(&mut SpillWriter) -> Result<(), PlanError>,
) -> Result<(File, u64), PlanError> {
    // Beside the archive (same file system, where the user made room); the system's
    // temporary directory when that is not a place files can be made (a device's /dev) or
    // the archive is not a local file.
    let file = dir
        .map_or_else(tempfile::tempfile, tempfile::tempfile_in)
        .or_else(|_| tempfile::tempfile());
    let temp = std::env::temp_dir();
    let dir = dir.unwrap_or(&temp);
    let file = file.map_err(io_error(dir))?;
    let mut out = SpillWriter {
        out: BufWriter::with_capacity(1 << 20, file),
        failed: None,
    };
    let written = write(&mut out).and_then(|()| out.flush().map_err(io_error(dir)));
    if let Some(source) = out.failed.take() {
        return Err(io_error(dir)(source));
    }
    written?;
    let mut file = out
        .out
        .into_inner()
        .map_err(|e| io_error(dir)(e.into_error()))?;
    let len = file.stream_position().map_err(io_error(dir))?;
    file.rewind().map_err(io_error(dir))?;
    Ok((file, len))
}

/// The writer [`spill`] hands out: keeps the first I/O error, so it is reported as such
/// rather than as whatever the encoder made of it.
struct SpillWriter {
    out: BufWriter<File>,
    failed: Option<std::io::Error>,
}

impl Write for SpillWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf).inspect_err(|e| self.keep(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().inspect_err(|e| self.keep(e))
    }
}

impl SpillWriter {
    fn keep(&mut self, error: &std::io::Error) {
        if self.failed.is_none() {
            self.failed = Some(std::io::Error::new(error.kind(), error.to_string()));
        }
    }
}

/// The index record of a written member: borrowed from the plan, never copied.
fn member_record<'a>((member, span): (&'a PlannedMember, &MemberSpan)) -> MemberRecord<'a> {
    MemberRecord {
        name: Cow::Borrowed(member.name.as_str()),
        data_offset: span.data_offset,
        length: span.data_len,
        crc32: span.crc32,
        fields: member.fields.get(),
    }
}

/// Every member's local header offset when the first goes at `first` and each follows the
/// one before, sized as planned.
fn member_offsets(plan: &Plan, first: u64) -> Vec<u64> {
    let mut at = first;
    plan.members
        .iter()
        .map(|member| {
            let here = at;
            let size = member.source.planned_size();
            at += local_header_len(member.name.len(), size) + size;
            here
        })
        .collect()
}

/// The lookup directory of `plan` (`docs/FORMAT.md` §4) and every member's planned local header
/// offset. The directory comes first, so the offsets depend on its length and its length on the
/// offsets (varints): encoded again until the length settles, which takes two or three rounds.
fn plan_lookup(plan: &Plan) -> Result<(Vec<u8>, Vec<u64>), PlanError> {
    let kind = if plan.planner == "tiles" {
        KeyKind::Tile
    } else {
        KeyKind::Name
    };
    let mut keyed = Vec::with_capacity(plan.members.len());
    for member in &plan.members {
        let key = match kind {
            KeyKind::Name => name_key(member.name.as_bytes()),
            KeyKind::Tile => {
                let f = member.fields.get();
                f.z.zip(f.x)
                    .zip(f.y)
                    .and_then(|((z, x), y)| tile_key(z, x, y))
                    .ok_or_else(|| PlanError::BadGroup {
                        label: format!("tile {} has no z/x/y", member.name),
                    })?
            }
        };
        keyed.push((key, member.source.planned_size()));
    }
    let mut directory_len = 0usize;
    for _ in 0..8 {
        let first = HEADER_LEN as u64
            + local_header_len(LOOKUP_MEMBER.len(), directory_len as u64)
            + directory_len as u64;
        let planned = member_offsets(plan, first);
        let mut entries: Vec<LookupEntry> = keyed
            .iter()
            .zip(&planned)
            .map(|(&(key, data_len), &header_offset)| LookupEntry {
                key,
                header_offset,
                data_len,
            })
            .collect();
        let bytes = encode_lookup(kind, &mut entries)?;
        if bytes.len() == directory_len {
            return Ok((bytes, planned));
        }
        directory_len = bytes.len();
    }
    Err(PlanError::Lookup(taco_format::FormatError::BadLookup {
        what: "its length does not settle",
        offset: HEADER_LEN as u64,
    }))
}
