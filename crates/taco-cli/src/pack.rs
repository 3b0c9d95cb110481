//! `taco pack`: gather inputs, stream them into an archive, set entries.

use crate::cli::{
    LayoutArg, PackArgs, PackNetcdfArgs, PackParquetArgs, PackSplitsArgs, PackTilesArgs,
};
use crate::output::{force_hint, progress_bar};
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use taco_format::{Entry, MAX_ENTRIES};
use taco_writer::{ArchiveWriter, FileId, MemberSpan, WriterOptions};

/// One file to store: its member name, where it comes from, and its size when listed.
struct Input {
    name: String,
    path: PathBuf,
    size: u64,
}

fn utf8_name(path: &Path, part: &std::ffi::OsStr) -> Result<String> {
    part.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{}: file name is not valid UTF-8", path.display()))
}

/// Expands the command-line inputs into the ordered member list. A file found in a directory
/// that is the existing `out` (being replaced) is left out with a note: an archive is never
/// packed into itself.
fn collect_inputs(args: &[PathBuf], out: &Path) -> Result<Vec<Input>> {
    let out_meta = fs::metadata(out).ok().filter(fs::Metadata::is_file);
    let is_out = |file: &taco_planners::FoundFile| {
        out_meta.as_ref().is_some_and(|meta| {
            file.size == meta.len()
                && fs::metadata(&file.path).is_ok_and(|m| FileId::of(&m) == FileId::of(meta))
        })
    };
    let mut inputs = Vec::new();
    for arg in args {
        let meta = fs::metadata(arg).with_context(|| arg.display().to_string())?;
        if meta.is_dir() {
            let prefix = match arg.file_name() {
                Some(name) => utf8_name(arg, name)?,
                None => String::new(),
            };
            for file in taco_planners::walk_files(arg)? {
                if is_out(&file) {
                    eprintln!(
                        "taco: note: {}: is the output archive; not packed into itself",
                        file.path.display()
                    );
                    continue;
                }
                let name = if prefix.is_empty() {
                    file.relative
                } else {
                    format!("{prefix}/{}", file.relative)
                };
                inputs.push(Input {
                    name,
                    path: file.path,
                    size: file.size,
                });
            }
        } else if meta.is_file() {
            let name = arg
                .file_name()
                .with_context(|| format!("{}: has no file name", arg.display()))?;
            inputs.push(Input {
                name: utf8_name(arg, name)?,
                path: arg.clone(),
                size: meta.len(),
            });
        } else {
            bail!("{}: not a regular file or directory", arg.display());
        }
    }
    let mut seen = HashSet::new();
    for input in &inputs {
        if !seen.insert(input.name.as_str()) {
            bail!(
                "duplicate member name {:?} (from {})",
                input.name,
                input.path.display()
            );
        }
    }
    Ok(inputs)
}

/// `SOURCE_DATE_EPOCH` (reproducible builds convention) fixes every timestamp in the archive.
fn fixed_time() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => Ok(Some(
            v.trim()
                .parse()
                .context("SOURCE_DATE_EPOCH is not an integer")?,
        )),
        Err(_) => Ok(None),
    }
}

pub fn run(args: &PackArgs) -> Result<()> {
    if args.entries.len() > MAX_ENTRIES {
        bail!(
            "{} entries given, a TACO header holds at most {MAX_ENTRIES}",
            args.entries.len()
        );
    }
    let inputs = collect_inputs(&args.inputs, &args.out)?;
    if args.entry_per_file && inputs.len() > MAX_ENTRIES {
        bail!(
            "--entry-per-file: {} files, a TACO header holds at most {MAX_ENTRIES} entries",
            inputs.len()
        );
    }
    let options = WriterOptions {
        fixed_time: fixed_time()?,
        allow_entries_outside: args.allow_outside,
    };
    let out = &args.out;
    let mut writer = ArchiveWriter::create(out, args.force, options).map_err(|e| match e {
        taco_writer::WriteError::OutputExists { .. } => {
            anyhow::anyhow!(
                "{} already exists (use --force to overwrite)",
                out.display()
            )
        }
        other => other.into(),
    })?;
    let total: u64 = inputs.iter().map(|i| i.size).sum();
    let bar = progress_bar(total, args.quiet);
    let reporter = bar.clone();
    writer.set_progress(move |n| reporter.inc(n));
    let mut spans: Vec<MemberSpan> = Vec::with_capacity(inputs.len());
    for input in &inputs {
        spans.push(writer.add_path(&input.name, &input.path)?);
    }
    let entries: Vec<Entry> = if args.entry_per_file {
        spans.iter().map(MemberSpan::data_entry).collect()
    } else {
        args.entries.clone()
    };
    let (file, summary) = writer.finish(&entries)?;
    file.commit()?;
    bar.finish_and_clear();
    if !args.quiet {
        writeln!(
            io::stdout().lock(),
            "{}: {}, {} bytes, {}{}",
            out.display(),
            count(summary.members, "member", "members"),
            summary.archive_len,
            count(summary.entries.len() as u64, "entry", "entries"),
            if summary.zip64 { ", ZIP64" } else { "" }
        )?;
    }
    Ok(())
}

