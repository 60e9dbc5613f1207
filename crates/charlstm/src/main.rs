//! The `charlstm` command: parses arguments, runs the subcommand, and turns any error into one
//! line on stderr and a non-zero exit code.

// Burn's wgpu backend nests types deeply enough to need a higher limit.
#![recursion_limit = "256"]

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
