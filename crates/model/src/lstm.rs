//! An LSTM layer with fused gates.
//!
//! With `x_t` the input, `h` and `c` the hidden and cell state, and the gates in PyTorch's
//! order (input `i`, forget `f`, candidate `g`, output `o`) stacked along the last axis:
//!
//! ```text
//! [i | f | g | o] = x_t · W_x + h_{t-1} · W_h + b        (W_x: [I, 4H], W_h: [H, 4H], b: [4H])
//! i, f, o = σ(·)      g = tanh(·)
//! c_t = f ⊙ c_{t-1} + i ⊙ g
//! h_t = o ⊙ tanh(c_t)
//! ```
//!
//! Each step costs a `[B, I] × [I, 4H]` and a `[B, H] × [H, 4H]` product plus the pointwise
//! update, all as ordinary Burn tensor operations, so the layer runs on every backend and
//! autodiff derives its backward pass. PyTorch keeps the transposes, `weight_ih = W_xᵀ` and
//! `weight_hh = W_hᵀ`, and splits `b` into two biases.

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::state::LayerState;

/// Configuration of an [`LstmLayer`].
#[derive(Config, Debug)]
pub struct LstmLayerConfig {
    /// Width of the input at each step.
    pub input_size: usize,
    /// Width of the hidden and cell state.
    pub hidden_size: usize,
    /// Initial value of the forget-gate bias. 1.0 keeps the cell's memory open early in
    /// training (Gers et al., 2000; Jozefowicz et al., 2015).
    #[config(default = 1.0)]
    pub forget_bias: f64,
}

/// A single-direction LSTM layer with the four gates fused into one weight matrix.
#[derive(Module, Debug)]
pub struct LstmLayer {
    /// Input-to-gates weights `W_x`, `[input_size, 4·hidden_size]`, gates ordered i, f, g, o.
    pub input_weight: Param<Tensor<2>>,
    /// State-to-gates weights `W_h`, `[hidden_size, 4·hidden_size]`, gates ordered i, f, g, o.
    pub recurrent_weight: Param<Tensor<2>>,
    /// Gate bias `b`, `[4·hidden_size]`.
    pub bias: Param<Tensor<1>>,
    hidden_size: usize,
}

impl LstmLayerConfig {
    /// A new layer with PyTorch's initialisation, `U(-1/√H, 1/√H)`, except the forget-gate
    /// bias, which starts at `forget_bias`.
    pub fn init(&self, device: &Device) -> LstmLayer {
        let hidden = self.hidden_size;
        let bound = 1.0 / (hidden as f64).sqrt();
        let uniform = Initializer::Uniform {
            min: -bound,
            max: bound,
        };
        // The bias is built whole, not patched with slice_assign, so it stays one trainable
        // leaf.
        let mut bias = vec![0.0f32; 4 * hidden];
        bias[hidden..2 * hidden].fill(self.forget_bias as f32);
        LstmLayer {
            input_weight: uniform.init([self.input_size, 4 * hidden], device),
            recurrent_weight: uniform.init([hidden, 4 * hidden], device),
            bias: Param::from_data(TensorData::new(bias, [4 * hidden]), device),
            hidden_size: hidden,
        }
    }
}

