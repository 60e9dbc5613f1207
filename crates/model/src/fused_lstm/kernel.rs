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
//! The loops over the steps, the products and the layout are [`crate::cpu::recurrence`]'s;
//! this file is the cell's pointwise step each way.

use crate::cpu::activation::{sigmoid, tanh};
use crate::cpu::gradients::Operand;
use crate::cpu::isa::best_isa;
use crate::cpu::recurrence::{BackwardUnit, CellMath, CellShape, ForwardRun};

/// Gates of an LSTM: i, f, g, o.
pub const GATES: usize = 4;

/// The layer's operands, in the order its operation takes them: the input and the two
/// weights, then the bias and the initial state.
pub const OPERANDS: [Operand; 6] =
    Operand::after_weights([Operand::Bias, Operand::Hidden, Operand::Cell]);

/// The LSTM's pointwise steps: it keeps `tanh(c_t)` for the backward pass.
#[derive(Debug, Default)]
pub struct LstmCell;

impl CellMath for LstmCell {
    const SHAPE: CellShape = CellShape::gates(GATES)
        .with_cell_state()
        .keeping_one_array();

    fn forward_run(run: ForwardRun<'_>) {
        let [i, f, g, o] = run.gates;
        forward_units(i, f, g, o, run.cell_before, run.cell, run.hidden, run.kept);
    }

    fn backward_unit(unit: BackwardUnit<'_>) {
        let [grad_i, grad_f, grad_g, grad_o] = unit.grad_gates;
        backward_units(
            unit.gates,
            unit.cell_before,
            unit.kept,
            unit.grad_output,
            unit.grad_hidden,
            grad_i,
            grad_f,
            grad_g,
            grad_o,
            unit.grad_cell,
        );
    }
}

best_isa! {
    /// The forward step on a run of elements: gate pre-activations to activations, `c_{t-1}`
    /// to `c_t`, `tanh(c_t)` and `h_t`.
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

best_isa! {
    /// The backward step for one unit of every sequence (or any run of units): from
    /// `∂L/∂h_t` (through the output plus from later steps) and `∂L/∂c_t` from later steps,
    /// the gate gradients, and `grad_c` becomes `∂L/∂c_{t-1}`.
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
    use crate::cpu::gradients::LayerCase;
    use crate::cpu::recurrence::testing::{assert_forward_follows, dot_column};

    /// The equations in the module doc, one unit at a time with libm's functions.
    #[test]
    fn forward_matches_the_equations_unit_by_unit() {
        let case = LayerCase::new(17, [3, 2, 3, 4], GATES, OPERANDS);
        let [_, w_x, w_h, bias, _, _] = &case.tensors;
        let sigma = |x: f32| 1.0 / (1.0 + (-x).exp());
        let h = case.dims.hidden_size;
        assert_forward_follows::<LstmCell, 6>(&case, |x, hidden, cell| {
            let pre = |gate: usize, j: usize| {
                let col = gate * h + j;
                dot_column(x, w_x, 4 * h, col) + dot_column(hidden, w_h, 4 * h, col) + bias[col]
            };
            (0..h)
                .map(|j| {
                    let (i, f, g, o) = (
                        sigma(pre(0, j)),
                        sigma(pre(1, j)),
                        pre(2, j).tanh(),
                        sigma(pre(3, j)),
                    );
                    let c = f * cell[j] + i * g;
                    (o * c.tanh(), c)
                })
                .unzip()
        });
    }
}
