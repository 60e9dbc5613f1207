//! `charlstm sample`: text from a checkpoint, streamed as it is generated, or several samples
//! at once.

use std::io::Write;

use anyhow::{Result, bail};
use charlstm_model::SamplingOptions;
use charlstm_train::beam::beam_search;
use charlstm_train::generate::{GenerateOptions, generate, generate_many};
use charlstm_train::stop::StopStrings;
use tracing::info;

use super::open_checkpoint;
use crate::cli::SampleArgs;

/// `charlstm sample`.
pub fn run(args: SampleArgs) -> Result<()> {
    let (checkpoint, device) = open_checkpoint(&args.checkpoint, args.backend)?;
    let model = checkpoint.load_model(&device)?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let prime = match &args.prime_file {
        Some(path) => GenerateOptions::read_prime_file(path)?,
        None => args.prime.clone(),
    };
    let options = GenerateOptions {
        prime,
        length: args.length,
        sampling: SamplingOptions {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
        },
        seed,
        stop: StopStrings::new(args.stop.clone()),
    };
    if let Some(path) = &args.prime_file {
        let label = format!("--prime-file {}", path.display());
        options.check_prime(&checkpoint.tokenizer, &label)?;
    }
    options.validate(&checkpoint.tokenizer)?;
    // Refused before the seed line, so the error is the only line printed.
    if args.num_samples == 0 {
        bail!("--num-samples 0 is invalid: it must be at least 1");
    }
    if let Some(beams) = args.beam {
        let found = beam_search(&model, &checkpoint.tokenizer, &options, beams)?;
        let per_token = -found.log_prob / found.tokens.len().max(1) as f64;
        let noun = if beams == 1 { "beam" } else { "beams" };
        info!(
            "beam search ({beams} {noun}): log probability {:.3} nats ({:.4} bits per token)",
            found.log_prob,
            per_token / std::f64::consts::LN_2
        );
        let _ = writeln!(std::io::stdout().lock(), "{}{}", options.prime, found.text);
        return Ok(());
    }
    if args.seed.is_none() {
        info!("seed: {seed} (pass --seed {seed} to repeat this sample)");
    }
    if args.json || args.num_samples > 1 {
        let samples = generate_many(
            &model,
            &checkpoint.tokenizer,
            &options,
            args.num_samples,
            &device,
        )?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for (k, sample) in samples.iter().enumerate() {
            let seed = seed.wrapping_add(k as u64);
            let written = if args.json {
                let line = serde_json::json!({
                    "seed": seed,
                    "prime": options.prime,
                    "text": sample.text,
                    "log_prob": sample.log_prob(),
                    "pieces": sample.pieces,
                });
                writeln!(out, "{line}")
            } else {
                let header = format!(
                    "==> sample {} of {} (--seed {seed}) <==",
                    k + 1,
                    samples.len()
                );
                writeln!(out, "{header}\n{}{}\n", options.prime, sample.text)
            };
            // A closed pipe ends the output quietly.
            if written.is_err() {
                return Ok(());
            }
        }
        return Ok(());
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed pipe (`charlstm sample | head`) ends the sample quietly.
    if write!(out, "{}", options.prime)
        .and_then(|_| out.flush())
        .is_err()
    {
        return Ok(());
    }
    generate(&model, &checkpoint.tokenizer, &options, &device, |text| {
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_ok()
    })?;
    let _ = writeln!(out);
    Ok(())
}
