//! Arguments of the commands that read archives, and their conversion into library values.

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use taco_format::Entry;
use taco_reader::{AwsOptions, Level, RemoteOptions, TimeSelection};

use super::parse_entry;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("when").required(true).multiple(true).args(["time", "from", "to"])))]
pub struct QueryArgs {
    /// Archive made by `taco pack-netcdf`: a path, http(s)://HOST/PATH, s3://BUCKET/KEY or az://CONTAINER/BLOB.
    pub src: String,
    /// A year (2024), month (2024-01), day (2024-01-15) or instant (2024-01-15T06:00, with an
    /// optional Z or UTC offset such as +02:00). Exit code 1 when no file overlaps it.
    #[arg(long, value_name = "T", conflicts_with_all = ["from", "to"])]
    pub time: Option<String>,
    /// Start of the range: the beginning of this year/month/day/instant.
    #[arg(long, value_name = "T")]
    pub from: Option<String>,
    /// End of the range: the end of this year/month/day, or this instant.
    #[arg(long, value_name = "T")]
    pub to: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Nothing on standard error but errors; the files found still go to standard output.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Options of every command that reads an archive, which may be remote.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// Print the HTTP requests made and body bytes received (and sent, for an upload) on
    /// stderr when done.
    #[arg(long)]
    pub stats: bool,
    /// Retries of a remote request after a transient failure (connection error, timeout,
    /// HTTP 5xx or 429), with exponential backoff; a body cut short resumes where it stopped.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: usize,
    /// The longest one remote request may take, connecting, retries and resumptions
    /// included [default: no limit while bytes keep arriving; a transfer stalled for 15 s
    /// fails, and retries stop 30 s after the first attempt; for uploads both are at least
    /// 10 minutes].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<std::time::Duration>,
    /// The longest wait for a connection to a remote server.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "5")]
    pub connect_timeout: std::time::Duration,
    /// s3:// only: the AWS profile (of ~/.aws/config and ~/.aws/credentials) to use, instead
    /// of AWS_PROFILE or "default"; its keys win over AWS_ACCESS_KEY_ID.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// s3:// only: the region, instead of AWS_REGION, AWS_DEFAULT_REGION or the profile's.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// s3:// only: an S3-compatible endpoint (MinIO, R2, a local server), instead of
    /// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the profile's endpoint_url.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// s3:// only: send requests unsigned, for public buckets (also AWS_NO_SIGN_REQUEST=true,
    /// yes or 1).
    #[arg(long)]
    pub no_sign_request: bool,
}

