//! What a model computes inside, position by position, for looking at it (`charlstm viz`):
//! the distribution over the next token, and for every layer of the forward stack its hidden
//! output `h`, its cell state `c` (LSTM) and its gate activations. Forward only, one stream
//! from the zero state, on any backend (give it a model without autodiff, `model.valid()`).
//!
//! Each layer runs once over the whole text, fused where the backend has it; its gates are
//! then recomputed from the layer's weights for all positions at once, from the layer's
//! input `x_t` and its previous output `h_{t-1}`, with the cell's own equations:
//!
//! ```text
//! LSTM  z = x_t·W_x + h_{t-1}·W_h + b               (gates i, f, g, o in that order)
//!       i = σ(z_i)   f = σ(z_f)   g = tanh(z_g)   o = σ(z_o)
//!       c_t = f ⊙ c_{t-1} + i ⊙ g                    (a scan over t, from c_{-1} = 0)
//! GRU   a = x_t·W_x + b_x    u = h_{t-1}·W_h + b_h  (parts r, z, n in that order)
//!       r = σ(a_r + u_r)   z = σ(a_z + u_z)   n = tanh(a_n + r ⊙ u_n)
//! RNN   no gates
//! ```
//!
//! For the LSTM, `o ⊙ tanh(c_t)` gives back the layer's output `h_t` (a test holds the two
//! together), so what is shown is what the model computed.

use burn::prelude::*;
use burn::tensor::TensorReadError;
use burn::tensor::activation::{sigmoid, softmax};

use crate::char_model::CharModel;
use crate::gru::GruLayer;
use crate::lstm::LstmLayer;
use crate::recurrent::{CellKind, RecurrentLayer};
use crate::sequence_layer::SequenceLayer;
use crate::state::LayerState;

/// Why a text could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Nothing to inspect.
    #[error("the text to inspect is empty (give at least one character)")]
    Empty,
    /// A token id the model has no embedding for.
    #[error("token id {id} is outside the model's vocabulary of {vocab_size}")]
    UnknownToken {
        /// The id.
        id: usize,
        /// The model's vocabulary size.
        vocab_size: usize,
    },
    /// The backend could not hand the values back.
    #[error("cannot read the model's values back from the device: {0}")]
    Read(String),
}

impl From<TensorReadError> for InspectError {
    fn from(error: TensorReadError) -> Self {
        Self::Read(format!("{error:?}"))
    }
}

/// One gate's activation at every position: `values[t · hidden_size + unit]`.
#[derive(Debug, Clone)]
pub struct GateTrace {
    /// The gate's name: `input`, `forget`, `output` (LSTM), `reset`, `update` (GRU).
    pub name: &'static str,
    /// `[positions, hidden_size]`, row-major, each in `(0, 1)`.
    pub values: Vec<f32>,
}

/// One layer's values at every position, each `[positions, hidden_size]` row-major.
#[derive(Debug, Clone)]
pub struct LayerTrace {
    /// The layer's cell.
    pub cell: CellKind,
    /// Units in the layer.
    pub hidden_size: usize,
    /// The output `h_t` after each position.
    pub hidden: Vec<f32>,
    /// The cell state `c_t` after each position (LSTM only).
    pub cell_state: Option<Vec<f32>>,
    /// The sigmoid gates at each position (none for a plain RNN).
    pub gates: Vec<GateTrace>,
}

impl LayerTrace {
    /// The values a unit is best looked at by, `[positions, hidden_size]`: `tanh(c_t)` for an
    /// LSTM (as Karpathy, Johnson and Fei-Fei show their cells), else `h_t`; both in `[-1, 1]`.
    pub fn activations(&self) -> Vec<f32> {
        match &self.cell_state {
            Some(cell) => cell.iter().map(|c| c.tanh()).collect(),
            None => self.hidden.clone(),
        }
    }
}

/// What the forward stack computed over a text of `positions` tokens.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Tokens read.
    pub positions: usize,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// `p(next token | tokens ≤ t)`, `[positions, vocab_size]` row-major.
    pub next_token_probabilities: Vec<f32>,
    /// Each layer of the forward stack, bottom first.
    pub layers: Vec<LayerTrace>,
}

impl Inspection {
    /// The distribution over the token after position `t`.
    pub fn next_token_distribution(&self, t: usize) -> &[f32] {
        &self.next_token_probabilities[t * self.vocab_size..(t + 1) * self.vocab_size]
    }
}

