//! `taco query` (the files of a NetCDF archive whose times overlap a selection) and
//! `taco manifest` (the manifest of a planned archive).

use crate::cli::{ManifestArgs, QueryArgs};
use crate::output::{print_json, progress_bar, with_archive, write_item, Destination};
use anyhow::Result;
use serde_json::json;
use std::io::{self, Write};
use taco_reader::ReadAt;

pub fn query(args: &QueryArgs) -> Result<()> {
    let selection = args.selection()?;
    with_archive(&args.src, &args.remote, |archive| {
        let matches = archive.query_time(&selection)?;
        // Like grep, an empty result is exit 1, said on stderr (JSON still prints its empty
        // list, so a script reads the same shape either way).
        let nothing = || {
            anyhow::anyhow!(
                "{}: no file overlaps {}",
                args.src,
                args.describe_selection()
            )
        };
        if args.json {
            let files: Vec<_> = matches
                .iter()
                .map(|m| {
                    json!({
                        "name": m.name, "offset": m.data_offset,
                        "length": m.length, "start": m.start.to_string(),
                        "end": m.end.to_string(), "entry": m.entry,
                    })
                })
                .collect();
            print_json(&json!({ "files": files }))?;
            return if matches.is_empty() {
                Err(nothing())
            } else {
                Ok(())
            };
        }
        if matches.is_empty() {
            return Err(nothing());
        }
        let mut out = io::stdout().lock();
        for m in &matches {
            let entry = m.entry.map_or("-".to_string(), |e| e.to_string());
            writeln!(
                out,
                "{}  {} .. {}  offset {} length {}  entry {entry}",
                taco_format::escape_name(&m.name),
                m.start,
                m.end,
                m.data_offset,
                m.length,
            )?;
        }
        Ok(())
    })
}

pub fn manifest(args: &ManifestArgs) -> Result<()> {
    with_archive(&args.src, &args.remote, |archive| {
        let name = taco_reader::MANIFEST_MEMBER;
        if args.json {
            let (range, crc32) = archive.manifest_range()?;
            return print_json(&json!({
                "member": name, "offset": range.offset, "length": range.length,
                "crc32": crc32,
            }));
        }
        let (range, mut reader) = archive.open_manifest()?;
        let bar = progress_bar(range.length, args.quiet);
        let dest = Destination {
            output: args.output.as_deref(),
            force: args.force,
            input: &args.src,
        };
        write_item(&mut reader, range, &archive.source().label(), &dest, &bar)?;
        bar.finish_and_clear();
        Ok(())
    })
}
