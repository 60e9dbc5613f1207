//! A plain (Elman) recurrent layer with tanh, PyTorch's `nn.RNN` (`nonlinearity="tanh"`):
//!
//! ```text
//! h_t = tanh(x_t · W_x + h_{t-1} · W_h + b)      (W_x: [I, H], W_h: [H, H], b: [H])
//! ```
//!
//! PyTorch keeps the transposes, `weight_ih = W_xᵀ` and `weight_hh = W_hᵀ`, and splits `b`
//! into two biases whose sum it is (`bias_ih + bias_hh`).
//!
//! On the CPU backends (flex, ndarray) the layer runs as one fused operation with a
//! hand-written backward pass ([`crate::fused_rnn`]); elsewhere (wgpu) step by step in Burn
//! tensor operations, with autodiff deriving the backward pass
//! ([`SequenceLayer::forward_stepwise`], which the fused path is tested against). It has no cell
//! state: the `cell` of the [`LayerState`] is carried through unchanged.

use burn::backend::Dispatch;
use burn::module::Param;
use burn::prelude::*;

use crate::cpu;
use crate::fused_rnn::ops::RnnOps;
use crate::projection::project_steps;
use crate::sequence_layer::{SequenceLayer, pytorch_uniform};
use crate::state::LayerState;

/// A single-direction Elman layer with tanh.
#[derive(Module, Debug)]
pub struct RnnLayer {
    /// Input-to-hidden weights `W_x`, `[input_size, hidden_size]`.
    pub input_weight: Param<Tensor<2>>,
    /// Hidden-to-hidden weights `W_h`, `[hidden_size, hidden_size]`.
    pub recurrent_weight: Param<Tensor<2>>,
    /// Bias `b`, `[hidden_size]`.
    pub bias: Param<Tensor<1>>,
    hidden_size: usize,
}

/// Configuration of an [`RnnLayer`].
#[derive(Config, Debug)]
pub struct RnnLayerConfig {
    /// Width of the input at each step.
    pub input_size: usize,
    /// Width of the hidden state.
    pub hidden_size: usize,
}

impl RnnLayerConfig {
    /// A new layer with PyTorch's initialisation: every weight and the bias `U(-1/√H, 1/√H)`.
    pub fn init(&self, device: &Device) -> RnnLayer {
        let uniform = pytorch_uniform(self.hidden_size);
        RnnLayer {
            input_weight: uniform.init([self.input_size, self.hidden_size], device),
            recurrent_weight: uniform.init([self.hidden_size, self.hidden_size], device),
            bias: uniform.init([self.hidden_size], device),
            hidden_size: self.hidden_size,
        }
    }
}

impl SequenceLayer for RnnLayer {
    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn forward_fused(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        cpu::assert_accepts("RNN", &input);
        let outputs = Tensor::<3>::from_dispatch(<Dispatch as RnnOps>::rnn_sequence(
            input.into_dispatch(),
            self.input_weight.val().into_dispatch(),
            self.recurrent_weight.val().into_dispatch(),
            self.bias.val().into_dispatch(),
            state.hidden.into_dispatch(),
        ));
        let hidden = cpu::last_step(&outputs);
        (outputs, LayerState { hidden, ..state })
    }

    /// Step by step in Burn tensor operations, on any backend; autodiff derives the backward
    /// pass.
    fn forward_stepwise(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        let recurrent_weight = self.recurrent_weight.val();
        let projections = project_steps(input, self.input_weight.val(), self.bias.val());

        let LayerState { mut hidden, cell } = state;
        let mut outputs = Vec::with_capacity(projections.len());
        for from_input in projections {
            hidden = (from_input + hidden.matmul(recurrent_weight.clone())).tanh();
            outputs.push(hidden.clone());
        }
        (Tensor::stack(outputs, 0), LayerState { hidden, cell })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::parity::ndarray_device as device;

    /// Two steps by hand for a 1-unit RNN with W_x = 0.5, W_h = −0.75, b = 0.1 from h = 0.2:
    /// h_1 = tanh(0.5·1 − 0.75·0.2 + 0.1), h_2 = tanh(0.5·(−2) − 0.75·h_1 + 0.1).
    #[test]
    fn two_steps_match_the_equation() {
        let device = device();
        let mut layer = RnnLayerConfig::new(1, 1).init(&device);
        let scalar = |value: f32| Param::from_data(TensorData::new(vec![value], [1, 1]), &device);
        layer.input_weight = scalar(0.5);
        layer.recurrent_weight = scalar(-0.75);
        layer.bias = Param::from_data(TensorData::new(vec![0.1f32], [1]), &device);
        let state = LayerState {
            hidden: Tensor::from_data(TensorData::new(vec![0.2f32], [1, 1]), &device),
            cell: Tensor::zeros([1, 1], &device),
        };
        let input = Tensor::from_data(TensorData::new(vec![1.0f32, -2.0], [2, 1, 1]), &device);
        let (output, state) = layer.forward(input, state);
        let first = (0.5f32 - 0.75 * 0.2 + 0.1).tanh();
        let second = (-1.0f32 - 0.75 * first + 0.1).tanh();
        let got: Vec<f32> = output.try_into_vec_as().unwrap();
        assert!((got[0] - first).abs() < 1e-6, "{} vs {first}", got[0]);
        assert!((got[1] - second).abs() < 1e-6, "{} vs {second}", got[1]);
        let cell: f32 = state.cell.into_scalar();
        assert_eq!(cell, 0.0, "the cell is carried through unchanged");
    }
}
