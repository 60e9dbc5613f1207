//! One layer of the recurrent stack, whichever its cell ([`RecurrentLayer`]), and the cells
//! there are ([`CellKind`]). A stack holds [`RecurrentLayer`]s, so another cell or a faster
//! implementation of one is one more variant here, and the embedding, head, training loop and
//! sampler need not change.

use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::gru::{GruLayer, GruLayerConfig};
use crate::lstm::{LstmLayer, LstmLayerConfig};
use crate::rnn::{RnnLayer, RnnLayerConfig};
use crate::sequence_layer::SequenceLayer;
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

    /// The layer, whichever its cell.
    pub fn as_layer(&self) -> &dyn SequenceLayer {
        match self {
            Self::Lstm(layer) => layer,
            Self::Gru(layer) => layer,
            Self::Rnn(layer) => layer,
        }
    }

    /// The state-to-gates weights `W_h`, `[hidden_size, gates · hidden_size]`, whichever the
    /// cell.
    pub fn recurrent_weight(&self) -> &Param<Tensor<2>> {
        match self {
            Self::Lstm(layer) => &layer.recurrent_weight,
            Self::Gru(layer) => &layer.recurrent_weight,
            Self::Rnn(layer) => &layer.recurrent_weight,
        }
    }

    /// [`Self::recurrent_weight`], to replace.
    pub fn recurrent_weight_mut(&mut self) -> &mut Param<Tensor<2>> {
        match self {
            Self::Lstm(layer) => &mut layer.recurrent_weight,
            Self::Gru(layer) => &mut layer.recurrent_weight,
            Self::Rnn(layer) => &mut layer.recurrent_weight,
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

    /// The layer step by step in plain Burn tensor operations (for an LSTM never the GPU
    /// cell): the reference the other paths are tested against.
    pub fn forward_reference(
        &self,
        input: Tensor<3>,
        state: LayerState,
    ) -> (Tensor<3>, LayerState) {
        match self {
            Self::Lstm(lstm) => lstm.forward_reference(input, state),
            Self::Gru(gru) => gru.forward_stepwise(input, state),
            Self::Rnn(rnn) => rnn.forward_stepwise(input, state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::parity::{assert_fused_matches_reference, ndarray_device, parameter_grads};
    use crate::parameters::parameter_values;

    const CELLS: [CellKind; 3] = [CellKind::Lstm, CellKind::Gru, CellKind::Rnn];

    /// The fused layer and the step-by-step reference agree in outputs, final state and every
    /// gradient, over two chunks with the state carried between them, on both CPU backends.
    #[test]
    fn fused_and_reference_paths_agree_for_every_cell() {
        for cell in CELLS {
            assert_fused_matches_reference(
                3,
                5,
                |device| RecurrentLayer::new(cell, 3, 5, 1.0, device),
                |layer, input, state| layer.as_layer().forward_fused(input, state),
                RecurrentLayer::forward_reference,
            );
        }
    }

    /// Every parameter of every cell receives a gradient (none is left frozen by its
    /// initialisation): an LSTM's four, a GRU's four, an RNN's three.
    #[test]
    fn every_parameter_of_every_cell_trains() {
        let device = ndarray_device().autodiff();
        for (cell, count) in CELLS.into_iter().zip([4, 4, 3]) {
            let layer = RecurrentLayer::new(cell, 3, 4, 1.0, &device);
            let input = Tensor::<3>::ones([2, 1, 3], &device);
            let (output, state) = layer.forward(input, LayerState::zeros(1, 4, &device));
            assert_eq!(output.dims(), [2, 1, 4]);
            assert_eq!(state.hidden.dims(), [1, 4]);
            let grads = parameter_grads(&layer, &output.sum().backward());
            assert_eq!(grads.len(), count, "{cell:?}");
            assert!(grads.iter().all(Option::is_some), "{cell:?}: {grads:?}");
        }
    }

    /// With no forget-gate offset, every weight and bias of every cell starts within PyTorch's
    /// bound 1/√H, and none is all zero.
    #[test]
    fn initialisation_is_within_pytorchs_bound_for_every_cell() {
        for cell in CELLS {
            let layer = RecurrentLayer::new(cell, 5, 4, 0.0, &ndarray_device());
            let bound = 1.0 / 2.0;
            for values in parameter_values(&layer) {
                assert!(
                    values.iter().all(|v| v.abs() <= bound),
                    "{cell:?}: {values:?}"
                );
                assert!(values.iter().any(|&v| v != 0.0), "{cell:?}");
            }
        }
    }
}
