//! The `taco` binary: parses arguments, calls the libraries, prints results. Nothing here knows
//! the byte format; errors become one line on stderr and exit code 1 (usage errors: 2).

mod cli;
mod extract;
mod get;
mod help;
mod info;
mod inspect;
mod interrupt;
mod output;
mod pack;
mod query;

use clap::{CommandFactory, FromArgMatches};
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
    let matches = match cli::Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(err) => usage_error(err),
    };
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => usage_error(err),
    };
    let result = match cli.command {
        cli::Command::Pack(args) => match matches.subcommand_matches("pack") {
            Some(sub) => pack::run(&args, sub),
            None => Err(anyhow::anyhow!("pack arguments went missing")),
        },
        cli::Command::PackParquet(args) => pack::parquet(&args),
        cli::Command::PackTiles(args) => pack::tiles(&args),
        cli::Command::PackSplits(args) => pack::splits(&args),
        cli::Command::PackNetcdf(args) => pack::netcdf(&args),
        cli::Command::Header(args) => inspect::header(&args),
        cli::Command::Info(args) => info::info(&args),
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
            if interrupt::interrupted() {
                // As a shell reports a command ended by Ctrl-C.
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Reports a command line clap refused as one `taco:` line with the usage and a hint, and
/// exits 2. Help and version requests (and `taco` alone, which shows the help) print as clap
/// prints them.
fn usage_error(err: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        err.exit();
    }
    let rendered = err.render().to_string();
    let mut usage = None;
    let mut message = Vec::new();
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(u) = line.strip_prefix("Usage: ") {
            usage = Some(u.to_string());
        } else if !line.starts_with("For more information") {
            message.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    // The subcommand whose --help explains it: the first argument that names one.
    let command = cli::Cli::command();
    let names: Vec<&str> = command
        .get_subcommands()
        .map(clap::Command::get_name)
        .collect();
    let command = std::env::args_os()
        .skip(1)
        .find_map(|arg| {
            arg.to_str()
                .filter(|a| names.contains(a))
                .map(str::to_owned)
        })
        .map_or("taco".to_string(), |sub| format!("taco {sub}"));
    let usage = usage.map_or(String::new(), |u| format!("usage: {u}; "));
    let line = one_line_text(&format!(
        "{} ({usage}see '{command} --help')",
        message.join(" ")
    ));
    let _ = writeln!(io::stderr().lock(), "taco: {line}");
    std::process::exit(2);
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
