//! The reading commands: header, update-header, ls, validate, extract, get.

use crate::cli::{
    ExtractArgs, GetArgs, HeaderArgs, LevelArg, LsArgs, QueryArgs, RemoteArgs, UpdateHeaderArgs,
    ValidateArgs,
};
use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use serde_json::json;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use taco_format::{CrcPolicy, Entry};
use taco_reader::{
    read_header, Archive, ArchiveError, ArchiveTail, ExtractOptions, ExtractReport, Level, Member,
    ReadAt, ReadError, RemoteOptions, Source,
};
use taco_writer::{FileId, Output};

/// Ranges closer than this are fetched with one request and split on arrival: a few wasted
/// bytes cost less than a round trip (neighbouring tiles are one local header apart).
const COALESCE_GAP: u64 = 64 * 1024;
/// Groups stop growing at this size, so big ranges still go out as concurrent requests.
const COALESCE_MAX: u64 = 8 * 1024 * 1024;

/// Opens SRC (path or URL), runs `work` on it, and prints `--stats` whether or not it worked.
fn with_source<T>(
    src: &str,
    remote: &RemoteArgs,
    work: impl FnOnce(&Source) -> Result<T>,
) -> Result<T> {
    let source = Source::open(src, &remote_options(remote))?;
    let result = work(&source);
    print_stats(&source, remote);
    result
}

fn remote_options(remote: &RemoteArgs) -> RemoteOptions {
    RemoteOptions {
        retries: remote.retries,
        timeout: remote.timeout,
        connect_timeout: remote.connect_timeout,
        ..RemoteOptions::default()
    }
}

fn print_stats(source: &Source, remote: &RemoteArgs) {
    if remote.stats {
        let stats = source.stats();
        eprintln!(
            "taco: stats: requests={} bytes={}",
            stats.requests, stats.bytes
        );
    }
}

fn print_json(value: &serde_json::Value) -> Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn entries_json(entries: &[Entry]) -> serde_json::Value {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"index": i, "offset": e.offset, "length": e.length}))
        .collect()
}

pub fn header(args: &HeaderArgs) -> Result<()> {
    if args.src == "-" {
        // Standard input is read in order: the header is its first 157 bytes.
        let mut head = Vec::with_capacity(taco_format::HEADER_LEN);
        io::stdin()
            .lock()
            .take(taco_format::HEADER_LEN as u64)
            .read_to_end(&mut head)
            .context("standard input")?;
        return print_header(&head, "<standard input>", args);
    }
    with_source(&args.src, &args.remote, |source| {
        print_header(source, &args.src, args)
    })
}

fn print_header(source: &(impl ReadAt + ?Sized), label: &str, args: &HeaderArgs) -> Result<()> {
    let policy = if args.lenient {
        CrcPolicy::Lenient
    } else {
        CrcPolicy::Strict
    };
    let header = read_header(source, policy)?;
    if !header.crc_ok {
        eprintln!(
            "taco: warning: {label}: header CRC mismatch (stored 0x{:08x}); entries may be wrong",
            header.stored_crc
        );
    }
    for (slot, e) in &header.ignored_slots {
        eprintln!(
            "taco: warning: {label}: slot {slot} holds {}:{} beyond the entry count {}; ignored \
             (tacozip 0.13 writes this when a 0:0 entry precedes it)",
            e.offset,
            e.length,
            header.entries.len()
        );
    }
    if args.json {
        return print_json(&json!({
            "count": header.entries.len(),
            "entries": entries_json(&header.entries),
            "crc_ok": header.crc_ok,
        }));
    }
    let mut out = io::stdout().lock();
    writeln!(out, "{label}: {} entries", header.entries.len())?;
    if !header.entries.is_empty() {
        writeln!(out, "{:>5}  {:>14}  {:>14}", "entry", "offset", "length")?;
    }
    for (i, e) in header.entries.iter().enumerate() {
        writeln!(out, "{i:>5}  {:>14}  {:>14}", e.offset, e.length)?;
    }
    Ok(())
}

