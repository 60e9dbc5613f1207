//! Text generation: feed the prime text, then sample one token (a character, for a character
//! model) at a time, carrying the state, and hand out the text of each as soon as it exists.

use burn::prelude::*;
use charlstm_data::Tokenizer;
use charlstm_model::{CharModel, Sampler, SamplingOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::TrainError;
use crate::log_probs::{log_prob_of, most_likely};
use crate::stop::StopStrings;
use crate::text_file::read_text;
use logit_source::LogitSource;

mod logit_source;

/// What to generate.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// Text the model reads before generating (not repeated in the output).
    pub prime: String,
    /// Tokens to generate (characters, for a character model).
    pub length: usize,
    /// Temperature, top-k, top-p.
    pub sampling: SamplingOptions,
    /// Seed of the sampling RNG: the same seed, model and backend give the same text.
    pub seed: u64,
    /// A sample ends after the first of these it generates (kept), before `length` if need be.
    pub stop: StopStrings,
}

impl GenerateOptions {
    /// Checks the options against `tokenizer`, with one-line errors naming the bad value.
    pub fn validate(&self, tokenizer: &Tokenizer) -> Result<(), TrainError> {
        let s = &self.sampling;
        if !(s.temperature.is_finite() && s.temperature > 0.0) {
            return Err(TrainError::Sampling(format!(
                "--temperature {} is invalid: it must be > 0",
                s.temperature
            )));
        }
        if let Some(p) = s.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(TrainError::Sampling(format!(
                "--top-p {p} is invalid: it must be in (0, 1]"
            )));
        }
        if s.top_k == Some(0) {
            return Err(TrainError::Sampling(
                "--top-k 0 is invalid: it must be at least 1".into(),
            ));
        }
        if self.prime.is_empty() {
            return Err(TrainError::Sampling(
                "--prime is empty: give at least one character".into(),
            ));
        }
        self.prime_tokens(tokenizer)?;
        if self.stop.strings().iter().any(String::is_empty) {
            return Err(TrainError::Sampling(
                "--stop \"\" is invalid: give at least one character".into(),
            ));
        }
        Ok(())
    }

    /// Reads a prime from `path` (`--prime-file`): UTF-8 text of at least one character.
    pub fn read_prime_file(path: &std::path::Path) -> Result<String, TrainError> {
        let shown = path.display();
        let text = read_text(path, &format!("--prime-file {shown}"))?;
        if text.is_empty() {
            return Err(TrainError::Sampling(format!(
                "--prime-file {shown} is empty: give a file with at least one character"
            )));
        }
        Ok(text)
    }

    /// The prime as token ids.
    pub(crate) fn prime_tokens(&self, tokenizer: &Tokenizer) -> Result<Vec<u32>, TrainError> {
        self.prime_tokens_as(tokenizer, "--prime")
    }

    /// Checks that the prime encodes to at least one token of `tokenizer`, with errors that
    /// name it `label` (e.g. `--prime-file notes.txt`).
    pub fn check_prime(&self, tokenizer: &Tokenizer, label: &str) -> Result<(), TrainError> {
        self.prime_tokens_as(tokenizer, label).map(drop)
    }

    fn prime_tokens_as(&self, tokenizer: &Tokenizer, label: &str) -> Result<Vec<u32>, TrainError> {
        let ids = tokenizer
            .encode(&self.prime)
            .map_err(|e| TrainError::Sampling(format!("{label}: {e}")))?;
        if ids.is_empty() {
            let mut shown: String = self.prime.chars().take(40).collect();
            if shown.len() < self.prime.len() {
                shown.push('…');
            }
            return Err(TrainError::Sampling(format!(
                "{label} {shown:?} gives no tokens with this tokenizer: give other text"
            )));
        }
        Ok(ids)
    }
}

/// Generates up to `options.length` tokens after `options.prime`, calling `emit` with the text
/// of each as it is drawn (generation stops early when `emit` returns `false`, e.g. when the
/// reader of stdout went away, or after a stop string), and returns the text. `model` should be an inference model on
/// `device`. On the CPU backends the steps run on a [`HostStepper`]; elsewhere (wgpu) they are
/// the model's own Burn operations on `device`.
pub fn generate(
    model: &CharModel,
    tokenizer: &Tokenizer,
    options: &GenerateOptions,
    device: &Device,
    mut emit: impl FnMut(&str) -> bool,
) -> Result<String, TrainError> {
    options.validate(tokenizer)?;
    let prime = options.prime_tokens(tokenizer)?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);

    let mut sampler = Sampler::new(options.sampling);
    let mut source = LogitSource::new(model, device, 1)?;
    let mut last = source.read_prime(&prime)?;
    let mut text = String::with_capacity(options.length);
    let mut decoder = tokenizer.stream_decoder();
    for position in 0..options.length {
        let index = sampler.sample(&last, &mut rng) as u32;
        let start = text.len();
        decoder.push(index, &mut text);
        let stop = options.stop.end_in(&text, start);
        if let Some(end) = stop {
            text.truncate(end);
        }
        let reader_left = text.len() > start && !emit(&text[start..]);
        if reader_left || stop.is_some() {
            break;
        }
        if position + 1 < options.length {
            source.step(&[index], &mut last)?;
        }
    }
    Ok(text)
}

