//! The `taco` binary: parses arguments, calls the libraries, prints results. Nothing here knows
//! the byte format; errors become one line on stderr and exit code 1 (usage errors: 2).

mod cli;
mod extract;
mod get;
mod help;
mod inspect;
mod output;
mod pack;
mod query;

use clap::Parser;
use std::io::{self, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The Parquet decoder can panic on a hostile manifest; the library catches that and
    // returns an error, which is printed as the one error line: the panic itself stays quiet.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !taco_reader::in_manifest_decoder() {
            report_panic(info);
        }
    }));
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Pack(args) => pack::run(&args),
        cli::Command::PackParquet(args) => pack::parquet(&args),
        cli::Command::PackTiles(args) => pack::tiles(&args),
        cli::Command::PackSplits(args) => pack::splits(&args),
        cli::Command::PackNetcdf(args) => pack::netcdf(&args),
        cli::Command::Header(args) => inspect::header(&args),
        cli::Command::UpdateHeader(args) => inspect::update_header(&args),
        cli::Command::Ls(args) => inspect::ls(&args),
        cli::Command::Validate(args) => inspect::validate(&args),
        cli::Command::Extract(args) => extract::extract(&args),
        cli::Command::Get(args) => get::get(&args),
        cli::Command::Query(args) => query::query(&args),
        cli::Command::Manifest(args) => query::manifest(&args),
        cli::Command::Completions(args) => help::completions(args.shell),
        cli::Command::Man(_) => help::man(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let message = one_line(&err);
            // If stderr itself is gone there is nobody left to tell.
            let _ = writeln!(io::stderr().lock(), "taco: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each printed once. Contexts added here come first;
/// the libraries' errors spell out their own cause in their message (so they read whole on
/// their own, and `source()` is there for typed access), so the walk stops at the first one.
fn one_line(err: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in err.chain() {
        parts.push(cause.to_string());
        if is_library_error(cause) {
            break;
        }
    }
    one_line_text(&parts.join(": "))
}

/// Whether `cause` is one of the libraries' errors, whose message already holds its causes.
fn is_library_error(cause: &(dyn std::error::Error + 'static)) -> bool {
    cause.is::<taco_reader::ReadError>()
        || cause.is::<taco_reader::ArchiveError>()
        || cause.is::<taco_reader::RemoteError>()
        || cause.is::<taco_reader::IndexError>()
        || cause.is::<taco_writer::WriteError>()
        || cause.is::<taco_planners::PlanError>()
        || cause.is::<taco_format::FormatError>()
        // A library error carried through a reader's `io::Error`.
        || cause
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .is_some_and(|inner| inner.is::<taco_reader::ReadError>())
}

/// The message as one line a terminal shows as it is: line breaks become spaces and any other
/// control or bidirectional control character (from a name or a path) becomes `\u{hex}`.
fn one_line_text(message: &str) -> String {
    message
        .chars()
        .map(|c| match c {
            '\n' | '\r' => " ".to_string(),
            c if c.is_control() || taco_format::is_bidi_control(c) => {
                format!("\\u{{{:x}}}", u32::from(c))
            }
            c => c.to_string(),
        })
        .collect()
}

/// `taco ls | head` closes our stdout early; that is the reader's choice, not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::one_line_text;

    #[test]
    fn error_lines_show_no_terminal_controls() {
        assert_eq!(
            one_line_text("a\nb\u{1b}[2J\u{b}c\u{202e}d"),
            r"a b\u{1b}[2J\u{b}c\u{202e}d"
        );
    }
}
