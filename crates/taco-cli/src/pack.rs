//! `taco pack`: gather inputs, stream them into an archive, set entries.

use crate::cli::{
    LayoutArg, PackArgs, PackNetcdfArgs, PackParquetArgs, PackSplitsArgs, PackTilesArgs, UploadArgs,
};
use crate::output::{count, force_hint, progress_bar};
use anyhow::{Context, Result};
use clap::ArgMatches;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use taco_planners::GivenEntry;

/// `--entry` and `--entry-member` values in the order they were given on the command line.
fn given_entries(args: &PackArgs, matches: &ArgMatches) -> Vec<GivenEntry> {
    let at = |id: &str| {
        matches
            .indices_of(id)
            .map(Iterator::collect::<Vec<_>>)
            .unwrap_or_default()
    };
    let mut given: Vec<(usize, GivenEntry)> = at("entries")
        .into_iter()
        .zip(args.entries.iter().map(|e| GivenEntry::Range(*e)))
        .chain(
            at("entry_members")
                .into_iter()
                .zip(args.entry_members.iter().cloned().map(GivenEntry::Member)),
        )
        .collect();
    given.sort_by_key(|(index, _)| *index);
    given.into_iter().map(|(_, entry)| entry).collect()
}

/// The paths `--files-from` lists: one per line, or NUL-separated when the list holds a NUL
/// (so any file name, newlines included, can be given); empty items are skipped.
fn read_file_list(list: &Path) -> Result<Vec<PathBuf>> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = if list.as_os_str() == "-" {
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut io::stdin().lock(), &mut bytes).context("standard input")?;
        bytes
    } else {
        std::fs::read(list).with_context(|| list.display().to_string())?
    };
    let separator = if bytes.contains(&0) { 0 } else { b'\n' };
    Ok(bytes
        .split(|&b| b == separator)
        .filter(|item| !item.is_empty())
        .map(|item| PathBuf::from(std::ffi::OsStr::from_bytes(item)))
        .collect())
}

/// Where a pack goes.
enum Destination<'a> {
    /// A local file, written beside its final name and renamed into place.
    File(&'a Path),
    /// Standard output (`-`), written front to back.
    Stdout,
    /// An object URL, streamed with a multipart upload.
    Object(&'a str),
}

impl Destination<'_> {
    fn of(out: &Path) -> Destination<'_> {
        match out.to_str() {
            Some("-") => Destination::Stdout,
            // Any `scheme://`, so a URL taco cannot upload to is refused as one, not
            // written as a local path.
            Some(url) if taco_reader::url_scheme(url).is_some() => Destination::Object(url),
            _ => Destination::File(out),
        }
    }
}

