//! `charlstm train`: a run from a config, or the rest of an interrupted one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use charlstm_data::CorpusLocator;
use charlstm_train::{TrainOptions, train};
use tracing::{info, warn};

use super::load_config;
use crate::cli::TrainArgs;
use crate::console::Verbosity;
use crate::progress::ConsoleObserver;

/// Exit code of a run stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report Ctrl-C).
const INTERRUPTED_EXIT_CODE: i32 = 130;

/// A flag that SIGINT and SIGTERM set, so the run can finish its step and write a checkpoint.
/// A second signal, arriving while the flag is set, exits at once.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal set it.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            INTERRUPTED_EXIT_CODE,
            Arc::clone(&stop),
        )
        .context("cannot install the signal handler")?;
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    Ok(stop)
}

/// `charlstm train`.
pub fn run(args: TrainArgs, verbosity: Verbosity) -> Result<()> {
    let run_dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_run_dir(args.config.config.as_deref()));
    // A resumed run keeps its own config unless another is given.
    let saved_config = run_dir.join("config.toml");
    let fallback = (args.resume && saved_config.is_file()).then_some(saved_config);
    let config = load_config(&args.config, fallback)?;

    let stop = stop_on_signals()?;
    let mut observer = ConsoleObserver::new(verbosity);
    let mut locator = CorpusLocator::from_env();
    locator.show_progress = verbosity.progress_bars();
    let result = train(
        &config,
        TrainOptions {
            run_dir: run_dir.clone(),
            resume: args.resume,
            locator,
            observer: &mut observer,
            stop: Some(stop),
        },
    );
    observer.finish();
    let summary = result?;
    if summary.interrupted {
        warn!(
            "interrupted after step {}; checkpoint written to {}",
            summary.steps,
            run_dir.join("latest").display()
        );
        warn!(
            "resume with: charlstm train --resume --out {}",
            run_dir.display()
        );
        std::process::exit(INTERRUPTED_EXIT_CODE);
    }
    let unit = summary.unit;
    info!(
        "done: {} steps in {:.1} s ({:.0} {unit}s/s); best validation loss {}",
        summary.steps,
        summary.elapsed_seconds,
        summary.chars_per_second,
        summary
            .best_validation_loss
            .map_or("n/a".to_string(), |l| format!(
                "{l:.4} nats/{unit} ({:.4} bits/{unit})",
                l / std::f32::consts::LN_2
            )),
    );
    info!(
        "sample from it: charlstm sample --checkpoint {}",
        run_dir.display()
    );
    Ok(())
}

/// `runs/<config file stem>`, or `runs/default` without a config.
fn default_run_dir(config: Option<&Path>) -> PathBuf {
    let name = config
        .and_then(|p| p.file_stem())
        .map_or("default".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("runs").join(name)
}
