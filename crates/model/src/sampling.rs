//! Choosing the next character from the model's logits: temperature, then top-k, then top-p
//! (nucleus) truncation, then a draw. Pure and on the CPU, so the same logits and the same RNG
//! state give the same choice on every backend.

use rand::Rng;

/// How to turn logits into a choice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingOptions {
    /// Divides the logits: below 1 sharpens, above 1 flattens. Must be > 0.
    pub temperature: f32,
    /// Keep only the `k` most likely tokens (`None`: all).
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches `p`, in `(0, 1]`.
    pub top_p: Option<f32>,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: None,
            top_p: None,
        }
    }
}

/// Draws a token index from `logits` under `options` (allocates; a [`Sampler`] reuses its
/// buffer across draws).
pub fn sample_index(logits: &[f32], options: &SamplingOptions, rng: &mut impl Rng) -> usize {
    Sampler::new(*options).sample(logits, rng)
}

/// Draws token indices under fixed options, reusing one buffer, so a draw allocates nothing.
#[derive(Debug, Clone)]
pub struct Sampler {
    options: SamplingOptions,
    /// (token, unnormalised probability), ranked when truncating.
    weights: Vec<(usize, f32)>,
}

impl Sampler {
    /// A sampler for `options`.
    pub fn new(options: SamplingOptions) -> Self {
        Self {
            options,
            weights: Vec::new(),
        }
    }

    /// Draws a token index from `logits`.
    ///
    /// # Panics
    ///
    /// If `logits` is empty.
    pub fn sample(&mut self, logits: &[f32], rng: &mut impl Rng) -> usize {
        assert!(!logits.is_empty(), "logits cover at least one token");
        let options = &self.options;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        self.weights.clear();
        self.weights.extend(
            logits
                .iter()
                .map(|&logit| ((logit - max) / options.temperature).exp())
                .enumerate(),
        );
        let mut keep = self.weights.len();
        if options.top_k.is_some() || options.top_p.is_some() {
            // Truncation keeps the most likely tokens: rank them, ties broken by index so the
            // order is deterministic.
            self.weights
                .sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            if let Some(k) = options.top_k {
                keep = keep.min(k.max(1));
            }
            if let Some(p) = options.top_p {
                let total: f32 = self.weights[..keep].iter().map(|(_, w)| w).sum();
                let mut cumulative = 0.0;
                for (position, (_, weight)) in self.weights[..keep].iter().enumerate() {
                    cumulative += weight / total;
                    if cumulative >= p {
                        keep = position + 1;
                        break;
                    }
                }
            }
        }
        let kept = &self.weights[..keep];
        let total: f32 = kept.iter().map(|(_, w)| w).sum();
        let mut target = rng.random::<f32>() * total;
        for &(index, weight) in kept {
            if target < weight {
                return index;
            }
            target -= weight;
        }
        // Rounding left a sliver of `target`: the last token with any weight takes it.
        kept.iter()
            .rev()
            .find(|(_, weight)| *weight > 0.0)
            .map_or(kept[0].0, |&(index, _)| index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn counts(logits: &[f32], options: SamplingOptions, draws: usize) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = vec![0; logits.len()];
        for _ in 0..draws {
            counts[sample_index(logits, &options, &mut rng)] += 1;
        }
        counts
    }

    #[test]
    fn frequencies_follow_the_softmax() {
        let logits = [0.0f32, (2.0f32).ln(), (7.0f32).ln()]; // probabilities 0.1, 0.2, 0.7
        let c = counts(&logits, SamplingOptions::default(), 20_000);
        assert!((c[0] as f32 / 20_000.0 - 0.1).abs() < 0.015, "{c:?}");
        assert!((c[2] as f32 / 20_000.0 - 0.7).abs() < 0.015, "{c:?}");
    }

    #[test]
    fn top_k_and_top_p_truncate() {
        let logits = [0.0f32, (2.0f32).ln(), (7.0f32).ln()];
        let top1 = SamplingOptions {
            top_k: Some(1),
            ..Default::default()
        };
        assert_eq!(counts(&logits, top1, 500), vec![0, 0, 500]);
        let nucleus = SamplingOptions {
            top_p: Some(0.85),
            ..Default::default()
        };
        let c = counts(&logits, nucleus, 2_000);
        assert_eq!(c[0], 0, "{c:?}");
        assert!(c[1] > 0 && c[2] > c[1], "{c:?}");
    }

    #[test]
    fn low_temperature_is_nearly_greedy_and_the_same_seed_gives_the_same_draws() {
        let logits = [1.0f32, 1.5, 0.5];
        let cold = SamplingOptions {
            temperature: 0.01,
            ..Default::default()
        };
        assert_eq!(counts(&logits, cold, 300), vec![0, 300, 0]);
        let warm = SamplingOptions::default();
        assert_eq!(counts(&logits, warm, 300), counts(&logits, warm, 300));
    }
}