/// Runs `model`'s forward stack over `tokens` from the zero state and records what it
/// computed at every position (module doc). `model` should be without autodiff; its dropout
/// then does nothing.
pub fn inspect(model: &CharModel, tokens: &[usize]) -> Result<Inspection, InspectError> {
    let positions = tokens.len();
    if positions == 0 {
        return Err(InspectError::Empty);
    }
    let vocab_size = model.vocab_size();
    if let Some(&id) = tokens.iter().find(|&&id| id >= vocab_size) {
        return Err(InspectError::UnknownToken { id, vocab_size });
    }
    let device = model.embedding.weight.device();
    let ids: Vec<i64> = tokens.iter().map(|&id| id as i64).collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, positions]), &device);

    // Time-major [positions, 1, features], as the layers read it.
    let mut features = model.embedding.forward(tokens).swap_dims(0, 1);
    let mut layers = Vec::with_capacity(model.layers.len());
    for (index, layer) in model.layers.iter().enumerate() {
        let hidden_size = layer.hidden_size();
        let state = LayerState::zeros(1, hidden_size, &device);
        let (output, _) = layer.forward(features.clone(), state);
        let before = previous_outputs(&output);
        layers.push(trace_layer(
            layer,
            features.clone(),
            before,
            output.clone(),
        )?);
        // x_{l+1} = f_l(x_l) + x_l above the first layer, as the model's own forward pass.
        features = if model.residual && index > 0 {
            output + features
        } else {
            output
        };
    }
    let width = features.dims()[2];
    let logits = model.head.forward(features.reshape([positions, width]));
    let probabilities = softmax(logits, 1);
    Ok(Inspection {
        positions,
        vocab_size,
        next_token_probabilities: probabilities.try_into_vec_as::<f32>()?,
        layers,
    })
}

/// `h_{t-1}` for every position of `outputs` (`[T, 1, H]`): zeros, then all but the last.
fn previous_outputs(outputs: &Tensor<3>) -> Tensor<3> {
    let [positions, batch, hidden_size] = outputs.dims();
    let zeros = Tensor::zeros([1, batch, hidden_size], &outputs.device());
    match positions {
        1 => zeros,
        _ => Tensor::cat(vec![zeros, outputs.clone().narrow(0, 0, positions - 1)], 0),
    }
}

/// One layer's trace from its input, previous outputs and outputs (each `[T, 1, ·]`).
fn trace_layer(
    layer: &RecurrentLayer,
    input: Tensor<3>,
    previous: Tensor<3>,
    output: Tensor<3>,
) -> Result<LayerTrace, InspectError> {
    let [positions, _, hidden_size] = output.dims();
    let input_size = input.dims()[2];
    let input = input.reshape([positions, input_size]);
    let previous = previous.reshape([positions, hidden_size]);
    let hidden = output.try_into_vec_as::<f32>()?;
    let read = |name, gate: Tensor<2>| -> Result<GateTrace, InspectError> {
        Ok(GateTrace {
            name,
            values: gate.try_into_vec_as::<f32>()?,
        })
    };
    let (gates, cell_state) = match layer {
        RecurrentLayer::Lstm(lstm) => {
            let [input_gate, forget, candidate, output_gate] = lstm_gates(lstm, input, previous);
            let (i, f) = (read("input", input_gate)?, read("forget", forget)?);
            let candidate = candidate.try_into_vec_as::<f32>()?;
            let cell = cell_scan(&i.values, &f.values, &candidate, hidden_size);
            (vec![i, f, read("output", output_gate)?], Some(cell))
        }
        RecurrentLayer::Gru(gru) => {
            let [reset, update] = gru_gates(gru, input, previous);
            (vec![read("reset", reset)?, read("update", update)?], None)
        }
        RecurrentLayer::Rnn(_) => (Vec::new(), None),
    };
    Ok(LayerTrace {
        cell: layer.cell(),
        hidden_size,
        hidden,
        cell_state,
        gates,
    })
}

/// The LSTM's `i, f, g, o` at every position, each `[T, H]` (module doc).
fn lstm_gates(layer: &LstmLayer, input: Tensor<2>, previous: Tensor<2>) -> [Tensor<2>; 4] {
    let hidden_size = layer.hidden_size();
    let z = input.matmul(layer.input_weight.val())
        + previous.matmul(layer.recurrent_weight.val())
        + layer.gate_bias().unsqueeze_dim(0);
    let part = |k: usize| z.clone().narrow(1, k * hidden_size, hidden_size);
    [
        sigmoid(part(0)),
        sigmoid(part(1)),
        part(2).tanh(),
        sigmoid(part(3)),
    ]
}

/// The GRU's reset and update gates at every position, each `[T, H]` (module doc).
fn gru_gates(layer: &GruLayer, input: Tensor<2>, previous: Tensor<2>) -> [Tensor<2>; 2] {
    let hidden_size = layer.hidden_size();
    let from_input =
        input.matmul(layer.input_weight.val()) + layer.input_bias.val().unsqueeze_dim(0);
    let from_state =
        previous.matmul(layer.recurrent_weight.val()) + layer.recurrent_bias.val().unsqueeze_dim(0);
    let gate = |k: usize| {
        let part = |t: &Tensor<2>| t.clone().narrow(1, k * hidden_size, hidden_size);
        sigmoid(part(&from_input) + part(&from_state))
    };
    [gate(0), gate(1)]
}

/// `c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t` from `c_{-1} = 0`, all `[T, H]` row-major.
fn cell_scan(input: &[f32], forget: &[f32], candidate: &[f32], hidden_size: usize) -> Vec<f32> {
    let mut cell = vec![0.0f32; input.len()];
    let mut previous = vec![0.0f32; hidden_size];
    for (t, row) in cell.chunks_exact_mut(hidden_size).enumerate() {
        let at = t * hidden_size;
        for (unit, value) in row.iter_mut().enumerate() {
            let k = at + unit;
            *value = forget[k] * previous[unit] + input[k] * candidate[k];
        }
        previous.copy_from_slice(row);
    }
    cell
}

#[cfg(test)]
mod tests;
