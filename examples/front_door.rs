//! Reading an archive through `TacoArchive` alone: an entry, a member and a tile of a
//! `taco pack-tiles` archive, from a local path or an `http(s)://` or `s3://` URL.
//!
//! ```text
//! cargo run -p taco-examples --example front_door -- ARCHIVE Z/X/Y
//! ```
//!
//! Prints one line per item read: what it is, its length and the SHA-256 of its bytes, then the
//! number of requests a remote archive cost.

use sha2::{Digest, Sha256};
use std::error::Error;
use std::io::Read;
use taco_reader::{RemoteOptions, TacoArchive};

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("front_door: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, tile] = args.as_slice() else {
        return Err("usage: front_door ARCHIVE Z/X/Y".into());
    };
    let numbers: Vec<u32> = tile.split('/').map(str::parse).collect::<Result<_, _>>()?;
    let [z, x, y] = numbers[..] else {
        return Err("the tile is Z/X/Y".into());
    };

    // Opening reads the 157-byte header: one request.
    let archive = TacoArchive::open(src, &RemoteOptions::default())?;

    // An entry is a byte range of the archive: here all tiles of the lowest zoom.
    let mut entry = Vec::new();
    archive.open_entry(0)?.read_to_end(&mut entry)?;
    println!("entry 0: {} bytes sha256 {}", entry.len(), sha256(&entry));

    // A tile is found through the index, and its CRC-32 checked as it is read.
    let located = archive.tile(z, x, y)?;
    let (_, mut reader) = archive.open_located(&located)?;
    let mut tile_bytes = Vec::new();
    reader.read_to_end(&mut tile_bytes)?;
    println!(
        "tile {z}/{x}/{y}: {} {} bytes sha256 {}",
        reader.name(),
        tile_bytes.len(),
        sha256(&tile_bytes)
    );

    // A member by name, through the central directory, CRC-checked.
    let name = archive
        .members()?
        .get(1)
        .ok_or("the archive holds no member")?
        .name_lossy();
    let member = archive.read_member(&name)?;
    println!(
        "member {name}: {} bytes sha256 {}",
        member.len(),
        sha256(&member)
    );

    let stats = archive.source().stats();
    println!("requests: {}", stats.requests);
    Ok(())
}
