//! `taco query`: the files of a NetCDF archive whose times overlap a selection.

use crate::cli::QueryArgs;
use crate::output::{print_json, with_archive};
use anyhow::Result;
use serde_json::json;
use std::io::{self, Write};

pub fn query(args: &QueryArgs) -> Result<()> {
    let selection = args.selection()?;
    with_archive(&args.src, &args.remote, |archive| {
        let matches = archive.query_time(&selection)?;
        if args.json {
            let files: Vec<_> = matches
                .iter()
                .map(|m| {
                    json!({
                        "name": m.member.name, "offset": m.member.data_offset,
                        "length": m.member.length, "start": m.start.to_string(),
                        "end": m.end.to_string(), "entry": m.entry,
                    })
                })
                .collect();
            return print_json(&json!({ "files": files }));
        }
        let mut out = io::stdout().lock();
        for m in &matches {
            let entry = m.entry.map_or("-".to_string(), |e| e.to_string());
            writeln!(
                out,
                "{}  {} .. {}  offset {} length {}  entry {entry}",
                taco_format::escape_name(&m.member.name),
                m.start,
                m.end,
                m.member.data_offset,
                m.member.length,
            )?;
        }
        Ok(())
    })
}
