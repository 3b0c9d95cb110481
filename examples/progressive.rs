//! Progressive loading: walk an archive's entries in order, read each by offset and length, and
//! checkpoint the next index to a file so an interrupted run resumes where it stopped.
//!
//! ```text
//! cargo run -p taco-examples --example progressive [ARCHIVE CHECKPOINT]
//! ```
//!
//! With `STOP_AFTER=N` the run stops after N entries, as if killed. Without arguments the example
//! builds a small archive, runs once with an interruption, resumes, and checks that every entry
//! was processed exactly once.

use std::error::Error;
use std::path::{Path, PathBuf};
use taco_format::CrcPolicy;
use taco_reader::{read_header, stream_range, LocalFile};
use taco_writer::{ArchiveWriter, MemberSpan, WriterOptions};

/// Reads the index of the next entry to process (0 when there is no checkpoint yet).
fn load_checkpoint(path: &Path) -> Result<usize, Box<dyn Error>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().parse()?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Writes the checkpoint atomically: a crash leaves the old value or the new one, never half.
fn save_checkpoint(path: &Path, next: usize) -> Result<(), Box<dyn Error>> {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, next.to_string())?;
    std::fs::rename(&temp, path)?;
    Ok(())
}

/// Processes entries from the checkpoint on; returns the indices processed in this run.
fn run(
    archive: &Path,
    checkpoint: &Path,
    stop_after: Option<usize>,
) -> Result<Vec<usize>, Box<dyn Error>> {
    let source = LocalFile::open(archive)?;
    let entries = read_header(&source, CrcPolicy::Strict)?.entries;
    let start = load_checkpoint(checkpoint)?;
    let mut processed = Vec::new();
    for (index, entry) in entries.iter().enumerate().skip(start) {
        if stop_after.is_some_and(|n| processed.len() >= n) {
            println!("interrupted before entry {index}; checkpoint says {index}");
            return Ok(processed);
        }
        let mut lines = 0usize;
        stream_range(&source, *entry, |chunk| {
            lines += chunk.iter().filter(|&&b| b == b'\n').count();
            Ok(())
        })?;
        println!(
            "entry {index}: {} bytes at {}, {lines} lines",
            entry.length, entry.offset
        );
        processed.push(index);
        save_checkpoint(checkpoint, index + 1)?;
    }
    println!("done: {} entries", entries.len());
    Ok(processed)
}

/// Builds a 5-entry demo archive from the example data.
fn demo_archive(dir: &Path) -> Result<PathBuf, Box<dyn Error>> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/pipeline/stage1");
    let path = dir.join("progressive.taco");
    let mut writer = ArchiveWriter::create(&path, true, WriterOptions::default())?;
    let mut spans = Vec::new();
    for name in [
        "README.txt",
        "raw.csv",
        "features/labels.txt",
        "features/stats.json",
    ] {
        spans.push(writer.add_path(name, &data.join(name))?);
    }
    // The fifth entry spans all four members: a run of complete local entries.
    let mut entries: Vec<_> = spans.iter().map(MemberSpan::data_entry).collect();
    entries.push(MemberSpan::span_entry(&spans[0], &spans[3]));
    let (file, _) = writer.finish(&entries)?;
    file.commit()?;
    Ok(path)
}

fn main() -> Result<(), Box<dyn Error>> {
    let stop_after = std::env::var("STOP_AFTER")
        .ok()
        .map(|v| v.parse())
        .transpose()?;
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if let [archive, checkpoint] = args.as_slice() {
        run(archive, checkpoint, stop_after)?;
        return Ok(());
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/examples-out/progressive");
    std::fs::create_dir_all(&dir)?;
    let archive = demo_archive(&dir)?;
    let checkpoint = dir.join("checkpoint");
    let _ = std::fs::remove_file(&checkpoint);
    let mut seen = run(&archive, &checkpoint, Some(2))?;
    assert_eq!(
        load_checkpoint(&checkpoint)?,
        2,
        "checkpoint after the interruption"
    );
    seen.extend(run(&archive, &checkpoint, None)?);
    assert_eq!(
        seen,
        vec![0, 1, 2, 3, 4],
        "each entry exactly once, in order"
    );
    println!("resumed after interruption: every entry processed exactly once");
    Ok(())
}
