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
//! The loops over the steps, the products and the layout are [`crate::cpu::recurrence`]'s;
//! this file is the cell's pointwise step each way.

use crate::cpu::activation::{sigmoid, tanh};
use crate::cpu::gradients::Operand;
use crate::cpu::isa::best_isa;
use crate::cpu::recurrence::{BackwardUnit, CellMath, CellShape, ForwardRun};

/// Gates of a GRU: r, z, n.
pub const GATES: usize = 3;

/// The layer's operands, in the order its operation takes them: the input and the two
/// weights, then `b_x`, `b_h` and the initial state.
pub const OPERANDS: [Operand; 6] =
    Operand::after_weights([Operand::Bias, Operand::RecurrentBias, Operand::Hidden]);

/// The GRU's pointwise steps: `U_t` stays apart from the gates, and it keeps `U_n` for the
/// backward pass.
#[derive(Debug, Default)]
pub struct GruCell;

impl CellMath for GruCell {
    const SHAPE: CellShape = CellShape::gates(GATES)
        .with_separate_recurrent()
        .keeping_one_array()
        .with_direct_hidden_grad();

    fn forward_run(run: ForwardRun<'_>) {
        let [reset, update, new, _] = run.gates;
        let [state_reset, state_update, state_new, _] = run.from_state;
        forward_units(
            [reset, update, new],
            [state_reset, state_update, state_new],
            run.hidden_before,
            run.kept,
            run.hidden,
        );
    }

    fn backward_unit(unit: BackwardUnit<'_>) {
        let [reset, update, new, _] = unit.gates;
        let [p_r, p_z, p_n, _] = unit.grad_gates;
        let [u_r, u_z, u_n, _] = unit.grad_from_state;
        backward_units(
            [reset, update, new],
            unit.kept,
            unit.hidden_before,
            unit.grad_output,
            unit.grad_hidden,
            [p_r, p_z, p_n],
            [u_r, u_z, u_n],
        );
    }
}

best_isa! {
    /// The forward step on a run of elements: `P_t` (replaced by the activations
    /// `[r | z | n]`) and `U_t`, from `h_{t-1}` to `h_t`; keeps `U_n`.
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

best_isa! {
    /// The backward step for one unit of every sequence: from `∂L/∂h_t` (through the
    /// output plus `grad_h` from later steps), `grad_P_t` and `grad_U_t`; `grad_h` becomes the
    /// direct part of `∂L/∂h_{t-1}`, `grad_h ⊙ z`.
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
    use crate::cpu::gradients::LayerCase;
    use crate::cpu::recurrence::testing::{assert_forward_follows, dot_column};

    /// The equations in the module doc, one unit at a time with libm's functions.
    #[test]
    fn forward_matches_the_equations_unit_by_unit() {
        let case = LayerCase::new(23, [3, 2, 3, 4], GATES, OPERANDS);
        let [_, w_x, w_h, b_x, b_h, _] = &case.tensors;
        let sigma = |v: f32| 1.0 / (1.0 + (-v).exp());
        let h = case.dims.hidden_size;
        assert_forward_follows::<GruCell, 6>(&case, |x, hidden, _| {
            let from_x =
                |gate: usize, j: usize| dot_column(x, w_x, 3 * h, gate * h + j) + b_x[gate * h + j];
            let from_h = |gate: usize, j: usize| {
                dot_column(hidden, w_h, 3 * h, gate * h + j) + b_h[gate * h + j]
            };
            let next = (0..h).map(|j| {
                let r = sigma(from_x(0, j) + from_h(0, j));
                let z = sigma(from_x(1, j) + from_h(1, j));
                let n = (from_x(2, j) + r * from_h(2, j)).tanh();
                (1.0 - z) * n + z * hidden[j]
            });
            (next.collect(), Vec::new())
        });
    }
}
