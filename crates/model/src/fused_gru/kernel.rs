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
//!
//! The layout is the fused LSTM's (see its kernel): a step's arrays column-major `[units, B]`,
//! the forward arrays step after step, the gradients of `P` and `U` unit after unit
//! `[3H, T·B]`, so that gemm packs neither weight in the per-step products.

use rayon::prelude::*;

use crate::cpu::activation::{sigmoid, tanh};
use crate::cpu::buffers::{recycle, recycle_all, scratch, zeroed};
use crate::cpu::gradients::{Grads, Operand, ReadInputs, Wanted};
use crate::cpu::isa::best_isa;
use crate::cpu::matmul::{Matrix, Write, matmul_strided};
pub use crate::cpu::sequence::Dims;
use crate::cpu::sequence::{
    RecurrentWeight, accumulate_step, affine_step, biased_steps, check_len, recurrent_weight_grad,
    row_major_steps, row_sums, step_major_steps,
};
use crate::cpu::{min_rows_per_task, transpose};

/// Gates of a GRU: r, z, n.
pub const GATES: usize = 3;

/// The layer's operands, in the order its operation takes them (`Bias` is `b_x`,
/// `RecurrentBias` is `b_h`).
pub const OPERANDS: [Operand; 6] = [
    Operand::Input,
    Operand::InputWeight,
    Operand::RecurrentWeight,
    Operand::Bias,
    Operand::RecurrentBias,
    Operand::Hidden,
];

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

/// What the forward pass computed, kept for the backward pass. A step's arrays are
/// column-major `[units, B]`.
pub struct ForwardTrace {
    /// The sizes it ran with.
    pub dims: Dims,
    /// Gate activations `[r | z | n]` of every step, `[T, 3H, B]`.
    gates: Vec<f32>,
    /// `U_n = h_{t-1} · W_hn + b_hn` of every step, `[T, H, B]`.
    recurrent_new: Vec<f32>,
    /// `h_0 … h_T`, `[T+1, H, B]`.
    hidden: Vec<f32>,
    /// `h_1 … h_T` row-major, `[T, B, H]`: the layer's outputs, as its operation returns them
    /// (which moves them out of the trace).
    pub(super) outputs: Vec<f32>,
}

impl Drop for ForwardTrace {
    fn drop(&mut self) {
        recycle_all([
            &mut self.gates,
            &mut self.recurrent_new,
            &mut self.hidden,
            &mut self.outputs,
        ]);
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
    #[cfg(test)]
    pub fn outputs(&self) -> &[f32] {
        &self.outputs
    }
}

/// [`forward`] over the operation's operands, in [`OPERANDS`] order.
pub fn forward_operands(dims: Dims, operands: [&[f32]; 6]) -> ForwardTrace {
    let [
        input,
        input_weight,
        recurrent_weight,
        input_bias,
        recurrent_bias,
        hidden,
    ] = operands;
    let weights = Weights {
        input_weight,
        recurrent_weight,
        input_bias,
        recurrent_bias,
    };
    forward(dims, input, weights, hidden)
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
        input_size,
        hidden_size,
        ..
    } = dims;
    dims.check_input_and_weights(input, weights.input_weight, weights.recurrent_weight);
    check_len("input bias", weights.input_bias, gate_width);
    check_len("recurrent bias", weights.recurrent_bias, gate_width);
    check_len("hidden state", hidden, state_len);