/// A generated sample: its text and, token by token, what the model thought of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// The text after the prime (cut at the stop string, if one ended it).
    pub text: String,
    /// Each token drawn, in order; their texts make up `text`.
    pub pieces: Vec<Piece>,
}

/// One token of a [`Sample`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Piece {
    /// The token's id.
    pub token: u32,
    /// The text it added (a character, for a character model; may be empty for a token that
    /// completes a character only with the next one).
    pub text: String,
    /// The model's log probability of the token in nats, before temperature, top-k and top-p.
    pub log_prob: f64,
}

impl Sample {
    /// The model's total log probability of the sample, in nats.
    pub fn log_prob(&self) -> f64 {
        self.pieces.iter().map(|piece| piece.log_prob).sum()
    }
}

/// Generates `count` independent samples at once, each `options.length` tokens after
/// `options.prime`, and returns them with the model's log probability of every token. Sample
/// `k` draws its tokens with the seed `options.seed + k`, so its text is the text [`generate`]
/// gives with that seed: on the CPU backends bit for bit (the batched steps compute what a
/// lone stream computes, in the same order); on wgpu, whose products may sum in another order
/// at another batch size, up to rounding. Each sample ends at its own stop string. All samples
/// are made together, one step of all of them at a time, so each weight is read once per step
/// for all of them (on the CPU, 32 samples take about four times as long as one).
pub fn generate_many(
    model: &CharModel,
    tokenizer: &Tokenizer,
    options: &GenerateOptions,
    count: usize,
    device: &Device,
) -> Result<Vec<Sample>, TrainError> {
    generate_many_streaming(model, tokenizer, options, count, device, 0, |_| true)
}

/// A token of one of [`generate_many_streaming`]'s samples, as soon as it is drawn.
#[derive(Debug, Clone, Copy)]
pub struct DrawnPiece<'a> {
    /// Which sample it belongs to, from 0.
    pub sample: usize,
    /// Its place in its sample, from 0.
    pub position: usize,
    /// The token, its text and log probability.
    pub piece: &'a Piece,
    /// The `top` most likely tokens at this position with their log probabilities (nats),
    /// most likely first.
    pub alternatives: &'a [(u32, f64)],
    /// Whether it ended its sample (a stop string, or the last of `length`).
    pub last: bool,
}

/// [`generate_many`], handing each token to `on_piece` as soon as it is drawn, with the `top`
/// most likely tokens at its position. `on_piece` returns `false` to stop every sample there
/// (its reader went away); the samples so far are returned.
pub fn generate_many_streaming(
    model: &CharModel,
    tokenizer: &Tokenizer,
    options: &GenerateOptions,
    count: usize,
    device: &Device,
    top: usize,
    mut on_piece: impl FnMut(DrawnPiece<'_>) -> bool,
) -> Result<Vec<Sample>, TrainError> {
    options.validate(tokenizer)?;
    if count == 0 {
        return Err(TrainError::Sampling(
            "--num-samples 0 is invalid: it must be at least 1".into(),
        ));
    }
    let prime = options.prime_tokens(tokenizer)?;
    let mut rngs: Vec<ChaCha8Rng> = (0..count as u64)
        .map(|k| ChaCha8Rng::seed_from_u64(options.seed.wrapping_add(k)))
        .collect();
    let mut sampler = Sampler::new(options.sampling);
    let mut source = LogitSource::new(model, device, count)?;
    let mut logits = source.read_prime(&prime)?;
    let vocab_size = logits.len() / count;
    let empty = Sample {
        text: String::with_capacity(options.length),
        pieces: Vec::with_capacity(options.length),
    };
    let mut samples = vec![empty; count];
    let mut decoders: Vec<_> = (0..count).map(|_| tokenizer.stream_decoder()).collect();
    let mut tokens = vec![0u32; count];
    // A stream that met a stop string draws no more; it steps on with its last token, unread.
    let mut running = vec![true; count];
    for position in 0..options.length {
        for (k, ((rng, decoder), sample)) in rngs
            .iter_mut()
            .zip(&mut decoders)
            .zip(&mut samples)
            .enumerate()
        {
            if !running[k] {
                continue;
            }
            let row = &logits[k * vocab_size..(k + 1) * vocab_size];
            let token = sampler.sample(row, rng);
            tokens[k] = token as u32;
            let text = &mut sample.text;
            let start = text.len();
            decoder.push(tokens[k], text);
            if let Some(end) = options.stop.end_in(text, start) {
                text.truncate(end);
                running[k] = false;
            }
            sample.pieces.push(Piece {
                token: tokens[k],
                text: text[start..].to_string(),
                log_prob: log_prob_of(row, token),
            });
            let alternatives = most_likely(row, top);
            let drawn = DrawnPiece {
                sample: k,
                position,
                piece: &sample.pieces[sample.pieces.len() - 1],
                alternatives: &alternatives,
                last: !running[k] || position + 1 == options.length,
            };
            if !on_piece(drawn) {
                return Ok(samples);
            }
        }
        if !running.contains(&true) {
            break;
        }
        if position + 1 < options.length {
            source.step(&tokens, &mut logits)?;
        }
    }
    Ok(samples)
}
