//! One recurrent layer for host stepping: its weights copied out of the model into the
//! layouts the row products read, and the pointwise update of each cell.

use std::sync::Arc;

use burn::module::Param;
use burn::prelude::*;

use super::StepperError;
use super::team::Team;
use crate::cpu::activation::{sigmoid, tanh};
use crate::cpu::transpose;
use crate::recurrent::CellKind;

/// Gates stacked in a cell's pre-activations.
pub(super) fn gates(cell: CellKind) -> usize {
    match cell {
        CellKind::Lstm => 4,
        CellKind::Gru => 3,
        CellKind::Rnn => 1,
    }
}

/// One recurrent layer's weights in stepping layout, shared by the steppers made from them.
#[derive(Debug, Clone)]
pub(super) struct LayerWeights {
    pub(super) cell: CellKind,
    pub(super) hidden_size: usize,
    /// Width of the input this layer multiplies itself: 0 for the bottom layer, whose input
    /// product comes from the table.
    pub(super) input_size: usize,
    /// LSTM and RNN: `[G·H, input_size + H]`, row `r` is column `r` of `W_x` followed by
    /// column `r` of `W_h`. GRU: `[3H, input_size]`, the columns of `W_x` only (its reset gate
    /// multiplies the recurrent part of the new gate, so that product stays apart).
    pub(super) rows: Arc<[f32]>,
    /// `[G·H]`; zeros in the bottom layer, whose bias is in the table.
    pub(super) bias: Vec<f32>,
    /// GRU: `[3H, H]`, the columns of `W_h`; empty for the other cells.
    pub(super) recurrent_rows: Arc<[f32]>,
    /// GRU: `b_h`, `[3H]`; empty for the other cells.
    pub(super) recurrent_bias: Vec<f32>,
}

/// One recurrent layer: its weights, and the state of each of its streams (one for a
/// [`HostStepper`], `N` for a [`BatchStepper`]), stream after stream.
#[derive(Debug, Clone)]
pub(super) struct StepLayer {
    pub(super) weights: LayerWeights,
    /// `[N, input_size + H]`: each stream's input at this step, then its hidden state of the
    /// previous step.
    pub(super) input_and_hidden: Vec<f32>,
    /// LSTM: `[N, H]`; empty for the other cells.
    pub(super) cell_state: Vec<f32>,
    /// `[N, G·H]` pre-activations of the current step (GRU: the input part).
    pub(super) gates: Vec<f32>,
    /// GRU: `[N, 3H]`, the recurrent part of the current step's pre-activations.
    pub(super) from_state: Vec<f32>,
}

impl LayerWeights {
    /// A layer of `cell` from its weights `W_x` (empty for the bottom layer), `W_h`, its
    /// (input) bias and, for a GRU, its recurrent bias.
    pub(super) fn new(
        cell: CellKind,
        input_weight: &[f32],
        recurrent_weight: &[f32],
        bias: Vec<f32>,
        recurrent_bias: Vec<f32>,
        hidden: usize,
    ) -> Self {
        let gate_width = gates(cell) * hidden;
        let input_size = input_weight.len() / gate_width;
        let width = input_size + hidden;
        let (rows, recurrent_rows) = if cell == CellKind::Gru {
            (
                transpose(input_weight, gate_width),
                transpose(recurrent_weight, gate_width),
            )
        } else {
            let mut rows = vec![0.0; gate_width * width];
            for (r, row) in rows.chunks_exact_mut(width).enumerate() {
                for (k, w) in row[..input_size].iter_mut().enumerate() {
                    *w = input_weight[k * gate_width + r];
                }
                for (k, w) in row[input_size..].iter_mut().enumerate() {
                    *w = recurrent_weight[k * gate_width + r];
                }
            }
            (rows, Vec::new())
        };
        Self {
            cell,
            hidden_size: hidden,
            input_size,
            rows: rows.into(),
            bias,
            recurrent_rows: recurrent_rows.into(),
            recurrent_bias,
        }
    }

    /// Width of a stream's input and hidden state together.
    pub(super) fn width(&self) -> usize {
        self.input_size + self.hidden_size
    }
}

impl StepLayer {
    /// A layer with these weights and one stream, at the zero state.
    pub(super) fn new(weights: LayerWeights) -> Self {
        let gate_width = gates(weights.cell) * weights.hidden_size;
        let cell_width = match weights.cell {
            CellKind::Lstm => weights.hidden_size,
            _ => 0,
        };
        let from_state_width = match weights.cell {
            CellKind::Gru => gate_width,
            _ => 0,
        };
        Self {
            input_and_hidden: vec![0.0; weights.width()],
            cell_state: vec![0.0; cell_width],
            gates: vec![0.0; gate_width],
            from_state: vec![0.0; from_state_width],
            weights,
        }
    }

    /// The same weights with `streams` copies of this layer's (single) stream.
    pub(super) fn repeated(&self, streams: usize) -> Self {
        Self {
            weights: self.weights.clone(),
            input_and_hidden: self.input_and_hidden.repeat(streams),
            cell_state: self.cell_state.repeat(streams),
            gates: self.gates.repeat(streams),
            from_state: self.from_state.repeat(streams),
        }
    }

