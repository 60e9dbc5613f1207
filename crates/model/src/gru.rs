//! A GRU layer with fused gates, PyTorch's `nn.GRU` equations.
//!
//! With `x_t` the input, `h` the hidden state and the gates in PyTorch's order (reset `r`,
//! update `z`, new `n`) stacked along the last axis:
//!
//! ```text
//! [a_r | a_z | a_n] = x_t · W_x + b_x                    (W_x: [I, 3H], b_x: [3H])
//! [u_r | u_z | u_n] = h_{t-1} · W_h + b_h                (W_h: [H, 3H], b_h: [3H])
//! r = σ(a_r + u_r)        z = σ(a_z + u_z)
//! n = tanh(a_n + r ⊙ u_n)
//! h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
//! ```
//!
//! The recurrent bias of the new gate, `b_hn`, sits inside `r ⊙ (·)`, so unlike the LSTM's the
//! two biases cannot be summed into one. PyTorch keeps the transposes, `weight_ih = W_xᵀ` and
//! `weight_hh = W_hᵀ`, and the biases as they are here (`bias_ih = b_x`, `bias_hh = b_h`).
//!
//! On the CPU backends (flex, ndarray) the layer runs as one fused operation with a
//! hand-written backward pass ([`crate::fused_gru`]); elsewhere (wgpu) step by step in Burn
//! tensor operations, with autodiff deriving the backward pass
//! ([`SequenceLayer::forward_stepwise`], which the fused path is tested against). A GRU has no cell
//! state: the `cell` of the [`LayerState`] is carried through unchanged.

use burn::backend::Dispatch;
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::cpu;
use crate::fused_gru::ops::GruOps;
use crate::projection::project_steps;
use crate::sequence_layer::{SequenceLayer, pytorch_uniform};
use crate::state::LayerState;

/// A single-direction GRU layer with the three gates fused into one weight matrix per input.
#[derive(Module, Debug)]
pub struct GruLayer {
    /// Input-to-gates weights `W_x`, `[input_size, 3·hidden_size]`, gates ordered r, z, n.
    pub input_weight: Param<Tensor<2>>,
    /// State-to-gates weights `W_h`, `[hidden_size, 3·hidden_size]`, gates ordered r, z, n.
    pub recurrent_weight: Param<Tensor<2>>,
    /// Input bias `b_x`, `[3·hidden_size]`.
    pub input_bias: Param<Tensor<1>>,
    /// Recurrent bias `b_h`, `[3·hidden_size]`.
    pub recurrent_bias: Param<Tensor<1>>,
    hidden_size: usize,
}

/// Configuration of a [`GruLayer`].
#[derive(Config, Debug)]
pub struct GruLayerConfig {
    /// Width of the input at each step.
    pub input_size: usize,
    /// Width of the hidden state.
    pub hidden_size: usize,
}

impl GruLayerConfig {
    /// A new layer with PyTorch's initialisation: every weight and bias `U(-1/√H, 1/√H)`.
    pub fn init(&self, device: &Device) -> GruLayer {
        let uniform = pytorch_uniform(self.hidden_size);
        let gate_width = 3 * self.hidden_size;
        GruLayer {
            input_weight: uniform.init([self.input_size, gate_width], device),
            recurrent_weight: uniform.init([self.hidden_size, gate_width], device),
            input_bias: uniform.init([gate_width], device),
            recurrent_bias: uniform.init([gate_width], device),
            hidden_size: self.hidden_size,
        }
    }
}

impl SequenceLayer for GruLayer {
    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn forward_fused(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        cpu::assert_accepts("GRU", &input);
        let outputs = Tensor::<3>::from_dispatch(<Dispatch as GruOps>::gru_sequence(
            input.into_dispatch(),
            self.input_weight.val().into_dispatch(),
            self.recurrent_weight.val().into_dispatch(),
            self.input_bias.val().into_dispatch(),
            self.recurrent_bias.val().into_dispatch(),
            state.hidden.into_dispatch(),
        ));
        let hidden = cpu::last_step(&outputs);
        (outputs, LayerState { hidden, ..state })
    }