pub fn update_header(args: &UpdateHeaderArgs) -> Result<()> {
    let entries = if args.clear {
        Vec::new()
    } else {
        args.entries.clone()
    };
    taco_writer::update_header(&args.archive, &entries, args.allow_outside)?;
    Ok(())
}

pub fn ls(args: &LsArgs) -> Result<()> {
    with_source(&args.src, &args.remote, |source| list(source, args.json))
}

fn list(source: &Source, json_output: bool) -> Result<()> {
    let archive = Archive::open(source)?;
    if json_output {
        let members: Vec<_> = archive
            .members()
            .iter()
            .map(|m| {
                json!({
                    "name": m.name_lossy(),
                    "header_offset": m.header_offset(),
                    "size": m.size(),
                    "crc32": m.record.crc32,
                })
            })
            .collect();
        return print_json(&json!({ "members": members }));
    }
    let mut out = BufWriter::new(io::stdout().lock());
    writeln!(
        out,
        "{:>14}  {:>14}  {:>8}  name",
        "offset", "size", "crc32"
    )?;
    for m in archive.members() {
        writeln!(
            out,
            "{:>14}  {:>14}  {:08x}  {}",
            m.header_offset(),
            m.size(),
            m.record.crc32,
            taco_format::escape_name(&m.name_lossy())
        )?;
    }
    out.flush()?;
    Ok(())
}

pub fn validate(args: &ValidateArgs) -> Result<()> {
    let (level, level_name) = match args.level {
        LevelArg::Quick => (Level::Quick, "quick"),
        LevelArg::Normal => (Level::Normal, "normal"),
        LevelArg::Deep => (Level::Deep, "deep"),
    };
    let result = Source::open(&args.src, &remote_options(&args.remote)).and_then(|source| {
        let report = taco_reader::validate(&source, level);
        print_stats(&source, &args.remote);
        let report = report?;
        if let (Source::Local(_), Some(identity)) = (&source, report.identity) {
            // A sidecar beside a local archive must describe this archive.
            let sidecar = taco_planners::meta_path(Path::new(&args.src));
            if let Ok(text) = std::fs::read_to_string(&sidecar) {
                identity.check_sidecar(&text, &sidecar.display().to_string())?;
            }
        }
        Ok(report)
    });
    if args.json {
        print_json(&match &result {
            Ok(report) => json!({
                "ok": true,
                "level": level_name,
                "members": report.members,
                "entries": entries_json(&report.entries),
                "zip64": report.zip64,
                "error": null,
            }),
            Err(e) => json!({
                "ok": false,
                "level": level_name,
                "members": null,
                "error": {"kind": e.kind(), "message": e.to_string()},
            }),
        })?;
    }
    let report = result?;
    if !args.json {
        let members = report
            .members
            .map_or(String::new(), |m| format!(", {m} members"));
        writeln!(
            io::stdout().lock(),
            "{}: ok ({level_name}: {} entries{members})",
            args.src,
            report.entries.len()
        )?;
    }
    Ok(())
}

fn print_extract_report(report: &ExtractReport, dir: &Path, json_output: bool) -> Result<()> {
    if json_output {
        let files: Vec<_> = report
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return print_json(&json!({"files": files, "bytes": report.bytes}));
    }
    writeln!(
        io::stdout().lock(),
        "extracted {} files ({} bytes) into {}",
        report.files.len(),
        report.bytes,
        dir.display()
    )?;
    Ok(())
}

pub fn extract(args: &ExtractArgs) -> Result<()> {
    let input = args.range.as_deref().or(args.src.as_deref().map(Path::new));
    let options = ExtractOptions {
        overwrite: args.force,
        inputs: input_ids(input),
    };
    let report = if let Some(range) = &args.range {
        let file = File::open(range).with_context(|| range.display().to_string())?;
        let reader = io::BufReader::with_capacity(1 << 20, file);
        taco_reader::extract_span(reader, &range.display().to_string(), &args.dir, &options)?
    } else {
        let src = args
            .src
            .as_deref()
            .context("an archive or --range FILE is required")?;
        with_source(src, &args.remote, |source| {
            extract_from(source, args.entry, &args.dir, &options)
        })?
    };
    print_extract_report(&report, &args.dir, args.json)
}

