//! Versioned pipeline snapshot: pack one stage's files with one entry per file, name the archive
//! by its content hash, and restore it with a stock `unzip`.
//!
//! ```text
//! cargo run -p taco-examples --example snapshot [STAGE_DIR] [OUT_DIR]
//! ```
//!
//! Timestamps are fixed, so the same files always give the same archive and the same name:
//! re-running a stage that produced identical output does not create a new version.

use sha2::{Digest, Sha256};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use taco_format::MAX_ENTRIES;
use taco_writer::{ArchiveWriter, MemberSpan, WriterOptions};

/// Every regular file under `dir`, as (member name relative to `dir`, path), sorted by name.
fn stage_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, Box<dyn Error>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)?
                    .to_str()
                    .ok_or("non-UTF-8 file name")?;
                found.push((relative.replace('\\', "/"), path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Packs the stage into `out_dir/<stage>-<sha256 prefix>.taco` and returns its path.
fn snapshot(stage: &Path, out_dir: &Path) -> Result<PathBuf, Box<dyn Error>> {
    let files = stage_files(stage)?;
    let stage_name = stage
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("stage");
    std::fs::create_dir_all(out_dir)?;
    let pending = out_dir.join(format!(".{stage_name}.pending.taco"));
    // A fixed time (1 Jan 2020) makes the bytes depend on the content only.
    let options = WriterOptions {
        fixed_time: Some(1_577_836_800),
        ..WriterOptions::default()
    };
    let mut writer = ArchiveWriter::create(&pending, true, options)?;
    let mut spans: Vec<MemberSpan> = Vec::new();
    for (name, path) in &files {
        spans.push(writer.add_path(name, path)?);
    }
    if spans.len() > MAX_ENTRIES {
        eprintln!(
            "{} files: entries cover the first {MAX_ENTRIES}",
            spans.len()
        );
    }
    let entries: Vec<_> = spans
        .iter()
        .take(MAX_ENTRIES)
        .map(MemberSpan::data_entry)
        .collect();
    let (file, summary) = writer.finish(&entries)?;
    file.commit()?;

    let digest = Sha256::digest(std::fs::read(&pending)?);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let named = out_dir.join(format!("{stage_name}-{hex}.taco"));
    std::fs::rename(&pending, &named)?;
    println!(
        "{}: {} files, {} bytes, {} entries",
        named.display(),
        summary.members,
        summary.archive_len,
        summary.entries.len()
    );
    Ok(named)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stage = args
        .next()
        .unwrap_or_else(|| root.join("data/pipeline/stage1"));
    let out_dir = args
        .next()
        .unwrap_or_else(|| root.join("../target/examples-out/snapshots"));

    let first = snapshot(&stage, &out_dir)?;
    let second = snapshot(&stage, &out_dir)?;
    assert_eq!(
        first, second,
        "same stage content must give the same snapshot name"
    );

    // Restore with a tool that knows nothing about TACO.
    let restore = out_dir.join("restored");
    let _ = std::fs::remove_dir_all(&restore);
    let status = Command::new("unzip")
        .arg("-q")
        .arg(&first)
        .arg("-x")
        .arg("TACO_HEADER")
        .arg("-d")
        .arg(&restore)
        .status()
        .map_err(|e| format!("running unzip: {e}"))?;
    assert!(status.success(), "unzip failed");
    for (name, path) in stage_files(&stage)? {
        let restored = std::fs::read(restore.join(&name))?;
        assert_eq!(
            restored,
            std::fs::read(&path)?,
            "{name} differs after restore"
        );
    }
    println!(
        "restored {} with unzip: every file identical",
        restore.display()
    );
    Ok(())
}
