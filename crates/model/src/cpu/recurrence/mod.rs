//! The forward pass and backpropagation through time of every fused layer, written once: the
//! products, the loops over the steps, what is kept for the backward pass and the gradients
//! over all steps. A cell ([`CellMath`]) supplies only its pointwise step, each way.
//!
//! With `T` steps, batch `B`, input width `I`, hidden width `H` and `G` gates:
//!
//! ```text
//! forward, for t = 0 … T-1
//!   A_t = b + X_t · W_x + h_{t-1} · W_h        [G·H, B]   two products per step
//!         (a cell that keeps the recurrent part apart, the GRU, gets
//!          A_t = b + X_t · W_x and U_t = b_h + h_{t-1} · W_h instead)
//!   the cell's pointwise step: A_t (and U_t, h_{t-1}, c_{t-1}) to its gate activations,
//!   h_t (and c_t), and what it keeps for the backward pass
//!
//! backward, for t = T-1 … 0, from grad_h = 0 and grad_c = ∂L/∂c_T
//!   the cell's pointwise step: ∂L/∂h_t through the output plus grad_h (and grad_c) to
//!   grad_A_t (and grad_U_t), and grad_c to ∂L/∂c_{t-1}
//!   grad_h = grad_A_t · W_hᵀ                  one product per step (the GRU: its own direct part
//!                                             of ∂L/∂h_{t-1} plus grad_U_t · W_hᵀ)
//! then, over all steps at once (grad_A: [T·B, G·H], H_prev = [h_0 … h_{T-1}]: [T·B, H])
//!   grad_W_x = Xᵀ · grad_A    grad_W_h = H_prevᵀ · grad_A (grad_U)    grad_b = Σ_rows grad_A
//!   grad_X   = grad_A · W_xᵀ  grad_h_0 = grad_h    grad_c_0 = grad_c   (grad_b_h = Σ_rows grad_U)
//! ```
//!
//! Inside, a step's arrays are stored **column-major**, `[units, B]`: unit `u` of every
//! sequence side by side. The per-step products `X_t · W_x + h_{t-1} · W_h` and
//! `grad_A_t · W_hᵀ` then read the weights in place (`W_x` and `W_h` transposed once per run
//! for the first, `W_h` as given for the second): gemm packs none of them. In the row-major
//! layout it re-packed the 4 MB `W_h` at every step, 14% of an LSTM training step. The forward
//! arrays go step after step (`[T, units, B]`); the gate gradients go unit after unit
//! (`[G·H, T·B]`), so that the weight-gradient products read all steps as one matrix. Inputs
//! and results at the edges stay row-major (`[T, B, ·]`), transposed a step at a time.

mod cell;
mod pointwise;
#[cfg(test)]
pub mod testing;

use super::buffers::{recycle, recycle_all, scratch};
use super::gradients::{Grads, Operand, ReadInputs, Wanted};
use super::matmul::{Matrix, Write, matmul_strided};
use super::sequence::{
    Dims, RecurrentWeight, accumulate_step, affine_step, biased_steps, check_len,
    recurrent_weight_grad, row_major_steps_into, row_sums, step_major_steps,
};
use super::{transpose, transpose_into};
pub use cell::{BackwardUnit, CellMath, CellShape, ForwardRun, MAX_GATES};
use pointwise::{PlaneRuns, PlaneRunsRead, backward_step, forward_step};

/// What the forward pass computed, kept for the backward pass. A step's arrays are
/// column-major `[units, B]` (see the module doc).
pub struct Trace {
    /// The sizes it ran with.
    pub dims: Dims,
    /// Gate activations of every step, `[T, G·H, B]`.
    gates: Vec<f32>,
    /// `h_0 … h_T`, `[T+1, H, B]`.
    hidden: Vec<f32>,
    /// `c_0 … c_T`, `[T+1, H, B]`, for a cell with a cell state.
    cell: Vec<f32>,
    /// What the cell keeps of every step, `[T, H, B]`.
    kept: Vec<f32>,
    /// `h_1 … h_T`, then `c_T` for a cell with a cell state, row-major, `[T(+1), B, H]`: the
    /// layer's outputs, as its operation returns them (which moves them out of the trace).
    pub(crate) outputs: Vec<f32>,
}

impl Drop for Trace {
    fn drop(&mut self) {
        recycle_all([
            &mut self.gates,
            &mut self.hidden,
            &mut self.cell,
            &mut self.kept,
            &mut self.outputs,
        ]);
    }
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("dims", &self.dims)
            .finish_non_exhaustive()
    }
}

impl Trace {
    /// Every step's output `h_1 … h_T`, `[T, B, H]`; the last block is the final state.
    #[cfg(test)]
    pub fn outputs(&self) -> &[f32] {
        &self.outputs[..self.dims.seq_len * self.dims.state_len()]
    }

