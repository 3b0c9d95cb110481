//! `taco info`: what an archive is, on one screen.

use crate::cli::InfoArgs;
use crate::output::{count, human_size, print_json};
use anyhow::Result;
use serde_json::json;
use std::io::{self, Write};
use taco_reader::{EntryFiles, EntryRecord, IndexVersion, ReadAt, Summary, TacoArchive};

pub fn info(args: &InfoArgs) -> Result<()> {
    let archive = TacoArchive::open_lazy(&args.src, &args.remote.options())?;
    let summary = archive.summary();
    let source = archive.source();
    // What the description cost, said only where reads are requests.
    let stats = source.reads_are_requests().then(|| source.stats());
    if args.remote.stats {
        crate::output::print_stats(source, &args.remote);
    }
    let summary = summary?;
    if args.json {
        return print_json(&summary_json(&summary, stats));
    }
    let mut out = io::stdout().lock();
    write!(out, "{}", describe(&args.src, &summary))?;
    if let Some(stats) = stats {
        writeln!(
            out,
            "read with {} requests, {} bytes",
            stats.requests, stats.bytes
        )?;
    }
    Ok(())
}

/// The text `taco info` prints.
fn describe(src: &str, s: &Summary) -> String {
    let mut text = String::new();
    let size = format!("{} bytes ({})", s.size, human_size(s.size));
    let zip64 = if s.zip64 { "ZIP64" } else { "no ZIP64" };
    let Some(entries) = &s.entries else {
        text.push_str(&format!(
            "{src}: not a TACO archive: a plain ZIP with {}, {size} — `taco ls` and \
             `taco extract` still work\n",
            count(s.members, "member", "members")
        ));
        return text;
    };
    text.push_str(&format!(
        "{src}: TACO archive, {size}, {}, {zip64}\n",
        count(s.members, "member", "members")
    ));
    let index = match s.index {
        IndexVersion::V2 { lookup: true } => "v2 (lookup directory and manifest)",
        IndexVersion::V2 { lookup: false } => "v2 (manifest)",
        IndexVersion::V1 => "v1 (TACO_INDEX.json)",
        _ => "none",
    };
    // The planner's name comes from the archive: escaped like any text from it.
    let planner = s.planner.as_deref().map_or(String::new(), |p| {
        format!(
            ", planner {}",
            taco_format::escape_name(&planner_command(p))
        )
    });
    text.push_str(&format!("index: {index}{planner}\n"));
    text.push_str(&format!("entries: {}\n", entries.len()));
    if entries.is_empty() && s.outside.is_empty() {
        return text;
    }
    let rows: Vec<[String; 6]> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let record = s.records.iter().find(|r| r.index == i);
            [
                i.to_string(),
                record.map_or("-".into(), |r| r.kind.as_str().to_string()),
                e.offset.to_string(),
                e.length.to_string(),
                record.map_or("-".into(), |r| taco_format::escape_name(&r.label)),
                record.map_or(String::new(), covers),
            ]
        })
        .collect();
    let titles = ["entry", "kind", "offset", "length", "label", "covers"];
    let width = |c: usize| {
        rows.iter()
            .map(|r| r[c].chars().count())
            .chain([titles[c].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..titles.len()).map(width).collect();
    let line = |cells: [&str; 6]| {
        let mut l = format!(
            "  {:>w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:<w4$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        );
        l.truncate(l.trim_end().len());
        l.push('\n');
        l
    };
    text.push_str(&line(titles));
    for r in &rows {
        text.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
    }
    if !s.outside.is_empty() {
        let names: Vec<String> = s
            .outside
            .iter()
            .map(|n| taco_format::escape_name(n))
            .collect();
        text.push_str(&format!(
            "outside every entry: {} ({})\n",
            names.join(", "),
            s.outside.len()
        ));
    }
    text
}

/// The command that writes an index of this planner.
fn planner_command(planner: &str) -> String {
    match planner {
        "files" | "pack" => "pack".to_string(),
        other => format!("pack-{other}"),
    }
}

/// What an entry holds, from its record: "12 tiles", "3 files, 1.2 MiB", "row groups 0–3,
/// 400000 rows", "2 files, 2024-01-01T00:00:00 .. 2024-01-31T18:00:00".
fn covers(record: &EntryRecord) -> String {
    let f = &record.fields;
    let mut parts = Vec::new();
    if let Some(tiles) = f.tiles {
        parts.push(count(tiles, "tile", "tiles"));
    }
    match &f.files {
        Some(EntryFiles::Count(n)) => parts.push(count(*n, "file", "files")),
        Some(EntryFiles::Names(names)) => match names.as_slice() {
            [one] => parts.push(taco_format::escape_name(one)),
            _ => parts.push(count(names.len() as u64, "file", "files")),
        },
        None => {}
    }
    if let Some(bytes) = f.bytes {
        parts.push(human_size(bytes));
    }
    if let Some(groups) = &f.row_groups {
        match (groups.first(), groups.last()) {
            (Some(a), Some(b)) if a == b => parts.push(format!("row group {a}")),
            (Some(a), Some(b)) => parts.push(format!("row groups {a}-{b}")),
            _ => {}
        }
    }
    if let Some(rows) = f.rows {
        parts.push(format!("{rows} rows"));
    }
    match (f.start, f.end) {
        // pack-netcdf labels an entry by its time range already.
        (Some(start), Some(end)) if record.label == format!("{start} .. {end}") => {}
        (Some(start), Some(end)) => parts.push(format!("{start} .. {end}")),
        (Some(start), None) => parts.push(format!("from {start}")),
        _ => {}
    }
    parts.join(", ")
}

fn summary_json(s: &Summary, stats: Option<taco_reader::TransferStats>) -> serde_json::Value {
    let index = match s.index {
        IndexVersion::V2 { .. } => "v2",
        IndexVersion::V1 => "v1",
        _ => "none",
    };
    let entries: Option<Vec<serde_json::Value>> = s.entries.as_ref().map(|entries| {
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut value = json!({"index": i, "offset": e.offset, "length": e.length});
                if let Some(record) = s.records.iter().find(|r| r.index == i) {
                    if let (Some(object), Ok(serde_json::Value::Object(fields))) =
                        (value.as_object_mut(), serde_json::to_value(record))
                    {
                        for (key, v) in fields {
                            object.entry(key).or_insert(v);
                        }
                    }
                }
                value
            })
            .collect()
    });
    json!({
        "taco": s.entries.is_some(),
        "size": s.size,
        "members": s.members,
        "zip64": s.zip64,
        "index": index,
        "lookup": matches!(s.index, IndexVersion::V2 { lookup: true }),
        "planner": s.planner,
        "entries": entries,
        "outside": s.outside,
        "requests": stats.map(|st| st.requests),
        "bytes_read": stats.map(|st| st.bytes),
    })
}
