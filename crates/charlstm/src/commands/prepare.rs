//! `charlstm prepare`: a corpus read and tokenized into its token file ahead of training.

use anyhow::Result;
use charlstm_data::CorpusLocator;
use charlstm_train::{TrainEvent, TrainObserver};
use tracing::warn;

use super::load_config;
use crate::cli::PrepareArgs;
use crate::console::Verbosity;
use crate::progress::ConsoleObserver;

/// `charlstm prepare`.
pub fn run(args: PrepareArgs, verbosity: Verbosity) -> Result<()> {
    let config = load_config(&args.config, None)?;
    let mut observer = ConsoleObserver::new(verbosity);
    let mut locator = CorpusLocator::from_env();
    locator.show_progress = verbosity.progress_bars();
    let prepared = config.data.prepare(
        &locator,
        &config.data.tokenizer_choice()?,
        &mut |phase, done, total| {
            observer.on_event(&TrainEvent::Preparing {
                phase: phase.name(),
                bytes_done: done,
                bytes_total: total,
            })
        },
    );
    observer.finish();
    let prepared = prepared?;
    if let Some(problem) = &prepared.cache_problem {
        warn!("{problem}");
    }
    let info = &prepared.info;
    let tokens_file = prepared.location.join("tokens.bin");
    if args.json {
        let report = serde_json::json!({
            "corpus": config.data.corpus.specs(),
            "source_bytes": info.source_bytes,
            "files": info.files,
            "skipped_files": info.skipped_files,
            "tokens": info.tokens,
            "token_bytes": info.width.bytes(),
            "vocab_size": prepared.tokenizer.len(),
            "reused": prepared.reused,
            "seconds": info.seconds,
            "tokens_file": tokens_file,
        });
        println!("{report}");
        return Ok(());
    }
    let how = if prepared.reused {
        format!("unchanged since it was prepared in {:.1} s", info.seconds)
    } else {
        format!(
            "prepared in {:.1} s ({:.0} MB/s)",
            info.seconds,
            info.megabytes_per_second()
        )
    };
    println!(
        "corpus '{}': {} bytes in {} files ({} skipped) -> {} tokens of {} byte(s), vocabulary {}; {how}",
        config.data.corpus.specs().join(", "),
        info.source_bytes,
        info.files,
        info.skipped_files,
        info.tokens,
        info.width.bytes(),
        prepared.tokenizer.describe(),
    );
    println!("token file: {}", tokens_file.display());
    Ok(())
}
