//! The fused LSTM on host memory: the forward pass over a whole sequence and backpropagation
//! through time, on row-major f32 slices, with no Burn types.
//!
//! With `T` steps, batch `B`, input width `I` and hidden width `H`, gates ordered i, f, g, o:
//!
//! ```text
//! forward
//!   P   = X · W_x + b                 X: [T·B, I]   P: [T·B, 4H]    one product, all steps
//!   G_t = P_t + h_{t-1} · W_h         [B, 4H]                        one product per step
//!   i, f, o = σ(G_t[i | f | o])    g = tanh(G_t[g])
//!   c_t = f ⊙ c_{t-1} + i ⊙ g
//!   h_t = o ⊙ tanh(c_t)
//!
//! backward, for t = T-1 … 0, from grad_h = ∂L/∂h_T and grad_c = ∂L/∂c_T
//!   grad_h  += ∂L/∂h_t through the output
//!   grad_c  += grad_h ⊙ o ⊙ (1 − tanh²(c_t))
//!   grad_G_t = [grad_c ⊙ g ⊙ i(1−i) | grad_c ⊙ c_{t-1} ⊙ f(1−f) | grad_c ⊙ i ⊙ (1−g²) | grad_h ⊙ tanh(c_t) ⊙ o(1−o)]
//!   grad_c   = grad_c ⊙ f                                           now ∂L/∂c_{t-1}
//!   grad_h   = grad_G_t · W_hᵀ                                       now ∂L/∂h_{t-1}, one product per step
//! then, over all steps at once (grad_G: [T·B, 4H], H_prev = [h_0 … h_{T-1}]: [T·B, H])
//!   grad_W_x = Xᵀ · grad_G      grad_W_h = H_prevᵀ · grad_G      grad_b = Σ_rows grad_G
//!   grad_X   = grad_G · W_xᵀ    grad_h_0 = grad_h                grad_c_0 = grad_c
//! ```
//!
//! Inside, a step's arrays are stored **column-major**, `[units, B]`: unit `u` of every
//! sequence side by side. The per-step products `X_t · W_x + h_{t-1} · W_h` and
//! `grad_G_t · W_hᵀ` then read the weights in place (`W_x` and `W_h` transposed once per run
//! for the first, `W_h` as given for the second): gemm packs none of them. In the row-major
//! layout it re-packed the 4 MB `W_h` at every step, 14% of a training step. The forward
//! arrays go step after step (`[T, units, B]`); the gate gradients go unit after unit
//! (`[4H, T·B]`), so that the weight-gradient products read all steps as one matrix. Inputs
//! and results at the edges stay row-major (`[T, B, ·]`), transposed a step at a time.

use rayon::prelude::*;

use crate::cpu::activation::{sigmoid, tanh};
use crate::cpu::buffers::{recycle, recycle_all, scratch};
use crate::cpu::gradients::{Grads, Operand, ReadInputs, Wanted};
use crate::cpu::isa::best_isa;
use crate::cpu::matmul::{Matrix, Write, matmul_strided};
pub use crate::cpu::sequence::Dims;
use crate::cpu::sequence::{
    RecurrentWeight, accumulate_step, biased_steps, check_len, recurrent_weight_grad,
    row_major_steps_into, row_sums, step_major_steps,
};
use crate::cpu::{min_rows_per_task, transpose, transpose_into};

/// Gates of an LSTM: i, f, g, o.
pub const GATES: usize = 4;

/// The layer's operands, in the order its operation takes them.
pub const OPERANDS: [Operand; 6] = [
    Operand::Input,
    Operand::InputWeight,
    Operand::RecurrentWeight,
    Operand::Bias,
    Operand::Hidden,
    Operand::Cell,
];

/// The layer's parameters, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Weights<'a> {
    /// `W_x`, `[I, 4H]`.
    pub input_weight: &'a [f32],
    /// `W_h`, `[H, 4H]`.
    pub recurrent_weight: &'a [f32],
    /// `b`, `[4H]`.
    pub bias: &'a [f32],
}

/// What the forward pass computed, kept for the backward pass. A step's arrays are
/// column-major `[units, B]` (see the module doc).
pub struct ForwardTrace {
    /// The sizes it ran with.
    pub dims: Dims,
    /// Gate activations `[i | f | g | o]` of every step, `[T, 4H, B]`.
    gates: Vec<f32>,
    /// `h_0 … h_T`, `[T+1, H, B]`.
    hidden: Vec<f32>,
    /// `c_0 … c_T`, `[T+1, H, B]`.
    cell: Vec<f32>,
    /// `tanh(c_1) … tanh(c_T)`, `[T, H, B]`.
    cell_tanh: Vec<f32>,
    /// `h_1 … h_T` then `c_T`, row-major, `[T+1, B, H]`: the layer's outputs and final cell
    /// state, as its operation returns them (which moves them out of the trace).
    pub(super) outputs: Vec<f32>,
}

