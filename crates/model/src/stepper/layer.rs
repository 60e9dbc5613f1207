//! One recurrent layer for host stepping: its weights copied out of the model into the
//! panels the products read, and the pointwise update of each cell.

use std::sync::Arc;

use burn::module::Param;
use burn::prelude::*;
use rayon::prelude::*;

use super::StepperError;
use super::product::{PANEL, Panels};
use super::team::Team;
use crate::cpu::activation::{sigmoid, tanh};
use crate::cpu::isa::best_isa;
use crate::recurrent::CellKind;

/// A stream's update is a few microseconds: a handful of streams per task.
const MIN_STREAMS_PER_TASK: usize = 4;

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
    /// LSTM and RNN: `[G·H, input_size + H]`, output `r` weighing the input (`W_x`'s column
    /// `r`), then the hidden state (`W_h`'s). GRU: `[3H, input_size]`, `W_x` only (its reset
    /// gate multiplies the recurrent part of the new gate, so that product stays apart).
    pub(super) panels: Arc<Panels>,
    /// `[G·H]`; zeros in the bottom layer, whose bias is in the table.
    pub(super) bias: Vec<f32>,
    /// GRU: `[3H, H]`, `W_h`; `None` for the other cells.
    pub(super) recurrent_panels: Option<Arc<Panels>>,
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
    /// (input) bias and, for a GRU, its recurrent bias; the weights input-major, as Burn holds
    /// them (`[input_size, G·H]`, `[H, G·H]`).
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
        let (panels, recurrent_panels) = if cell == CellKind::Gru {
            (
                Panels::from_input_major(&[input_weight], gate_width),
                Some(Arc::new(Panels::from_input_major(
                    &[recurrent_weight],
                    gate_width,
                ))),
            )
        } else {
            (
                Panels::from_input_major(&[input_weight, recurrent_weight], gate_width),
                None,
            )
        };
        Self {
            cell,
            hidden_size: hidden,
            input_size,
            panels: Arc::new(panels),
            bias,
            recurrent_panels,
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

    /// What each stream holds of `input_and_hidden`, `gates`, `cell_state` and `from_state`.
    fn stream_widths(&self) -> [usize; 4] {
        let width = self.weights.width();
        let streams = self.input_and_hidden.len() / width;
        [
            width,
            self.gates.len() / streams,
            self.cell_state.len() / streams,
            self.from_state.len() / streams,
        ]
    }

    /// Stream `n`'s cell update from its pre-activations in `gates` (and `from_state`),
    /// overwriting its hidden (and cell) state.
    pub(super) fn update(&mut self, n: usize) {
        let input_size = self.weights.input_size;
        let [width, gate_width, cell_width, from_state_width] = self.stream_widths();
        update_stream(
            self.weights.cell,
            &mut self.input_and_hidden[n * width + input_size..(n + 1) * width],
            &mut self.cell_state[n * cell_width..(n + 1) * cell_width],
            &self.gates[n * gate_width..(n + 1) * gate_width],
            &self.from_state[n * from_state_width..(n + 1) * from_state_width],
        );
    }

    /// Every stream's cell update, the streams shared out between Rayon's threads.
    pub(super) fn update_all(&mut self) {
        let input_size = self.weights.input_size;
        let [width, gate_width, cell_width, from_state_width] = self.stream_widths();
        let streams = self.input_and_hidden.len() / width;
        // Cells without a cell state (or a recurrent part) give each stream an empty slice.
        let cells: Vec<&mut [f32]> = match cell_width {
            0 => (0..streams).map(|_| &mut [][..]).collect(),
            _ => self.cell_state.chunks_exact_mut(cell_width).collect(),
        };
        let from_states: Vec<&[f32]> = match from_state_width {
            0 => vec![&[][..]; streams],
            _ => self.from_state.chunks_exact(from_state_width).collect(),
        };
        let kind = self.weights.cell;
        self.input_and_hidden
            .par_chunks_mut(width)
            .zip(cells)
            .zip(self.gates.par_chunks(gate_width))
            .zip(from_states)
            .with_min_len(MIN_STREAMS_PER_TASK)
            .for_each(|(((state, cell), gates), from_state)| {
                update_stream(kind, &mut state[input_size..], cell, gates, from_state)
            });
    }

    /// Whether [`Self::update_all_from_panels`] can update this layer: an LSTM or RNN whose
    /// hidden size is a whole number of panels, so that each panel holds units of one gate.
    pub(super) fn updates_from_panels(&self) -> bool {
        let w = &self.weights;
        matches!(w.cell, CellKind::Lstm | CellKind::Rnn) && w.hidden_size.is_multiple_of(PANEL)
    }

    /// Every stream's update straight from its pre-activations as [`Product::panels`] writes
    /// them (`blocks`: `[panels, N, PANEL]`), without putting them in place first: units
    /// `u·PANEL..(u + 1)·PANEL` of gate `g` are panel `g·H/PANEL + u`. Only where
    /// [`Self::updates_from_panels`].
    ///
    /// [`Product::panels`]: super::product::Product::panels
    pub(super) fn update_all_from_panels(&mut self, blocks: &[f32]) {
        assert!(self.updates_from_panels(), "gates fill whole panels");
        let LayerWeights {
            cell,
            hidden_size: hidden,
            input_size,
            ..
        } = self.weights;
        let width = self.weights.width();
        let streams = self.input_and_hidden.len() / width;
        let chunks = hidden / PANEL;
        let panel = |gate: usize, chunk: usize, n: usize| {
            let start = ((gate * chunks + chunk) * streams + n) * PANEL;
            &blocks[start..start + PANEL]
        };
        let states = self
            .input_and_hidden
            .par_chunks_mut(width)
            .with_min_len(MIN_STREAMS_PER_TASK)
            .enumerate();
        match cell {
            CellKind::Lstm => {
                states
                    .zip(self.cell_state.par_chunks_mut(hidden))
                    .for_each(|((n, state), cell)| {
                        let units = state[input_size..]
                            .chunks_exact_mut(PANEL)
                            .zip(cell.chunks_exact_mut(PANEL));
                        for (u, (hidden, cell)) in units.enumerate() {
                            let [i, f, g, o] = [0, 1, 2, 3].map(|gate| panel(gate, u, n));
                            lstm_update_gates(hidden, cell, i, f, g, o);
                        }
                    })
            }
            _ => states.for_each(|(n, state)| {
                for (u, hidden) in state[input_size..].chunks_exact_mut(PANEL).enumerate() {
                    rnn_update(hidden, panel(0, u, n));
                }
            }),
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
                &w.panels,
                &self.input_and_hidden,
            ),
            CellKind::Gru => {
                // `P = init` (or `b_x + W_x x`), `U = b_h + W_h h`.
                let (input, hidden_before) = self.input_and_hidden.split_at(w.input_size);
                match init {
                    Some(row) => self.gates.copy_from_slice(row),
                    None => team.apply(&mut self.gates, &w.bias, &w.panels, input),
                }
                let recurrent = w.recurrent_panels.as_ref().expect("a GRU has W_h");
                team.apply(
                    &mut self.from_state,
                    &w.recurrent_bias,
                    recurrent,
                    hidden_before,
                );
            }
        }
        self.update(0);
    }
}

