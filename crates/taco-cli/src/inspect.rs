//! The commands that describe an archive: header, update-header, ls, validate.

use crate::cli::{HeaderArgs, LsArgs, UpdateHeaderArgs, ValidateArgs};
use crate::output::{entries_json, human_size, print_json, print_stats, with_archive};
use anyhow::{Context, Result};
use serde_json::json;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use taco_format::{CrcPolicy, Entry};
use taco_reader::{read_header, ReadAt, Source, TacoArchive};

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
    with_archive(&args.src, &args.remote, |archive| {
        print_header(archive.source(), &args.src, args)
    })
}

fn print_header(source: &(impl ReadAt + ?Sized), label: &str, args: &HeaderArgs) -> Result<()> {
    let policy = if args.lenient {
        CrcPolicy::Lenient
    } else {
        CrcPolicy::Strict
    };
    let header = read_header(source, policy)?;
    if !header.crc_ok && !args.quiet {
        eprintln!(
            "taco: warning: {label}: header CRC mismatch (stored 0x{:08x}, computed 0x{:08x}); \
             entries may be wrong",
            header.stored_crc,
            taco_format::crc32(&header_payload(source)?),
        );
    }
    for (slot, e) in header.ignored_slots.iter().filter(|_| !args.quiet) {
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

/// The header's 116-byte payload, as read again for the lenient warning.
fn header_payload(source: &(impl ReadAt + ?Sized)) -> Result<Vec<u8>> {
    let mut payload = vec![0u8; taco_format::PAYLOAD_LEN];
    source.read_exact_at(&mut payload, taco_format::PAYLOAD_OFFSET as u64)?;
    Ok(payload)
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
    with_archive(&args.src, &args.remote, |archive| list(archive, args))
}

fn list(archive: &TacoArchive, args: &LsArgs) -> Result<()> {
    let members = archive.members()?;
    let data = archive.data_ranges()?;
    let unknown = data.iter().filter(|d| d.is_none()).count();
    if unknown > 0 && !args.quiet {
        let why = if archive.source().reads_are_requests() {
            "the archive has no manifest, and remotely the local headers before its last 64 KiB \
             would mean reading the data; or a local header is not one taco accepts"
        } else {
            "their local headers are not ones taco accepts (a data descriptor, say)"
        };
        eprintln!(
            "taco: note: {}: {unknown} data offset(s) shown as - ({why})",
            archive.source().label()
        );
    }
    let entries = args
        .entry
        .iter()
        .map(|&i| archive.entry(i))
        .collect::<Result<Vec<_>, _>>()?;
    // With --entry: the members whose data overlaps one of the entries (all of a span's
    // members; the one member of a data entry, or the file a row group lies in). A member
    // whose data offset is unknown is judged by everything its local entry may cover.
    let overlaps = |m: &taco_reader::Member, d: Option<Entry>| {
        let most = (taco_format::LOCAL_FIXED_LEN + m.record.name.len()) as u64
            + u64::from(u16::MAX)
            + m.size();
        let d = d.unwrap_or(Entry::new(m.header_offset(), most));
        // An empty member counts as the one byte where it sits.
        let d_end = d.end().unwrap_or(u64::MAX).max(d.offset.saturating_add(1));
        entries
            .iter()
            .any(|e| d.offset < e.end().unwrap_or(u64::MAX) && e.offset < d_end)
    };
    let listed = members
        .iter()
        .zip(data)
        .filter(|(m, d)| entries.is_empty() || overlaps(m, *d));
    if args.json {
        let members: Vec<_> = listed
            .map(|(m, d)| {
                json!({
                    "name": m.name_lossy(),
                    "header_offset": m.header_offset(),
                    "data_offset": d.map(|d| d.offset),
                    "size": m.size(),
                    "crc32": m.record.crc32,
                })
            })
            .collect();
        return print_json(&json!({ "members": members }));
    }
    let size = |n: u64| {
        if args.human {
            human_size(n)
        } else {
            n.to_string()
        }
    };
    let mut out = BufWriter::new(io::stdout().lock());
    if args.long {
        write!(out, "{:>14}  ", "header_offset")?;
    }
    writeln!(
        out,
        "{:>14}  {:>14}  {:>8}  name",
        "data_offset", "size", "crc32"
    )?;
    for (m, d) in listed {
        if args.long {
            write!(out, "{:>14}  ", m.header_offset())?;
        }
        writeln!(
            out,
            "{:>14}  {:>14}  {:08x}  {}",
            d.map_or("-".to_string(), |d| d.offset.to_string()),
            size(m.size()),
            m.record.crc32,
            taco_format::escape_name(&m.name_lossy())
        )?;
    }
    out.flush()?;
    Ok(())
}

pub fn validate(args: &ValidateArgs) -> Result<()> {
    let (level, level_name) = args.level.level();
    let result = TacoArchive::open_lazy(&args.src, &args.remote.options()).and_then(|archive| {
        let report = archive.validate(level);
        print_stats(archive.source(), &args.remote);
        let report = report?;
        if let (Source::Local(_), Some(identity)) = (archive.source(), report.identity) {
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
                "error": {"kind": e.kind().name(), "message": e.to_string()},
            }),
        })?;
    }
    let report = result?;
    if !args.json && !args.quiet {
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
