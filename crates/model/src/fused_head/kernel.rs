//! The output head and the cross-entropy on host memory, forward and backward, on row-major f32
//! slices with no Burn types.
//!
//! With `R = T·B` rows (the top layer's outputs, time-major: row `t·B + b` is step `t` of
//! sequence `b`), hidden width `H` and `V` tokens:
//!
//! ```text
//! forward
//!   Z   = X · W + b                   X: [R, H]   W: [H, V]   Z: [R, V]   one product
//!   L_r = log Σ_j exp(Z_rj) − Z_r,y   y: the row's target, read from targets [B, T]
//!   L   = Σ_r L_r                     summed in f64, row after row
//!   P   = softmax(Z), kept            [R, V]: the only thing the backward pass stores
//!
//! backward, from g = ∂(loss)/∂L
//!   ∂Z = g · (P − onehot(y))
//!   ∂X = ∂Z · Wᵀ      ∂W = Xᵀ · ∂Z      ∂b = Σ_r ∂Z_r
//! ```
//!
//! Built from Burn operations, the same computation stores the logits, the log-softmax and the
//! gathered values, and its backward pass scatters into a zero `[R, V]` tensor, goes back
//! through the log-softmax, and copies the logits between time-major and batch-major order.

use rayon::prelude::*;

use crate::cpu::buffers::{recycle, scratch};
use crate::cpu::matmul::{Matrix, Write, matmul};
use crate::cpu::sequence::{check_len, column_sums, product};

/// Rows of the softmax pass one thread takes at least.
const MIN_ROWS_PER_TASK: usize = 64;

/// The sizes of one run of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadDims {
    /// Steps `T`.
    pub seq_len: usize,
    /// Sequences `B`.
    pub batch: usize,
    /// Width of the features, `H`.
    pub hidden_size: usize,
    /// Tokens the head predicts over, `V`.
    pub vocab_size: usize,
}

impl HeadDims {
    /// `R = T·B`.
    pub fn rows(self) -> usize {
        self.seq_len * self.batch
    }
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug)]
pub struct HeadTrace {
    /// The sizes it ran with.
    pub dims: HeadDims,
    /// `softmax(Z)`, `[R, V]`.
    probabilities: Vec<f32>,
    /// Each row's target token.
    targets: Vec<usize>,
}

impl Drop for HeadTrace {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.probabilities));
    }
}

/// Which gradients the backward pass computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadWanted {
    /// `∂X`.
    pub features: bool,
    /// `∂W`.
    pub weight: bool,
    /// `∂b`.
    pub bias: bool,
}

/// The gradients [`backward`] computed, those not wanted `None`.
#[derive(Debug)]
pub struct HeadGrads {
    /// `∂X`, `[T, B, H]`.
    pub features: Option<Vec<f32>>,
    /// `∂W`, `[H, V]`.
    pub weight: Option<Vec<f32>>,
    /// `∂b`, `[V]`.
    pub bias: Option<Vec<f32>>,
}

/// The summed cross-entropy of the head's predictions from `features` `[T, B, H]` against
/// `targets` `[B, T]` (batch-major, as the training chunks hold them), and what the backward
/// pass needs.
///
/// # Panics
///
/// If a slice's length does not match `dims`, or a target is not below `V`.
pub fn forward(
    dims: HeadDims,
    features: &[f32],
    weight: &[f32],
    bias: &[f32],
    targets: &[i64],
) -> (f64, HeadTrace) {
    let HeadDims {
        seq_len,
        batch,
        hidden_size,
        vocab_size,
    } = dims;
    let rows = dims.rows();
    check_len("features", features, rows * hidden_size);
    check_len("weight", weight, hidden_size * vocab_size);
    check_len("bias", bias, vocab_size);
    assert_eq!(
        targets.len(),
        rows,
        "fused head: {} targets for {rows} rows",
        targets.len()
    );
    let targets: Vec<usize> = (0..rows)
        .map(|row| {
            let (step, sequence) = (row / batch, row % batch);
            let target = targets[sequence * seq_len + step];
            usize::try_from(target)
                .ok()
                .filter(|&target| target < vocab_size)
                .unwrap_or_else(|| {
                    panic!("fused head: target token {target} is outside the vocabulary of {vocab_size}")
                })
        })
        .collect();

    let mut probabilities = scratch(rows * vocab_size);
    matmul(
        &mut probabilities,
        Write::Overwrite,
        Matrix::row_major(features, rows, hidden_size),
        Matrix::row_major(weight, hidden_size, vocab_size),
    );
    let mut losses = vec![0.0f32; rows];
    probabilities
        .par_chunks_mut(vocab_size.max(1))
        .zip(losses.par_iter_mut())
        .zip(targets.par_iter())
        .with_min_len(MIN_ROWS_PER_TASK)
        .for_each(|((row, loss), &target)| *loss = softmax_row(row, bias, target));
    let total = losses.iter().map(|&loss| f64::from(loss)).sum();
    (
        total,
        HeadTrace {
            dims,
            probabilities,
            targets,
        },
    )
}