/// Default output of the `pack-*` commands: `<input stem>.taco` in the current directory.
fn default_output(input: &Path) -> Result<PathBuf> {
    // `.` or `..` name no file: use the directory's real name.
    let resolved;
    let input = if input.file_stem().is_none() {
        resolved = input
            .canonicalize()
            .with_context(|| input.display().to_string())?;
        resolved.as_path()
    } else {
        input
    };
    let stem = input
        .file_stem()
        .with_context(|| format!("{}: has no file name", input.display()))?;
    let mut name = stem.to_os_string();
    name.push(".taco");
    Ok(PathBuf::from(name))
}

/// Prints the planner's notes and the summary line of a planned pack.
fn report_planned(
    out: &Path,
    executed: &taco_planners::Executed,
    notes: &[String],
    quiet: bool,
) -> Result<()> {
    for note in notes {
        eprintln!("taco: note: {note}");
    }
    if !quiet {
        writeln!(
            io::stdout().lock(),
            "{}: {} bytes, {}; index in {}",
            out.display(),
            executed.archive_len,
            count(executed.entries.len() as u64, "entry", "entries"),
            executed.meta_path.display()
        )?;
    }
    Ok(())
}

/// Runs a plan into `out`, with progress and the `--force` hint, then reports it.
fn execute_plan(plan: taco_planners::Plan, out: &Path, force: bool, quiet: bool) -> Result<()> {
    let notes = plan.notes.clone();
    let bar = progress_bar(plan.total_bytes, quiet);
    let reporter = bar.clone();
    let options = taco_planners::ExecuteOptions {
        overwrite: force,
        fixed_time: fixed_time()?,
        progress: Some(Box::new(move |n| reporter.inc(n))),
    };
    let executed = taco_planners::execute(plan, out, options).map_err(force_hint)?;
    bar.finish_and_clear();
    report_planned(out, &executed, &notes, quiet)
}

/// OUT as given, or `<input stem>.taco` in the current directory.
fn output_or_default(output: Option<&Path>, input: &Path) -> Result<PathBuf> {
    match output {
        Some(out) => Ok(out.to_path_buf()),
        None => default_output(input),
    }
}

pub fn parquet(args: &PackParquetArgs) -> Result<()> {
    let options = taco_planners::ParquetOptions {
        layout: match args.layout {
            LayoutArg::Split => taco_planners::ParquetLayout::Split,
            LayoutArg::Verbatim => taco_planners::ParquetLayout::Verbatim,
        },
        parts: args.parts.map(usize::from),
    };
    let out = output_or_default(args.output.as_deref(), &args.input)?;
    let plan = taco_planners::plan_parquet(&args.input, &options)?;
    execute_plan(plan, &out, args.force, args.quiet)
}

pub fn tiles(args: &PackTilesArgs) -> Result<()> {
    let out = output_or_default(args.output.as_deref(), &args.dir)?;
    let plan = taco_planners::plan_tiles(&args.dir)?;
    execute_plan(plan, &out, args.force, args.quiet)
}

pub fn splits(args: &PackSplitsArgs) -> Result<()> {
    let out = output_or_default(args.output.as_deref(), &args.dir)?;
    let options = taco_planners::SplitOptions {
        splits: args.splits.clone(),
    };
    let plan = taco_planners::plan_splits(&args.dir, &options)?;
    execute_plan(plan, &out, args.force, args.quiet)
}

pub fn netcdf(args: &PackNetcdfArgs) -> Result<()> {
    let out = output_or_default(args.output.as_deref(), &args.dir)?;
    let options = taco_planners::NetcdfOptions {
        skip_invalid: args.skip_invalid,
    };
    let plan = taco_planners::plan_netcdf(&args.dir, &options)?;
    execute_plan(plan, &out, args.force, args.quiet)
}

/// "1 entry", "3 entries".
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
