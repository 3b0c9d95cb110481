//! The reading commands: header, update-header, ls, validate, extract, get.

use crate::cli::{
    ExtractArgs, GetArgs, HeaderArgs, LevelArg, LsArgs, QueryArgs, UpdateHeaderArgs, ValidateArgs,
};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use taco_format::{CrcPolicy, Entry};
use taco_reader::{
    read_header, Archive, ArchiveError, ExtractOptions, ExtractReport, Level, LocalFile,
    RangeReader, ReadAt, ReadError,
};
use taco_writer::AtomicFile;

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
    let source = LocalFile::open(&args.src)?;
    let policy = if args.lenient {
        CrcPolicy::Lenient
    } else {
        CrcPolicy::Strict
    };
    let header = read_header(&source, policy)?;
    let label = args.src.display();
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
    let archive = Archive::open(LocalFile::open(&args.src)?)?;
    if args.json {
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
            m.name_lossy()
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
    let result = LocalFile::open(&args.src).and_then(|source| taco_reader::validate(source, level));
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
            args.src.display(),
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
    let options = ExtractOptions {
        overwrite: args.force,
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
        let archive = Archive::open(LocalFile::open(src)?)?;
        match args.entry {
            None => taco_reader::extract_all(&archive, &args.dir, &options)?,
            Some(index) => {
                let entry = entry_at(archive.source(), index)?;
                let mut selected = Vec::new();
                for member in archive.members().iter().skip(1) {
                    let data = archive.data_range(member)?;
                    let inside = data.offset >= entry.offset
                        && data.end().zip(entry.end()).is_some_and(|(d, e)| d <= e);
                    if inside {
                        selected.push(member.clone());
                    }
                }
                taco_reader::extract_members(&archive, &selected, &args.dir, &options)?
            }
        }
    };
    print_extract_report(&report, &args.dir, args.json)
}

/// Entry `index` of the source's header, checked to lie inside the source.
fn entry_at(source: &impl ReadAt, index: usize) -> Result<Entry> {
    let header = read_header(source, CrcPolicy::Strict)?;
    let entry = *header
        .entries
        .get(index)
        .ok_or_else(|| ReadError::Invalid {
            source_label: source.label(),
            problem: ArchiveError::NoSuchEntry {
                index,
                count: header.entries.len(),
            },
        })?;
    if !entry.fits_in(source.size()) {
        return Err(ReadError::Invalid {
            source_label: source.label(),
            problem: ArchiveError::EntryOutside {
                index,
                offset: entry.offset,
                length: entry.length,
                file_len: source.size(),
            },
        }
        .into());
    }
    Ok(entry)
}

pub fn get(args: &GetArgs) -> Result<()> {
    let source = LocalFile::open(&args.src)?;
    // Members and tiles are CRC-checked; entries are raw byte ranges with nothing to check.
    let (range, member) = match (&args.entry, &args.member, &args.tile) {
        (Some(index), _, _) => (entry_at(&source, *index)?, None),
        (None, Some(name), _) => member_range(&source, name)?,
        (None, None, Some(tile)) => {
            let name = tile_member_name(&source, tile)?;
            member_range(&source, &name)?
        }
        (None, None, None) => bail!("give --entry N, --member NAME or --tile Z/X/Y"),
    };
    if let Some(dir) = &args.extract_to {
        let reader = io::BufReader::with_capacity(1 << 20, RangeReader::new(&source, range)?);
        let label = format!("{} entry {}", args.src.display(), args.entry.unwrap_or(0));
        let options = ExtractOptions {
            overwrite: args.force,
        };
        let report = taco_reader::extract_span(reader, &label, dir, &options)?;
        return print_extract_report(&report, dir, false);
    }
    let check = |computed: u32| -> Result<()> {
        match &member {
            Some(m) if m.record.crc32 != computed => Err(ReadError::Invalid {
                source_label: source.label(),
                problem: ArchiveError::CrcMismatch {
                    name: m.name_lossy(),
                    offset: range.offset,
                    stored: m.record.crc32,
                    computed,
                },
            }
            .into()),
            _ => Ok(()),
        }
    };
    match &args.output {
        Some(path) => {
            let mut file = AtomicFile::create(path, args.force).map_err(crate::pack::force_hint)?;
            let mut out = BufWriter::with_capacity(1 << 20, &mut file);
            let computed = taco_reader::stream_range(&source, range, |c| out.write_all(c))
                .with_context(|| format!("writing {}", path.display()))?;
            out.flush().with_context(|| path.display().to_string())?;
            drop(out);
            check(computed)?;
            file.commit()?;
        }
        None => {
            let mut out = io::stdout().lock();
            let computed = taco_reader::stream_range(&source, range, |c| out.write_all(c))?;
            out.flush()?;
            check(computed)?;
        }
    }
    Ok(())
}

/// The data range of member `name` (reads the central directory and its local header).
fn member_range(source: &LocalFile, name: &str) -> Result<(Entry, Option<taco_reader::Member>)> {
    let archive = Archive::open(source)?;
    let member = archive
        .member(name)
        .cloned()
        .ok_or_else(|| ReadError::Invalid {
            source_label: source.label(),
            problem: ArchiveError::NoSuchMember {
                name: name.to_string(),
            },
        })?;
    Ok((archive.data_range(&member)?, Some(member)))
}

/// The archive's `TACO_INDEX.json`, checked to come from `planner`.
fn read_index(source: &LocalFile, planner: &str) -> Result<serde_json::Value> {
    let name = taco_planners::INDEX_MEMBER;
    let archive = Archive::open(source)?;
    let member = archive.member(name).with_context(|| {
        format!(
            "{}: no {name} member: not packed by a taco planner",
            source.label()
        )
    })?;
    let bytes = archive.read_range(archive.data_range(member)?)?;
    let index: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: {name} is not valid JSON", source.label()))?;
    if index["planner"] != planner {
        bail!(
            "{}: not a {planner} archive (its index comes from planner {})",
            source.label(),
            index["planner"]
        );
    }
    Ok(index)
}

/// Finds tile `z/x/y` in the archive's index and returns its member name.
fn tile_member_name(source: &LocalFile, tile: &str) -> Result<String> {
    let numbers: Vec<u64> = tile
        .split('/')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()
        .filter(|n: &Vec<u64>| n.len() == 3)
        .with_context(|| format!("--tile {tile:?}: expected Z/X/Y, three numbers"))?;
    let index = read_index(source, "tiles")?;
    let found = index["members"].as_array().into_iter().flatten().find(|m| {
        [&m["z"], &m["x"], &m["y"]]
            .iter()
            .zip(&numbers)
            .all(|(field, n)| field.as_u64() == Some(*n))
    });
    let name = found
        .and_then(|m| m["name"].as_str())
        .with_context(|| format!("{}: no tile {tile} in the index", source.label()))?;
    Ok(name.to_string())
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
    let source = LocalFile::open(&args.src)?;
    let index = read_index(&source, "netcdf")?;
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
            m["name"].as_str().unwrap_or(""),
            m["start"].as_str().unwrap_or(""),
            m["end"].as_str().unwrap_or(""),
            m["offset"],
            m["length"],
        )?;
    }
    Ok(())
}
