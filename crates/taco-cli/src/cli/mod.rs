//! Command-line arguments, as parsed by clap, and (in `read`) the one place they become
//! library values.

mod read;

pub use read::*;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use taco_format::Entry;

/// Make, inspect and read TACO archives: ZIP files whose first 157 bytes list up to 7 byte
/// ranges, so a client can fetch exactly the part it needs with one range request.
#[derive(Debug, Parser)]
#[command(name = "taco", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pack files and directories into a new TACO archive.
    ///
    /// A FILE becomes a member named by its file name; a DIR adds every file under it,
    /// recursively, named DIR/relative/path (sorted by name, so output is deterministic).
    /// Members are STORED (uncompressed); ZIP64 is used only when needed. The archive is
    /// written to a temporary file and renamed into place only when complete.
    Pack(PackArgs),
    /// Pack a Parquet file so row groups can be fetched and read by range.
    ///
    /// Default layout "split": the file becomes at most 7 self-contained Parquet parts of
    /// consecutive row groups (balanced by bytes, made by copying the encoded column chunks —
    /// nothing is decoded); entry i is part i, so the bytes of one range request are a Parquet
    /// file any reader opens. Layout "verbatim": the file is stored untouched and entry i is row
    /// group i's byte range (first 7 row groups). Writes OUT and OUT.meta.json (the index, also
    /// stored as the archive's last member TACO_INDEX.json); OUT alone when it is - or an object
    /// URL (streamed there with a multipart upload, no local copy).
    PackParquet(PackParquetArgs),
    /// Pack a map tile pyramid DIR/{z}/{x}/{y}.{ext} so a zoom level or one tile is one request.
    ///
    /// Tiles are stored by zoom, then along a Hilbert curve within the zoom (neighbouring tiles
    /// sit near each other). Entry k is the span of the k-th lowest zoom (up to 7); the index
    /// (OUT.meta.json and the member TACO_INDEX.json) gives every tile's byte range, so
    /// `taco get --tile z/x/y` fetches one tile. Files that are not Z/X/Y.EXT are left out.
    PackTiles(PackTilesArgs),
    /// Pack an ML dataset whose subdirectories are splits, one entry per split.
    ///
    /// train, val and test come first (in that order), then other splits alphabetically;
    /// members keep their paths (val/shard-0003.tfrecord). Entry i is the span of split i:
    /// fetch it and unpack it with `taco extract --range` or any streaming unzipper.
    PackSplits(PackSplitsArgs),
    /// Pack a directory of NetCDF files ordered by their CF time coordinate.
    ///
    /// Every *.nc, *.nc4 and *.cdf file under DIR is read for its time coordinate only (the
    /// variable with axis=T, else standard_name=time, else `time`; units and calendar decoded)
    /// and files are stored in time order. With at most 7 files, entry i is file i; with more,
    /// entries are at most 7 spans of consecutive files. `taco query` selects files by time.
    PackNetcdf(PackNetcdfArgs),
    /// Print the entries of an archive's TACO header (reads only the first 157 bytes).
    Header(HeaderArgs),
    /// Say what an archive is and what each entry holds.
    ///
    /// Size, members, ZIP64, index and planner, then each entry's kind, label and what it
    /// covers (tiles, files, row groups and rows, a time range), and the members outside every
    /// entry. Reads the head, the tail and the manifest's footer (or a v1 index): three
    /// requests for a remote planned archive, whatever its size; the rest of the central
    /// directory only when members lie outside the entries. Remotely the requests made are
    /// said at the end.
    Info(InfoArgs),
    /// Rewrite the entries of an existing archive in place (only the header and its CRCs change).
    UpdateHeader(UpdateHeaderArgs),
    /// List the members of an archive from its central directory.
    Ls(LsArgs),
    /// Check an archive: quick (header), normal (+ ZIP structure), deep (+ every CRC).
    Validate(ValidateArgs),
    /// Extract members of an archive, or the files of a fetched span (--range), into a directory.
    Extract(ExtractArgs),
    /// Write the bytes of entries, members or tiles to a file, a directory or standard output.
    ///
    /// SRC may be remote: `--entry N` costs two range requests (header, entry), `--member`
    /// and `--tile` at most three. Several items are fetched concurrently (`--jobs`), and items
    /// that lie close together with one request.
    Get(GetArgs),
    /// List the files of a `pack-netcdf` archive whose time range overlaps a period.
    Query(QueryArgs),
    /// Write out the manifest of a planned archive (`TACO_MANIFEST.parquet`: one row per
    /// member with its data range, CRC-32 and the planner's typed columns; the entries in its
    /// key-value metadata), CRC-checked, for pyarrow, DuckDB or any Parquet reader.
    Manifest(ManifestArgs),
    /// Print a completion script for SHELL, made from the same definitions as --help.
    ///
    /// bash: `taco completions bash > ~/.local/share/bash-completion/completions/taco`;
    /// zsh: `taco completions zsh > ~/.zfunc/_taco` (with ~/.zfunc in fpath);
    /// fish: `taco completions fish > ~/.config/fish/completions/taco.fish`;
    /// PowerShell: `taco completions powershell >> $PROFILE`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), made from the same definitions as --help:
    /// `taco man > taco.1; man ./taco.1`.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
    /// Accepted, as on every command (the script is all this prints).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Accepted, as on every command (the page is all this prints).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Parses `OFFSET:LENGTH` (decimal) into an entry.