    let gates_len = gate_width * batch;
    let mut gates = biased_steps(weights.input_bias, dims);
    let mut recurrent_new = scratch(seq_len * state_len);
    let mut hidden_all = scratch((seq_len + 1) * state_len);
    hidden_all[..state_len].copy_from_slice(&transpose(hidden, hidden_size));
    let input_weight = RecurrentWeight::new(weights.input_weight, input_size, gate_width, seq_len);
    let recurrent =
        RecurrentWeight::new(weights.recurrent_weight, hidden_size, gate_width, seq_len);
    let mut from_state = vec![0.0; gates_len];
    for step in 0..seq_len {
        // P_t = X_t · W_x + b_x and U_t = h_{t-1} · W_h + b_h, column-major [3H, B].
        let gates = &mut gates[step * gates_len..][..gates_len];
        let input_step = &input[step * batch * input_size..][..batch * input_size];
        accumulate_step(
            gates,
            batch,
            Matrix::row_major(input_step, batch, input_size),
            input_weight.matrix(),
        );
        let (hidden_before, hidden_after) = hidden_all.split_at_mut((step + 1) * state_len);
        let hidden_before = &hidden_before[step * state_len..];
        affine_step(
            &mut from_state,
            weights.recurrent_bias,
            batch,
            Matrix::col_major(hidden_before, batch, hidden_size, batch),
            recurrent.matrix(),
        );
        gate_step(
            gates,
            &from_state,
            hidden_before,
            &mut recurrent_new[step * state_len..][..state_len],
            &mut hidden_after[..state_len],
        );
    }
    let outputs = row_major_steps(&hidden_all[state_len..], dims);
    ForwardTrace {
        dims,
        gates,
        recurrent_new,
        hidden: hidden_all,
        outputs,
    }
}

/// The pointwise part of a forward step on column-major `[units, B]` arrays: `P_t` `[3H, B]`
/// (replaced by the activations `[r | z | n]`) and `U_t` `[3H, B]`, from `h_{t-1}` to `h_t`;
/// keeps `U_n` `[H, B]`. Every element is independent, so the arrays go in long runs.
fn gate_step(
    gates: &mut [f32],
    from_state: &[f32],
    hidden_before: &[f32],
    recurrent_new: &mut [f32],
    hidden: &mut [f32],
) {
    let gate_len = hidden.len();
    let (reset, rest) = gates.split_at_mut(gate_len);
    let (update, new) = rest.split_at_mut(gate_len);
    let (state_reset, rest) = from_state.split_at(gate_len);
    let (state_update, state_new) = rest.split_at(gate_len);
    let run = min_rows_per_task(1);
    reset
        .par_chunks_mut(run)
        .zip(update.par_chunks_mut(run))
        .zip(new.par_chunks_mut(run))
        .zip(state_reset.par_chunks(run))
        .zip(state_update.par_chunks(run))
        .zip(state_new.par_chunks(run))
        .zip(hidden_before.par_chunks(run))
        .zip(recurrent_new.par_chunks_mut(run))
        .zip(hidden.par_chunks_mut(run))
        .for_each(|runs| {
            let (
                (
                    (
                        (((((reset, update), new), state_reset), state_update), state_new),
                        hidden_before,
                    ),
                    recurrent_new,
                ),
                hidden,
            ) = runs;
            forward_units(
                [reset, update, new],
                [state_reset, state_update, state_new],
                hidden_before,
                recurrent_new,
                hidden,
            );
        });
}

best_isa! {
    /// [`gate_step`] on a run of elements.
    fn forward_units(
        gates: [&mut [f32]; 3],
        from_state: [&[f32]; 3],
        hidden_before: &[f32],
        recurrent_new: &mut [f32],
        hidden: &mut [f32],
    ) {
        let [reset, update, new] = gates;
        let [state_reset, state_update, state_new] = from_state;
        let gates = reset.iter_mut().zip(update.iter_mut()).zip(new.iter_mut());
        let states = state_reset
            .iter()
            .zip(state_update)
            .zip(state_new)
            .zip(hidden_before)
            .zip(recurrent_new.iter_mut())
            .zip(hidden.iter_mut());
        for (((r, z), n), (((((&u_r, &u_z), &u_n), &h_before), kept), h)) in gates.zip(states) {
            *r = sigmoid(*r + u_r);
            *z = sigmoid(*z + u_z);
            *n = tanh(*n + *r * u_n);
            *kept = u_n;
            *h = *n + *z * (h_before - *n);
        }
    }
}

