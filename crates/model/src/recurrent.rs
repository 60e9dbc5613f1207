//! The recurrent-layer interface of the model. A stack holds [`RecurrentLayer`]s, so another
//! cell or a faster implementation of one is one more variant here, and the embedding, head,
//! training loop and sampler need not change.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::gru::{GruLayer, GruLayerConfig};
use crate::lstm::{LstmLayer, LstmLayerConfig};
use crate::rnn::{RnnLayer, RnnLayerConfig};
use crate::state::LayerState;

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

    /// Runs the layer over a time-major sequence.
    ///
    /// - `input`: `[seq_len, batch, input_size]`
    /// - `state`: the state before the first step, each tensor `[batch, hidden_size]` (GRU and
    ///   RNN layers have no cell and return `state.cell` unchanged)
    /// - returns the output of every step, `[seq_len, batch, hidden_size]`, and the state after
    ///   the last step.
    pub fn forward(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        match self {
            Self::Lstm(layer) => layer.forward(input, state),
            Self::Gru(layer) => layer.forward(input, state),
            Self::Rnn(layer) => layer.forward(input, state),
        }
    }

    /// Width of the layer's output and state.
    pub fn hidden_size(&self) -> usize {
        match self {
            Self::Lstm(layer) => layer.hidden_size(),
            Self::Gru(layer) => layer.hidden_size(),
            Self::Rnn(layer) => layer.hidden_size(),
        }
    }
}
