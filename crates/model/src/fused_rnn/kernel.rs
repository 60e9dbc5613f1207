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
use crate::cpu::buffers::{recycle, recycle_all, scratch};
use crate::cpu::gradients::{Grads, Operand, ReadInputs, Wanted};
use crate::cpu::matmul::{Matrix, Write, matmul};
use crate::cpu::min_rows_per_task;
pub use crate::cpu::sequence::Dims;
use crate::cpu::sequence::{
    RecurrentWeight, block, check_len, column_sums, product, project_inputs,
};

/// A plain RNN has one "gate", the pre-activation itself.
pub const GATES: usize = 1;

/// The layer's operands, in the order its operation takes them.
pub const OPERANDS: [Operand; 5] = [
    Operand::Input,
    Operand::InputWeight,
    Operand::RecurrentWeight,
    Operand::Bias,
    Operand::Hidden,
];

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

impl Drop for ForwardTrace {
    fn drop(&mut self) {
        recycle_all([&mut self.hidden]);
    }
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

/// [`forward`] over the operation's operands, in [`OPERANDS`] order.
pub fn forward_operands(dims: Dims, operands: [&[f32]; 5]) -> ForwardTrace {
    let [input, input_weight, recurrent_weight, bias, hidden] = operands;
    let weights = Weights {
        input_weight,
        recurrent_weight,
        bias,
    };
    forward(dims, input, weights, hidden)
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
        hidden: scratch((seq_len + 1) * state_len),
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
    recycle(pre);
    trace
}

/// Backpropagation through time for the run recorded in `trace`, which read `read`, given
/// `∂L/∂h_t` through every step's output, `grad_outputs` `[T, B, H]` (the final state is the
/// last output): the gradients of `X`, `W_x`, `W_h`, `b` and `h_0` that `wanted` asks for.
///
/// # Panics
///
/// If a slice's length does not match `trace.dims`.
pub fn backward(
    trace: &ForwardTrace,
    read: ReadInputs<'_>,
    grad_outputs: &[f32],
    wanted: Wanted,
) -> Grads {
    let dims = trace.dims;
    read.check(dims, grad_outputs);
    let (rows, state_len) = (dims.rows(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        hidden_size,
        ..
    } = dims;

    let recurrent_weight = Matrix::row_major(read.recurrent_weight, hidden_size, hidden_size);
    let mut grad_pre = scratch(rows * hidden_size);
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
    let (input, input_weight) = read.input_side_grads(dims, grad_pre_all, wanted);
    let grads = Grads {
        input,
        input_weight,
        recurrent_weight: product(
            wanted.recurrent_weight,
            hidden_size * hidden_size,
            Matrix::row_major(&trace.hidden[..rows * hidden_size], rows, hidden_size).t(),
            grad_pre_all,
        ),
        bias: column_sums(wanted.bias, &grad_pre, hidden_size),
        hidden: wanted.hidden.then_some(grad_h),
        ..Grads::default()
    };
    recycle(grad_pre);
    grads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::gradients::{LayerCase, random_values, weighted_sum};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    type Case = LayerCase<5>;

    /// `X`, `W_x`, `W_h`, `b`, `h_0` of a small layer, drawn at random.
    fn case(sizes: [usize; 4]) -> Case {
        LayerCase::new(29, sizes, GATES, OPERANDS)
    }

    fn run(case: &Case) -> ForwardTrace {
        forward_operands(case.dims, case.values())
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
        let case = case([DIMS.seq_len, DIMS.batch, DIMS.input_size, DIMS.hidden_size]);
        let [x, w_x, w_h, b, h0] = &case.tensors;
        let (h, i) = (DIMS.hidden_size, DIMS.input_size);
        let trace = run(&case);
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
        let case = case([DIMS.seq_len, DIMS.batch, DIMS.input_size, DIMS.hidden_size]);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let weight = random_values(&mut rng, DIMS.rows() * DIMS.hidden_size);
        let grads = backward(&run(&case), case.read(), &weight, Wanted::ALL);
        case.assert_matches_finite_differences(grads, |case| {
            weighted_sum(run(case).outputs(), &weight)
        });
    }
}
