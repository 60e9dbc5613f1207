//! Beam search: the most likely continuation of a prime rather than a random one,
//! deterministic, on the host stepper.

use charlstm_data::Tokenizer;
use charlstm_model::{CharModel, HostStepper};

use crate::error::TrainError;
use crate::generate::GenerateOptions;
use crate::log_probs::log_sum_exp;

/// What a beam search found.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamResult {
    /// The continuation (the prime not repeated).
    pub text: String,
    /// Its tokens.
    pub tokens: Vec<u32>,
    /// The model's total log probability of those tokens after the prime, in nats.
    pub log_prob: f64,
}

/// One hypothesis: its tokens so far and their total log probability.
#[derive(Debug, Clone)]
struct Beam {
    tokens: Vec<u32>,
    log_prob: f64,
}

/// Searches for the continuation of `options.prime` of `options.length` tokens with the
/// highest total log probability, keeping the `beams` best hypotheses at every step (1: greedy
/// decoding). Sampling options and the seed play no part; ties go to the lower token id. Runs
/// on the host stepper whatever device `model` is on (its weights are read back once).
///
/// A wider beam can prune a path a narrower one keeps, so on its own it may end less likely.
/// This search also runs half the beams (and half of that, down to one) and returns the most
/// likely result of all: twice the beams is never worse than `beams`, at most twice the work.
pub fn beam_search(
    model: &CharModel,
    tokenizer: &Tokenizer,
    options: &GenerateOptions,
    beams: usize,
) -> Result<BeamResult, TrainError> {
    options.validate(tokenizer)?;
    if beams == 0 {
        return Err(TrainError::Sampling(
            "--beam 0 is invalid: it must be at least 1".into(),
        ));
    }
    if !options.stop.is_empty() {
        return Err(TrainError::Sampling(
            "--stop does not work with --beam: give --length instead".into(),
        ));
    }
    if !HostStepper::fits(model) {
        return Err(TrainError::Sampling(
            "--beam needs a model whose vocabulary fits the host stepper (a character model)"
                .into(),
        ));
    }
    // The prime is read once; every search forks from its state.
    let mut primed = HostStepper::new(model).map_err(|e| TrainError::Backend(e.to_string()))?;
    let mut logits = Vec::new();
    for &token in &options.prime_tokens(tokenizer)? {
        logits = primed.step(token as usize).to_vec();
    }
    let mut best = search(&primed, &logits, options.length, beams);
    let mut width = beams;
    while width > 1 {
        width = width.div_ceil(2);
        let narrower = search(&primed, &logits, options.length, width);
        if narrower.log_prob > best.log_prob {
            best = narrower;
        }
    }
    Ok(BeamResult {
        text: tokenizer.decode(&best.tokens),
        tokens: best.tokens,
        log_prob: best.log_prob,
    })
}

/// One beam search of `beams` beams for `length` tokens, from the state of `primed`, whose
/// logits for the next token are `prime_logits`.
fn search(primed: &HostStepper, prime_logits: &[f32], length: usize, beams: usize) -> Beam {
    let vocab_size = primed.vocab_size();
    let mut streams = primed.fork(beams);
    let mut logits = prime_logits.to_vec();
    let mut kept = vec![Beam {
        tokens: Vec::with_capacity(length),
        log_prob: 0.0,
    }];
    for position in 0..length {
        let mut candidates: Vec<(f64, usize, usize)> = Vec::with_capacity(kept.len() * vocab_size);
        for (index, beam) in kept.iter().enumerate() {
            let row = &logits[index * vocab_size..(index + 1) * vocab_size];
            for (token, log_p) in log_softmax(row).into_iter().enumerate() {
                candidates.push((beam.log_prob + log_p, index, token));
            }
        }
        // Best first; among equals, the earlier beam and the lower token.
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        candidates.truncate(beams);
        kept = candidates
            .iter()
            .map(|&(log_prob, parent, token)| {
                let mut tokens = kept[parent].tokens.clone();
                tokens.push(token as u32);
                Beam { tokens, log_prob }
            })
            .collect();
        if position + 1 < length {
            // Streams beyond the kept beams repeat the best one, unread.
            let pick = |n: usize| candidates[n.min(candidates.len() - 1)];
            let parents: Vec<usize> = (0..beams).map(|n| pick(n).1).collect();
            let tokens: Vec<usize> = (0..beams).map(|n| pick(n).2).collect();
            streams.reorder(&parents);
            logits = streams.step(&tokens).to_vec();
        }
    }
    kept.swap_remove(0)
}

/// `log softmax(row)` in f64.
fn log_softmax(row: &[f32]) -> Vec<f64> {
    let log_sum = log_sum_exp(row);
    row.iter().map(|&x| x as f64 - log_sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_sums_to_one() {
        let values = log_softmax(&[1.0, 2.0, -3.0, 0.5]);
        let total: f64 = values.iter().map(|v| v.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        assert!(values[1] > values[0] && values[0] > values[3] && values[3] > values[2]);
    }
}