    /// Stream `n`'s input.
    pub(super) fn input(&self, n: usize) -> &[f32] {
        let width = self.weights.width();
        &self.input_and_hidden[n * width..n * width + self.weights.input_size]
    }

    /// Stream `n`'s hidden state.
    pub(super) fn hidden(&self, n: usize) -> &[f32] {
        let width = self.weights.width();
        &self.input_and_hidden[n * width + self.weights.input_size..(n + 1) * width]
    }

    /// Stream `n`'s cell update from its pre-activations in `gates` (and `from_state`),
    /// overwriting its hidden (and cell) state.
    pub(super) fn update(&mut self, n: usize) {
        let LayerWeights {
            cell,
            hidden_size: hidden,
            input_size,
            ..
        } = self.weights;
        let width = self.weights.width();
        let gate_width = self.gates.len() / (self.input_and_hidden.len() / width);
        let hidden_state = &mut self.input_and_hidden[n * width + input_size..(n + 1) * width];
        let gates = &self.gates[n * gate_width..(n + 1) * gate_width];
        match cell {
            CellKind::Lstm => lstm_update(
                hidden_state,
                &mut self.cell_state[n * hidden..(n + 1) * hidden],
                gates,
            ),
            CellKind::Gru => gru_update(
                hidden_state,
                gates,
                &self.from_state[n * gate_width..(n + 1) * gate_width],
            ),
            CellKind::Rnn => rnn_update(hidden_state, gates),
        }
    }

    /// One step of the single stream from `init`, the bottom layer's row of the input table
    /// (`None` above it): the products, then the cell's update.
    pub(super) fn step(&mut self, team: &Team, init: Option<&[f32]>) {
        let w = &self.weights;
        match w.cell {
            CellKind::Lstm | CellKind::Rnn => team.apply(
                &mut self.gates,
                init.unwrap_or(&w.bias),
                &w.rows,
                &self.input_and_hidden,
            ),
            CellKind::Gru => {
                // `P = init` (or `b_x + W_x x`), `U = b_h + W_h h`.
                let (input, hidden_before) = self.input_and_hidden.split_at(w.input_size);
                match init {
                    Some(row) => self.gates.copy_from_slice(row),
                    None => team.apply(&mut self.gates, &w.bias, &w.rows, input),
                }
                team.apply(
                    &mut self.from_state,
                    &w.recurrent_bias,
                    &w.recurrent_rows,
                    hidden_before,
                );
            }
        }
        self.update(0);
    }
}

/// The RNN update of one stream: `h = tanh(pre-activation)`.
pub(super) fn rnn_update(hidden: &mut [f32], gates: &[f32]) {
    for (h, pre) in hidden.iter_mut().zip(gates) {
        *h = tanh(*pre);
    }
}

/// The LSTM update of one stream from its pre-activations `[i | f | g | o]`:
/// `c = σ(f) c + σ(i) tanh(g)`, `h = σ(o) tanh(c)`.
pub(super) fn lstm_update(hidden: &mut [f32], cell: &mut [f32], gates: &[f32]) {
    let h = hidden.len();
    let (i, rest) = gates.split_at(h);
    let (f, rest) = rest.split_at(h);
    let (g, o) = rest.split_at(h);
    // Zipped slices, no indexing: the loop compiles to vector instructions.
    for (((((h, c), i), f), g), o) in hidden
        .iter_mut()
        .zip(cell.iter_mut())
        .zip(i)
        .zip(f)
        .zip(g)
        .zip(o)
    {
        *c = sigmoid(*f) * *c + sigmoid(*i) * tanh(*g);
        *h = sigmoid(*o) * tanh(*c);
    }
}

/// The GRU update of one stream (see [`crate::gru`]) from the input part `P = [r | z | n]`
/// and the recurrent part `U` of its pre-activations.
pub(super) fn gru_update(hidden: &mut [f32], from_input: &[f32], from_state: &[f32]) {
    let h = hidden.len();
    let (p_r, rest) = from_input.split_at(h);
    let (p_z, p_n) = rest.split_at(h);
    let (u_r, rest) = from_state.split_at(h);
    let (u_z, u_n) = rest.split_at(h);
    for ((((((h, p_r), p_z), p_n), u_r), u_z), u_n) in hidden
        .iter_mut()
        .zip(p_r)
        .zip(p_z)
        .zip(p_n)
        .zip(u_r)
        .zip(u_z)
        .zip(u_n)
    {
        let r = sigmoid(p_r + u_r);
        let z = sigmoid(p_z + u_z);
        let n = tanh(p_n + r * u_n);
        *h = n + z * (*h - n);
    }
}

/// `sum += addend`, element by element.
pub(super) fn add(sum: &mut [f32], addend: &[f32]) {
    for (s, a) in sum.iter_mut().zip(addend) {
        *s += a;
    }
}

/// A parameter's values on the host, row-major.
pub(super) fn read<const D: usize>(param: &Param<Tensor<D>>) -> Result<Vec<f32>, StepperError> {
    param
        .val()
        .try_into_vec_as::<f32>()
        .map_err(|e| StepperError::Read(format!("{e:?}")))
}
