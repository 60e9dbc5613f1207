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
//! On the CPU backends (flex, ndarray) the layer runs as one fused operation with a
//! hand-written backward pass ([`crate::fused_lstm`]). On wgpu it runs step by step: a
//! `[B, I] × [I, 4H]` and a `[B, H] × [H, 4H]` product and the bias as Burn tensor operations,
//! then the pointwise update as one GPU kernel with a hand-written backward kernel
//! ([`crate::gpu_lstm`], [`LstmLayer::forward_cell_op`]). [`LstmLayer::forward_reference`] is
//! the same computation in ordinary Burn tensor operations only, on every backend, with the
//! backward pass derived by autodiff: the reference the other paths are tested against, and the
//! path for anything they do not accept. PyTorch keeps the transposes, `weight_ih = W_xᵀ` and
//! `weight_hh = W_hᵀ`.
//!
//! Like PyTorch's, the layer has two biases, `b = b_x + b_h` (`bias_ih` and `bias_hh`), each
//! initialised on its own and each receiving the full gradient of `b`. That is not a detail:
//! under Adam two parameters with one gradient move `b` twice as fast as one would, and their
//! sum starts spread twice as wide. A layer saved before it had `b_h` has its whole `b` in
//! `b_x` and no `b_h` ([`LstmLayer::without_recurrent_bias`]).

use burn::backend::Dispatch;
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::sigmoid;

use crate::cpu;
use crate::fused_lstm::ops::LstmOps;
use crate::gpu_lstm;
use crate::sequence_layer::{SequenceLayer, pytorch_bound, pytorch_uniform};
use crate::state::LayerState;

/// Configuration of an [`LstmLayer`].
#[derive(Config, Debug)]
pub struct LstmLayerConfig {
    /// Width of the input at each step.
    pub input_size: usize,
    /// Width of the hidden and cell state.
    pub hidden_size: usize,
    /// Added to the forget gate's input bias at initialisation (0: PyTorch's initialisation).
    /// 1.0 keeps the cell's memory open early in training (Gers et al., 2000; Jozefowicz et
    /// al., 2015), though at a character model's usual budgets we measured it slower.
    #[config(default = 0.0)]
    pub forget_bias: f64,
}

/// A single-direction LSTM layer with the four gates fused into one weight matrix.
#[derive(Module, Debug)]
pub struct LstmLayer {
    /// Input-to-gates weights `W_x`, `[input_size, 4·hidden_size]`, gates ordered i, f, g, o.
    pub input_weight: Param<Tensor<2>>,
    /// State-to-gates weights `W_h`, `[hidden_size, 4·hidden_size]`, gates ordered i, f, g, o.
    pub recurrent_weight: Param<Tensor<2>>,
    /// Input bias `b_x` (PyTorch's `bias_ih`), `[4·hidden_size]`.
    pub bias: Param<Tensor<1>>,
    /// Recurrent bias `b_h` (PyTorch's `bias_hh`), `[4·hidden_size]`; `None` in a layer saved
    /// before layers had one, whose `bias` is then the whole gate bias.
    pub recurrent_bias: Option<Param<Tensor<1>>>,
    hidden_size: usize,
}

impl LstmLayerConfig {
    /// A new layer with PyTorch's initialisation: every weight and both biases
    /// `U(-1/√H, 1/√H)`, plus `forget_bias` on the forget gate's input bias.
    pub fn init(&self, device: &Device) -> LstmLayer {
        let hidden = self.hidden_size;
        let bound = pytorch_bound(hidden);
        let uniform = pytorch_uniform(hidden);
        // The forget-gate offset is added before the tensor becomes a parameter (not patched
        // in with slice_assign afterwards), so the bias stays one trainable leaf.
        let mut forget_offset = vec![0.0f32; 4 * hidden];
        forget_offset[hidden..2 * hidden].fill(self.forget_bias as f32);
        let input_bias =
            Tensor::<1>::random([4 * hidden], Distribution::Uniform(-bound, bound), device)
                + Tensor::from_data(TensorData::new(forget_offset, [4 * hidden]), device);
        LstmLayer {
            input_weight: uniform.init([self.input_size, 4 * hidden], device),
            recurrent_weight: uniform.init([hidden, 4 * hidden], device),
            bias: Param::from_tensor(input_bias),
            recurrent_bias: Some(uniform.init([4 * hidden], device)),
            hidden_size: hidden,
        }
    }
}