/// Writes `plan` to `out` (a file, `-` or an object URL) and returns what was written. An
/// upload that fails or is interrupted is aborted: no object, no parts left behind.
fn execute_into(
    plan: taco_planners::Plan,
    out: &Path,
    mut options: taco_planners::ExecuteOptions,
    upload: &UploadArgs,
    quiet: bool,
) -> Result<taco_planners::Executed> {
    match Destination::of(out) {
        Destination::File(path) => {
            Ok(taco_planners::execute(plan, path, options).map_err(force_hint)?)
        }
        Destination::Stdout => {
            if io::stdout().is_terminal() {
                anyhow::bail!(
                    "refusing to write an archive to a terminal: redirect standard output to a \
                     file or a pipe"
                );
            }
            let stdout = io::BufWriter::with_capacity(1 << 20, io::stdout().lock());
            let (mut stdout, executed) =
                taco_planners::execute_to(plan, stdout, "standard output", options)?;
            stdout.flush()?;
            Ok(executed)
        }
        Destination::Object(url) => {
            let upload_options = taco_reader::UploadOptions {
                overwrite: options.overwrite,
                part_len: usize::try_from(u64::from(upload.part_size) << 20)
                    .context("--part-size does not fit this machine's memory")?,
                parts_in_flight: usize::from(upload.parts_in_flight),
                expected_len: plan.estimated_len(),
            };
            // Before the upload starts: a signal from now on stops it cleanly, never orphans it.
            let cancel = crate::interrupt::cancel_flag();
            options.cancel = Some(cancel.clone());
            let mut sink =
                taco_reader::ObjectUpload::create(url, &upload.remote.options(), &upload_options)
                    .map_err(force_hint)?;
            sink.set_cancel(cancel);
            if sink.part_len() != upload_options.part_len && !quiet {
                eprintln!(
                    "taco: note: parts of {} MiB, so the archive fits in {} parts",
                    sink.part_len() >> 20,
                    taco_reader::MAX_PARTS
                );
            }
            // On failure the upload goes down with the writer holding it, which aborts it.
            let (sink, executed) = taco_planners::execute_to(plan, sink, url, options)?;
            if crate::interrupt::interrupted() {
                return Err(taco_planners::PlanError::Cancelled.into());
            }
            let stats = sink.complete().map_err(force_hint)?;
            if upload.remote.stats {
                eprintln!(
                    "taco: stats: requests={} bytes={} bytes_sent={}",
                    stats.requests, stats.bytes, stats.bytes_sent
                );
            }
            Ok(executed)
        }
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible builds convention) fixes every timestamp in the archive.
fn fixed_time() -> Result<Option<i64>> {
    Ok(taco_planners::source_date_epoch()?)
}

pub fn run(args: &PackArgs, matches: &ArgMatches) -> Result<()> {
    let given = given_entries(args, matches);
    let entries = if args.entry_per_file {
        taco_planners::FileEntries::PerFile
    } else if given.is_empty() {
        taco_planners::FileEntries::None
    } else {
        taco_planners::FileEntries::Given(given)
    };
    let mut inputs = args.inputs.clone();
    if let Some(list) = &args.files_from {
        inputs.extend(read_file_list(list)?);
    }
    let plan = taco_planners::plan_files(&inputs, args.directory.as_deref(), &args.out, entries)?;
    let files = plan.members.len() as u64;
    for note in &plan.notes {
        eprintln!("taco: note: {note}");
    }
    let bar = progress_bar(plan.total_bytes, args.quiet);
    let reporter = bar.clone();
    let options = taco_planners::ExecuteOptions {
        overwrite: args.force,
        fixed_time: fixed_time()?,
        progress: Some(Box::new(move |n| reporter.inc(n))),
        no_index: args.no_index,
        allow_entries_outside: args.allow_outside,
        cancel: None,
    };
    let executed = execute_into(plan, &args.out, options, &args.upload, args.quiet)?;
    bar.finish_and_clear();
    if !args.quiet {
        writeln!(
            summary_stream(&args.out),
            "{}: {}{}, {} bytes, {}{}",
            args.out.display(),
            count(files, "member", "members"),
            if args.no_index { "" } else { " and the index" },
            executed.archive_len,
            count(executed.entries.len() as u64, "entry", "entries"),
            if executed.zip64 { ", ZIP64" } else { "" }
        )?;
    }
    Ok(())
}

fn default_output(input: &Path) -> Result<PathBuf> {
    Ok(taco_planners::default_output(input)?)
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
        let mut line = format!(
            "{}: {} bytes, {}",
            out.display(),
            executed.archive_len,
            count(executed.entries.len() as u64, "entry", "entries"),
        );
        if let Some(meta) = &executed.meta_path {
            line.push_str(&format!("; index in {}", meta.display()));
        }
        writeln!(summary_stream(out), "{line}")?;
    }
    Ok(())
}

/// Where the summary line goes: standard output, unless the archive itself goes there.
fn summary_stream(out: &Path) -> Box<dyn Write> {
    if out.as_os_str() == "-" {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    }
}

/// Runs a plan into `out`, with progress and the `--force` hint, then reports it.
fn execute_plan(
    plan: taco_planners::Plan,
    out: &Path,
    force: bool,
    quiet: bool,
    upload: &UploadArgs,
) -> Result<()> {
    let notes = plan.notes.clone();
    let bar = progress_bar(plan.total_bytes, quiet);
    let reporter = bar.clone();
    let options = taco_planners::ExecuteOptions {
        overwrite: force,
        fixed_time: fixed_time()?,
        progress: Some(Box::new(move |n| reporter.inc(n))),
        no_index: false,
        allow_entries_outside: false,
        cancel: None,
    };
    let executed = execute_into(plan, out, options, upload, quiet)?;
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
    execute_plan(plan, &out, args.force, args.quiet, &args.upload)
}

pub fn tiles(args: &PackTilesArgs) -> Result<()> {
    let out = output_or_default(args.output.as_deref(), &args.dir)?;
    let plan = taco_planners::plan_tiles(&args.dir)?;
    execute_plan(plan, &out, args.force, args.quiet, &args.upload)
}

pub fn splits(args: &PackSplitsArgs) -> Result<()> {
    let out = output_or_default(args.output.as_deref(), &args.dir)?;
    let options = taco_planners::SplitOptions {
        splits: args.splits.clone(),
    };
    let plan = taco_planners::plan_splits(&args.dir, &options)?;
    execute_plan(plan, &out, args.force, args.quiet, &args.upload)
}

pub fn netcdf(args: &PackNetcdfArgs) -> Result<()> {
    let out = output_or_default(args.output.as_deref(), &args.dir)?;
    let options = taco_planners::NetcdfOptions {
        skip_invalid: args.skip_invalid,
    };
    let plan = taco_planners::plan_netcdf(&args.dir, &options)?;
    execute_plan(plan, &out, args.force, args.quiet, &args.upload)
}
