//! The commands that describe an archive: header, update-header, ls, validate.

use crate::cli::{HeaderArgs, LsArgs, UpdateHeaderArgs, ValidateArgs};
use crate::output::{entries_json, print_json, print_stats, with_archive};
use anyhow::{Context, Result};
use serde_json::json;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use taco_format::CrcPolicy;
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
    with_archive(&args.src, &args.remote, |archive| list(archive, args.json))
}

fn list(archive: &TacoArchive, json_output: bool) -> Result<()> {
    let members = archive.members()?;
    if json_output {
        let members: Vec<_> = members
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
    for m in members {
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