/// Adds `bias` to the logits `row`, replaces them by their softmax, and returns the row's
/// cross-entropy against `target`, `log Σ exp(z) − z_target`.
fn softmax_row(row: &mut [f32], bias: &[f32], target: usize) -> f32 {
    let mut max = f32::NEG_INFINITY;
    for (logit, bias) in row.iter_mut().zip(bias) {
        *logit += bias;
        max = max.max(*logit);
    }
    let target_logit = row[target];
    let mut sum = 0.0f32;
    for logit in row.iter_mut() {
        *logit = (*logit - max).exp();
        sum += *logit;
    }
    let inverse = 1.0 / sum;
    for probability in row.iter_mut() {
        *probability *= inverse;
    }
    max + sum.ln() - target_logit
}

/// The gradients of the loss the forward pass recorded in `trace`, which read `features` and
/// `weight`, given `grad_loss`, the gradient of the final loss with respect to it.
///
/// # Panics
///
/// If a slice's length does not match `trace.dims`.
pub fn backward(
    trace: &HeadTrace,
    features: &[f32],
    weight: &[f32],
    grad_loss: f32,
    wanted: HeadWanted,
) -> HeadGrads {
    let HeadDims {
        hidden_size,
        vocab_size,
        ..
    } = trace.dims;
    let rows = trace.dims.rows();
    check_len("features", features, rows * hidden_size);
    check_len("weight", weight, hidden_size * vocab_size);

    // ∂Z = g · (P − onehot(y)).
    let mut grad_logits = scratch(rows * vocab_size);
    grad_logits
        .par_chunks_mut(vocab_size.max(1))
        .zip(trace.probabilities.par_chunks(vocab_size.max(1)))
        .zip(trace.targets.par_iter())
        .with_min_len(MIN_ROWS_PER_TASK)
        .for_each(|((grad, probabilities), &target)| {
            for (grad, &probability) in grad.iter_mut().zip(probabilities) {
                *grad = grad_loss * probability;
            }
            grad[target] -= grad_loss;
        });
    let grad_z = Matrix::row_major(&grad_logits, rows, vocab_size);
    let grads = HeadGrads {
        features: product(
            wanted.features,
            rows * hidden_size,
            grad_z,
            Matrix::row_major(weight, hidden_size, vocab_size).t(),
        ),
        weight: product(
            wanted.weight,
            hidden_size * vocab_size,
            Matrix::row_major(features, rows, hidden_size).t(),
            grad_z,
        ),
        bias: column_sums(wanted.bias, &grad_logits, vocab_size),
    };
    recycle(grad_logits);
    grads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::gradients::random_values;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    struct Case {
        dims: HeadDims,
        features: Vec<f32>,
        weight: Vec<f32>,
        bias: Vec<f32>,
        targets: Vec<i64>,
    }

    fn case(seq_len: usize, batch: usize, hidden_size: usize, vocab_size: usize) -> Case {
        let dims = HeadDims {
            seq_len,
            batch,
            hidden_size,
            vocab_size,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let targets = (0..dims.rows())
            .map(|row| ((row * 7 + 3) % vocab_size) as i64)
            .collect();
        Case {
            dims,
            features: random_values(&mut rng, dims.rows() * hidden_size),
            weight: random_values(&mut rng, hidden_size * vocab_size),
            bias: random_values(&mut rng, vocab_size),
            targets,
        }
    }

    fn run(case: &Case) -> (f64, HeadTrace) {
        forward(
            case.dims,
            &case.features,
            &case.weight,
            &case.bias,
            &case.targets,
        )
    }

    fn loss(case: &Case) -> f64 {
        run(case).0
    }

    /// The definition, one row at a time in f64 with the targets read batch-major.
    #[test]
    fn forward_matches_the_definition() {
        let case = case(3, 2, 4, 5);
        let HeadDims {
            seq_len,
            batch,
            hidden_size: h,
            vocab_size: v,
        } = case.dims;
        let mut expected = 0.0f64;
        for step in 0..seq_len {
            for sequence in 0..batch {
                let row = step * batch + sequence;
                let logits: Vec<f64> = (0..v)
                    .map(|j| {
                        f64::from(case.bias[j])
                            + (0..h)
                                .map(|k| {
                                    f64::from(case.features[row * h + k])
                                        * f64::from(case.weight[k * v + j])
                                })
                                .sum::<f64>()
                    })
                    .collect();
                let target = case.targets[sequence * seq_len + step] as usize;
                let log_sum: f64 = logits.iter().map(|z| z.exp()).sum::<f64>().ln();
                expected += log_sum - logits[target];
            }
        }
        let got = loss(&case);
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    /// Every gradient against central differences of the summed loss, scaled by `g`.
    #[test]
    fn backward_matches_finite_differences() {
        let case = case(3, 2, 4, 6);
        let grad_loss = 0.7f32;
        let (_, trace) = run(&case);
        let all = HeadWanted {
            features: true,
            weight: true,
            bias: true,
        };
        let grads = backward(&trace, &case.features, &case.weight, grad_loss, all);
        let step = 1e-2f32;
        let check = |name: &str, got: &[f32], nudge: &dyn Fn(&mut Case, usize, f32)| {
            for (index, &got) in got.iter().enumerate() {
                let mut up = case_copy(&case);
                nudge(&mut up, index, step);
                let mut down = case_copy(&case);
                nudge(&mut down, index, -step);
                let expected =
                    f64::from(grad_loss) * (loss(&up) - loss(&down)) / (2.0 * f64::from(step));
                assert!(
                    (f64::from(got) - expected).abs() < 2e-3,
                    "{name}[{index}]: {got} vs {expected}"
                );
            }
        };
        check("features", grads.features.as_ref().unwrap(), &|c, i, d| {
            c.features[i] += d;
        });
        check("weight", grads.weight.as_ref().unwrap(), &|c, i, d| {
            c.weight[i] += d;
        });
        check("bias", grads.bias.as_ref().unwrap(), &|c, i, d| {
            c.bias[i] += d;
        });
    }

    fn case_copy(case: &Case) -> Case {
        Case {
            dims: case.dims,
            features: case.features.clone(),
            weight: case.weight.clone(),
            bias: case.bias.clone(),
            targets: case.targets.clone(),
        }
    }

    #[test]
    fn unwanted_gradients_are_skipped() {
        let case = case(2, 2, 3, 4);
        let (_, trace) = run(&case);
        let wanted = HeadWanted {
            features: false,
            weight: true,
            bias: false,
        };
        let grads = backward(&trace, &case.features, &case.weight, 1.0, wanted);
        assert!(grads.features.is_none() && grads.bias.is_none());
        assert_eq!(grads.weight.map(|grad| grad.len()), Some(3 * 4));
    }

    #[test]
    #[should_panic(expected = "outside the vocabulary")]
    fn a_target_outside_the_vocabulary_is_refused() {
        let mut case = case(1, 1, 2, 3);
        case.targets[0] = 3;
        loss(&case);
    }
}
