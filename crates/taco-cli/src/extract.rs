//! `taco extract`: members of an archive, of one entry, or of a span file, into a directory.

use crate::cli::ExtractArgs;
use crate::output::{input_ids, print_json, with_archive};
use anyhow::{Context, Result};
use serde_json::json;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use taco_reader::{ExtractOptions, ExtractReport};

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
        let selection = args.selection();
        with_archive(src, &args.remote, |archive| {
            Ok(archive.extract(&args.dir, selection, &options)?)
        })?
    };
    if args.quiet {
        return Ok(());
    }
    print_report(&report, &args.dir, args.json)
}

/// What an extraction wrote: a summary line, or JSON.
pub fn print_report(report: &ExtractReport, dir: &Path, json_output: bool) -> Result<()> {
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
