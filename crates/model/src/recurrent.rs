//! The recurrent-layer interface of the model. A stack holds [`RecurrentLayer`]s, so another
//! cell (GRU, vanilla RNN) or a faster LSTM implementation is one more variant here, and the
//! embedding, head, training loop and sampler need not change.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::lstm::{LstmLayer, LstmLayerConfig};
use crate::state::LayerState;

/// Which recurrent cell the stack is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Long short-term memory (Hochreiter & Schmidhuber), PyTorch's gate equations.
    #[default]
    Lstm,
}

/// One layer of the recurrent stack.
#[derive(Module, Debug)]
pub enum RecurrentLayer {
    /// An LSTM layer.
    Lstm(LstmLayer),
}

impl RecurrentLayer {
    /// A new layer of `cell` mapping `input_size` features to `hidden_size`.
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
        }
    }

    /// Runs the layer over a time-major sequence.
    ///
    /// - `input`: `[seq_len, batch, input_size]`
    /// - `state`: the state before the first step, each tensor `[batch, hidden_size]`
    /// - returns the output of every step, `[seq_len, batch, hidden_size]`, and the state after
    ///   the last step.
    pub fn forward(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        match self {
            Self::Lstm(layer) => layer.forward(input, state),
        }
    }

    /// Width of the layer's output and state.
    pub fn hidden_size(&self) -> usize {
        match self {
            Self::Lstm(layer) => layer.hidden_size(),
        }
    }
}
