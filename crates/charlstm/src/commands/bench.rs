//! `charlstm bench`: training and sampling speed of a config (writes no files).

use anyhow::{Result, bail};
use charlstm_data::CorpusLocator;
use charlstm_train::benchmark::{BenchmarkOptions, run_benchmark};

use super::load_config;
use crate::cli::BenchArgs;

/// `charlstm bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    if args.steps == 0 || args.sample_length == 0 {
        bail!("--steps and --sample-length must be at least 1");
    }
    let config = load_config(&args.config, None)?;
    let options = BenchmarkOptions {
        warmup_steps: args.warmup_steps,
        timed_steps: args.steps,
        sample_length: args.sample_length,
        num_samples: args.num_samples,
    };
    let report = run_benchmark(&config, &CorpusLocator::from_env(), options)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} ({}): training {:.0} chars/s, sampling {:.0} chars/s (batch 1){}, peak memory {}",
            report.backend,
            report.isa,
            report.train_chars_per_s,
            report.sample_chars_per_s,
            report
                .batch_sample_chars_per_s
                .map_or(String::new(), |s| format!(
                    ", {s:.0} chars/s ({} samples at once)",
                    report.num_samples
                )),
            report
                .peak_rss_mib
                .map_or("unknown".to_string(), |m| format!("{m:.0} MiB"))
        );
    }
    Ok(())
}