impl Drop for ForwardTrace {
    fn drop(&mut self) {
        recycle_all([
            &mut self.gates,
            &mut self.hidden,
            &mut self.cell,
            &mut self.cell_tanh,
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
    /// Every step's output `h_1 … h_T`, `[T, B, H]`.
    #[cfg(test)]
    pub fn outputs(&self) -> &[f32] {
        &self.outputs[..self.dims.seq_len * self.dims.state_len()]
    }

    /// The last hidden state `h_T`, `[B, H]`.
    #[cfg(test)]
    pub fn last_hidden(&self) -> &[f32] {
        &self.outputs()[(self.dims.seq_len - 1) * self.dims.state_len()..]
    }

    /// The last cell state `c_T`, `[B, H]`.
    #[cfg(test)]
    pub fn last_cell(&self) -> &[f32] {
        &self.outputs[self.dims.seq_len * self.dims.state_len()..]
    }
}

/// [`forward`] over the operation's operands, in [`OPERANDS`] order.
pub fn forward_operands(dims: Dims, operands: [&[f32]; 6]) -> ForwardTrace {
    let [input, input_weight, recurrent_weight, bias, hidden, cell] = operands;
    let weights = Weights {
        input_weight,
        recurrent_weight,
        bias,
    };
    forward(dims, input, weights, hidden, cell)
}

/// Runs the layer over `input` `[T, B, I]` from `hidden` and `cell` `[B, H]`.
///
/// # Panics
///
/// If a slice's length does not match `dims`.
pub fn forward(
    dims: Dims,
    input: &[f32],
    weights: Weights<'_>,
    hidden: &[f32],
    cell: &[f32],
) -> ForwardTrace {
    let (gate_width, state_len) = (dims.gate_width(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        input_size,
        hidden_size,
        ..
    } = dims;
    dims.check_input_and_weights(input, weights.input_weight, weights.recurrent_weight);
    check_len("bias", weights.bias, gate_width);
    check_len("hidden state", hidden, state_len);
    check_len("cell state", cell, state_len);

    let gates_len = gate_width * batch;
    let mut gates = biased_steps(weights.bias, dims);
    let mut hidden_all = scratch((seq_len + 1) * state_len);
    let mut cell_all = scratch((seq_len + 1) * state_len);
    hidden_all[..state_len].copy_from_slice(&transpose(hidden, hidden_size));
    cell_all[..state_len].copy_from_slice(&transpose(cell, hidden_size));
    let mut cell_tanh = scratch(seq_len * state_len);
    let input_weight = RecurrentWeight::new(weights.input_weight, input_size, gate_width, seq_len);
    let recurrent =
        RecurrentWeight::new(weights.recurrent_weight, hidden_size, gate_width, seq_len);
    for step in 0..seq_len {
        // G_t = b + X_t · W_x + h_{t-1} · W_h, column-major [4H, B].
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
        accumulate_step(
            gates,
            batch,
            Matrix::col_major(hidden_before, batch, hidden_size, batch),
            recurrent.matrix(),
        );
        let (cell_before, cell_after) = cell_all.split_at_mut((step + 1) * state_len);
        cell_step(
            gates,
            &cell_before[step * state_len..],
            &mut cell_after[..state_len],
            &mut hidden_after[..state_len],
            &mut cell_tanh[step * state_len..][..state_len],
        );
    }
    let mut outputs = scratch((seq_len + 1) * state_len);
    let (steps, last_cell) = outputs.split_at_mut(seq_len * state_len);
    row_major_steps_into(&hidden_all[state_len..], dims, steps);
    transpose_into(&cell_all[seq_len * state_len..], batch, last_cell);
    ForwardTrace {
        dims,
        gates,
        hidden: hidden_all,
        cell: cell_all,
        cell_tanh,
        outputs,
    }
}

/// The pointwise part of a forward step on column-major `[units, B]` arrays: gate
/// pre-activations `[4H, B]` (replaced by the activations) and `c_{t-1}` to `c_t`, `h_t` and
/// `tanh(c_t)`, all `[H, B]`. Every element is independent, so the arrays go in long runs.
fn cell_step(
    gates: &mut [f32],
    cell_before: &[f32],
    cell: &mut [f32],
    hidden: &mut [f32],
    cell_tanh: &mut [f32],
) {
    let gate_len = cell.len();
    let (input_gate, rest) = gates.split_at_mut(gate_len);
    let (forget_gate, rest) = rest.split_at_mut(gate_len);
    let (candidate, output_gate) = rest.split_at_mut(gate_len);
    let run = min_rows_per_task(1);
    input_gate
        .par_chunks_mut(run)
        .zip(forget_gate.par_chunks_mut(run))
        .zip(candidate.par_chunks_mut(run))
        .zip(output_gate.par_chunks_mut(run))
        .zip(cell_before.par_chunks(run))
        .zip(cell.par_chunks_mut(run))
        .zip(hidden.par_chunks_mut(run))
        .zip(cell_tanh.par_chunks_mut(run))
        .for_each(|runs| {
            let (
                (
                    (((((input_gate, forget_gate), candidate), output_gate), cell_before), cell),
                    hidden,
                ),
                cell_tanh,
            ) = runs;
            forward_units(
                input_gate,
                forget_gate,
                candidate,
                output_gate,
                cell_before,
                cell,
                hidden,
                cell_tanh,
            );
        });
}

best_isa! {
    /// [`cell_step`] on a run of elements.
    fn forward_units(
        input_gate: &mut [f32],
        forget_gate: &mut [f32],
        candidate: &mut [f32],
        output_gate: &mut [f32],
        cell_before: &[f32],
        cell: &mut [f32],
        hidden: &mut [f32],
        cell_tanh: &mut [f32],
    ) {
        let gates = input_gate
            .iter_mut()
            .zip(forget_gate.iter_mut())
            .zip(candidate.iter_mut())
            .zip(output_gate.iter_mut());
        let states = cell_before
            .iter()
            .zip(cell.iter_mut())
            .zip(hidden.iter_mut())
            .zip(cell_tanh.iter_mut());
        for ((((i, f), g), o), (((&c_before, c), h), tc)) in gates.zip(states) {
            (*i, *f, *g, *o) = (sigmoid(*i), sigmoid(*f), tanh(*g), sigmoid(*o));
            *c = *f * c_before + *i * *g;
            *tc = tanh(*c);
            *h = *o * *tc;
        }
    }
}

/// Gradients flowing into the layer from above.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamGrads<'a> {
    /// `∂L/∂h_t` through every step's output, `[T, B, H]`.
    pub outputs: &'a [f32],
    /// `∂L/∂h_T` through the final state, `[B, H]`.
    pub last_hidden: &'a [f32],
    /// `∂L/∂c_T` through the final state, `[B, H]`.
    pub last_cell: &'a [f32],
}

/// Backpropagation through time for the run recorded in `trace`, which read `read`, given
/// the gradients from above: the gradients of `X`, `W_x`, `W_h`, `b`, `h_0` and `c_0` that
/// `wanted` asks for.
///
/// # Panics
///
/// If a slice's length does not match `trace.dims`.
pub fn backward(
    trace: &ForwardTrace,
    read: ReadInputs<'_>,
    upstream: UpstreamGrads<'_>,
    wanted: Wanted,
) -> Grads {
    let dims = trace.dims;
    read.check(dims, upstream.outputs);
    let (rows, gate_width, state_len) = (dims.rows(), dims.gate_width(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        hidden_size,
        ..
    } = dims;
    check_len("final hidden gradient", upstream.last_hidden, state_len);
    check_len("final cell gradient", upstream.last_cell, state_len);

    // Column-major [H, B] like the trace; the gate gradients unit after unit, [4H, T·B].
    let mut grad_h = transpose(upstream.last_hidden, hidden_size);
    let mut grad_c = transpose(upstream.last_cell, hidden_size);
    // Every step writes its columns of every unit.
    let mut grad_gates = scratch(gate_width * rows);
    let recurrent_weight_t = Matrix::row_major(read.recurrent_weight, hidden_size, gate_width).t();
    let grad_outputs = step_major_steps(upstream.outputs, dims);
    for step in (0..seq_len).rev() {
        gate_grads_step(
            trace,
            step,
            &grad_outputs[step * state_len..][..state_len],
            &grad_h,
            &mut grad_c,
            &mut grad_gates,
        );
        // ∂L/∂h_{t-1} = grad_G_t · W_hᵀ; for t = 0 only if h_0's gradient is wanted.
        if step > 0 || wanted.hidden {
            matmul_strided(
                &mut grad_h,
                1,
                batch,
                Write::Overwrite,
                Matrix::col_major(&grad_gates[step * batch..], batch, gate_width, rows),
                recurrent_weight_t,
            );
        }
    }

    recycle(grad_outputs);
    let grad_gates_all = Matrix::col_major(&grad_gates, rows, gate_width, rows);
    let (input, input_weight) = read.input_side_grads(dims, grad_gates_all, wanted);
    let grads = Grads {
        input,
        input_weight,
        recurrent_weight: wanted
            .recurrent_weight
            .then(|| recurrent_weight_grad(&trace.hidden, dims, grad_gates_all)),
        bias: row_sums(wanted.bias, &grad_gates, rows),
        hidden: wanted.hidden.then(|| transpose(&grad_h, batch)),
        cell: wanted.cell.then(|| transpose(&grad_c, batch)),
        recurrent_bias: None,
    };
    recycle(grad_gates);
    grads
}

/// The pointwise part of backward step `step`, unit by unit: from `∂L/∂h_t` (`grad_output`
/// `[H, B]` through the output plus `grad_h` `[H, B]` from later steps) and `∂L/∂c_t` from
/// later steps (`grad_c` `[H, B]`), writes `grad_G_t` into the step's columns of
/// `grad_gates` `[4H, T·B]` and turns `grad_c` into `∂L/∂c_{t-1}`.
fn gate_grads_step(
    trace: &ForwardTrace,
    step: usize,
    grad_output: &[f32],
    grad_h: &[f32],
    grad_c: &mut [f32],
    grad_gates: &mut [f32],
) {
    let dims = trace.dims;
    let (rows, state_len) = (dims.rows(), dims.state_len());
    let Dims {
        batch, hidden_size, ..
    } = dims;
    let gates = &trace.gates[step * 4 * state_len..][..4 * state_len];
    let (input_gate, rest) = gates.split_at(state_len);
    let (forget_gate, rest) = rest.split_at(state_len);
    let (candidate, output_gate) = rest.split_at(state_len);
    let cell_before = &trace.cell[step * state_len..][..state_len];
    let cell_tanh = &trace.cell_tanh[step * state_len..][..state_len];
    let (grad_i, rest) = grad_gates.split_at_mut(hidden_size * rows);
    let (grad_f, rest) = rest.split_at_mut(hidden_size * rows);
    let (grad_g, grad_o) = rest.split_at_mut(hidden_size * rows);
    let activations = input_gate
        .par_chunks(batch)
        .zip(forget_gate.par_chunks(batch))
        .zip(candidate.par_chunks(batch))
        .zip(output_gate.par_chunks(batch))
        .zip(cell_before.par_chunks(batch))
        .zip(cell_tanh.par_chunks(batch))
        .zip(grad_output.par_chunks(batch))
        .zip(grad_h.par_chunks(batch));
    let grads = grad_i
        .par_chunks_mut(rows)
        .zip(grad_f.par_chunks_mut(rows))
        .zip(grad_g.par_chunks_mut(rows))
        .zip(grad_o.par_chunks_mut(rows))
        .zip(grad_c.par_chunks_mut(batch));
    activations
        .zip(grads)
        .with_min_len(min_rows_per_task(batch))
        .for_each(|(unit, grads)| {
            let (((((((i, f), g), o), c_before), tc), grad_output), grad_h_later) = unit;
            let ((((grad_i, grad_f), grad_g), grad_o), grad_c) = grads;
            let now = step * batch..(step + 1) * batch;
            backward_units(
                [i, f, g, o],
                c_before,
                tc,
                grad_output,
                grad_h_later,
                &mut grad_i[now.clone()],
                &mut grad_f[now.clone()],
                &mut grad_g[now.clone()],
                &mut grad_o[now],
                grad_c,
            );
        });
}

best_isa! {
    /// [`gate_grads_step`] for one unit of every sequence (or any run of units).
    fn backward_units(
        gates: [&[f32]; 4],
        cell_before: &[f32],
        cell_tanh: &[f32],
        grad_output: &[f32],
        grad_h_later: &[f32],
        grad_i: &mut [f32],
        grad_f: &mut [f32],
        grad_g: &mut [f32],
        grad_o: &mut [f32],
        grad_c: &mut [f32],
    ) {
        let [i, f, g, o] = gates;
        let activations = i
            .iter()
            .zip(f)
            .zip(g)
            .zip(o)
            .zip(cell_before)
            .zip(cell_tanh)
            .zip(grad_output)
            .zip(grad_h_later);
        let grads = grad_i
            .iter_mut()
            .zip(grad_f.iter_mut())
            .zip(grad_g.iter_mut())
            .zip(grad_o.iter_mut())
            .zip(grad_c.iter_mut());
        for (values, grads) in activations.zip(grads) {
            let (((((((&i, &f), &g), &o), &c_before), &tc), &grad_output), &grad_h_later) =
                values;
            let ((((grad_i, grad_f), grad_g), grad_o), grad_c) = grads;
            let grad_h = grad_output + grad_h_later;
            let grad_c_t = *grad_c + grad_h * o * (1.0 - tc * tc);
            *grad_i = grad_c_t * g * i * (1.0 - i);
            *grad_f = grad_c_t * c_before * f * (1.0 - f);
            *grad_g = grad_c_t * i * (1.0 - g * g);
            *grad_o = grad_h * tc * o * (1.0 - o);
            *grad_c = grad_c_t * f;
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
        LayerCase::new(17, sizes, GATES, OPERANDS)
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
        let [x, w_x, w_h, bias, h0, c0] = &case.tensors;
        let sigma = |x: f32| 1.0 / (1.0 + (-x).exp());
        let (mut hidden, mut cell) = (h0.clone(), c0.clone());
        for t in 0..seq_len {
            let (mut next_h, mut next_c) = (hidden.clone(), cell.clone());
            for b in 0..batch {
                let pre = |gate: usize, j: usize| {
                    let col = gate * h + j;
                    let row = &x[(t * batch + b) * input_size..][..input_size];
                    let from_x: f32 = (0..input_size).map(|k| row[k] * w_x[k * 4 * h + col]).sum();
                    let from_h: f32 = (0..h)
                        .map(|k| hidden[b * h + k] * w_h[k * 4 * h + col])
                        .sum();
                    from_x + from_h + bias[col]
                };
                for j in 0..h {
                    let (i, f, g, o) = (
                        sigma(pre(0, j)),
                        sigma(pre(1, j)),
                        pre(2, j).tanh(),
                        sigma(pre(3, j)),
                    );
                    next_c[b * h + j] = f * cell[b * h + j] + i * g;
                    next_h[b * h + j] = o * next_c[b * h + j].tanh();
                }
            }
            (hidden, cell) = (next_h, next_c);
            let got = &trace.outputs()[t * batch * h..][..batch * h];
            for (x, y) in got.iter().zip(&hidden) {
                assert!((x - y).abs() < 1e-5, "step {t}: {x} vs {y}");
            }
        }
        for (x, y) in trace.last_cell().iter().zip(&cell) {
            assert!((x - y).abs() < 1e-5, "final cell: {x} vs {y}");
        }
        assert_eq!(
            trace.last_hidden(),
            &trace.outputs()[(seq_len - 1) * batch * h..]
        );
    }

    /// Every gradient against central differences of `L = Σ_t Σ h_t ⊙ R_h,t + Σ c_T ⊙ R_c`.
    #[test]
    fn backward_matches_finite_differences() {
        let case = case([4, 2, 3, 2]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let state_len = case.dims.state_len();
        let outputs_weight = random_values(&mut rng, case.dims.seq_len * state_len);
        let cell_weight = random_values(&mut rng, state_len);
        let upstream = UpstreamGrads {
            outputs: &outputs_weight,
            last_hidden: &vec![0.0; state_len],
            last_cell: &cell_weight,
        };
        let grads = backward(&run(&case), case.read(), upstream, Wanted::ALL);
        case.assert_matches_finite_differences(grads, |case| {
            let trace = run(case);
            weighted_sum(trace.outputs(), &outputs_weight)
                + weighted_sum(trace.last_cell(), &cell_weight)
        });
    }

    #[test]
    fn unwanted_gradients_are_skipped() {
        let case = case([2, 1, 2, 3]);
        let trace = run(&case);
        let zeros = vec![0.0; 3];
        let ones = vec![1.0; 2 * 3];
        let grads = backward(
            &trace,
            case.read(),
            UpstreamGrads {
                outputs: &ones,
                last_hidden: &zeros,
                last_cell: &zeros,
            },
            Wanted {
                input: false,
                hidden: false,
                cell: false,
                ..Wanted::ALL
            },
        );
        assert!(grads.input.is_none() && grads.hidden.is_none() && grads.cell.is_none());
        assert!(grads.input_weight.is_some() && grads.recurrent_weight.is_some());
        assert!(grads.bias.is_some());
    }
}