/// One stream's update from its pre-activations `gates`: `cell` is its cell state (LSTM;
/// empty for the other cells), `from_state` the recurrent part of its pre-activations (GRU;
/// empty for the other cells).
fn update_stream(
    kind: CellKind,
    hidden: &mut [f32],
    cell: &mut [f32],
    gates: &[f32],
    from_state: &[f32],
) {
    match kind {
        CellKind::Lstm => lstm_update(hidden, cell, gates),
        CellKind::Gru => gru_update(hidden, gates, from_state),
        CellKind::Rnn => rnn_update(hidden, gates),
    }
}

// The updates are compiled for the widest vector unit the CPU has ([`best_isa!`]): the same
// arithmetic on every machine, bit for bit.
best_isa! {
    /// The RNN update of one stream: `h = tanh(pre-activation)`.
    pub(super) fn rnn_update(hidden: &mut [f32], gates: &[f32]) {
        for (h, pre) in hidden.iter_mut().zip(gates) {
            *h = tanh(*pre);
        }
    }
}

/// The LSTM update of one stream from its pre-activations `[i | f | g | o]`.
pub(super) fn lstm_update(hidden: &mut [f32], cell: &mut [f32], gates: &[f32]) {
    let h = hidden.len();
    let (i, rest) = gates.split_at(h);
    let (f, rest) = rest.split_at(h);
    let (g, o) = rest.split_at(h);
    lstm_update_gates(hidden, cell, i, f, g, o);
}

best_isa! {
    /// The LSTM update of (some units of) one stream from the pre-activations of its gates:
    /// `c = σ(f) c + σ(i) tanh(g)`, `h = σ(o) tanh(c)`.
    pub(super) fn lstm_update_gates(
        hidden: &mut [f32],
        cell: &mut [f32],
        i: &[f32],
        f: &[f32],
        g: &[f32],
        o: &[f32],
    ) {
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
}

best_isa! {
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