fn extract_from(
    source: &Source,
    entry: Option<usize>,
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport> {
    let Some(index) = entry else {
        let archive = Archive::open(source)?;
        return Ok(taco_reader::extract_all(&archive, dir, options)?);
    };
    let entry = entry_at(source, index)?;
    let archive = Archive::open(source)?;
    let members = archive.members();
    if members.iter().any(|m| m.header_offset() == entry.offset) {
        // A span of whole local entries: one streamed read, split as it arrives, each local
        // entry matched against the central directory.
        let reader = io::BufReader::with_capacity(1 << 20, source.open_range(entry)?);
        let label = format!("{} entry {index}", source.label());
        return Ok(taco_reader::extract_listed_span(
            reader,
            &label,
            &archive,
            entry.offset,
            dir,
            options,
        )?);
    }
    // Otherwise the members whose data lies inside the entry, starting from the one the entry
    // begins in (reading every local header would cost a request per member remotely).
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
            return Err(ReadError::Invalid {
                source_label: source.label(),
                problem: taco_format::FormatError::UnaccountedBytes {
                    offset: entry.offset,
                    length: next.saturating_sub(entry.offset),
                    place: "where the entry starts",
                }
                .into(),
            }
            .into());
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
    Ok(taco_reader::extract_members(
        &archive, &selected, dir, options,
    )?)
}

/// Entries `indexes` of the source's header (one read), each checked to lie inside the source.
fn entries_at(source: &impl ReadAt, indexes: &[usize]) -> Result<Vec<Entry>> {
    let header = read_header(source, CrcPolicy::Strict)?;
    let size = source.size()?;
    let invalid = |problem| ReadError::Invalid {
        source_label: source.label(),
        problem,
    };
    indexes
        .iter()
        .map(|&index| {
            let entry = *header.entries.get(index).ok_or_else(|| {
                invalid(ArchiveError::NoSuchEntry {
                    index,
                    count: header.entries.len(),
                })
            })?;
            if !entry.fits_in(size) {
                return Err(invalid(ArchiveError::EntryOutside {
                    index,
                    offset: entry.offset,
                    length: entry.length,
                    file_len: size,
                })
                .into());
            }
            Ok(entry)
        })
        .collect()
}

/// Entry `index` of the source's header, checked to lie inside the source.
fn entry_at(source: &impl ReadAt, index: usize) -> Result<Entry> {
    Ok(entries_at(source, &[index])?[0])
}

/// One range `get` writes somewhere: an entry, a member or a tile.
#[derive(Debug, Clone)]
struct Want {
    /// File name under `-o DIR`: `entry-N`, or the member's name.
    name: String,
    range: Entry,
    /// The CRC-32 the bytes must have (members and tiles; entries are raw ranges).
    crc: Option<u32>,
}

/// Resolves the entries, members or tiles asked for into byte ranges: the header once for
/// entries; the directory tail once, then a local header per member; for tiles the tail and
/// the index once, whose records give every tile's range directly.
fn resolve(source: &Source, args: &GetArgs) -> Result<Vec<Want>> {
    if !args.entry.is_empty() {
        let entries = entries_at(source, &args.entry)?;
        return Ok(args
            .entry
            .iter()
            .zip(entries)
            .map(|(index, range)| Want {
                name: format!("entry-{index}"),
                range,
                crc: None,
            })
            .collect());
    }
    if !args.member.is_empty() {
        let archive = Archive::open(source)?;
        return args
            .member
            .iter()
            .map(|name| {
                let member = find_member(&archive, name)?;
                Ok(Want {
                    name: name.clone(),
                    range: archive.data_range(member)?,
                    crc: Some(member.record.crc32),
                })
            })
            .collect();
    }
    let (index, limit) = read_index(source, "tiles")?;
    args.tile
        .iter()
        .map(|tile| {
            let record = tile_record(&index, tile)
                .with_context(|| format!("{}: no tile {tile} in the index", source.label()))?;
            let field = |key: &str| {
                record[key].as_u64().with_context(|| {
                    format!(
                        "{}: index record of tile {tile} has no {key}",
                        source.label()
                    )
                })
            };
            let range = Entry::new(field("data_offset")?, field("length")?);
            // The index is data like any other: member data can only lie before the directory.
            if range.end().is_none_or(|end| end > limit) {
                bail!(
                    "{}: index places tile {tile} at {}:{}, past the member data",
                    source.label(),
                    range.offset,
                    range.length
                );
            }
            Ok(Want {
                name: record["name"].as_str().unwrap_or(tile).to_string(),
                range,
                crc: Some(u32::try_from(field("crc32")?).with_context(|| {
                    format!("{}: index CRC of tile {tile} is not 32-bit", source.label())
                })?),
            })
        })
        .collect()
}

pub fn get(args: &GetArgs) -> Result<()> {
    with_source(&args.src, &args.remote, |source| get_from(source, args))
}

fn get_from(source: &Source, args: &GetArgs) -> Result<()> {
    if let [name] = args.member.as_slice() {
        // One member: its local header and data come with one request.
        let archive = Archive::open(source)?;
        let member = find_member(&archive, name)?;
        let (range, mut reader) = archive.open_member(member)?;
        let want = Want {
            name: name.clone(),
            range,
            crc: Some(member.record.crc32),
        };
        let bar = crate::pack::progress_bar(range.length, args.quiet);
        write_one(&mut reader, &want, &source.label(), args, &bar)?;
        bar.finish_and_clear();
        return Ok(());
    }
    let wants = resolve(source, args)?;
    let label = source.label();
    let options = ExtractOptions {
        overwrite: args.force,
        inputs: input_ids(Some(Path::new(&args.src))),
    };
    let total = wants.iter().map(|w| w.range.length).sum();
    let bar = crate::pack::progress_bar(total, args.quiet);
    if let Some(dir) = &args.extract_to {
        // Only members the central directory lists are written, so it is read too.
        let archive = Archive::open(source)?;
        let reports = run_jobs(wants.len(), args.jobs.into(), |i| {
            let want = &wants[i];
            let reader = io::BufReader::with_capacity(1 << 20, source.open_range(want.range)?);
            let item = format!("{label} {}", want.name);
            Ok(taco_reader::extract_listed_span(
                reader,
                &item,
                &archive,
                want.range.offset,
                dir,
                &options,
            )?)
        })?;
        bar.finish_and_clear();
        let mut report = ExtractReport::default();
        for r in reports {
            report.files.extend(r.files);
            report.bytes += r.bytes;
        }
        return print_extract_report(&report, dir, false);
    }
    match (&args.output, wants.as_slice()) {
        (_, [want]) => {
            let mut reader = source.open_range(want.range)?;
            write_one(&mut reader, want, &label, args, &bar)?;
        }
        (None, _) => bail!(
            "{} items asked for: give -o DIR to write each to its own file",
            wants.len()
        ),
        (Some(dash), _) if dash.as_os_str() == "-" => bail!(
            "{} items asked for: standard output takes one; give -o DIR to write each to its own file",
            wants.len()
        ),
        (Some(dir), _) => {
            let groups = coalesce(&wants);
            run_jobs(groups.len(), args.jobs.into(), |i| {
                fetch_group(source, &groups[i], dir, &options, &bar)
            })?;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// The member named `name`, or an error naming the archive.
fn find_member<'a>(archive: &'a Archive<&Source>, name: &str) -> Result<&'a Member> {
    archive.member(name).ok_or_else(|| {
        ReadError::Invalid {
            source_label: archive.source().label(),
            problem: ArchiveError::NoSuchMember {
                name: name.to_string(),
            },
        }
        .into()
    })
}

/// Writes one item's bytes from `reader` to `-o FILE` (atomically, only if its CRC matches)
/// or to standard output (then a CRC mismatch is reported after the bytes went out).
fn write_one(
    reader: &mut dyn Read,
    want: &Want,
    label: &str,
    args: &GetArgs,
    bar: &ProgressBar,
) -> Result<()> {
    let check = |computed: u32| -> Result<()> {
        match want.crc {
            Some(stored) if stored != computed => Err(ReadError::Invalid {
                source_label: label.to_string(),
                problem: ArchiveError::CrcMismatch {
                    name: want.name.clone(),
                    offset: want.range.offset,
                    stored,
                    computed,
                },
            }
            .into()),
            _ => Ok(()),
        }
    };
    let Some(path) = &args.output else {
        let mut out = io::stdout().lock();
        let computed = taco_reader::copy_exact(reader, label, want.range, |c| {
            bar.inc(c.len() as u64);
            out.write_all(c).map_err(stdout_error)
        })?;
        out.flush()?;
        return check(computed);
    };
    let inputs: Vec<FileId> = FileId::of_path(Path::new(&args.src)).into_iter().collect();
    let mut file = Output::create(path, args.force, &inputs).map_err(crate::pack::force_hint)?;
    let mut out = BufWriter::with_capacity(1 << 20, &mut file);
    let computed = taco_reader::copy_exact(reader, label, want.range, |c| {
        bar.inc(c.len() as u64);
        out.write_all(c).map_err(|source| ReadError::Output {
            path: path.clone(),
            source,
        })
    })?;
    out.flush().with_context(|| path.display().to_string())?;
    drop(out);
    check(computed)?;
    file.commit()?;
    Ok(())
}

/// The (device, inode) of a local input, which extraction must never replace.
fn input_ids(input: Option<&Path>) -> Vec<(u64, u64)> {
    input
        .and_then(FileId::of_path)
        .map(|id| (id.dev, id.ino))
        .into_iter()
        .collect()
}

/// A failed write to standard output, named as such.
fn stdout_error(source: io::Error) -> ReadError {
    ReadError::Output {
        path: "<standard output>".into(),
        source,
    }
}

/// Groups ranges (in offset order) that lie within [`COALESCE_GAP`] of each other and do not
/// overlap, up to [`COALESCE_MAX`] bytes a group, so each group is fetched with one request.
fn coalesce(wants: &[Want]) -> Vec<Vec<Want>> {
    let mut sorted = wants.to_vec();
    sorted.sort_by_key(|w| w.range.offset);
    let mut groups: Vec<Vec<Want>> = Vec::new();
    for want in sorted {
        let joins = groups.last().is_some_and(|group| {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                return false;
            };
            let end = last.range.offset + last.range.length;
            let new_end = want.range.offset.saturating_add(want.range.length);
            want.range.offset >= end
                && want.range.offset - end <= COALESCE_GAP
                && new_end - first.range.offset <= COALESCE_MAX
        });
        match groups.last_mut() {
            Some(group) if joins => group.push(want),
            _ => groups.push(vec![want]),
        }
    }
    groups
}

/// Fetches one group of ranges with one request and writes each as its own file under `dir`.
fn fetch_group(
    source: &Source,
    group: &[Want],
    dir: &Path,
    options: &ExtractOptions,
    bar: &ProgressBar,
) -> Result<()> {
    let (Some(first), Some(last)) = (group.first(), group.last()) else {
        return Ok(());
    };
    let start = first.range.offset;
    let whole = Entry::new(start, last.range.offset + last.range.length - start);
    let mut reader = source.open_range(whole)?;
    let label = source.label();
    let mut at = start;
    for want in group {
        let gap = want.range.offset - at;
        let skipped = io::copy(&mut (&mut reader).take(gap), &mut io::sink())?;
        if skipped != gap {
            bail!("{label}: answer ended {} bytes early", gap - skipped);
        }
        taco_reader::write_named_file(dir, &want.name, &label, options, want.crc, |file| {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let path = dir.join(&want.name);
            let output = |source| ReadError::Output {
                path: path.clone(),
                source,
            };
            let crc = taco_reader::copy_exact(&mut reader, &label, want.range, |c| {
                bar.inc(c.len() as u64);
                out.write_all(c).map_err(output)
            })?;
            out.flush().map_err(output)?;
            Ok(crc)
        })?;
        at = want.range.offset + want.range.length;
    }
    Ok(())
}

/// Runs `work(0..count)` on at most `jobs` threads; stops handing out work after the first
/// failure and returns it (results in index order otherwise).
fn run_jobs<T: Send>(
    count: usize,
    jobs: usize,
    work: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, count.max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || failed.load(Ordering::Relaxed) {
                    break;
                }
                match work(i) {
                    Ok(value) => {
                        if let Ok(mut results) = results.lock() {
                            results[i] = Some(value);
                        }
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let results = results.into_inner().unwrap_or_default();
    Ok(results.into_iter().flatten().collect())
}

/// The archive's `TACO_INDEX.json`, checked to come from `planner`, and where the central
/// directory starts (no member data lies beyond). The index is the last member, so its central
/// record is normally in the tail: then one read of the tail and at most one of the index,
/// without the rest of the directory.
fn read_index(source: &Source, planner: &str) -> Result<(serde_json::Value, u64)> {
    let name = taco_planners::INDEX_MEMBER;
    let label = source.label();
    let tail = ArchiveTail::read(source)?;
    let limit = tail.directory_end().cd_offset;
    let bytes = match tail
        .last_member()
        .filter(|m| m.record.name == name.as_bytes())
    {
        Some(member) => tail.read_member(&member)?,
        None => {
            let archive = tail.into_archive()?;
            let member = archive.member(name).with_context(|| {
                format!("{label}: no {name} member: not packed by a taco planner")
            })?;
            archive.read_member(member)?
        }
    };
    let index: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{label}: {name} is not valid JSON"))?;
    if index["planner"] != planner {
        bail!(
            "{label}: not a {planner} archive (its index comes from planner {})",
            index["planner"]
        );
    }
    Ok((index, limit))
}

/// The index record of tile `z/x/y`.
fn tile_record<'a>(index: &'a serde_json::Value, tile: &str) -> Result<&'a serde_json::Value> {
    let numbers: Vec<u64> = tile
        .split('/')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()
        .filter(|n: &Vec<u64>| n.len() == 3)
        .with_context(|| format!("--tile {tile:?}: expected Z/X/Y, three numbers"))?;
    index["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| {
            [&m["z"], &m["x"], &m["y"]]
                .iter()
                .zip(&numbers)
                .all(|(field, n)| field.as_u64() == Some(*n))
        })
        .context("not found")
}

