//! `taco extract`: members of an archive, of one entry, or of a span file, into a directory.

use crate::cli::ExtractArgs;
use crate::output::{input_ids, print_json, with_archive};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use taco_format::NamePattern;
use taco_reader::{ExtractOptions, ExtractReport, Selection};

pub fn extract(args: &ExtractArgs) -> Result<()> {
    // With --range there is no archive argument: every positional is a pattern.
    let (src, patterns) = match &args.range {
        Some(_) => (
            None,
            args.src.iter().chain(&args.patterns).collect::<Vec<_>>(),
        ),
        None => (args.src.as_deref(), args.patterns.iter().collect()),
    };
    let patterns = patterns
        .into_iter()
        .map(|p| NamePattern::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let input = args.range.as_deref().or(src.map(Path::new));
    let options = ExtractOptions {
        overwrite: args.force,
        inputs: input_ids(input),
        patterns,
        taco_members: args.all,
    };
    let span = match (&args.range, src) {
        (Some(range), _) => Some(range.clone()),
        (None, Some("-")) => Some(PathBuf::from("-")),
        _ => None,
    };
    let report = if let Some(span) = span {
        if !args.entry.is_empty() {
            bail!("--entry needs an archive to read the header from, not a stream");
        }
        extract_stream(&span, &args.dir, &options)?
    } else {
        let src = src.context("an archive or --range FILE is required")?;
        with_archive(src, &args.remote, |archive| {
            if args.entry.is_empty() {
                return Ok(archive.extract(&args.dir, Selection::All, &options)?);
            }
            let mut report = ExtractReport::default();
            // Each entry once: a second pass would find its own files in the way.
            let mut entries = args.entry.clone();
            entries.sort_unstable();
            entries.dedup();
            for &index in &entries {
                let one = archive.extract(&args.dir, Selection::Entry(index), &options)?;
                report.files.extend(one.files);
                report.bytes += one.bytes;
            }
            Ok(report)
        })?
    };
    if let Some(pattern) = options
        .patterns
        .iter()
        .find(|p| !report.files.iter().any(|f| wrote_match(f, &args.dir, p)))
    {
        // As tar does: what matched is written; a pattern that selected nothing is an error.
        bail!(
            "no member matches {:?}{} ({} files extracted)",
            pattern.as_str(),
            if args.entry.is_empty() {
                ""
            } else {
                " in the entries given"
            },
            report.files.len()
        );
    }
    if args.quiet {
        return Ok(());
    }
    print_report(&report, &args.dir, args.json)
}

/// Whether the extracted file `path` (under `dir`) is a member `pattern` selects.
fn wrote_match(path: &Path, dir: &Path, pattern: &NamePattern) -> bool {
    path.strip_prefix(dir)
        .ok()
        .and_then(Path::to_str)
        .is_some_and(|name| pattern.matches(name))
}

/// A span or a whole archive read front to back from FILE or standard input (`-`): local
/// entries are written as they arrive; there is no central directory to check them against.
fn extract_stream(span: &Path, dir: &Path, options: &ExtractOptions) -> Result<ExtractReport> {
    if span.as_os_str() == "-" {
        let stdin = io::stdin().lock();
        let reader = io::BufReader::with_capacity(1 << 20, stdin);
        return Ok(taco_reader::extract_span(
            reader,
            "<standard input>",
            dir,
            options,
        )?);
    }
    let file = File::open(span).with_context(|| span.display().to_string())?;
    let reader = io::BufReader::with_capacity(1 << 20, file);
    Ok(taco_reader::extract_span(
        reader,
        &span.display().to_string(),
        dir,
        options,
    )?)
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
