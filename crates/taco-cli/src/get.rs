//! `taco get`: entries, members or tiles, to standard output, a file, a directory, or
//! extracted.

use crate::cli::GetArgs;
use crate::output::{input_ids, progress_bar, with_archive, write_item, Destination};
use anyhow::{bail, Result};
use indicatif::ProgressBar;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use taco_format::{Entry, NamePattern};
use taco_reader::{
    copy_exact, ExtractOptions, ExtractReport, Located, ReadAt, ReadError, Selection, TacoArchive,
};

/// One entry `get` writes somewhere: a raw byte range, no CRC to check.
#[derive(Debug, Clone)]
struct Want {
    /// File name under `-o DIR`: `entry-N`.
    name: String,
    range: Entry,
}

pub fn get(args: &GetArgs) -> Result<()> {
    with_archive(&args.src, &args.remote, |archive| get_from(archive, args))
}

/// Members or tiles, found through the lookup directory when the archive has one (each then
/// read with its local header in one request, which names it and carries its CRC), else
/// through the central directory or a v1 index.
fn get_located(archive: &TacoArchive, located: &[Located], args: &GetArgs) -> Result<()> {
    let label = archive.source().label();
    let total = located.iter().map(Located::data_len).sum();
    let bar = progress_bar(total, args.quiet);
    if let [one] = located {
        let (range, mut reader) = archive.open_located(one)?;
        write_item(&mut reader, range, &label, &destination(args), &bar)?;
        bar.finish_and_clear();
        return Ok(());
    }
    let dir = output_dir(located.len(), args)?;
    let options = ExtractOptions {
        overwrite: args.force,
        inputs: input_ids(Some(Path::new(&args.src))),
        ..ExtractOptions::default()
    };
    archive.read_located(located, usize::from(args.jobs), |_, name, range, reader| {
        write_named(reader, name, range, dir, &label, &options, &bar)
    })?;
    bar.finish_and_clear();
    Ok(())
}

/// The directory `-o DIR` several items go to.
fn output_dir(count: usize, args: &GetArgs) -> Result<&Path> {
    match &args.output {
        None => bail!("{count} items asked for: give -o DIR to write each to its own file"),
        Some(dash) if dash.as_os_str() == "-" => bail!(
            "{count} items asked for: standard output takes one; give -o DIR to write each to its own file"
        ),
        Some(dir) => Ok(dir),
    }
}

/// `--member` values with their patterns expanded: a value holding `*`, `?` or `[` that is
/// not itself a member's name selects every file member it matches (taco's own left out), in
/// archive order.
fn member_names(archive: &TacoArchive, asked: &[String]) -> Result<Vec<String>> {
    let mut names = Vec::with_capacity(asked.len());
    for name in asked {
        let wild = name.contains(['*', '?', '[']);
        // Not a pattern after all (`x[1`): a name, which the lookup then reports if missing.
        let pattern = wild.then(|| NamePattern::parse(name).ok()).flatten();
        let pattern = match pattern {
            Some(pattern) if archive.member(name).is_err() => pattern,
            _ => {
                names.push(name.clone());
                continue;
            }
        };
        let options = ExtractOptions {
            patterns: vec![pattern],
            ..ExtractOptions::default()
        };
        let before = names.len();
        names.extend(
            archive
                .members()?
                .iter()
                .filter(|m| !m.is_dir())
                .map(|m| m.name_lossy())
                .filter(|n| options.selects(n)),
        );
        if names.len() == before {
            bail!("{}: no member matches {name:?}", archive.source().label());
        }
    }
    // Each member once, in the order first asked for: a second copy would find the first in
    // its way (or race it with --jobs).
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
    Ok(names)
}

fn get_from(archive: &TacoArchive, args: &GetArgs) -> Result<()> {
    let label = archive.source().label();
    let members = member_names(archive, &args.member)?;
    if let [name] = members.as_slice() {
        // One member: its local header and data come with one request.
        let (range, mut reader) = archive.open_member(name)?;
        let bar = progress_bar(range.length, args.quiet);
        write_item(&mut reader, range, &label, &destination(args), &bar)?;
        bar.finish_and_clear();
        return Ok(());
    }
    if !members.is_empty() {
        let located = members
            .iter()
            .map(|name| archive.find_member(name))
            .collect::<Result<Vec<_>, _>>()?;
        return get_located(archive, &located, args);
    }
    if !args.tile.is_empty() {
        let located = args
            .tile
            .iter()
            .map(|t| archive.tile(t.z, t.x, t.y))
            .collect::<Result<Vec<_>, _>>()?;
        return get_located(archive, &located, args);
    }
    // Each entry once, in the order first asked for.
    let mut seen = std::collections::HashSet::new();
    let wants = args
        .entry
        .iter()
        .filter(|&&index| seen.insert(index))
        .map(|&index| {
            Ok(Want {
                name: format!("entry-{index}"),
                range: archive.entry(index)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let options = ExtractOptions {
        overwrite: args.force,
        inputs: input_ids(Some(Path::new(&args.src))),
        ..ExtractOptions::default()
    };
    let total = wants.iter().map(|w| w.range.length).sum();
    let bar = progress_bar(total, args.quiet);
    let jobs = usize::from(args.jobs);
    if let Some(dir) = &args.extract_to {
        // Each entry as `extract --entry` takes it: a span checked against the lookup directory
        // (index v2) or the central directory, so only listed members are written.
        let mut entries = args.entry.clone();
        entries.sort_unstable();
        entries.dedup();
        let reports = taco_reader::run_jobs(entries.len(), jobs, |i| {
            archive.extract(dir, Selection::Entry(entries[i]), &options)
        })?;
        bar.finish_and_clear();
        let mut report = ExtractReport::default();
        for r in reports {
            report.files.extend(r.files);
            report.bytes += r.bytes;
        }
        if args.quiet {
            return Ok(());
        }
        return crate::extract::print_report(&report, dir, false);
    }
    match wants.as_slice() {
        [want] => {
            let mut reader = archive.source().open_range(want.range)?;
            write_item(&mut reader, want.range, &label, &destination(args), &bar)?;
        }
        _ => {
            let dir = output_dir(wants.len(), args)?;
            let ranges: Vec<Entry> = wants.iter().map(|w| w.range).collect();
            archive.read_ranges(&ranges, jobs, |i, reader| {
                let want = &wants[i];
                write_named(reader, &want.name, want.range, dir, &label, &options, &bar)
            })?;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Writes one item of several as its own file `dir/name`, created atomically (a member's
/// reader checks its CRC itself).
fn write_named(
    reader: &mut dyn Read,
    name: &str,
    range: Entry,
    dir: &Path,
    label: &str,
    options: &ExtractOptions,
    bar: &ProgressBar,
) -> Result<(), ReadError> {
    taco_reader::write_named_file(dir, name, label, options, range.offset, None, |file| {
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let path = dir.join(name);
        let output = |source| ReadError::Output {
            path: path.clone(),
            source,
        };
        let crc = copy_exact(reader, label, range, |c| {
            bar.inc(c.len() as u64);
            out.write_all(c).map_err(output)
        })?;
        out.flush().map_err(output)?;
        Ok(crc)
    })
    .map(drop)
}

/// Where a single item of `get` goes.
fn destination(args: &GetArgs) -> Destination<'_> {
    Destination {
        output: args.output.as_deref(),
        force: args.force,
        input: &args.src,
    }
}
