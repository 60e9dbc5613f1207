//! The fused GRU on host memory: the forward pass over a whole sequence and backpropagation
//! through time, on row-major f32 slices, with no Burn types.
//!
//! With `T` steps, batch `B`, input width `I`, hidden width `H`, gates ordered r, z, n as in
//! PyTorch's `nn.GRU`:
//!
//! ```text
//! forward
//!   P   = X · W_x + b_x               X: [T·B, I]   P: [T·B, 3H]    one product, all steps
//!   U_t = h_{t-1} · W_h + b_h         [B, 3H]                        one product per step
//!   r = σ(P_r + U_r)    z = σ(P_z + U_z)    n = tanh(P_n + r ⊙ U_n)
//!   h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
//!
//! backward, for t = T-1 … 0, from grad_h = ∂L/∂h_T
//!   grad_h  += ∂L/∂h_t through the output
//!   a_n = grad_h ⊙ (1 − z) ⊙ (1 − n²)                                ∂L/∂(P_n + r ⊙ U_n)
//!   a_r = a_n ⊙ U_n ⊙ r(1 − r)          a_z = grad_h ⊙ (h_{t-1} − n) ⊙ z(1 − z)
//!   grad_P_t = [a_r | a_z | a_n]        grad_U_t = [a_r | a_z | a_n ⊙ r]
//!   grad_h   = grad_h ⊙ z + grad_U_t · W_hᵀ                           now ∂L/∂h_{t-1}
//! then, over all steps at once (H_prev = [h_0 … h_{T-1}]: [T·B, H])
//!   grad_W_x = Xᵀ · grad_P     grad_b_x = Σ_rows grad_P     grad_X = grad_P · W_xᵀ
//!   grad_W_h = H_prevᵀ · grad_U     grad_b_h = Σ_rows grad_U     grad_h_0 = grad_h
//! ```

use rayon::prelude::*;

use crate::cpu::activation::{sigmoid, tanh};
use crate::cpu::matmul::{Matrix, Write, matmul};
use crate::cpu::min_rows_per_task;
pub use crate::cpu::sequence::Dims;
use crate::cpu::sequence::{
    RecurrentWeight, block, check_len, column_sums, product, project_inputs,
};

/// Gates of a GRU: r, z, n.
pub const GATES: usize = 3;

/// The layer's parameters, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Weights<'a> {
    /// `W_x`, `[I, 3H]`.
    pub input_weight: &'a [f32],
    /// `W_h`, `[H, 3H]`.
    pub recurrent_weight: &'a [f32],
    /// `b_x`, `[3H]`.
    pub input_bias: &'a [f32],
    /// `b_h`, `[3H]`.
    pub recurrent_bias: &'a [f32],
}

