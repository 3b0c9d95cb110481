//! `taco get`: entries, members or tiles, to standard output, a file, a directory, or
//! extracted.

use crate::cli::GetArgs;
use crate::output::{input_ids, progress_bar, with_archive, write_item, Destination};
use anyhow::{bail, Result};
use indicatif::ProgressBar;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use taco_format::Entry;
use taco_reader::{
    copy_exact, CrcReader, ExtractOptions, ExtractReport, Located, Place, ReadAt, ReadError,
    TacoArchive,
};

/// One range `get` writes somewhere: an entry, a member or a tile.
#[derive(Debug, Clone)]
struct Want {
    /// File name under `-o DIR`: `entry-N`, or the member's name.
    name: String,
    range: Entry,
    /// The CRC-32 the bytes must have (members and tiles; entries are raw ranges).
    crc: Option<u32>,
}

pub fn get(args: &GetArgs) -> Result<()> {
    with_archive(&args.src, &args.remote, |archive| get_from(archive, args))
}

/// Resolves the entries or members asked for into byte ranges: the header once for entries;
/// the directory tail once, then a local header per member. (Tiles are located in `get_from`.)
fn resolve(archive: &TacoArchive, args: &GetArgs) -> Result<Vec<Want>> {
    if !args.entry.is_empty() {
        return args
            .entry
            .iter()
            .map(|&index| {
                Ok(Want {
                    name: format!("entry-{index}"),
                    range: archive.entry(index)?,
                    crc: None,
                })
            })
            .collect();
    }
    let directory = archive.directory()?;
    args.member
        .iter()
        .map(|name| {
            let member = archive.member(name)?;
            Ok(Want {
                name: name.clone(),
                range: directory.data_range(member)?,
                crc: Some(member.record.crc32),
            })
        })
        .collect()
}

/// Tiles found through the lookup directory: each read with its local header in one request,
/// which names it and carries its CRC.
fn get_tiles(archive: &TacoArchive, located: &[Located], args: &GetArgs) -> Result<()> {
    let label = archive.source().label();
    let total = located
        .iter()
        .map(|l| match l.place {
            Place::Tile { data_len, .. } | Place::LocalEntry { data_len, .. } => data_len,
            Place::Data { range, .. } => range.length,
        })
        .sum();
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
    };
    archive.read_located(located, usize::from(args.jobs), |_, name, range, reader| {
        let want = Want {
            name: name.to_string(),
            range,
            // The reader checks the CRC itself.
            crc: None,
        };
        write_named(reader, &want, dir, &label, &options, &bar)
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

fn get_from(archive: &TacoArchive, args: &GetArgs) -> Result<()> {
    let label = archive.source().label();
    if let [name] = args.member.as_slice() {
        // One member: its local header and data come with one request.
        let (range, mut reader) = archive.open_member(name)?;
        let bar = progress_bar(range.length, args.quiet);
        write_item(&mut reader, range, &label, &destination(args), &bar)?;
        bar.finish_and_clear();
        return Ok(());
    }
    let wants = if args.tile.is_empty() {
        resolve(archive, args)?
    } else {
        let located = args
            .tile
            .iter()
            .map(|t| archive.tile(t.z, t.x, t.y))
            .collect::<Result<Vec<_>, _>>()?;
        // Tiles of a v1 archive: the index gave every range and CRC.
        let from_index: Option<Vec<Want>> = located
            .iter()
            .map(|l| match l.place {
                Place::Data { range, crc32 } => Some(Want {
                    name: l.name.clone(),
                    range,
                    crc: Some(crc32),
                }),
                _ => None,
            })
            .collect();
        match from_index {
            Some(wants) => wants,
            None => return get_tiles(archive, &located, args),
        }
    };
    let options = ExtractOptions {
        overwrite: args.force,
        inputs: input_ids(Some(Path::new(&args.src))),
    };
    let total = wants.iter().map(|w| w.range.length).sum();
    let bar = progress_bar(total, args.quiet);
    let jobs = usize::from(args.jobs);
    if let Some(dir) = &args.extract_to {
        // Only members the central directory lists are written, so it is read too.
        let directory = archive.directory()?;
        let reports = taco_reader::run_jobs(wants.len(), jobs, |i| {
            let want = &wants[i];
            let range = archive.source().open_range(want.range)?;
            let reader = io::BufReader::with_capacity(1 << 20, range);
            let item = format!("{label} {}", want.name);
            taco_reader::extract_listed_span(
                reader,
                &item,
                directory,
                want.range.offset,
                dir,
                &options,
            )
        })?;
        bar.finish_and_clear();
        let mut report = ExtractReport::default();
        for r in reports {
            report.files.extend(r.files);
            report.bytes += r.bytes;
        }
        return crate::extract::print_report(&report, dir, false);
    }
    match (&args.output, wants.as_slice()) {
        (_, [want]) => {
            let raw = archive.source().open_range(want.range)?;
            let mut reader: Box<dyn Read> = match want.crc {
                Some(crc) => Box::new(CrcReader::new(
                    raw,
                    want.name.clone(),
                    crc,
                    want.range,
                    label.clone(),
                )),
                None => raw,
            };
            write_item(&mut reader, want.range, &label, &destination(args), &bar)?;
        }
        (_, _) => {
            let dir = output_dir(wants.len(), args)?;
            let ranges: Vec<Entry> = wants.iter().map(|w| w.range).collect();
            archive.read_ranges(&ranges, jobs, |i, reader| {
                let want = &wants[i];
                write_named(reader, want, dir, &label, &options, &bar)
            })?;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Writes one item of several as its own file under `dir` (created atomically, CRC-checked).
fn write_named(
    reader: &mut dyn Read,
    want: &Want,
    dir: &Path,
    label: &str,
    options: &ExtractOptions,
    bar: &ProgressBar,
) -> Result<(), ReadError> {
    taco_reader::write_named_file(
        dir,
        &want.name,
        label,
        options,
        want.range.offset,
        want.crc,
        |file| {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let path = dir.join(&want.name);
            let output = |source| ReadError::Output {
                path: path.clone(),
                source,
            };
            let crc = copy_exact(reader, label, want.range, |c| {
                bar.inc(c.len() as u64);
                out.write_all(c).map_err(output)
            })?;
            out.flush().map_err(output)?;
            Ok(crc)
        },
    )
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
