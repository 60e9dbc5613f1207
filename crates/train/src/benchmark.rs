//! Throughput of a configuration on a backend: training characters per second after warm-up
//! (optimizer step included), generation characters per second at batch 1 and with many
//! samples at once, and the process's peak memory. `charlstm bench` prints it;
//! `scripts/bench.sh` sets it beside PyTorch.

use std::time::Instant;

use burn::module::Module;
use charlstm_data::{CorpusLocator, TokenizerChoice};
use charlstm_model::cpu::isa::Isa;
use charlstm_model::{RecurrentState, SamplingOptions};
use serde::Serialize;

use crate::averaging::WeightAverage;
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::generate::{GenerateOptions, generate, generate_many};
use crate::optimizer::adam;
use crate::setup::{SeededModel, seeded_model, split_and_batch};
use crate::step::{Chunk, train_step};
use crate::tensors::batch_tensors;

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub struct BenchmarkOptions {
    /// Training steps run before the clock starts (first-use costs: allocation, kernel
    /// compilation and autotuning on wgpu).
    pub warmup_steps: usize,
    /// Training steps timed.
    pub timed_steps: usize,
    /// Characters generated, timed, after a short untimed warm-up.
    pub sample_length: usize,
    /// Samples generated at once for the batched figure, each `sample_length` characters
    /// (0 or 1: not measured).
    pub num_samples: usize,
}

/// What a benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchmarkReport {
    /// Backend name.
    pub backend: String,
    /// The instruction set of charlstm's own CPU loops and sampling products (`avx512`,
    /// `avx2`, `portable`: the widest the CPU has, or narrower as `CHARLSTM_ISA` asks). The
    /// training products are gemm's, which picks AVX-512 wherever the CPU has it.
    pub isa: &'static str,
    /// Trainable parameters.
    pub parameters: usize,
    /// Training throughput, in target characters per second.
    pub train_chars_per_s: f64,
    /// Generation throughput at batch 1, in characters per second.
    pub sample_chars_per_s: f64,
    /// Samples generated at once for [`Self::batch_sample_chars_per_s`].
    pub num_samples: usize,
    /// Generation throughput with `num_samples` samples at once, in characters per second
    /// (all samples' characters counted); `None` when not measured.
    pub batch_sample_chars_per_s: Option<f64>,
    /// Peak resident memory of the process, in MiB (Linux only).
    pub peak_rss_mib: Option<f64>,
    /// Loss of the last timed step, nats/char (a sanity check that training ran).
    pub last_loss: f32,
}