/// What the forward pass computed, kept for the backward pass.
pub struct ForwardTrace {
    /// The sizes it ran with.
    pub dims: Dims,
    /// Gate activations `[r | z | n]` of every step, `[T, B, 3H]`.
    pub gates: Vec<f32>,
    /// `U_n = h_{t-1} · W_hn + b_hn` of every step, `[T, B, H]`.
    pub recurrent_new: Vec<f32>,
    /// `h_0 … h_T`, `[T+1, B, H]`.
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
    let (gate_width, state_len) = (dims.gate_width(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        hidden_size,
        ..
    } = dims;
    dims.check_input_and_weights(input, weights.input_weight, weights.recurrent_weight);
    check_len("recurrent bias", weights.recurrent_bias, gate_width);
    check_len("hidden state", hidden, state_len);

    // P = X · W_x + b_x; each step's block is replaced by that step's activations.
    let gates = project_inputs(dims, input, weights.input_weight, weights.input_bias);
    let mut trace = ForwardTrace {
        dims,
        gates,
        recurrent_new: vec![0.0; seq_len * state_len],
        hidden: vec![0.0; (seq_len + 1) * state_len],
    };
    trace.hidden[..state_len].copy_from_slice(hidden);
    let recurrent =
        RecurrentWeight::new(weights.recurrent_weight, hidden_size, gate_width, seq_len);
    let mut from_state = vec![0.0; batch * gate_width];
    for step in 0..seq_len {
        let (hidden_before, hidden_after) = trace.hidden.split_at_mut((step + 1) * state_len);
        let hidden_before = &hidden_before[step * state_len..];
        // U_t = h_{t-1} · W_h + b_h
        for row in from_state.chunks_exact_mut(gate_width) {
            row.copy_from_slice(weights.recurrent_bias);
        }
        matmul(
            &mut from_state,
            Write::Accumulate,
            Matrix::row_major(hidden_before, batch, hidden_size),
            recurrent.matrix(),
        );
        gate_step(
            hidden_size,
            &mut trace.gates[step * batch * gate_width..][..batch * gate_width],
            &from_state,
            hidden_before,
            &mut trace.recurrent_new[step * state_len..][..state_len],
            &mut hidden_after[..state_len],
        );
    }
    trace
}

/// The pointwise part of a forward step: `P_t` `[B, 3H]` (replaced by the activations
/// `[r | z | n]`) and `U_t` `[B, 3H]`, from `h_{t-1}` to `h_t`; keeps `U_n` `[B, H]`.
fn gate_step(
    hidden_size: usize,
    gates: &mut [f32],
    from_state: &[f32],
    hidden_before: &[f32],
    recurrent_new: &mut [f32],
    hidden: &mut [f32],
) {
    let width = GATES * hidden_size;
    gates
        .par_chunks_exact_mut(width)
        .zip(from_state.par_chunks_exact(width))
        .zip(hidden_before.par_chunks_exact(hidden_size))
        .zip(recurrent_new.par_chunks_exact_mut(hidden_size))
        .zip(hidden.par_chunks_exact_mut(hidden_size))
        .with_min_len(min_rows_per_task(hidden_size))
        .for_each(
            |((((gates, from_state), hidden_before), recurrent_new), hidden)| {
                let (reset, rest) = gates.split_at_mut(hidden_size);
                let (update, new) = rest.split_at_mut(hidden_size);
                let (state_reset, rest) = from_state.split_at(hidden_size);
                let (state_update, state_new) = rest.split_at(hidden_size);
                for unit in 0..hidden_size {
                    let r = sigmoid(reset[unit] + state_reset[unit]);
                    let z = sigmoid(update[unit] + state_update[unit]);
                    let n = tanh(new[unit] + r * state_new[unit]);
                    (reset[unit], update[unit], new[unit]) = (r, z, n);
                    recurrent_new[unit] = state_new[unit];
                    hidden[unit] = n + z * (hidden_before[unit] - n);
                }
            },
        );
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
    /// `∂L/∂b_x`.
    pub input_bias: bool,
    /// `∂L/∂b_h`.
    pub recurrent_bias: bool,
    /// `∂L/∂h_0`.
    pub hidden: bool,
}

/// Gradients of the loss with respect to the layer's inputs; `None` where not [`Wanted`].
#[derive(Debug, Clone, Default)]
pub struct GruGrads {
    /// `∂L/∂X`, `[T, B, I]`.
    pub input: Option<Vec<f32>>,
    /// `∂L/∂W_x`, `[I, 3H]`.
    pub input_weight: Option<Vec<f32>>,
    /// `∂L/∂W_h`, `[H, 3H]`.
    pub recurrent_weight: Option<Vec<f32>>,
    /// `∂L/∂b_x`, `[3H]`.
    pub input_bias: Option<Vec<f32>>,
    /// `∂L/∂b_h`, `[3H]`.
    pub recurrent_bias: Option<Vec<f32>>,
    /// `∂L/∂h_0`, `[B, H]`.
    pub hidden: Option<Vec<f32>>,
}

/// Backpropagation through time for the run recorded in `trace`, which read `input`
/// `[T, B, I]` and `weights` (the biases are not needed), given `∂L/∂h_t` through every
/// step's output, `grad_outputs` `[T, B, H]` (the final state is the last output).
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
) -> GruGrads {
    let dims = trace.dims;
    let (rows, gate_width, state_len) = (dims.rows(), dims.gate_width(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        input_size,
        hidden_size,
        ..
    } = dims;
    dims.check_input_and_weights(input, weights.input_weight, weights.recurrent_weight);
    check_len("output gradient", grad_outputs, rows * hidden_size);

    let recurrent_weight = Matrix::row_major(weights.recurrent_weight, hidden_size, gate_width);
    let mut grad_from_input = vec![0.0; rows * gate_width];
    let mut grad_from_state = vec![0.0; rows * gate_width];
    let mut grad_h = vec![0.0; state_len];
    for step in (0..seq_len).rev() {
        let steps_block = step * batch * gate_width..(step + 1) * batch * gate_width;
        let grad_state_step = &mut grad_from_state[steps_block.clone()];
        gate_grads_step(
            hidden_size,
            StepTrace {
                gates: &trace.gates[steps_block.clone()],
                recurrent_new: block(&trace.recurrent_new, step, state_len),
                hidden_before: block(&trace.hidden, step, state_len),
            },
            block(grad_outputs, step, state_len),
            &mut grad_h,
            &mut grad_from_input[steps_block],
            grad_state_step,
        );
        // ∂L/∂h_{t-1} += grad_U_t · W_hᵀ; for t = 0 only if h_0's gradient is wanted.
        if step > 0 || wanted.hidden {
            matmul(
                &mut grad_h,
                Write::Accumulate,
                Matrix::row_major(grad_state_step, batch, gate_width),
                recurrent_weight.t(),
            );
        }
    }

    let grad_input_all = Matrix::row_major(&grad_from_input, rows, gate_width);
    let grad_state_all = Matrix::row_major(&grad_from_state, rows, gate_width);
    GruGrads {
        input: product(
            wanted.input,
            rows * input_size,
            grad_input_all,
            Matrix::row_major(weights.input_weight, input_size, gate_width).t(),
        ),
        input_weight: product(
            wanted.input_weight,
            input_size * gate_width,
            Matrix::row_major(input, rows, input_size).t(),
            grad_input_all,
        ),
        recurrent_weight: product(
            wanted.recurrent_weight,
            hidden_size * gate_width,
            Matrix::row_major(&trace.hidden[..rows * hidden_size], rows, hidden_size).t(),
            grad_state_all,
        ),
        input_bias: column_sums(wanted.input_bias, &grad_from_input, gate_width),
        recurrent_bias: column_sums(wanted.recurrent_bias, &grad_from_state, gate_width),
        hidden: wanted.hidden.then_some(grad_h),
    }
}

/// One step's slices of a [`ForwardTrace`].
struct StepTrace<'a> {
    /// Activations `[r | z | n]`, `[B, 3H]`.
    gates: &'a [f32],
    /// `U_n`, `[B, H]`.
    recurrent_new: &'a [f32],
    /// `h_{t-1}`, `[B, H]`.
    hidden_before: &'a [f32],
}