/// Backpropagation through time for the run recorded in `trace`, which read `read`, given
/// `∂L/∂h_t` through every step's output, `grad_outputs` `[T, B, H]` (the final state is the
/// last output): the gradients of `X`, `W_x`, `W_h`, `b_x` (as `bias`), `b_h` and `h_0` that
/// `wanted` asks for.
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
    let (rows, gate_width, state_len) = (dims.rows(), dims.gate_width(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        hidden_size,
        ..
    } = dims;

    // Column-major [H, B] like the trace; the gradients of P and U unit after unit, [3H, T·B].
    let recurrent_weight_t = Matrix::row_major(read.recurrent_weight, hidden_size, gate_width).t();
    let mut grad_from_input = zeroed(gate_width * rows);
    let mut grad_from_state = zeroed(gate_width * rows);
    let mut grad_h = vec![0.0; state_len];
    let grad_outputs = step_major_steps(grad_outputs, dims);
    for step in (0..seq_len).rev() {
        gate_grads_step(
            trace,
            step,
            &grad_outputs[step * state_len..][..state_len],
            &mut grad_h,
            &mut grad_from_input,
            &mut grad_from_state,
        );
        // ∂L/∂h_{t-1} += grad_U_t · W_hᵀ; for t = 0 only if h_0's gradient is wanted.
        if step > 0 || wanted.hidden {
            matmul_strided(
                &mut grad_h,
                1,
                batch,
                Write::Accumulate,
                Matrix::col_major(&grad_from_state[step * batch..], batch, gate_width, rows),
                recurrent_weight_t,
            );
        }
    }

    recycle(grad_outputs);
    let grad_input_all = Matrix::col_major(&grad_from_input, rows, gate_width, rows);
    let grad_state_all = Matrix::col_major(&grad_from_state, rows, gate_width, rows);
    let (input, input_weight) = read.input_side_grads(dims, grad_input_all, wanted);
    let grads = Grads {
        input,
        input_weight,
        recurrent_weight: wanted
            .recurrent_weight
            .then(|| recurrent_weight_grad(&trace.hidden, dims, grad_state_all)),
        bias: row_sums(wanted.bias, &grad_from_input, rows),
        recurrent_bias: row_sums(wanted.recurrent_bias, &grad_from_state, rows),
        hidden: wanted.hidden.then(|| transpose(&grad_h, batch)),
        cell: None,
    };
    recycle(grad_from_input);
    recycle(grad_from_state);
    grads
}

/// The pointwise part of backward step `step`, unit by unit: from `∂L/∂h_t` (`grad_output`
/// `[H, B]` through the output plus `grad_h` `[H, B]` from later steps), writes `grad_P_t` and
/// `grad_U_t` into the step's columns of `grad_from_input` and `grad_from_state`
/// `[3H, T·B]` and turns `grad_h` into the direct part of `∂L/∂h_{t-1}`, `grad_h ⊙ z`.
fn gate_grads_step(
    trace: &ForwardTrace,
    step: usize,
    grad_output: &[f32],
    grad_h: &mut [f32],
    grad_from_input: &mut [f32],
    grad_from_state: &mut [f32],
) {
    let dims = trace.dims;
    let (rows, state_len) = (dims.rows(), dims.state_len());
    let batch = dims.batch;
    let gates = &trace.gates[step * GATES * state_len..][..GATES * state_len];
    let (reset, rest) = gates.split_at(state_len);
    let (update, new) = rest.split_at(state_len);
    let recurrent_new = &trace.recurrent_new[step * state_len..][..state_len];
    let hidden_before = &trace.hidden[step * state_len..][..state_len];
    let (grad_p_reset, rest) = grad_from_input.split_at_mut(dims.hidden_size * rows);
    let (grad_p_update, grad_p_new) = rest.split_at_mut(dims.hidden_size * rows);
    let (grad_u_reset, rest) = grad_from_state.split_at_mut(dims.hidden_size * rows);
    let (grad_u_update, grad_u_new) = rest.split_at_mut(dims.hidden_size * rows);
    let activations = reset
        .par_chunks(batch)
        .zip(update.par_chunks(batch))
        .zip(new.par_chunks(batch))
        .zip(recurrent_new.par_chunks(batch))
        .zip(hidden_before.par_chunks(batch))
        .zip(grad_output.par_chunks(batch));
    let grads = grad_h
        .par_chunks_mut(batch)
        .zip(grad_p_reset.par_chunks_mut(rows))
        .zip(grad_p_update.par_chunks_mut(rows))
        .zip(grad_p_new.par_chunks_mut(rows))
        .zip(grad_u_reset.par_chunks_mut(rows))
        .zip(grad_u_update.par_chunks_mut(rows))
        .zip(grad_u_new.par_chunks_mut(rows));
    let now = step * batch..(step + 1) * batch;
    activations
        .zip(grads)
        .with_min_len(min_rows_per_task(batch))
        .for_each(|(unit, grads)| {
            let (((((r, z), n), u_n), h_before), grad_output) = unit;
            let ((((((grad_h, p_r), p_z), p_n), u_r), u_z), u_grad_n) = grads;
            backward_units(
                [r, z, n],
                u_n,
                h_before,
                grad_output,
                grad_h,
                [
                    &mut p_r[now.clone()],
                    &mut p_z[now.clone()],
                    &mut p_n[now.clone()],
                ],
                [
                    &mut u_r[now.clone()],
                    &mut u_z[now.clone()],
                    &mut u_grad_n[now.clone()],
                ],
            );
        });
}

