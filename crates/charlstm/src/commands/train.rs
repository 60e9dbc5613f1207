//! `charlstm train`: a run from a config, or the rest of an interrupted one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use charlstm_data::CorpusLocator;
use charlstm_train::{TrainOptions, checkpoint, train};
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
    let init_dir = args
        .init_from
        .as_deref()
        .and_then(|path| checkpoint::resolve(path).ok());
    let run_dir = args.out.clone().unwrap_or_else(|| {
        default_run_dir(
            args.config.config.as_deref(),
            args.init_from.as_deref(),
            init_dir.as_deref(),
        )
    });
    // A resumed run keeps its own config unless another is given; a fine-tuned one starts
    // from its checkpoint's.
    let saved_config = match &init_dir {
        Some(dir) => dir.join("config.toml"),
        None => run_dir.join("config.toml"),
    };
    let fallback =
        ((args.resume || init_dir.is_some()) && saved_config.is_file()).then_some(saved_config);
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
            init_from: args.init_from.clone(),
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

/// `runs/<config file stem>`; without a config, `runs/<run>-finetuned` for a run fine-tuned
/// from `runs/<run>` (or a checkpoint in it; `init_dir` is the checkpoint `init_from`
/// resolved to), else `runs/default`.
fn default_run_dir(
    config: Option<&Path>,
    init_from: Option<&Path>,
    init_dir: Option<&Path>,
) -> PathBuf {
    let stem = |path: &Path| path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let name = match (config, init_from) {
        (Some(config), _) => stem(config),
        (None, Some(init)) => {
            // A checkpoint directory (`best`, `latest`) is named after its run's.
            let run = if init_dir == Some(init) {
                init.parent().unwrap_or(init)
            } else {
                init
            };
            stem(run).map(|run| format!("{run}-finetuned"))
        }
        (None, None) => None,
    };
    PathBuf::from("runs").join(name.unwrap_or_else(|| "default".into()))
}