pub fn query(args: &QueryArgs) -> Result<()> {
    use taco_planners::cftime::{parse_period, CivilTime};
    let period = |text: &Option<String>| -> Result<Option<(CivilTime, Option<CivilTime>)>> {
        text.as_deref()
            .map(parse_period)
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    // The selection as [begin, end]: `end_exclusive` for periods, inclusive for instants.
    let (begin, end, end_exclusive) =
        match (period(&args.time)?, period(&args.from)?, period(&args.to)?) {
            (Some((start, next)), _, _) => {
                (Some(start), Some(next.unwrap_or(start)), next.is_some())
            }
            (None, from, to) => {
                let begin = from.map(|(start, _)| start);
                match to {
                    Some((start, next)) => (begin, Some(next.unwrap_or(start)), next.is_some()),
                    None => (begin, None, false),
                }
            }
        };
    if let (Some(b), Some(e)) = (begin, end) {
        if b > e || (end_exclusive && b == e) {
            bail!("--from is after --to: the range selects nothing");
        }
    }
    with_source(&args.src, &args.remote, |source| {
        let (index, _) = read_index(source, "netcdf")?;
        select_by_time(source, &index, args, (begin, end, end_exclusive))
    })
}

type Selection = (
    Option<taco_planners::cftime::CivilTime>,
    Option<taco_planners::cftime::CivilTime>,
    bool,
);

fn select_by_time(
    source: &Source,
    index: &serde_json::Value,
    args: &QueryArgs,
    (begin, end, end_exclusive): Selection,
) -> Result<()> {
    use taco_planners::cftime::{parse_period, CivilTime};
    let parse_time = |value: &serde_json::Value| -> Option<CivilTime> {
        let (start, next) = parse_period(value.as_str()?).ok()?;
        next.is_none().then_some(start)
    };
    let entries: Vec<Entry> = index["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some(Entry::new(e["offset"].as_u64()?, e["length"].as_u64()?)))
        .collect();
    let mut matches = Vec::new();
    for member in index["members"].as_array().into_iter().flatten() {
        let (Some(start), Some(stop)) = (parse_time(&member["start"]), parse_time(&member["end"]))
        else {
            bail!(
                "{}: index record without start/end times: {member}",
                source.label()
            );
        };
        let after_begin = begin.is_none_or(|b| stop >= b);
        let before_end = end.is_none_or(|e| if end_exclusive { start < e } else { start <= e });
        if !(after_begin && before_end) {
            continue;
        }
        let offset = member["data_offset"].as_u64().unwrap_or(0);
        let length = member["length"].as_u64().unwrap_or(0);
        let entry = entries
            .iter()
            .position(|e| e.offset <= offset && Entry::new(offset, length).end() <= e.end());
        matches.push(json!({
            "name": member["name"], "offset": offset, "length": length,
            "start": member["start"], "end": member["end"], "entry": entry,
        }));
    }
    if args.json {
        return print_json(&json!({ "files": matches }));
    }
    let mut out = io::stdout().lock();
    for m in &matches {
        let entry = m["entry"]
            .as_u64()
            .map_or("-".to_string(), |e| e.to_string());
        writeln!(
            out,
            "{}  {} .. {}  offset {} length {}  entry {entry}",
            taco_format::escape_name(m["name"].as_str().unwrap_or("")),
            m["start"].as_str().unwrap_or(""),
            m["end"].as_str().unwrap_or(""),
            m["offset"],
            m["length"],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(name: &str, offset: u64, length: u64) -> Want {
        Want {
            name: name.to_string(),
            range: Entry::new(offset, length),
            crc: None,
        }
    }

    fn names(groups: &[Vec<Want>]) -> Vec<Vec<&str>> {
        groups
            .iter()
            .map(|g| g.iter().map(|w| w.name.as_str()).collect())
            .collect()
    }

    #[test]
    fn neighbours_share_a_request_far_and_overlapping_ranges_do_not() {
        let wants = [
            want("c", 10_000, 100),
            want("a", 100, 100),
            want("b", 260, 100), // 60 bytes after a: one local header apart
            want("far", 10_000 + 100 + COALESCE_GAP + 1, 10),
            want("overlaps-c", 10_050, 10),
        ];
        assert_eq!(
            names(&coalesce(&wants)),
            [vec!["a", "b", "c"], vec!["overlaps-c"], vec!["far"]]
        );
    }

    #[test]
    fn groups_stop_growing_at_the_size_limit() {
        let half = COALESCE_MAX / 2;
        let wants = [
            want("0", 0, half),
            want("1", half, half),
            want("2", 2 * half, 1),
        ];
        assert_eq!(names(&coalesce(&wants)), [vec!["0", "1"], vec!["2"]]);
    }

    #[test]
    fn jobs_stop_after_the_first_failure_and_report_it() {
        let ran = AtomicUsize::new(0);
        let result = run_jobs(100, 1, |i| {
            ran.fetch_add(1, Ordering::Relaxed);
            if i == 3 {
                bail!("job {i} failed");
            }
            Ok(i)
        });
        assert_eq!(result.unwrap_err().to_string(), "job 3 failed");
        assert_eq!(ran.load(Ordering::Relaxed), 4);
        assert_eq!(run_jobs(5, 3, Ok).unwrap(), [0, 1, 2, 3, 4]);
    }
}