best_isa! {
    /// [`gate_grads_step`] for one unit of every sequence.
    fn backward_units(
        gates: [&[f32]; 3],
        recurrent_new: &[f32],
        hidden_before: &[f32],
        grad_output: &[f32],
        grad_h: &mut [f32],
        grad_p: [&mut [f32]; 3],
        grad_u: [&mut [f32]; 3],
    ) {
        let [reset, update, new] = gates;
        let [p_r, p_z, p_n] = grad_p;
        let [u_r, u_z, u_n] = grad_u;
        let values = reset
            .iter()
            .zip(update)
            .zip(new)
            .zip(recurrent_new)
            .zip(hidden_before)
            .zip(grad_output);
        let grads = grad_h
            .iter_mut()
            .zip(p_r.iter_mut())
            .zip(p_z.iter_mut())
            .zip(p_n.iter_mut())
            .zip(u_r.iter_mut())
            .zip(u_z.iter_mut())
            .zip(u_n.iter_mut());
        for (values, grads) in values.zip(grads) {
            let (((((&r, &z), &n), &recurrent_new), &h_before), &grad_output) = values;
            let ((((((grad_h, p_r), p_z), p_n), u_r), u_z), u_n) = grads;
            let grad = grad_output + *grad_h;
            let a_n = grad * (1.0 - z) * (1.0 - n * n);
            let a_r = a_n * recurrent_new * r * (1.0 - r);
            let a_z = grad * (h_before - n) * z * (1.0 - z);
            (*p_r, *p_z, *p_n) = (a_r, a_z, a_n);
            (*u_r, *u_z, *u_n) = (a_r, a_z, a_n * r);
            *grad_h = grad * z;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::gradients::{LayerCase, random_values, weighted_sum};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    type Case = LayerCase<6>;

    fn case(sizes: [usize; 4]) -> Case {
        LayerCase::new(23, sizes, GATES, OPERANDS)
    }

    fn run(case: &Case) -> ForwardTrace {
        forward_operands(case.dims, case.values())
    }

    /// The equations in the module doc, one unit at a time with libm's functions.
    #[test]
    fn forward_matches_the_equations_unit_by_unit() {
        let case = case([3, 2, 3, 4]);
        let trace = run(&case);
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
        let case = case([4, 2, 3, 2]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let weight = random_values(&mut rng, case.dims.rows() * case.dims.hidden_size);
        let grads = backward(&run(&case), case.read(), &weight, Wanted::ALL);
        case.assert_matches_finite_differences(grads, |case| {
            weighted_sum(run(case).outputs(), &weight)
        });
    }

    #[test]
    fn unwanted_gradients_are_skipped() {
        let case = case([2, 1, 2, 3]);
        let trace = run(&case);
        let grads = backward(
            &trace,
            case.read(),
            &[1.0; 6],
            Wanted {
                input: false,
                bias: false,
                hidden: false,
                ..Wanted::ALL
            },
        );
        assert!(grads.input.is_none() && grads.hidden.is_none() && grads.bias.is_none());
        assert!(grads.input_weight.is_some() && grads.recurrent_weight.is_some());
        assert!(grads.recurrent_bias.is_some());
    }
}