/// Parses a positive number of seconds (fractions allowed).
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|e| format!("{text:?} is not a number of seconds: {e}"))?;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!(
            "{text:?}: give a number of seconds between 0 and 86400"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[derive(Debug, Args)]
pub struct HeaderArgs {
    /// Archive: a path, http(s)://HOST/PATH, s3://BUCKET/KEY, az://CONTAINER/BLOB, or - to read the first 157 bytes
    /// from standard input.
    pub src: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Report a header CRC mismatch as a warning instead of failing (forensics).
    #[arg(long)]
    pub lenient: bool,
    /// Nothing on standard error but errors (no warnings); the listing itself still goes to
    /// standard output.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Archive: a path, http(s)://HOST/PATH, s3://BUCKET/KEY or az://CONTAINER/BLOB.
    pub src: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Accepted, as on every command (the description is all this prints).
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct UpdateHeaderArgs {
    /// Archive to modify in place.
    pub archive: PathBuf,
    /// New entry OFFSET:LENGTH (repeat, at most 7); replaces all existing entries.
    #[arg(long = "entry", value_name = "OFF:LEN", value_parser = parse_entry, required_unless_present = "clear")]
    pub entries: Vec<Entry>,
    /// Remove all entries.
    #[arg(long, conflicts_with = "entries")]
    pub clear: bool,
    /// Accept entries that lie outside the archive.
    #[arg(long)]
    pub allow_outside: bool,
    /// Print nothing but errors (the command prints nothing else today; accepted on every
    /// command).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct LsArgs {
    /// Archive: a path, http(s)://HOST/PATH, s3://BUCKET/KEY or az://CONTAINER/BLOB.
    pub src: String,
    /// Also show where each member's local header starts (the offset a ZIP tool reports).
    #[arg(short, long)]
    pub long: bool,
    /// Sizes in KiB, MiB, GiB (powers of 1024) instead of bytes.
    #[arg(short = 'h', long)]
    pub human: bool,
    /// List only the members whose data overlaps entry N (comma-separated list allowed).
    #[arg(long, value_name = "N", value_delimiter = ',')]
    pub entry: Vec<usize>,
    /// Print JSON (offsets and sizes always in bytes).
    #[arg(long)]
    pub json: bool,
    /// Nothing on standard error but errors (no warnings); the listing itself still goes to
    /// standard output.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print help (-h is --human here, as in ls).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Archive made by a `pack-*` command: a path, http(s)://HOST/PATH, s3://BUCKET/KEY or az://CONTAINER/BLOB.
    pub src: String,
    /// Write to FILE.parquet (atomically) instead of standard output (also `-o -`).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace an existing FILE.
    #[arg(short, long)]
    pub force: bool,
    /// Print where the manifest lies in the archive (offset, length, CRC-32) as JSON instead
    /// of its bytes.
    #[arg(long, conflicts_with_all = ["output", "force"])]
    pub json: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LevelArg {
    /// Header only (one 157-byte read).
    Quick,
    /// Header, end records, central directory, local headers, names, entries.
    Normal,
    /// Normal plus the CRC-32 of every member (reads everything).
    Deep,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Archive: a path, http(s)://HOST/PATH, s3://BUCKET/KEY or az://CONTAINER/BLOB.
    pub src: String,
    /// How much to check.
    #[arg(long, value_enum, default_value = "normal")]
    pub level: LevelArg,
    /// Print JSON (the exit code still says whether the archive is valid).
    #[arg(long)]
    pub json: bool,
    /// Print nothing (unless --json): the exit code says whether the archive is valid.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Archive: a path, http(s)://HOST/PATH, s3://BUCKET/KEY, az://CONTAINER/BLOB, or - to read an archive (or a
    /// span) from standard input, front to back. With --range, every argument is a PATTERN.
    #[arg(required_unless_present = "range")]
    pub src: Option<String>,
    /// Only members whose name matches (shell-style: * also matches /, ?, [a-z], \ quotes;
    /// a directory's name selects everything under it). Quote them from the shell.
    #[arg(value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Directory to extract into (created if missing).
    #[arg(
        short = 'C',
        long = "directory",
        value_name = "DIR",
        default_value = "."
    )]
    pub dir: PathBuf,
    /// Extract only the members inside entry N's range (comma-separated list allowed).
    #[arg(
        long,
        value_name = "N",
        value_delimiter = ',',
        conflicts_with = "range"
    )]
    pub entry: Vec<usize>,
    /// Extract a span file (- for standard input): bytes cut from an archive holding complete
    /// local entries.
    #[arg(long, value_name = "FILE")]
    pub range: Option<PathBuf>,
    /// Also extract taco's own members (TACO_DIRECTORY, TACO_MANIFEST.parquet,
    /// TACO_INDEX.json), which are left out by default.
    #[arg(long)]
    pub all: bool,
    /// Overwrite existing files.
    #[arg(short, long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// No summary line (errors still go to standard error).
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["entry", "member", "tile"])))]
pub struct GetArgs {
    /// Archive: a path, http(s)://HOST/PATH, s3://BUCKET/KEY or az://CONTAINER/BLOB.
    pub src: String,
    /// Entry number(s) N (0-based), e.g. 3 or 0,2,5: the exact byte range of the archive.
    #[arg(long, value_name = "N", value_delimiter = ',')]
    pub entry: Vec<usize>,
    /// Member NAME (repeatable): its data, CRC-checked. A NAME with *, ? or [ that is not a
    /// member's name is a pattern selecting every member it matches (as in extract).
    #[arg(long, value_name = "NAME")]
    pub member: Vec<String>,
    /// Tile z/x/y of a `pack-tiles` archive (repeatable), found through its index;
    /// CRC-checked. The index is read once for all tiles.
    #[arg(long, value_name = "Z/X/Y", value_parser = parse_tile)]
    pub tile: Vec<Tile>,
    /// Write to FILE (atomically; an existing FIFO or device is written to, never replaced)
    /// instead of standard output (also `-o -`); with several entries, members or tiles, DIR
    /// (created if missing) receives entry-N files or the members' own names.
    #[arg(short, long, value_name = "FILE|DIR", conflicts_with = "extract_to")]
    pub output: Option<PathBuf>,
    /// Extract the files in the entries (spans) into DIR instead of writing their bytes.
    #[arg(long, value_name = "DIR", requires = "entry", conflicts_with_all = ["member", "tile"])]
    pub extract_to: Option<PathBuf>,
    /// Overwrite existing output files.
    #[arg(short, long)]
    pub force: bool,
    /// At most N ranges fetched at once when several are asked for.
    #[arg(short, long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// A tile coordinate given as `Z/X/Y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub z: u32,
    pub x: u32,
    pub y: u32,
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

fn parse_tile(text: &str) -> Result<Tile, String> {
    let numbers: Vec<u32> = text
        .split('/')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?}: expected Z/X/Y, three numbers"))?;
    match numbers[..] {
        [z, x, y] => Ok(Tile { z, x, y }),
        _ => Err(format!("{text:?}: expected Z/X/Y, three numbers")),
    }
}

impl RemoteArgs {
    /// The library's remote settings.
    pub fn options(&self) -> RemoteOptions {
        RemoteOptions {
            retries: self.retries,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            aws: AwsOptions {
                profile: self.profile.clone(),
                region: self.region.clone(),
                endpoint_url: self.endpoint_url.clone(),
                no_sign_request: self.no_sign_request,
            },
            ..RemoteOptions::default()
        }
    }
}

impl LevelArg {
    /// The library's level, and its name as printed.
    pub fn level(self) -> (Level, &'static str) {
        match self {
            LevelArg::Quick => (Level::Quick, "quick"),
            LevelArg::Normal => (Level::Normal, "normal"),
            LevelArg::Deep => (Level::Deep, "deep"),
        }
    }
}

impl QueryArgs {
    /// The time selection `--time`, `--from` and `--to` make.
    ///
    /// # Errors
    /// A time that is none of the accepted forms, or `--from` after `--to`.
    pub fn selection(&self) -> Result<TimeSelection, taco_reader::IndexError> {
        TimeSelection::parse(
            self.time.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
        )
    }

    /// The selection as the user wrote it, for messages: `2024-02`, `2024-01 .. 2024-03`.
    pub fn describe_selection(&self) -> String {
        match (&self.time, &self.from, &self.to) {
            (Some(time), _, _) => time.clone(),
            (None, Some(from), Some(to)) => format!("{from} .. {to}"),
            (None, Some(from), None) => format!("{from} or later"),
            (None, None, Some(to)) => format!("{to} or earlier"),
            (None, None, None) => "the selection".to_string(),
        }
    }
}
