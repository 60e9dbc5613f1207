//! Recurrent state passed between chunks (training) and steps (sampling).

use burn::prelude::*;

/// The state of one recurrent layer: hidden output `h` and, for an LSTM, cell `c`.
///
/// GRU and RNN layers have no cell; they carry `cell` through unchanged, so a stack of them
/// keeps the all-zero cell of [`LayerState::zeros`] (and checkpoints store it like an LSTM's).
#[derive(Debug, Clone)]
pub struct LayerState {
    /// Hidden state `h`, `[batch, hidden]`.
    pub hidden: Tensor<2>,
    /// Cell state `c`, `[batch, hidden]` (zeros, passed through, for GRU and RNN layers).
    pub cell: Tensor<2>,
}

impl LayerState {
    /// All-zero state, as at the start of a stream.
    pub fn zeros(batch: usize, hidden_size: usize, device: &Device) -> Self {
        Self {
            hidden: Tensor::zeros([batch, hidden_size], device),
            cell: Tensor::zeros([batch, hidden_size], device),
        }
    }

    /// The same values with the autodiff graph cut, so backpropagation stops here.
    pub fn detach(self) -> Self {
        Self {
            hidden: self.hidden.detach(),
            cell: self.cell.detach(),
        }
    }
}

/// The state of every layer of a stack, bottom layer first.
#[derive(Debug, Clone)]
pub struct RecurrentState {
    /// One state per layer.
    pub layers: Vec<LayerState>,
}

impl RecurrentState {
    /// Cuts the autodiff graph of every layer's state (truncated BPTT between chunks).
    pub fn detach(self) -> Self {
        Self {
            layers: self.layers.into_iter().map(LayerState::detach).collect(),
        }
    }

    /// Number of parallel streams the state is for.
    pub fn batch_size(&self) -> usize {
        self.layers.first().map_or(0, |l| l.hidden.dims()[0])
    }
}
