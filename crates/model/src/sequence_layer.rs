//! What every recurrent cell's layer provides ([`SequenceLayer`]), and PyTorch's
//! initialisation of such a layer. The cells (`lstm`, `gru`, `rnn`) implement it; the stack's
//! [`crate::recurrent::RecurrentLayer`] holds one of them.

use burn::nn::Initializer;
use burn::prelude::*;

use crate::cpu;
use crate::state::LayerState;

/// What every cell's layer provides: a fused operation for the CPU backends and a
/// step-by-step path for the others. Which one runs is decided in [`Self::forward`], once for
/// all cells.
pub trait SequenceLayer {
    /// Width of the layer's output and state.
    fn hidden_size(&self) -> usize;

    /// [`Self::forward`] as one fused operation with a hand-written backward pass.
    ///
    /// # Panics
    ///
    /// Unless [`cpu::accepts`] the input: flex or ndarray, f32, at least one step.
    fn forward_fused(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState);

    /// [`Self::forward`] step by step, on any backend.
    fn forward_stepwise(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState);

    /// Runs the layer over a time-major sequence: fused when [`cpu::accepts`] the input, else
    /// step by step.
    ///
    /// - `input`: `[seq_len, batch, input_size]`
    /// - `state`: the state before the first step, each tensor `[batch, hidden_size]` (GRU and
    ///   RNN layers have no cell and return `state.cell` unchanged)
    /// - returns the output of every step, `[seq_len, batch, hidden_size]`, and the state after
    ///   the last step.
    fn forward(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        if cpu::accepts(&input) {
            self.forward_fused(input, state)
        } else {
            self.forward_stepwise(input, state)
        }
    }
}

/// The bound of PyTorch's initialisation of a recurrent layer `hidden_size` wide, `1/√H`.
pub(crate) fn pytorch_bound(hidden_size: usize) -> f64 {
    1.0 / (hidden_size as f64).sqrt()
}

/// PyTorch's initialisation of a recurrent layer `hidden_size` wide: `U(-1/√H, 1/√H)`.
pub(crate) fn pytorch_uniform(hidden_size: usize) -> Initializer {
    let bound = pytorch_bound(hidden_size);
    Initializer::Uniform {
        min: -bound,
        max: bound,
    }
}