    /// The last cell state `c_T`, `[B, H]`, of a cell that has one.
    #[cfg(test)]
    pub fn last_cell(&self) -> &[f32] {
        &self.outputs[self.dims.seq_len * self.dims.state_len()..]
    }

    /// The shape of the operation's output: every step's `h_t`, then `c_T` for a cell with a
    /// cell state.
    pub fn output_shape<C: CellMath>(&self) -> [usize; 3] {
        let Dims {
            seq_len,
            batch,
            hidden_size,
            ..
        } = self.dims;
        [
            seq_len + usize::from(C::SHAPE.cell_state),
            batch,
            hidden_size,
        ]
    }
}

/// The operand `which` of an operation whose inputs are `operands`, if it has one.
fn operand<'a>(operands: &[Operand], inputs: &[&'a [f32]], which: Operand) -> Option<&'a [f32]> {
    let index = operands.iter().position(|operand| *operand == which)?;
    Some(inputs[index])
}

/// Runs cell `C` over the operation's `inputs`, whose kinds are `operands`: the input
/// `[T, B, I]`, `W_x`, `W_h`, the biases and the initial states `[B, H]`.
///
/// # Panics
///
/// If an operand the cell needs is missing, or a slice's length does not match `dims`.
pub fn forward<C: CellMath>(dims: Dims, operands: &[Operand], inputs: &[&[f32]]) -> Trace {
    let (gate_width, state_len) = (dims.gate_width(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        input_size,
        hidden_size,
        ..
    } = dims;
    let get = |which| operand(operands, inputs, which);
    let needed = |which| get(which).unwrap_or_else(|| panic!("fused layer: no {which:?}"));
    let (input, input_weight) = (needed(Operand::Input), needed(Operand::InputWeight));
    let recurrent_weight = needed(Operand::RecurrentWeight);
    dims.check_input_and_weights(input, input_weight, recurrent_weight);
    let bias = needed(Operand::Bias);
    check_len("bias", bias, gate_width);
    let recurrent_bias = C::SHAPE
        .separate_recurrent
        .then(|| needed(Operand::RecurrentBias));
    if let Some(recurrent_bias) = recurrent_bias {
        check_len("recurrent bias", recurrent_bias, gate_width);
    }
    let initial_hidden = needed(Operand::Hidden);
    check_len("hidden state", initial_hidden, state_len);

    let gates_len = gate_width * batch;
    let states_len = (seq_len + 1) * state_len;
    let mut gates = biased_steps(bias, dims);
    let mut hidden = scratch(states_len);
    hidden[..state_len].copy_from_slice(&transpose(initial_hidden, hidden_size));
    let mut cell = Vec::new();
    if C::SHAPE.cell_state {
        let initial_cell = needed(Operand::Cell);
        check_len("cell state", initial_cell, state_len);
        cell = scratch(states_len);
        cell[..state_len].copy_from_slice(&transpose(initial_cell, hidden_size));
    }
    let mut kept = if C::SHAPE.keeps {
        scratch(seq_len * state_len)
    } else {
        Vec::new()
    };
    let from_state_len = if C::SHAPE.separate_recurrent {
        gates_len
    } else {
        0
    };
    let mut from_state = vec![0.0; from_state_len];
    let input_weight = RecurrentWeight::new(input_weight, input_size, gate_width, seq_len);
    let recurrent = RecurrentWeight::new(recurrent_weight, hidden_size, gate_width, seq_len);
    for step in 0..seq_len {
        // A_t = b + X_t · W_x (+ h_{t-1} · W_h), column-major [G·H, B].
        let gates = &mut gates[step * gates_len..][..gates_len];
        let input_step = &input[step * batch * input_size..][..batch * input_size];
        accumulate_step(
            gates,
            batch,
            Matrix::row_major(input_step, batch, input_size),
            input_weight.matrix(),
        );
        let (hidden_before, hidden_after) = hidden.split_at_mut((step + 1) * state_len);
        let hidden_before = &hidden_before[step * state_len..];
        let hidden_matrix = Matrix::col_major(hidden_before, batch, hidden_size, batch);
        match recurrent_bias {
            Some(recurrent_bias) => affine_step(
                &mut from_state,
                recurrent_bias,
                batch,
                hidden_matrix,
                recurrent.matrix(),
            ),
            None => accumulate_step(gates, batch, hidden_matrix, recurrent.matrix()),
        }
        let (cell_before, cell_after) = if C::SHAPE.cell_state {
            let (before, after) = cell.split_at_mut((step + 1) * state_len);
            (&before[step * state_len..], &mut after[..state_len])
        } else {
            (&[][..], &mut [][..])
        };
        let kept_now = match C::SHAPE.keeps {
            true => &mut kept[step * state_len..][..state_len],
            false => &mut [][..],
        };
        // The whole step's arrays: each gate's plane as one run.
        forward_step::<C>(ForwardRun {
            gates: PlaneRuns::new(gates, state_len, state_len).next(),
            from_state: PlaneRunsRead::new(&from_state, state_len, state_len).next(),
            hidden_before,
            cell_before,
            hidden: &mut hidden_after[..state_len],
            cell: cell_after,
            kept: kept_now,
        });
    }
    let outputs_len = (seq_len + usize::from(C::SHAPE.cell_state)) * state_len;
    let mut outputs = scratch(outputs_len);
    let (steps, last_cell) = outputs.split_at_mut(seq_len * state_len);
    row_major_steps_into(&hidden[state_len..], dims, steps);
    if C::SHAPE.cell_state {
        transpose_into(&cell[seq_len * state_len..], batch, last_cell);
    }
    Trace {
        dims,
        gates,
        hidden,
        cell,
        kept,
        outputs,
    }
}

/// Backpropagation through time for the run of cell `C` recorded in `trace`, which read
/// `read`, from `grad_packed`, the gradient of the operation's output (`∂L/∂h_t` of every step
/// `[T, B, H]`, then `∂L/∂c_T` `[B, H]` for a cell with a cell state; the final hidden state
/// is the last output, so its gradient is in there): the gradients that `wanted` asks for.
///
/// # Panics
///
/// If a slice's length does not match `trace.dims`.
pub fn backward<C: CellMath>(
    trace: &Trace,
    read: ReadInputs<'_>,
    grad_packed: &[f32],
    wanted: Wanted,
) -> Grads {
    let dims = trace.dims;
    let (rows, gate_width, state_len) = (dims.rows(), dims.gate_width(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        hidden_size,
        ..
    } = dims;
    let (grad_outputs, grad_last_cell) =
        grad_packed.split_at(grad_packed.len().min(seq_len * state_len));
    read.check(dims, grad_outputs);
    if C::SHAPE.cell_state {
        check_len("final cell gradient", grad_last_cell, state_len);
    }

    // Column-major [H, B] like the trace; the gate gradients unit after unit, [G·H, T·B].
    let mut grad_hidden = vec![0.0; state_len];
    let mut grad_cell = match C::SHAPE.cell_state {
        true => transpose(grad_last_cell, hidden_size),
        false => Vec::new(),
    };
    // Every step writes its columns of every unit.
    let mut grad_gates = scratch(gate_width * rows);
    let mut grad_from_state = match C::SHAPE.separate_recurrent {
        true => scratch(gate_width * rows),
        false => Vec::new(),
    };
    let recurrent_weight_t = Matrix::row_major(read.recurrent_weight, hidden_size, gate_width).t();
    let grad_outputs = step_major_steps(grad_outputs, dims);
    let write = match C::SHAPE.direct_hidden_grad {
        true => Write::Accumulate,
        false => Write::Overwrite,
    };
    for step in (0..seq_len).rev() {
        backward_step::<C>(
            trace,
            step,
            &grad_outputs[step * state_len..][..state_len],
            &mut grad_hidden,
            &mut grad_cell,
            &mut grad_gates,
            &mut grad_from_state,
        );
        // ∂L/∂h_{t-1} (+)= grad_A_t · W_hᵀ; for t = 0 only if h_0's gradient is wanted.
        if step > 0 || wanted.hidden {
            let grad_recurrent = match C::SHAPE.separate_recurrent {
                true => &grad_from_state,
                false => &grad_gates,
            };
            matmul_strided(
                &mut grad_hidden,
                1,
                batch,
                write,
                Matrix::col_major(&grad_recurrent[step * batch..], batch, gate_width, rows),
                recurrent_weight_t,
            );
        }
    }

    recycle(grad_outputs);
    let grad_gates_all = Matrix::col_major(&grad_gates, rows, gate_width, rows);
    let grad_recurrent_all = match C::SHAPE.separate_recurrent {
        true => Matrix::col_major(&grad_from_state, rows, gate_width, rows),
        false => grad_gates_all,
    };
    let (input, input_weight) = read.input_side_grads(dims, grad_gates_all, wanted);
    let grads = Grads {
        input,
        input_weight,
        recurrent_weight: wanted
            .recurrent_weight
            .then(|| recurrent_weight_grad(&trace.hidden, dims, grad_recurrent_all)),
        bias: row_sums(wanted.bias, &grad_gates, rows),
        recurrent_bias: row_sums(
            C::SHAPE.separate_recurrent && wanted.recurrent_bias,
            &grad_from_state,
            rows,
        ),
        hidden: wanted.hidden.then(|| transpose(&grad_hidden, batch)),
        cell: (C::SHAPE.cell_state && wanted.cell).then(|| transpose(&grad_cell, batch)),
    };
    recycle(grad_gates);
    recycle(grad_from_state);
    grads
}
