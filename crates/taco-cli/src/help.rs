//! `taco completions SHELL` and `taco man`: generated from the clap definitions that make
//! `--help`, so they never disagree with it.

use crate::cli::Cli;
use anyhow::Result;
use clap::CommandFactory;
use std::io::{self, Write};

/// Writes the completion script for `shell` to standard output.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut command = Cli::command();
    // Made in memory first: the generator panics on a write error, and a closed pipe
    // (`taco completions bash | head`) must end quietly like every other command.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "taco", &mut script);
    let mut out = io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}

/// Writes the man page (roff) to standard output: the command, then a section for each
/// subcommand with its options.
pub fn man() -> Result<()> {
    let command = Cli::command();
    let mut out = io::stdout().lock();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("taco {}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().bin_name(name.clone()));
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        page.render_synopsis_section(&mut out)?;
        page.render_description_section(&mut out)?;
        page.render_options_section(&mut out)?;
    }
    out.flush()?;
    Ok(())
}
