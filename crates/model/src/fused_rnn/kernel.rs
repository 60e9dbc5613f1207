//! The fused plain RNN on host memory: the forward pass over a whole sequence and
//! backpropagation through time, on row-major f32 slices, with no Burn types.
//!
//! With `T` steps, batch `B`, input width `I` and hidden width `H`:
//!
//! ```text
//! forward
//!   P   = X · W_x + b                 X: [T·B, I]   P: [T·B, H]     one product, all steps
//!   h_t = tanh(P_t + h_{t-1} · W_h)                                   one product per step
//!
//! backward, for t = T-1 … 0, from grad_h = 0 (the final state is the last output)
//!   grad_P_t = (∂L/∂h_t through the output + grad_h) ⊙ (1 − h_t²)
//!   grad_h   = grad_P_t · W_hᵀ                                         now ∂L/∂h_{t-1}
//! then, over all steps at once (H_prev = [h_0 … h_{T-1}]: [T·B, H])
//!   grad_W_x = Xᵀ · grad_P     grad_W_h = H_prevᵀ · grad_P     grad_b = Σ_rows grad_P
//!   grad_X   = grad_P · W_xᵀ   grad_h_0 = grad_h
//! ```

use rayon::prelude::*;

use crate::cpu::activation::tanh;
use crate::cpu::matmul::{Matrix, Write, matmul};
use crate::cpu::min_rows_per_task;
pub use crate::cpu::sequence::Dims;
use crate::cpu::sequence::{
    RecurrentWeight, block, check_len, column_sums, product, project_inputs,
};

/// A plain RNN has one "gate", the pre-activation itself.
pub const GATES: usize = 1;

/// The layer's parameters, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Weights<'a> {
    /// `W_x`, `[I, H]`.
    pub input_weight: &'a [f32],
    /// `W_h`, `[H, H]`.
    pub recurrent_weight: &'a [f32],
    /// `b`, `[H]`.
    pub bias: &'a [f32],
}

/// What the forward pass computed, kept for the backward pass: `h_0 … h_T`, `[T+1, B, H]`.
pub struct ForwardTrace {
    /// The sizes it ran with.
    pub dims: Dims,
    /// `h_0 … h_T`.
    pub hidden: Vec<f32>,
}

impl std::fmt::Debug for ForwardTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardTrace")
            .field("dims", &self.dims)
            .finish_non_exhaustive()
    }
}

impl ForwardTrace {
    /// Every step's output `h_1 … h_T`, `[T, B, H]`; the last block is the final state.
    pub fn outputs(&self) -> &[f32] {
        &self.hidden[self.dims.state_len()..]
    }
}

/// Runs the layer over `input` `[T, B, I]` from `hidden` `[B, H]`.
///
/// # Panics
///
/// If a slice's length does not match `dims`.
pub fn forward(dims: Dims, input: &[f32], weights: Weights<'_>, hidden: &[f32]) -> ForwardTrace {
    let state_len = dims.state_len();
    let Dims {
        seq_len,
        batch,
        hidden_size,
        ..
    } = dims;
    dims.check_input_and_weights(input, weights.input_weight, weights.recurrent_weight);
    check_len("hidden state", hidden, state_len);

    let mut pre = project_inputs(dims, input, weights.input_weight, weights.bias);
    let mut trace = ForwardTrace {
        dims,
        hidden: vec![0.0; (seq_len + 1) * state_len],
    };
    trace.hidden[..state_len].copy_from_slice(hidden);
    let recurrent =
        RecurrentWeight::new(weights.recurrent_weight, hidden_size, hidden_size, seq_len);
    for step in 0..seq_len {
        let (hidden_before, hidden_after) = trace.hidden.split_at_mut((step + 1) * state_len);
        let pre = &mut pre[step * state_len..][..state_len];
        matmul(
            pre,
            Write::Accumulate,
            Matrix::row_major(&hidden_before[step * state_len..], batch, hidden_size),
            recurrent.matrix(),
        );
        hidden_after[..state_len]
            .par_chunks_exact_mut(hidden_size)
            .zip(pre.par_chunks_exact(hidden_size))
            .with_min_len(min_rows_per_task(hidden_size))
            .for_each(|(hidden, pre)| {
                for (h, p) in hidden.iter_mut().zip(pre) {
                    *h = tanh(*p);
                }
            });
    }
    trace
}

