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

mod cli;
mod commands;
mod console;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // A value clap's parsers refused (e.g. `--backend tpu`) says all in its first line.
        Err(error) if error.kind() == clap::error::ErrorKind::ValueValidation => {
            let rendered = error.render().to_string();
            eprintln!(
                "{}",
                rendered.lines().next().unwrap_or("error: invalid value")
            );
            return ExitCode::from(2);
        }
        Err(error) => error.exit(),
    };
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