pub fn parse_entry(text: &str) -> Result<Entry, String> {
    let (offset, length) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not OFFSET:LENGTH"))?;
    let number = |s: &str, what: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|e| format!("{what} {s:?} in {text:?}: {e}"))
    };
    let entry = Entry::new(number(offset, "offset")?, number(length, "length")?);
    entry
        .end()
        .ok_or_else(|| format!("{text:?}: offset + length overflows"))?;
    Ok(entry)
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// Output archive: a path, - for standard output, or s3://BUCKET/KEY or az://CONTAINER/KEY
    /// to stream it to object storage.
    pub out: PathBuf,
    /// Files and directories to store, in this order.
    #[arg(required_unless_present = "files_from", value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,
    /// Also store the files and directories listed in FILE (- for standard input), one per
    /// line, or NUL-separated when the list holds a NUL byte (`find -print0`); after FILE|DIR.
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// Read inputs relative to DIR and name members by the paths as given (as tar -C):
    /// `-C data sub/a.txt` stores data/sub/a.txt as sub/a.txt.
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// An entry as absolute archive byte range OFFSET:LENGTH (repeatable; with
    /// --entry-member, at most 7 in all, in command-line order).
    #[arg(long = "entry", value_name = "OFF:LEN", value_parser = parse_entry)]
    pub entries: Vec<Entry>,
    /// An entry that is the data of the member NAME (repeatable), as `taco ls` names it:
    /// no offsets to compute by hand.
    #[arg(long = "entry-member", value_name = "NAME")]
    pub entry_members: Vec<String>,
    /// Make entry i the data range of member i (at most 7 members).
    #[arg(long, conflicts_with_all = ["entries", "entry_members"])]
    pub entry_per_file: bool,
    /// Overwrite OUT if it exists; for an object URL, replace the object.
    #[arg(short, long)]
    pub force: bool,
    /// Accept entries that lie outside the finished archive.
    #[arg(long)]
    pub allow_outside: bool,
    /// Leave out index v2: the lookup directory after TACO_HEADER (which shifts every member
    /// by its size) and the manifest TACO_MANIFEST.parquet, as archives before taco's index v2.
    #[arg(long)]
    pub no_index: bool,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub upload: UploadArgs,
}

/// How an archive goes to object storage when OUT is `s3://BUCKET/KEY` or `az://CONTAINER/KEY`:
/// streamed with a multipart upload, no local copy; the object appears only once complete.
#[derive(Debug, Args)]
#[command(next_help_heading = "Object storage (OUT = s3://BUCKET/KEY or az://CONTAINER/KEY)")]
pub struct UploadArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Object outputs: size of each uploaded part, in MiB (5-5120). Memory in use is about
    /// part size × (parts in flight + 1).
    #[arg(long, value_name = "MIB", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(5..=5120))]
    pub part_size: u32,
    /// Object outputs: parts uploaded at once.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parts_in_flight: u16,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    /// At most 7 self-contained Parquet parts; entry i = part i.
    Split,
    /// The file untouched; entry i = row group i's bytes.
    Verbatim,
}

#[derive(Debug, Args)]
pub struct PackParquetArgs {
    /// The Parquet file.
    pub input: PathBuf,
    /// Output archive: a path, -, s3://BUCKET/KEY or az://CONTAINER/KEY [default: <input
    /// stem>.taco in the current directory].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// How row groups become entries.
    #[arg(long, value_enum, default_value = "split")]
    pub layout: LayoutArg,
    /// Number of parts for the split layout, 1-7 [default: min(7, row groups)].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=7))]
    pub parts: Option<u8>,
    /// Overwrite OUT (and OUT.meta.json) if they exist; for an object URL, replace the object.
    #[arg(short, long)]
    pub force: bool,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub upload: UploadArgs,
}

#[derive(Debug, Args)]
pub struct PackTilesArgs {
    /// Directory holding {z}/{x}/{y}.{ext} files.
    pub dir: PathBuf,
    /// Output archive: a path, -, s3://BUCKET/KEY or az://CONTAINER/KEY [default: <DIR
    /// name>.taco in the current directory].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Overwrite OUT (and OUT.meta.json) if they exist; for an object URL, replace the object.
    #[arg(short, long)]
    pub force: bool,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub upload: UploadArgs,
}

#[derive(Debug, Args)]
pub struct PackSplitsArgs {
    /// Directory whose subdirectories are the splits.
    pub dir: PathBuf,
    /// Output archive: a path, -, s3://BUCKET/KEY or az://CONTAINER/KEY [default: <DIR
    /// name>.taco in the current directory].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Splits to pack, in this order (at most 7) [default: all; train, val, test first].
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub splits: Option<Vec<String>>,
    /// Overwrite OUT (and OUT.meta.json) if they exist; for an object URL, replace the object.
    #[arg(short, long)]
    pub force: bool,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub upload: UploadArgs,
}

#[derive(Debug, Args)]
pub struct PackNetcdfArgs {
    /// Directory holding the NetCDF files.
    pub dir: PathBuf,
    /// Output archive: a path, -, s3://BUCKET/KEY or az://CONTAINER/KEY [default: <DIR
    /// name>.taco in the current directory].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Leave out (with a note) files whose time coordinate cannot be read, instead of failing.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Overwrite OUT (and OUT.meta.json) if they exist; for an object URL, replace the object.
    #[arg(short, long)]
    pub force: bool,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub upload: UploadArgs,
}
