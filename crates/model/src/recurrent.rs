//! The recurrent-layer interface of the model. A stack holds [`RecurrentLayer`]s, so another
//! cell or a faster implementation of one is one more variant here, and the embedding, head,
//! training loop and sampler need not change.

use burn::nn::Initializer;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cpu;
use crate::gru::{GruLayer, GruLayerConfig};
use crate::lstm::{LstmLayer, LstmLayerConfig};
use crate::rnn::{RnnLayer, RnnLayerConfig};
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

/// Which recurrent cell the stack is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Long short-term memory (Hochreiter & Schmidhuber), PyTorch's `nn.LSTM` equations.
    #[default]
    Lstm,
    /// Gated recurrent unit (Cho et al., 2014), PyTorch's `nn.GRU` equations.
    Gru,
    /// Plain (Elman) recurrent layer with tanh, PyTorch's `nn.RNN`.
    Rnn,
}

impl CellKind {
    /// The cell's name in configs and exported files: `lstm`, `gru` or `rnn`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lstm => "lstm",
            Self::Gru => "gru",
            Self::Rnn => "rnn",
        }
    }
}

/// One layer of the recurrent stack.
#[derive(Module, Debug)]
pub enum RecurrentLayer {
    /// An LSTM layer.
    Lstm(LstmLayer),
    /// A GRU layer.
    Gru(GruLayer),
    /// A plain tanh RNN layer.
    Rnn(RnnLayer),
}

impl RecurrentLayer {
    /// A new layer of `cell` mapping `input_size` features to `hidden_size`. `forget_bias`
    /// is the initial forget-gate bias of an LSTM; the other cells have no forget gate.
    pub fn new(
        cell: CellKind,
        input_size: usize,
        hidden_size: usize,
        forget_bias: f64,
        device: &Device,
    ) -> Self {
        match cell {
            CellKind::Lstm => Self::Lstm(
                LstmLayerConfig::new(input_size, hidden_size)
                    .with_forget_bias(forget_bias)
                    .init(device),
            ),
            CellKind::Gru => Self::Gru(GruLayerConfig::new(input_size, hidden_size).init(device)),
            CellKind::Rnn => Self::Rnn(RnnLayerConfig::new(input_size, hidden_size).init(device)),
        }
    }

    /// The layer as layers were saved before LSTMs had a recurrent bias (see
    /// [`LstmLayer::without_recurrent_bias`]); other cells are unchanged.
    pub fn without_lstm_recurrent_bias(self) -> Self {
        match self {
            Self::Lstm(lstm) => Self::Lstm(lstm.without_recurrent_bias()),
            other => other,
        }
    }

    /// The cell this layer is made of.
    pub fn cell(&self) -> CellKind {
        match self {
            Self::Lstm(_) => CellKind::Lstm,
            Self::Gru(_) => CellKind::Gru,
            Self::Rnn(_) => CellKind::Rnn,
        }
    }

    /// The layer, whichever its cell.
    pub fn as_layer(&self) -> &dyn SequenceLayer {
        match self {
            Self::Lstm(layer) => layer,
            Self::Gru(layer) => layer,
            Self::Rnn(layer) => layer,
        }
    }

    /// Runs the layer over a time-major sequence ([`SequenceLayer::forward`]).
    pub fn forward(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        self.as_layer().forward(input, state)
    }

    /// Width of the layer's output and state.
    pub fn hidden_size(&self) -> usize {
        self.as_layer().hidden_size()
    }
}
