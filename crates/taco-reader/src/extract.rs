use crate::archive::{invalid, run_end, RUN_GAP, STREAM_CHUNK};
use crate::confined::ConfinedDir;
use crate::local::{read_local_header, LocalError, LocalRead};
use crate::{copy_exact, Archive, ArchiveError, Member, ReadAt, ReadError};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use taco_format::{
    check_member_name, Entry, FormatError, FLAG_DATA_DESCRIPTOR, HEADER_NAME, LOCAL_FIXED_LEN,
    METHOD_STORED,
};

/// Settings for extraction.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Replace files that already exist (never directories, never by writing through a symlink).
    pub overwrite: bool,
    /// Files never to replace, even when overwriting: the inputs of the command, as
    /// (device, inode) pairs.
    pub inputs: Vec<(u64, u64)>,
    /// Only members matching one of these patterns (or lying under a directory that does);
    /// empty: every member.
    pub patterns: Vec<taco_format::NamePattern>,
    /// Also write taco's own members (`TACO_DIRECTORY`, `TACO_MANIFEST.parquet`,
    /// `TACO_INDEX.json`), which are the format's machinery rather than the user's files and
    /// are left out by default. `TACO_HEADER` is never written: its bytes are the header.
    pub taco_members: bool,
}

impl ExtractOptions {
    /// Whether the member `name` is to be written: not one of taco's own unless asked for,
    /// and matching a pattern when there are any.
    pub fn selects(&self, name: &str) -> bool {
        if !self.taco_members && crate::located::NOT_LOOKED_UP.contains(&name) {
            return false;
        }
        self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(name))
    }
}

/// What an extraction wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractReport {
    /// Files written, in archive order.
    pub files: Vec<PathBuf>,
    /// Data bytes written.
    pub bytes: u64,
}

fn output_error(path: &Path) -> impl Fn(io::Error) -> ReadError + '_ {
    move |source| ReadError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks a member name (as decoded text) for extraction: members `options` does not select
/// (by default taco's own: the header, the lookup directory, the manifest and a v1 index —
/// not the user's files; `taco manifest` writes the manifest out) are skipped (`Ok(None)`),
/// directory entries keep their trailing `/`, everything else must pass [`check_member_name`].
fn extraction_name<'n>(
    name: &'n str,
    offset: u64,
    options: &ExtractOptions,
) -> Result<Option<&'n str>, ArchiveError> {
    // The header's bytes are the archive's first 157: never a file, even with taco's own.
    if name.as_bytes() == HEADER_NAME || !options.selects(name) {
        return Ok(None);
    }
    let (checked, is_dir) = match name.strip_suffix('/') {
        Some(dir) => (dir, true),
        None => (name, false),
    };
    match check_member_name(checked.as_bytes()) {
        Ok(_) => Ok(Some(if is_dir { name } else { checked })),
        Err(FormatError::BadName { name, problem }) => Err(ArchiveError::BadName {
            name,
            offset,
            problem,
        }),
        Err(other) => Err(other.into()),
    }
}

/// Writes the file `name` under `dir` the way extraction does: `name` must be a safe member
/// name (relative, `/`-separated, no `..`), directories are created without following
/// symlinks, and `fill` streams the bytes into a temporary file and returns their CRC-32,
/// which must equal `expected_crc` when given. Only then is the file renamed into place, so a
/// failure leaves nothing under the final name. `offset` is where the bytes lie in the
/// archive, for errors.
///
/// # Errors
/// [`ArchiveError::BadName`] (labelled `label`), [`ArchiveError::CrcMismatch`],
/// [`ReadError::OutputExists`] unless overwriting, [`ReadError::UnsafeOutputPath`],
/// [`ReadError::Output`], and whatever `fill` returns.
pub fn write_named_file(
    dir: &Path,
    name: &str,
    label: &str,
    options: &ExtractOptions,
    offset: u64,
    expected_crc: Option<u32>,
    fill: impl FnOnce(&mut fs::File) -> Result<u32, ReadError>,
) -> Result<PathBuf, ReadError> {
    let fail = |problem| ReadError::Invalid {
        source_label: label.to_string(),
        problem,
    };
    // Asked for by name: taco's own members too.
    let by_name = ExtractOptions {
        taco_members: true,
        ..ExtractOptions::default()
    };
    let checked = extraction_name(name, offset, &by_name)
        .map_err(fail)?
        .filter(|n| !n.ends_with('/'))
        .ok_or_else(|| {
            fail(ArchiveError::BadName {
                name: name.to_string(),
                offset,
                problem: if name.ends_with('/') {
                    taco_format::NameProblem::EmptyComponent
                } else {
                    taco_format::NameProblem::Reserved
                },
            })
        })?;
    let target = ConfinedDir::open(dir)?;
    match expected_crc {
        Some(stored) => target.write_file(
            checked,
            options,
            fill,
            crc_check(stored, |computed| {
                fail(ArchiveError::CrcMismatch {
                    name: name.to_string(),
                    offset,
                    stored,
                    computed,
                })
            }),
        ),
        None => target.write_file(checked, options, fill, |_| Ok(())),
    }
}