/// The pointwise part of a backward step: from `∂L/∂h_t` (`grad_output` through the output
/// plus `grad_h` from later steps), writes `grad_P_t` and `grad_U_t` `[B, 3H]` and turns
/// `grad_h` into the direct part of `∂L/∂h_{t-1}`, `grad_h ⊙ z`.
fn gate_grads_step(
    hidden_size: usize,
    trace: StepTrace<'_>,
    grad_output: &[f32],
    grad_h: &mut [f32],
    grad_from_input: &mut [f32],
    grad_from_state: &mut [f32],
) {
    let width = GATES * hidden_size;
    let rows = trace
        .gates
        .chunks_exact(width)
        .zip(trace.recurrent_new.chunks_exact(hidden_size))
        .zip(trace.hidden_before.chunks_exact(hidden_size))
        .zip(grad_output.chunks_exact(hidden_size))
        .zip(grad_h.chunks_exact_mut(hidden_size))
        .zip(grad_from_input.chunks_exact_mut(width))
        .zip(grad_from_state.chunks_exact_mut(width));
    for ((((((gates, recurrent_new), hidden_before), grad_output), grad_h), grad_p), grad_u) in rows
    {
        let (reset, rest) = gates.split_at(hidden_size);
        let (update, new) = rest.split_at(hidden_size);
        let (grad_p_reset, rest) = grad_p.split_at_mut(hidden_size);
        let (grad_p_update, grad_p_new) = rest.split_at_mut(hidden_size);
        let (grad_u_reset, rest) = grad_u.split_at_mut(hidden_size);
        let (grad_u_update, grad_u_new) = rest.split_at_mut(hidden_size);
        for unit in 0..hidden_size {
            let (r, z, n) = (reset[unit], update[unit], new[unit]);
            let grad = grad_output[unit] + grad_h[unit];
            let a_n = grad * (1.0 - z) * (1.0 - n * n);
            let a_r = a_n * recurrent_new[unit] * r * (1.0 - r);
            let a_z = grad * (hidden_before[unit] - n) * z * (1.0 - z);
            (grad_p_reset[unit], grad_p_update[unit], grad_p_new[unit]) = (a_r, a_z, a_n);
            (grad_u_reset[unit], grad_u_update[unit], grad_u_new[unit]) = (a_r, a_z, a_n * r);
            grad_h[unit] = grad * z;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// A layer's parameters, input and initial state, drawn at random.
    struct Case {
        dims: Dims,
        /// `X`, `W_x`, `W_h`, `b_x`, `b_h`, `h_0`, in that order.
        tensors: [Vec<f32>; 6],
    }

    const NAMES: [&str; 6] = [
        "input",
        "input_weight",
        "recurrent_weight",
        "input_bias",
        "recurrent_bias",
        "hidden",
    ];

    impl Case {
        fn new(seq_len: usize, batch: usize, input_size: usize, hidden_size: usize) -> Self {
            let mut rng = ChaCha8Rng::seed_from_u64(23);
            let dims = Dims {
                seq_len,
                batch,
                input_size,
                hidden_size,
                gates: GATES,
            };
            let width = GATES * hidden_size;
            let lengths = [
                seq_len * batch * input_size,
                input_size * width,
                hidden_size * width,
                width,
                width,
                batch * hidden_size,
            ];
            Self {
                dims,
                tensors: lengths.map(|len| random(&mut rng, len)),
            }
        }

        fn weights(&self) -> Weights<'_> {
            Weights {
                input_weight: &self.tensors[1],
                recurrent_weight: &self.tensors[2],
                input_bias: &self.tensors[3],
                recurrent_bias: &self.tensors[4],
            }
        }

        fn forward(&self) -> ForwardTrace {
            forward(
                self.dims,
                &self.tensors[0],
                self.weights(),
                &self.tensors[5],
            )
        }
    }

    /// The equations in the module doc, one unit at a time with libm's functions.
    #[test]
    fn forward_matches_the_equations_unit_by_unit() {
        let case = Case::new(3, 2, 3, 4);
        let trace = case.forward();
        let Dims {
            seq_len,
            batch,
            input_size,
            hidden_size: h,
            ..
        } = case.dims;
        let [x, w_x, w_h, b_x, b_h, h0] = &case.tensors;
        let sigma = |v: f32| 1.0 / (1.0 + (-v).exp());
        let mut hidden = h0.clone();
        for t in 0..seq_len {
            let mut next = hidden.clone();
            for b in 0..batch {
                let from_x = |gate: usize, j: usize| {
                    let col = gate * h + j;
                    let row = &x[(t * batch + b) * input_size..][..input_size];
                    (0..input_size)
                        .map(|k| row[k] * w_x[k * 3 * h + col])
                        .sum::<f32>()
                        + b_x[col]
                };
                let from_h = |gate: usize, j: usize| {
                    let col = gate * h + j;
                    (0..h)
                        .map(|k| hidden[b * h + k] * w_h[k * 3 * h + col])
                        .sum::<f32>()
                        + b_h[col]
                };
                for j in 0..h {
                    let r = sigma(from_x(0, j) + from_h(0, j));
                    let z = sigma(from_x(1, j) + from_h(1, j));
                    let n = (from_x(2, j) + r * from_h(2, j)).tanh();
                    next[b * h + j] = (1.0 - z) * n + z * hidden[b * h + j];
                }
            }
            hidden = next;
            let got = &trace.outputs()[t * batch * h..][..batch * h];
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
        let mut case = Case::new(4, 2, 3, 2);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let weight = random(&mut rng, case.dims.rows() * case.dims.hidden_size);
        let loss = |case: &Case| -> f64 {
            let trace = case.forward();
            trace
                .outputs()
                .iter()
                .zip(&weight)
                .map(|(h, w)| (*h * *w) as f64)
                .sum()
        };
        let all = Wanted {
            input: true,
            input_weight: true,
            recurrent_weight: true,
            input_bias: true,
            recurrent_bias: true,
            hidden: true,
        };
        let grads = backward(
            &case.forward(),
            &case.tensors[0],
            case.weights(),
            &weight,
            all,
        );
        let analytic = [
            grads.input,
            grads.input_weight,
            grads.recurrent_weight,
            grads.input_bias,
            grads.recurrent_bias,
            grads.hidden,
        ];
        let eps = 1e-2f32;
        for (which, grad) in analytic.into_iter().enumerate() {
            let name = NAMES[which];
            let grad = grad.expect("every gradient was wanted");
            assert_eq!(grad.len(), case.tensors[which].len(), "{name}");
            for (index, &analytic) in grad.iter().enumerate() {
                let original = case.tensors[which][index];
                case.tensors[which][index] = original + eps;
                let plus = loss(&case);
                case.tensors[which][index] = original - eps;
                let minus = loss(&case);
                case.tensors[which][index] = original;
                let numeric = ((plus - minus) / (2.0 * eps as f64)) as f32;
                assert!(
                    (numeric - analytic).abs() < 2e-3 * (1.0 + analytic.abs()),
                    "{name}[{index}]: finite differences {numeric}, backward {analytic}"
                );
            }
        }
    }

    #[test]
    fn unwanted_gradients_are_skipped() {
        let case = Case::new(2, 1, 2, 3);
        let trace = case.forward();
        let grads = backward(
            &trace,
            &case.tensors[0],
            case.weights(),
            &[1.0; 6],
            Wanted {
                input: false,
                input_weight: true,
                recurrent_weight: true,
                input_bias: false,
                recurrent_bias: true,
                hidden: false,
            },
        );
        assert!(grads.input.is_none() && grads.hidden.is_none() && grads.input_bias.is_none());
        assert!(grads.input_weight.is_some() && grads.recurrent_weight.is_some());
        assert!(grads.recurrent_bias.is_some());
    }
}
