//! What every command shares: opening SRC, `--stats`, progress bars, JSON on stdout, and the
//! `--force` hint.

use crate::cli::RemoteArgs;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::Path;
use taco_format::Entry;
use taco_reader::{copy_exact, ReadError, Source, TacoArchive};
use taco_writer::{FileId, Output};

/// Opens SRC (path or URL) without reading it yet, runs `work` on it, and prints `--stats`
/// whether or not it worked.
pub fn with_archive<T>(
    src: &str,
    remote: &RemoteArgs,
    work: impl FnOnce(&TacoArchive) -> Result<T>,
) -> Result<T> {
    let archive = TacoArchive::open_lazy(src, &remote.options())?;
    let result = work(&archive);
    print_stats(archive.source(), remote);
    result
}

/// `--stats`: requests sent and bytes received, on stderr.
pub fn print_stats(source: &Source, remote: &RemoteArgs) {
    if remote.stats {
        let stats = source.stats();
        eprintln!(
            "taco: stats: requests={} bytes={}",
            stats.requests, stats.bytes
        );
    }
}

/// `value` as pretty JSON on stdout. Encoded first and then written, so a closed pipe comes
/// back as the `io::Error` it is (serde_json's own error would hide it from `is_broken_pipe`).
pub fn print_json(value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// Entries as the JSON array every command prints.
pub fn entries_json(entries: &[Entry]) -> serde_json::Value {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"index": i, "offset": e.offset, "length": e.length}))
        .collect()
}

/// "1 entry", "3 entries".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A size for people: bytes below 1 KiB, else one decimal in the largest binary unit that
/// keeps the number at least 1 ("1.5 KiB", "3.0 GiB").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A progress bar on stderr (drawn only when stderr is a terminal), hidden with `-q`.
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

/// Adds "(use --force to overwrite)" to an error that is about an existing output.
pub fn force_hint(err: impl Into<anyhow::Error>) -> anyhow::Error {
    let err = err.into();
    use taco_writer::WriteError::OutputExists;
    let exists = err.chain().any(|cause| {
        matches!(cause.downcast_ref(), Some(OutputExists { .. }))
            || matches!(
                cause.downcast_ref(),
                Some(taco_planners::PlanError::Write(OutputExists { .. }))
            )
            || matches!(
                cause.downcast_ref(),
                Some(taco_reader::ReadError::Remote {
                    problem: taco_reader::RemoteError::AlreadyExists,
                    ..
                })
            )
    });
    if exists {
        anyhow::anyhow!("{err} (use --force to overwrite)")
    } else {
        err
    }
}

/// The (device, inode) of a local input, which extraction must never replace.
pub fn input_ids(input: Option<&Path>) -> Vec<(u64, u64)> {
    input
        .and_then(FileId::of_path)
        .map(|id| (id.dev, id.ino))
        .into_iter()
        .collect()
}

/// A failed write to standard output, named as such.
pub fn stdout_error(source: io::Error) -> ReadError {
    ReadError::Output {
        path: "<standard output>".into(),
        source,
    }
}

/// Where one item's bytes go: `-o FILE` or standard output.
pub struct Destination<'a> {
    /// `-o FILE` (`-` is standard output, even a terminal; no `-o` is standard output unless
    /// that is a terminal).
    pub output: Option<&'a Path>,
    /// Replace an existing FILE.
    pub force: bool,
    /// The command's input, which is never replaced.
    pub input: &'a str,
}

/// Writes one item's bytes from `reader` to `-o FILE` (atomically, committed only when the
/// reader, which checks a member's CRC, reached its end) or to standard output.
pub fn write_item(
    reader: &mut dyn Read,
    range: Entry,
    label: &str,
    dest: &Destination<'_>,
    bar: &ProgressBar,
) -> Result<()> {
    let Some(path) = dest.output else {
        if io::stdout().is_terminal() {
            // As curl does: archive bytes would garble the terminal (and mix with the bar).
            anyhow::bail!(
                "refusing to write {label}'s bytes to a terminal: give -o FILE, pipe the \
                 output, or -o - to write to the terminal anyway"
            );
        }
        let mut out = io::stdout().lock();
        copy_exact(reader, label, range, |c| {
            bar.inc(c.len() as u64);
            out.write_all(c).map_err(stdout_error)
        })?;
        out.flush()?;
        return Ok(());
    };
    let inputs: Vec<FileId> = FileId::of_path(Path::new(dest.input)).into_iter().collect();
    let mut file = Output::create(path, dest.force, &inputs).map_err(force_hint)?;
    let mut out = BufWriter::with_capacity(1 << 20, &mut file);
    copy_exact(reader, label, range, |c| {
        bar.inc(c.len() as u64);
        out.write_all(c).map_err(|source| ReadError::Output {
            path: path.to_path_buf(),
            source,
        })
    })?;
    out.flush().with_context(|| path.display().to_string())?;
    drop(out);
    file.commit()?;
    Ok(())
}