    /// Step by step in Burn tensor operations, on any backend; autodiff derives the backward
    /// pass.
    fn forward_stepwise(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        let hidden_size = self.hidden_size;
        let recurrent_weight = self.recurrent_weight.val();
        let recurrent_bias = self.recurrent_bias.val().unsqueeze_dim(0);
        let projections = project_steps(input, self.input_weight.val(), self.input_bias.val());

        let LayerState { mut hidden, cell } = state;
        let mut outputs = Vec::with_capacity(projections.len());
        for from_input in projections {
            let from_state =
                hidden.clone().matmul(recurrent_weight.clone()) + recurrent_bias.clone();
            let reset_update = sigmoid(
                from_input.clone().narrow(1, 0, 2 * hidden_size)
                    + from_state.clone().narrow(1, 0, 2 * hidden_size),
            );
            let reset = reset_update.clone().narrow(1, 0, hidden_size);
            let update = reset_update.narrow(1, hidden_size, hidden_size);
            let new = (from_input.narrow(1, 2 * hidden_size, hidden_size)
                + reset * from_state.narrow(1, 2 * hidden_size, hidden_size))
            .tanh();
            // (1 − z) ⊙ n + z ⊙ h, with one product fewer.
            hidden = new.clone() + update * (hidden - new);
            outputs.push(hidden.clone());
        }
        (Tensor::stack(outputs, 0), LayerState { hidden, cell })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::parity::ndarray_device as device;

    /// The fused operation refuses an operand of the wrong shape and names it: here a
    /// recurrent bias of 4 where 3 gates of 2 units need 6, and a state of batch 2 for a
    /// batch of 1.
    #[test]
    fn the_fused_layer_names_an_operand_of_the_wrong_shape() {
        let device = device();
        let run = |layer: &GruLayer, batch: usize| {
            let input = Tensor::<3>::zeros([2, 1, 3], &device);
            let state = LayerState::zeros(batch, 2, &device);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                layer.forward_fused(input, state)
            }))
            .map(|_| ())
            .map_err(|panic| panic.downcast::<String>().map(|m| *m).unwrap_or_default())
        };
        let mut layer = GruLayerConfig::new(3, 2).init(&device);
        assert_eq!(run(&layer, 1), Ok(()));
        assert_eq!(
            run(&layer, 2),
            Err("the fused GRU's hidden is [2, 2], not [1, 2]".to_string())
        );
        layer.recurrent_bias = Param::from_tensor(Tensor::zeros([4], &device));
        assert_eq!(
            run(&layer, 1),
            Err("the fused GRU's recurrent_bias is [4], not [6]".to_string())
        );
    }

    /// One step by hand for a 1-unit GRU whose weights are all 0.5 and biases 0.25:
    /// with x = 1, h = 0.4: a = 0.75, u = 0.45 for every gate; r = z = σ(1.2);
    /// n = tanh(0.75 + r·0.45); h' = (1 − z)·n + z·0.4.
    #[test]
    fn one_step_matches_the_equations() {
        let device = device();
        let mut layer = GruLayerConfig::new(1, 1).init(&device);
        let constant = |value: f32, shape: [usize; 2]| {
            Param::from_data(TensorData::new(vec![value; 3], shape), &device)
        };
        layer.input_weight = constant(0.5, [1, 3]);
        layer.recurrent_weight = constant(0.5, [1, 3]);
        layer.input_bias = Param::from_data(TensorData::new(vec![0.25f32; 3], [3]), &device);
        layer.recurrent_bias = Param::from_data(TensorData::new(vec![0.25f32; 3], [3]), &device);
        let state = LayerState {
            hidden: Tensor::from_data(TensorData::new(vec![0.4f32], [1, 1]), &device),
            cell: Tensor::zeros([1, 1], &device),
        };
        let (output, state) = layer.forward(Tensor::ones([1, 1, 1], &device), state);
        let gate = 1.0 / (1.0 + (-1.2f32).exp());
        let new = (0.75 + gate * 0.45f32).tanh();
        let expected = (1.0 - gate) * new + gate * 0.4;
        let got: f32 = output.into_scalar();
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        let cell: f32 = state.cell.into_scalar();
        assert_eq!(cell, 0.0, "the cell is carried through unchanged");
    }
}
