//! `taco pack`: gather inputs, stream them into an archive, set entries.

use crate::cli::{LayoutArg, PackArgs, PackParquetArgs};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use taco_format::{Entry, MAX_ENTRIES};
use taco_writer::{ArchiveWriter, MemberSpan, WriterOptions};

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

/// Lists every regular file under `dir` (following symlinks, refusing loops) as `prefix/rel`.
fn walk(
    dir: &Path,
    prefix: &str,
    ancestors: &mut Vec<(u64, u64)>,
    out: &mut Vec<Input>,
) -> Result<()> {
    let meta = fs::metadata(dir).with_context(|| dir.display().to_string())?;
    let id = (meta.dev(), meta.ino());
    if ancestors.contains(&id) {
        bail!(
            "{}: symlink loop (directory contains itself)",
            dir.display()
        );
    }
    ancestors.push(id);
    let entries = fs::read_dir(dir).with_context(|| dir.display().to_string())?;
    for entry in entries {
        let entry = entry.with_context(|| dir.display().to_string())?;
        let path = entry.path();
        let name = utf8_name(&path, &entry.file_name())?;
        let member = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        // Follows symlinks: a link to a file stores the file; a dangling link is an error.
        let meta = fs::metadata(&path).with_context(|| {
            if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                format!("{}: dangling symlink", path.display())
            } else {
                path.display().to_string()
            }
        })?;
        if meta.is_dir() {
            walk(&path, &member, ancestors, out)?;
        } else if meta.is_file() {
            out.push(Input {
                name: member,
                path,
                size: meta.len(),
            });
        } else {
            bail!("{}: not a regular file or directory", path.display());
        }
    }
    ancestors.pop();
    Ok(())
}

/// Expands the command-line inputs into the ordered member list.
fn collect_inputs(args: &[PathBuf]) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for arg in args {
        let meta = fs::metadata(arg).with_context(|| arg.display().to_string())?;
        if meta.is_dir() {
            let prefix = match arg.file_name() {
                Some(name) => utf8_name(arg, name)?,
                None => String::new(),
            };
            let mut found = Vec::new();
            walk(arg, &prefix, &mut Vec::new(), &mut found)?;
            found.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
            inputs.extend(found);
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

/// Progress on stderr when it is a terminal and not silenced.
pub fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
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
    let inputs = collect_inputs(&args.inputs)?;
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
            "{}: {} members, {} bytes, {} entries{}",
            out.display(),
            summary.members,
            summary.archive_len,
            summary.entries.len(),
            if summary.zip64 { ", ZIP64" } else { "" }
        )?;
    }
    Ok(())
}

/// Adds the `--force` hint to "already exists" errors; other errors pass through.
pub fn force_hint(err: impl Into<anyhow::Error>) -> anyhow::Error {
    let err = err.into();
    use taco_writer::WriteError::OutputExists;
    let exists = err.chain().any(|cause| {
        matches!(cause.downcast_ref(), Some(OutputExists { .. }))
            || matches!(
                cause.downcast_ref(),
                Some(taco_planners::PlanError::Write(OutputExists { .. }))
            )
    });
    if exists {
        anyhow::anyhow!("{err} (use --force to overwrite)")
    } else {
        err
    }
}

/// Default output of the `pack-*` commands: `<input stem>.taco` in the current directory.
fn default_output(input: &Path) -> Result<PathBuf> {
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
            "{}: {} bytes, {} entries; index in {}",
            out.display(),
            executed.archive_len,
            executed.entries.len(),
            executed.meta_path.display()
        )?;
    }
    Ok(())
}

pub fn parquet(args: &PackParquetArgs) -> Result<()> {
    let options = taco_planners::ParquetOptions {
        layout: match args.layout {
            LayoutArg::Split => taco_planners::ParquetLayout::Split,
            LayoutArg::Verbatim => taco_planners::ParquetLayout::Verbatim,
        },
        parts: args.parts.map(usize::from),
    };
    let out = match &args.output {
        Some(out) => out.clone(),
        None => default_output(&args.input)?,
    };
    let plan = taco_planners::plan_parquet(&args.input, &options)?;
    let notes = plan.notes.clone();
    let bar = progress_bar(plan.total_bytes, args.quiet);
    let reporter = bar.clone();
    let execute_options = taco_planners::ExecuteOptions {
        overwrite: args.force,
        fixed_time: fixed_time()?,
        progress: Some(Box::new(move |n| reporter.inc(n))),
    };
    let executed = taco_planners::execute(plan, &out, execute_options).map_err(force_hint)?;
    bar.finish_and_clear();
    report_planned(&out, &executed, &notes, args.quiet)
}