/// Measures `config` on its backend with the corpus it names.
pub fn run_benchmark(
    config: &RunConfig,
    locator: &CorpusLocator,
    options: BenchmarkOptions,
) -> Result<BenchmarkReport, TrainError> {
    let choice = TokenizerChoice::BuildCharacters { max_vocab: 0 };
    let prepared = config.data.prepare(locator, &choice, &mut |_, _, _| {})?;
    let vocab = &prepared.tokenizer;
    let (_, batcher) = split_and_batch(config, prepared.tokens())?;
    let recipe = &config.train;

    let SeededModel {
        inference_device,
        device,
        mut model,
    } = seeded_model(config, vocab.len())?;
    let parameters = model.num_params();
    let mut optimizer = adam(&config.train);
    // The moving average of the weights is part of a step when the run keeps one.
    let mut average = (recipe.ema_decay > 0.0).then(|| WeightAverage::new(recipe.ema_decay));
    let mut state: Option<RecurrentState> = None;
    let mut backward_state: Option<RecurrentState> = None;
    let mut clock = None;
    let mut last_loss = f32::NAN;
    let total = options.warmup_steps + options.timed_steps;
    for step in 0..total {
        if step == options.warmup_steps {
            clock = Some(Instant::now());
        }
        let batch = batcher.batch(step % batcher.num_batches());
        let (inputs, targets) = batch_tensors(&batch, &device);
        // A bidirectional model's backward stack does the same work on another chunk; the
        // same one times it as well.
        let backward = model.is_bidirectional().then(|| Chunk {
            inputs: inputs.clone(),
            targets: targets.clone(),
            state: backward_state.take(),
        });
        let forward = Chunk {
            inputs,
            targets,
            state: state.take(),
        };
        let outcome = train_step(
            model,
            &mut optimizer,
            forward,
            backward,
            recipe.learning_rate,
            recipe.grad_clip,
        );
        model = outcome.model;
        if let Some(average) = &mut average {
            average.update(&model);
        }
        state = Some(outcome.state);
        backward_state = outcome.backward_state;
        // The step read its loss, which waits for the device, so the clock sees finished work.
        last_loss = outcome.loss;
    }
    let train_seconds = clock.map_or(f64::NAN, |c| c.elapsed().as_secs_f64());
    let train_chars_per_s = (options.timed_steps * recipe.chars_per_step()) as f64 / train_seconds;

    let model = model.valid();
    let prime = vocab.decode(&[prepared.tokens().get(0).unwrap_or(0)]);
    // `count` samples of `length` characters at once (one: the streaming batch-1 path).
    let sample = |length: usize, seed: u64, count: usize| -> Result<(), TrainError> {
        let options = GenerateOptions {
            prime: prime.clone(),
            length,
            sampling: SamplingOptions::default(),
            seed,
            stop: Default::default(),
        };
        match count {
            1 => generate(&model, vocab, &options, &inference_device, |_| true).map(drop),
            _ => generate_many(&model, vocab, &options, count, &inference_device).map(drop),
        }
    };
    // Characters per second over all `count` samples, after a short untimed warm-up.
    let sampling_rate = |count: usize| -> Result<f64, TrainError> {
        sample(20, 0, count)?;
        let clock = Instant::now();
        sample(options.sample_length, 1, count)?;
        Ok((count * options.sample_length) as f64 / clock.elapsed().as_secs_f64())
    };
    let sample_chars_per_s = sampling_rate(1)?;
    let batch_sample_chars_per_s = match options.num_samples {
        0 | 1 => None,
        count => Some(sampling_rate(count)?),
    };

    Ok(BenchmarkReport {
        backend: config.backend.name().to_string(),
        isa: Isa::detect().name(),
        parameters,
        train_chars_per_s,
        sample_chars_per_s,
        num_samples: options.num_samples,
        batch_sample_chars_per_s,
        peak_rss_mib: peak_rss_mib(),
        last_loss,
    })
}

/// The process's peak resident set size (`VmHWM`), where the OS reports it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_benchmark_reports_positive_finite_figures() {
        let config = RunConfig::load(
            None,
            &[
                "data.corpus=alphabet".into(),
                "model.hidden_size=8".into(),
                "model.embedding_size=4".into(),
                "model.num_layers=1".into(),
                "train.batch_size=2".into(),
                "train.seq_len=8".into(),
            ],
        )
        .unwrap();
        let options = BenchmarkOptions {
            warmup_steps: 1,
            timed_steps: 3,
            sample_length: 10,
            num_samples: 3,
        };
        let report = run_benchmark(&config, &CorpusLocator::default(), options).unwrap();
        assert_eq!(report.backend, "flex");
        assert!(["avx512", "avx2", "portable"].contains(&report.isa));
        assert!(report.train_chars_per_s.is_finite() && report.train_chars_per_s > 0.0);
        assert!(report.sample_chars_per_s.is_finite() && report.sample_chars_per_s > 0.0);
        assert!(
            report
                .batch_sample_chars_per_s
                .is_some_and(|s| s.is_finite() && s > 0.0)
        );
        assert!(report.last_loss.is_finite() && report.last_loss > 0.0);
        if cfg!(target_os = "linux") {
            assert!(report.peak_rss_mib.is_some_and(|m| m > 0.0));
        }
    }
}
