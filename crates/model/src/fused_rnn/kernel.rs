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
//!
//! The loops over the steps, the products and the layout are [`crate::cpu::recurrence`]'s;
//! this file is the cell's pointwise step each way.

use crate::cpu::activation::tanh;
use crate::cpu::gradients::Operand;
use crate::cpu::isa::best_isa;
use crate::cpu::recurrence::{BackwardUnit, CellMath, CellShape, ForwardRun};

/// A plain RNN has one "gate", the pre-activation itself.
pub const GATES: usize = 1;

/// The layer's operands, in the order its operation takes them: the input and the two
/// weights, then the bias and the initial state.
pub const OPERANDS: [Operand; 5] = Operand::after_weights([Operand::Bias, Operand::Hidden]);

/// The plain RNN's pointwise steps: its one gate's activation is `h_t`.
#[derive(Debug, Default)]
pub struct RnnCell;

impl CellMath for RnnCell {
    const SHAPE: CellShape = CellShape::gates(GATES);

    fn forward_run(run: ForwardRun<'_>) {
        let [pre, ..] = run.gates;
        forward_units(pre, run.hidden);
    }

    fn backward_unit(unit: BackwardUnit<'_>) {
        let [hidden, ..] = unit.gates;
        let [grad_pre, ..] = unit.grad_gates;
        backward_units(hidden, unit.grad_output, unit.grad_hidden, grad_pre);
    }
}

best_isa! {
    /// The forward step on a run of elements: `h_t = tanh(pre)`, kept as the gate's
    /// activation too.
    fn forward_units(pre: &mut [f32], hidden: &mut [f32]) {
        for (pre, h) in pre.iter_mut().zip(hidden) {
            *pre = tanh(*pre);
            *h = *pre;
        }
    }
}

best_isa! {
    /// The backward step for one unit of every sequence: `grad_P_t` from `∂L/∂h_t` through
    /// the output and from later steps.
    fn backward_units(hidden: &[f32], grad_output: &[f32], grad_h_later: &[f32], grad_pre: &mut [f32]) {
        let values = hidden.iter().zip(grad_output).zip(grad_h_later);
        for (((&h, &grad_output), &grad_h_later), grad_pre) in values.zip(grad_pre) {
            *grad_pre = (grad_output + grad_h_later) * (1.0 - h * h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::gradients::LayerCase;
    use crate::cpu::recurrence::testing::{assert_forward_follows, dot_column};

    /// The equation, one unit at a time with libm's tanh.
    #[test]
    fn forward_matches_the_equation() {
        let case = LayerCase::new(29, [4, 2, 3, 3], GATES, OPERANDS);
        let [_, w_x, w_h, b, _] = &case.tensors;
        let h = case.dims.hidden_size;
        assert_forward_follows::<RnnCell, 5>(&case, |x, hidden, _| {
            let next = (0..h)
                .map(|j| (dot_column(x, w_x, h, j) + dot_column(hidden, w_h, h, j) + b[j]).tanh());
            (next.collect(), Vec::new())
        });
    }
}
