//! The `charlstm` command: parses arguments, runs the subcommand, and turns any error into one
//! line on stderr and a non-zero exit code.

// Burn's wgpu backend nests types deeply enough to need a higher limit.
#![recursion_limit = "256"]

/// `println!` that stops quietly when the reader of stdout has gone (`charlstm info RUN | head
/// -3`) instead of panicking on the broken pipe.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod cache_command;
mod cli;
mod commands;
mod console;
mod progress;
mod repair_command;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    console::init(console::Verbosity {
        quiet: cli.quiet,
        verbose: cli.verbose,
    });
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            // A refused resume is a usage error, as clap's are: exit code 2.
            let refused = matches!(
                error.downcast_ref::<charlstm_train::TrainError>(),
                Some(charlstm_train::TrainError::ResumeRefused(_))
            );
            if refused {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