/// Accepts `computed` when it equals `stored`, else the CRC error `mismatch` builds.
fn crc_check(
    stored: u32,
    mismatch: impl FnOnce(u32) -> ReadError,
) -> impl FnOnce(u32) -> Result<(), ReadError> {
    move |computed| {
        if computed == stored {
            Ok(())
        } else {
            Err(mismatch(computed))
        }
    }
}

/// Streams exactly `range.length` bytes of `reader` into `file` and returns their CRC-32;
/// `name` names the file in write errors.
fn copy_into(
    reader: &mut dyn Read,
    label: &str,
    range: Entry,
    file: &mut fs::File,
    name: &Path,
) -> Result<u32, ReadError> {
    let mut out = io::BufWriter::with_capacity(STREAM_CHUNK, file);
    let crc = copy_exact(reader, label, range, |chunk| {
        out.write_all(chunk).map_err(output_error(name))
    })?;
    out.flush().map_err(output_error(name))?;
    Ok(crc)
}

/// Extracts every member of `archive` except `TACO_HEADER` under `dir`, checking each CRC.
///
/// All names are checked before anything is written; each file is written to a temporary file
/// and renamed into place only when its CRC matches, so no partial file is ever left, and a
/// failure part-way removes the files and directories this call created. Every path is
/// resolved from an open handle of `dir` without following symlinks, so nothing is written
/// outside it even if the tree below changes meanwhile.
///
/// # Errors
/// [`ArchiveError::BadName`] for names that could escape `dir`, [`ArchiveError::NotStored`],
/// [`ArchiveError::CrcMismatch`], [`ReadError::OutputExists`] unless overwriting,
/// [`ReadError::UnsafeOutputPath`] for symlinks in the way, [`ReadError::OutputIsInput`] for a
/// file among `options.inputs`, [`ReadError::Output`].
pub fn extract_all<S: ReadAt>(
    archive: &Archive<S>,
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport, ReadError> {
    extract_members(archive, archive.members(), dir, options)
}

/// Extracts the given members (see [`extract_all`]).
///
/// # Errors
/// As [`extract_all`].
pub fn extract_members<S: ReadAt>(
    archive: &Archive<S>,
    members: &[Member],
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport, ReadError> {
    let source = archive.source();
    let mut planned = Vec::with_capacity(members.len());
    for member in members {
        let bad_name = |e| match e {
            FormatError::BadName { name, problem } => ArchiveError::BadName {
                name,
                offset: member.header_offset(),
                problem,
            },
            other => other.into(),
        };
        let text = member
            .record
            .strict_name()
            .map_err(|e| invalid(source, bad_name(e)))?;
        let name = extraction_name(&text, member.header_offset(), options)
            .map_err(|e| invalid(source, e))?
            .map(str::to_owned);
        if let Some(name) = name {
            if member.record.method != METHOD_STORED {
                return Err(invalid(
                    source,
                    ArchiveError::NotStored {
                        name: member.name_lossy(),
                        method: member.record.method,
                    },
                ));
            }
            planned.push((member, name));
        }
    }
    let target = ConfinedDir::open(dir)?;
    let result = write_members(archive, planned, &target, dir, options);
    if result.is_err() {
        target.roll_back();
    }
    result
}

/// Writes the checked members `planned` into `target` (see [`extract_members`]).
fn write_members<S: ReadAt>(
    archive: &Archive<S>,
    planned: Vec<(&Member, String)>,
    target: &ConfinedDir,
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport, ReadError> {
    let source = archive.source();
    let mut report = ExtractReport::default();
    let mut files = Vec::with_capacity(planned.len());
    for (member, name) in planned {
        if member.is_dir() {
            target.subdir(&name)?;
        } else {
            files.push((member, name));
        }
    }
    let label = source.label();
    let mut extract_one = |reader: &mut dyn Read, range: Entry, member: &Member, name: &str| {
        let mismatch = |computed| {
            invalid(
                source,
                ArchiveError::CrcMismatch {
                    name: member.name_lossy(),
                    offset: range.offset,
                    stored: member.record.crc32,
                    computed,
                },
            )
        };
        let path = target.write_file(
            name,
            options,
            |file| copy_into(reader, &label, range, file, &dir.join(name)),
            crc_check(member.record.crc32, mismatch),
        )?;
        report.bytes += range.length;
        report.files.push(path);
        Ok::<(), ReadError>(())
    };
    if !source.reads_are_requests() {
        for (member, name) in files {
            let range = archive.data_range(member)?;
            extract_one(&mut source.open_range(range)?, range, member, &name)?;
        }
        return Ok(report);
    }
    // Remote: members that lie close together come with one request, split as they arrive;
    // a member alone costs one request for its local header and data.
    files.sort_by_key(|(m, _)| m.header_offset());
    let limit = archive.directory_end().cd_offset;
    for run in files.chunk_by(|(a, _), (b, _)| b.header_offset() - a.header_offset() <= RUN_GAP) {
        if let [(member, name)] = run {
            let (range, mut reader) = archive.open_member(member)?;
            extract_one(&mut reader, range, member, name)?;
            continue;
        }
        let (Some((first, _)), Some((last, _))) = (run.first(), run.last()) else {
            continue;
        };
        let start = first.header_offset();
        let end = run_end(start, last, limit, true);
        let mut reader = source.open_range(Entry::new(start, end - start))?;
        let mut at = start;
        for (member, name) in run {
            let local = archive.local_header_after(member, &mut reader, at)?;
            let range = Entry::new(member.header_offset() + local.header_len, member.size());
            extract_one(&mut reader, range, member, name)?;
            at = range.offset + range.length;
        }
    }
    Ok(report)
}

/// Extracts a span (DESIGN §3): a run of complete local entries cut from an archive, read as a
/// stream with constant memory. Every member is checked (STORED, no data descriptor, safe name,
/// CRC); `TACO_HEADER` is skipped; reading stops cleanly at the end of the stream or at a central
/// directory record. Nothing says which local entries are real members here (the span is all
/// there is): when the archive is at hand, use [`extract_listed_span`]. A failure removes what
/// this call wrote, except when the span was merely cut short: then the complete files before
/// the cut stay (the error counts them), so a caller can resume from there.
///
/// # Errors
/// [`ArchiveError::TruncatedSpan`] (with the number of complete files) when the stream ends
/// inside a member; the errors of [`extract_all`] otherwise. `label` names the span in messages.
pub fn extract_span(
    reader: impl Read,
    label: &str,
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport, ReadError> {
    extract_span_checked(reader, label, dir, options, None)
}

/// Extracts the members entry `index` (`entry`) holds. A span entry (starting at a local
/// header) is read with one streamed read and split as it arrives, each local entry matched
/// against the central directory; any other entry extracts the members whose data lies
/// wholly inside it, reading local headers only from the member it starts in onwards.
///
/// # Errors
/// [`FormatError::UnaccountedBytes`] when the entry starts in bytes no member holds; as
/// [`extract_listed_span`] and [`extract_members`].
pub fn extract_entry<S: ReadAt>(
    archive: &Archive<S>,
    index: usize,
    entry: Entry,
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport, ReadError> {
    let source = archive.source();
    let members = archive.members();
    if members.iter().any(|m| m.header_offset() == entry.offset) {
        let reader = io::BufReader::with_capacity(STREAM_CHUNK, source.open_range(entry)?);
        let label = format!("{} entry {index}", source.label());
        return extract_listed_span(reader, &label, archive, entry.offset, dir, options);
    }
    // Local headers are read only from the member the entry begins in (reading every one
    // would cost a request per member remotely).
    let before = members
        .iter()
        .filter(|m| m.header_offset() < entry.offset)
        .max_by_key(|m| m.header_offset());
    let start = before.map_or(0, Member::header_offset);
    // Read once: the check below and the selection both need it (a request each remotely).
    let before_data = before.map(|m| archive.data_range(m)).transpose()?;
    if let Some(data) = before_data {
        // An entry must start inside a member: bytes after one member's data and before the
        // next local header belong to nobody the central directory lists.
        if entry.offset >= data.end().unwrap_or(u64::MAX) {
            let next = members
                .iter()
                .map(Member::header_offset)
                .filter(|&o| o > entry.offset)
                .min()
                .unwrap_or(archive.directory_end().cd_offset);
            return Err(invalid(
                source,
                FormatError::UnaccountedBytes {
                    offset: entry.offset,
                    length: next.saturating_sub(entry.offset),
                    place: "where the entry starts",
                },
            ));
        }
    }
    let mut selected = Vec::new();
    for member in members.iter().skip(1) {
        let offset = member.header_offset();
        if offset < start || entry.end().is_some_and(|end| offset >= end) {
            continue;
        }
        let data = match (before, before_data) {
            (Some(b), Some(data)) if b.index == member.index => data,
            _ => archive.data_range(member)?,
        };
        let inside =
            data.offset >= entry.offset && data.end().zip(entry.end()).is_some_and(|(d, e)| d <= e);
        if inside {
            selected.push(member.clone());
        }
    }
    if selected.is_empty() && entry.length > 0 {
        // A range inside one member (a verbatim Parquet row group): extracting it as files
        // would write nothing and look like success.
        let within = before.map_or_else(
            || "no member".to_string(),
            |m| format!("member {:?}", m.name_lossy()),
        );
        return Err(invalid(
            source,
            ArchiveError::EntryHoldsNoMember {
                index,
                offset: entry.offset,
                length: entry.length,
                within,
            },
        ));
    }
    extract_members(archive, &selected, dir, options)
}

/// Extracts a span that starts at archive offset `offset` of `archive`, as [`extract_span`],
/// writing only local entries the central directory lists at that offset with that name and
/// size: bytes hidden between listed members are never written out.
///
/// # Errors
/// [`ArchiveError::NotInDirectory`] for a local entry the directory does not list; as
/// [`extract_span`] otherwise.
pub fn extract_listed_span<S: ReadAt>(
    reader: impl Read,
    label: &str,
    archive: &Archive<S>,
    offset: u64,
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport, ReadError> {
    let listed: HashMap<u64, &Member> = archive
        .members()
        .iter()
        .map(|m| (m.header_offset(), m))
        .collect();
    let lists = |offset: u64, name: &[u8], size: u64| {
        listed
            .get(&offset)
            .is_some_and(|m| m.record.name == name && m.record.compressed_size == size)
    };
    extract_span_checked(reader, label, dir, options, Some((&lists, offset)))
}

/// Extracts a span that starts at archive offset `offset`, as [`extract_listed_span`], with
/// `lists(offset, name, size)` saying whether an index lists a member there (the lookup
/// directory, when the central directory is not read).
pub(crate) fn extract_span_listed_by(
    reader: impl Read,
    label: &str,
    lists: &dyn Fn(u64, &[u8], u64) -> bool,
    offset: u64,
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport, ReadError> {
    extract_span_checked(reader, label, dir, options, Some((lists, offset)))
}

/// Whether a directory lists a member by local header offset, name and size; and where the
/// span starts.
type Listing<'a> = (&'a dyn Fn(u64, &[u8], u64) -> bool, u64);

fn extract_span_checked(
    reader: impl Read,
    label: &str,
    dir: &Path,
    options: &ExtractOptions,
    listing: Option<Listing<'_>>,
) -> Result<ExtractReport, ReadError> {
    let target = ConfinedDir::open(dir)?;
    let result = write_span(reader, label, &target, dir, options, listing);
    // A span cut short keeps the files before the cut, which its error counts (a fetch can
    // resume from there); any other failure takes back everything this call wrote.
    let cut_short = matches!(
        result.as_ref().map_err(ReadError::archive_error),
        Err(Some(ArchiveError::TruncatedSpan { .. }))
    );
    if result.is_err() && !cut_short {
        target.roll_back();
    }
    result
}

/// Writes the files of a span into `target` (see [`extract_span`]).
fn write_span(
    mut reader: impl Read,
    label: &str,
    target: &ConfinedDir,
    dir: &Path,
    options: &ExtractOptions,
    listing: Option<Listing<'_>>,
) -> Result<ExtractReport, ReadError> {
    let fail = |problem: ArchiveError| ReadError::Invalid {
        source_label: label.to_string(),
        problem,
    };
    let read_error = |offset: u64, len: u64| {
        move |source| ReadError::Io {
            source_label: label.to_string(),
            offset,
            len,
            source,
        }
    };
    let mut report = ExtractReport::default();
    let mut offset = 0u64;
    let mut complete = 0u64;
    loop {
        let truncated = |name: String, complete: u64| {
            fail(ArchiveError::TruncatedSpan {
                name,
                offset,
                complete,
            })
        };
        let local = match read_local_header(&mut reader, offset, true) {
            Ok(LocalRead::Header(local)) => local,
            Ok(LocalRead::End) => break,
            Err(LocalError::Truncated) => return Err(truncated("<local header>".into(), complete)),
            Err(LocalError::Read(e)) => return Err(read_error(offset, LOCAL_FIXED_LEN as u64)(e)),
            Err(LocalError::Format(e)) => return Err(fail(e.into())),
        };
        let display_name = local.text_name();
        if local.flags & FLAG_DATA_DESCRIPTOR != 0 {
            return Err(fail(ArchiveError::DataDescriptor { name: display_name }));
        }
        if local.method != METHOD_STORED {
            return Err(fail(ArchiveError::NotStored {
                name: display_name,
                method: local.method,
            }));
        }
        taco_format::check_stored_sizes(
            local.method,
            local.compressed_size,
            local.uncompressed_size,
            || display_name.clone(),
        )
        .map_err(|e| fail(e.into()))?;
        if let Some((lists, start)) = listing {
            let absolute = start.saturating_add(offset);
            if !lists(absolute, &local.name, local.compressed_size) {
                return Err(fail(ArchiveError::NotInDirectory {
                    name: display_name,
                    offset: absolute,
                }));
            }
        }
        let data_offset = offset + local.header_len;
        let len = local.compressed_size;
        let text = local.strict_name().map_err(|e| fail(e.into()))?;
        let name = extraction_name(&text, offset, options).map_err(fail)?;
        let data = Entry::new(data_offset, len);
        match name {
            None => {
                copy_exact(&mut reader, label, data, |_| Ok(()))
                    .map_err(|e| short_span(e, &truncated, &display_name, complete))?;
            }
            Some(dir_name) if dir_name.ends_with('/') => {
                copy_exact(&mut reader, label, data, |_| Ok(()))
                    .map_err(|e| short_span(e, &truncated, &display_name, complete))?;
                target.subdir(dir_name)?;
            }
            Some(file_name) => {
                let mismatch = |computed| {
                    fail(ArchiveError::CrcMismatch {
                        name: display_name.clone(),
                        offset: data_offset,
                        stored: local.crc32,
                        computed,
                    })
                };
                let path = target.write_file(
                    file_name,
                    options,
                    |file| {
                        copy_into(&mut reader, label, data, file, &dir.join(file_name))
                            .map_err(|e| short_span(e, &truncated, &display_name, complete))
                    },
                    crc_check(local.crc32, mismatch),
                )?;
                report.files.push(path);
                report.bytes += len;
                complete += 1;
            }
        }
        offset = data_offset + len;
    }
    Ok(report)
}

/// A span that ends inside a member's data is reported as cut short, with the files before it.
fn short_span(
    error: ReadError,
    truncated: &impl Fn(String, u64) -> ReadError,
    name: &str,
    complete: u64,
) -> ReadError {
    match &error {
        ReadError::Io { source, .. } if source.kind() == io::ErrorKind::UnexpectedEof => {
            truncated(name.to_string(), complete)
        }
        _ => error,
    }
}