/// Which gradients the caller wants; the others are not computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// `∂L/∂X`.
    pub input: bool,
    /// `∂L/∂W_x`.
    pub input_weight: bool,
    /// `∂L/∂W_h`.
    pub recurrent_weight: bool,
    /// `∂L/∂b`.
    pub bias: bool,
    /// `∂L/∂h_0`.
    pub hidden: bool,
}

/// Gradients of the loss with respect to the layer's inputs; `None` where not [`Wanted`].
#[derive(Debug, Clone, Default)]
pub struct RnnGrads {
    /// `∂L/∂X`, `[T, B, I]`.
    pub input: Option<Vec<f32>>,
    /// `∂L/∂W_x`, `[I, H]`.
    pub input_weight: Option<Vec<f32>>,
    /// `∂L/∂W_h`, `[H, H]`.
    pub recurrent_weight: Option<Vec<f32>>,
    /// `∂L/∂b`, `[H]`.
    pub bias: Option<Vec<f32>>,
    /// `∂L/∂h_0`, `[B, H]`.
    pub hidden: Option<Vec<f32>>,
}

/// Backpropagation through time for the run recorded in `trace`, which read `input`
/// `[T, B, I]` and `weights` (the bias is not needed), given `∂L/∂h_t` through every step's
/// output, `grad_outputs` `[T, B, H]`.
///
/// # Panics
///
/// If a slice's length does not match `trace.dims`.
pub fn backward(
    trace: &ForwardTrace,
    input: &[f32],
    weights: Weights<'_>,
    grad_outputs: &[f32],
    wanted: Wanted,
) -> RnnGrads {
    let dims = trace.dims;
    let (rows, state_len) = (dims.rows(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        input_size,
        hidden_size,
        ..
    } = dims;
    dims.check_input_and_weights(input, weights.input_weight, weights.recurrent_weight);
    check_len("output gradient", grad_outputs, rows * hidden_size);

    let recurrent_weight = Matrix::row_major(weights.recurrent_weight, hidden_size, hidden_size);
    let mut grad_pre = vec![0.0; rows * hidden_size];
    let mut grad_h = vec![0.0; state_len];
    for step in (0..seq_len).rev() {
        let grad_pre_step = &mut grad_pre[step * state_len..][..state_len];
        let hidden = block(&trace.hidden, step + 1, state_len);
        let grad_output = block(grad_outputs, step, state_len);
        for (((grad_pre, h), grad_output), grad_h) in grad_pre_step
            .iter_mut()
            .zip(hidden)
            .zip(grad_output)
            .zip(&grad_h)
        {
            *grad_pre = (grad_output + grad_h) * (1.0 - h * h);
        }
        // ∂L/∂h_{t-1} = grad_P_t · W_hᵀ; for t = 0 only if h_0's gradient is wanted.
        if step > 0 || wanted.hidden {
            matmul(
                &mut grad_h,
                Write::Overwrite,
                Matrix::row_major(grad_pre_step, batch, hidden_size),
                recurrent_weight.t(),
            );
        }
    }

    let grad_pre_all = Matrix::row_major(&grad_pre, rows, hidden_size);
    RnnGrads {
        input: product(
            wanted.input,
            rows * input_size,
            grad_pre_all,
            Matrix::row_major(weights.input_weight, input_size, hidden_size).t(),
        ),
        input_weight: product(
            wanted.input_weight,
            input_size * hidden_size,
            Matrix::row_major(input, rows, input_size).t(),
            grad_pre_all,
        ),
        recurrent_weight: product(
            wanted.recurrent_weight,
            hidden_size * hidden_size,
            Matrix::row_major(&trace.hidden[..rows * hidden_size], rows, hidden_size).t(),
            grad_pre_all,
        ),
        bias: column_sums(wanted.bias, &grad_pre, hidden_size),
        hidden: wanted.hidden.then_some(grad_h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `X`, `W_x`, `W_h`, `b`, `h_0` of a small layer, drawn at random.
    fn case(dims: Dims) -> [Vec<f32>; 5] {
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let (h, i) = (dims.hidden_size, dims.input_size);
        [dims.rows() * i, i * h, h * h, h, dims.batch * h]
            .map(|len| (0..len).map(|_| rng.random_range(-1.0..1.0)).collect())
    }

    fn run(dims: Dims, tensors: &[Vec<f32>; 5]) -> ForwardTrace {
        let [x, w_x, w_h, b, h0] = tensors;
        let weights = Weights {
            input_weight: w_x,
            recurrent_weight: w_h,
            bias: b,
        };
        forward(dims, x, weights, h0)
    }

    const DIMS: Dims = Dims {
        seq_len: 4,
        batch: 2,
        input_size: 3,
        hidden_size: 3,
        gates: GATES,
    };

    /// The equation, one unit at a time with libm's tanh.
    #[test]
    fn forward_matches_the_equation() {
        let tensors = case(DIMS);
        let [x, w_x, w_h, b, h0] = &tensors;
        let (h, i) = (DIMS.hidden_size, DIMS.input_size);
        let trace = run(DIMS, &tensors);
        let mut hidden = h0.clone();
        for t in 0..DIMS.seq_len {
            let mut next = hidden.clone();
            for row in 0..DIMS.batch {
                for j in 0..h {
                    let from_x: f32 = (0..i)
                        .map(|k| x[(t * DIMS.batch + row) * i + k] * w_x[k * h + j])
                        .sum();
                    let from_h: f32 = (0..h).map(|k| hidden[row * h + k] * w_h[k * h + j]).sum();
                    next[row * h + j] = (from_x + from_h + b[j]).tanh();
                }
            }
            hidden = next;
            let got = &trace.outputs()[t * DIMS.state_len()..][..DIMS.state_len()];
            for (got, expected) in got.iter().zip(&hidden) {
                assert!(
                    (got - expected).abs() < 1e-5,
                    "step {t}: {got} vs {expected}"
                );
            }
        }
    }

    /// Every gradient against central differences of `L = Σ_t Σ h_t ⊙ R_t`.
    #[test]
    fn backward_matches_finite_differences() {
        let mut tensors = case(DIMS);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let weight: Vec<f32> = (0..DIMS.rows() * DIMS.hidden_size)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let loss = |tensors: &[Vec<f32>; 5]| -> f64 {
            let trace = run(DIMS, tensors);
            let products = trace.outputs().iter().zip(&weight);
            products.map(|(h, w)| (*h * *w) as f64).sum()
        };
        let [x, w_x, w_h, b, _] = &tensors;
        let weights = Weights {
            input_weight: w_x,
            recurrent_weight: w_h,
            bias: b,
        };
        let all = Wanted {
            input: true,
            input_weight: true,
            recurrent_weight: true,
            bias: true,
            hidden: true,
        };
        let grads = backward(&run(DIMS, &tensors), x, weights, &weight, all);
        let analytic = [
            grads.input,
            grads.input_weight,
            grads.recurrent_weight,
            grads.bias,
            grads.hidden,
        ];
        let eps = 1e-2f32;
        for (which, grad) in analytic.into_iter().enumerate() {
            let grad = grad.expect("every gradient was wanted");
            assert_eq!(grad.len(), tensors[which].len(), "tensor {which}");
            for (index, &analytic) in grad.iter().enumerate() {
                let original = tensors[which][index];
                tensors[which][index] = original + eps;
                let plus = loss(&tensors);
                tensors[which][index] = original - eps;
                let minus = loss(&tensors);
                tensors[which][index] = original;
                let numeric = ((plus - minus) / (2.0 * eps as f64)) as f32;
                assert!(
                    (numeric - analytic).abs() < 2e-3 * (1.0 + analytic.abs()),
                    "tensor {which}[{index}]: finite differences {numeric}, backward {analytic}"
                );
            }
        }
    }
}