impl LstmLayer {
    /// Width of the hidden and cell state.
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// Runs the layer over a time-major sequence.
    ///
    /// - `input`: `[seq_len, batch, input_size]`
    /// - `state`: hidden and cell state before the first step, each `[batch, hidden_size]`
    /// - returns every step's hidden state, `[seq_len, batch, hidden_size]`, and the final state.
    pub fn forward(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        let [seq_len, batch, input_size] = input.dims();
        let gate_width = 4 * self.hidden_size;
        let input_weight = self.input_weight.val();
        let recurrent_weight = self.recurrent_weight.val();
        let bias = self.bias.val().unsqueeze_dim(0);

        let LayerState {
            mut hidden,
            mut cell,
        } = state;
        let mut outputs = Vec::with_capacity(seq_len);
        for step in 0..seq_len {
            // The input is projected step by step rather than for all steps at once and then
            // sliced: the gradient of a slice is a zero tensor of the whole source with the
            // slice written in, so slicing a [seq_len · batch, 4H] projection would cost a
            // full-size zero fill per step on the way back. The input is 4× narrower.
            let x = input
                .clone()
                .narrow(0, step, 1)
                .reshape([batch, input_size]);
            let gates = x.matmul(input_weight.clone())
                + hidden.matmul(recurrent_weight.clone())
                + bias.clone();
            debug_assert_eq!(gates.dims(), [batch, gate_width]);
            (hidden, cell) = self.cell_update(gates, cell);
            outputs.push(hidden.clone());
        }
        (Tensor::stack(outputs, 0), LayerState { hidden, cell })
    }

    /// The pointwise part of a step: gate pre-activations `[batch, 4H]` and `c_{t-1}`
    /// `[batch, H]` to `(h_t, c_t)`.
    fn cell_update(&self, gates: Tensor<2>, cell: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let hidden_size = self.hidden_size;
        let input_forget = sigmoid(gates.clone().narrow(1, 0, 2 * hidden_size));
        let input_gate = input_forget.clone().narrow(1, 0, hidden_size);
        let forget_gate = input_forget.narrow(1, hidden_size, hidden_size);
        let candidate = gates.clone().narrow(1, 2 * hidden_size, hidden_size).tanh();
        let output_gate = sigmoid(gates.narrow(1, 3 * hidden_size, hidden_size));
        let cell = forget_gate * cell + input_gate * candidate;
        let hidden = output_gate * cell.clone().tanh();
        (hidden, cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        #[allow(deprecated)]
        Device::ndarray()
    }

    #[test]
    fn forget_bias_is_set_and_trainable() {
        let device = device().autodiff();
        let layer = LstmLayerConfig::new(3, 4)
            .with_forget_bias(1.0)
            .init(&device);
        let bias: Vec<f32> = layer.bias.val().try_into_vec_as().unwrap();
        assert_eq!(&bias[4..8], &[1.0; 4]);
        assert!(bias[..4].iter().chain(&bias[8..]).all(|&b| b == 0.0));

        let input = Tensor::<3>::ones([2, 1, 3], &device);
        let (output, _) = layer.forward(input, LayerState::zeros(1, 4, &device));
        let grads = output.sum().backward();
        assert!(
            layer.bias.val().grad(&grads).is_some(),
            "bias must receive a gradient"
        );
    }

    /// One step by hand for a 1-unit LSTM whose weights are all 0.5 and bias 0:
    /// gates = 0.5·x + 0.5·h = 0.5 for x = 1, h = 0; c = σ(.5)·0 + σ(.5)·tanh(.5);
    /// h = σ(.5)·tanh(c).
    #[test]
    fn one_step_matches_the_equations() {
        let device = device();
        let mut layer = LstmLayerConfig::new(1, 1)
            .with_forget_bias(0.0)
            .init(&device);
        layer.input_weight = Param::from_data(TensorData::new(vec![0.5f32; 4], [1, 4]), &device);
        layer.recurrent_weight =
            Param::from_data(TensorData::new(vec![0.5f32; 4], [1, 4]), &device);
        let (output, state) = layer.forward(
            Tensor::ones([1, 1, 1], &device),
            LayerState::zeros(1, 1, &device),
        );
        let s = 1.0 / (1.0 + (-0.5f32).exp());
        let c = s * 0.5f32.tanh();
        let h = s * c.tanh();
        let got_c: f32 = state.cell.into_scalar();
        let got_h: f32 = output.into_scalar();
        assert!((got_c - c).abs() < 1e-6, "{got_c} vs {c}");
        assert!((got_h - h).abs() < 1e-6, "{got_h} vs {h}");
    }
}