impl LstmLayer {
    /// The gate bias `b = b_x + b_h`, `[4·hidden_size]`.
    pub fn gate_bias(&self) -> Tensor<1> {
        match &self.recurrent_bias {
            Some(recurrent) => self.bias.val() + recurrent.val(),
            None => self.bias.val(),
        }
    }

    /// The layer without its recurrent bias, as layers were saved before they had one (their
    /// `bias` holds the whole gate bias).
    pub fn without_recurrent_bias(mut self) -> Self {
        self.recurrent_bias = None;
        self
    }

    /// [`SequenceLayer::forward`] step by step: the gate products and bias in Burn tensor
    /// operations, the rest of each step as one operation with a hand-written backward pass
    /// ([`gpu_lstm::lstm_cell`]).
    ///
    /// # Panics
    ///
    /// Unless [`gpu_lstm::accepts`] the input: wgpu, f32.
    pub fn forward_cell_op(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        self.step_by_step(input, state, gpu_lstm::lstm_cell)
    }

    /// [`SequenceLayer::forward`] step by step in Burn tensor operations, on any backend;
    /// autodiff derives the backward pass.
    pub fn forward_reference(
        &self,
        input: Tensor<3>,
        state: LayerState,
    ) -> (Tensor<3>, LayerState) {
        self.step_by_step(input, state, |gates, cell| self.cell_update(gates, cell))
    }

    /// The step loop of [`Self::forward_reference`] and [`Self::forward_cell_op`]: the gate
    /// products and bias in Burn tensor operations, then `cell_update` (gates `[B, 4H]`,
    /// `c_{t-1}` → `(h_t, c_t)`).
    fn step_by_step(
        &self,
        input: Tensor<3>,
        state: LayerState,
        cell_update: impl Fn(Tensor<2>, Tensor<2>) -> (Tensor<2>, Tensor<2>),
    ) -> (Tensor<3>, LayerState) {
        let [seq_len, batch, input_size] = input.dims();
        let gate_width = 4 * self.hidden_size;
        let input_weight = self.input_weight.val();
        let recurrent_weight = self.recurrent_weight.val();
        let bias = self.gate_bias().unsqueeze_dim(0);

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
            (hidden, cell) = cell_update(gates, cell);
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

impl SequenceLayer for LstmLayer {
    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn forward_fused(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        cpu::assert_accepts("LSTM", &input);
        let [seq_len, batch, _] = input.dims();
        // [T+1, B, H]: h_1 … h_T, then c_T.
        let packed = Tensor::<3>::from_dispatch(<Dispatch as LstmOps>::lstm_sequence(
            input.into_dispatch(),
            self.input_weight.val().into_dispatch(),
            self.recurrent_weight.val().into_dispatch(),
            self.gate_bias().into_dispatch(),
            state.hidden.into_dispatch(),
            state.cell.into_dispatch(),
        ));
        let outputs = packed.clone().narrow(0, 0, seq_len);
        let hidden = cpu::last_step(&outputs);
        let cell = packed
            .narrow(0, seq_len, 1)
            .reshape([batch, self.hidden_size]);
        (outputs, LayerState { hidden, cell })
    }

    /// With the GPU cell ([`LstmLayer::forward_cell_op`]) where [`gpu_lstm::accepts`] the
    /// input, else in plain tensor operations ([`LstmLayer::forward_reference`]).
    fn forward_stepwise(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        if gpu_lstm::accepts(&input) {
            self.forward_cell_op(input, state)
        } else {
            self.forward_reference(input, state)
        }
    }
}

#[cfg(test)]
mod tests;
