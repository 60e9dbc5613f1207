//! Batch-1 stepping on the host for sampling: the weights copied once out of a [`CharModel`]
//! into layouts made for matrix–vector products, then each step reads them with no autodiff,
//! no Burn operation and no allocation.
//!
//! At batch 1, Burn's per-operation overhead and the matrix-product routines (made for
//! matrices, not vectors) cost more than the arithmetic. Here a step is, per layer, one pass
//! over the gate weights ([`product::Product`]) and one pointwise loop, then one pass over the
//! head.
//! The bottom layer's input product is folded into a table: the embedding of token `v` times
//! `W_x`, plus the bias, is precomputed for every `v`, so that layer only multiplies `W_h`.

pub mod batch;
mod layer;
pub mod product;
pub mod team;

use std::sync::Arc;

use crate::char_model::CharModel;
use crate::recurrent::RecurrentLayer;
use layer::{LayerWeights, StepLayer, add, gates, read};
use product::{Panels, Product};
use team::Team;

pub use batch::BatchStepper;

/// Why a model cannot be stepped on the host.
#[derive(Debug, thiserror::Error)]
pub enum StepperError {
    /// A weight could not be read back from its device.
    #[error("cannot read the model's weights from the device: {0}")]
    Read(String),
}

/// Steps a [`CharModel`] one token at a time on the host (any cell, inference only: dropout
/// is off). The products are shared by as many threads as Rayon has (`RAYON_NUM_THREADS`),
/// which stay awake between steps for a moment.
#[derive(Debug)]
pub struct HostStepper {
    team: Team,
    vocab_size: usize,
    /// `[V, G·H]`: `embedding[v] · W_x + b` of the bottom layer (`b_x` for a GRU).
    input_table: Vec<f32>,
    layers: Vec<StepLayer>,
    /// `[V, H]`: the head's weight.
    head: Arc<Panels>,
    head_bias: Vec<f32>,
    logits: Vec<f32>,
    /// Layers above the first add their input to their output (the model's `residual`).
    residual: bool,
    /// `[H]`: the top layer's output with its input added, when `residual`.
    top_output: Vec<f32>,
}

/// The largest per-token input table the stepper builds (a large tokenizer vocabulary times
/// four gates would need gigabytes; such models step with Burn operations instead).
const MAX_INPUT_TABLE_BYTES: usize = 256 << 20;

impl HostStepper {
    /// Whether `model` can be stepped here: its bottom layer's per-token table (vocabulary ×
    /// gates × hidden floats) stays within 256 MiB. Other models step with their own Burn
    /// operations.
    pub fn fits(model: &CharModel) -> bool {
        let vocab_size = model.embedding.weight.dims()[0];
        let gate_width = model
            .layers
            .first()
            .map_or(0, |l| gates(l.cell()) * l.hidden_size());
        vocab_size * gate_width * size_of::<f32>() <= MAX_INPUT_TABLE_BYTES
    }

    /// Copies `model`'s weights to the host, with the state at zero.
    pub fn new(model: &CharModel) -> Result<Self, StepperError> {
        let embedding = read(&model.embedding.weight)?;
        let [vocab_size, embedding_size] = model.embedding.weight.dims();
        let mut layers = Vec::with_capacity(model.layers.len());
        let mut input_table = Vec::new();
        for (index, layer) in model.layers.iter().enumerate() {
            let cell = layer.cell();
            let hidden = layer.hidden_size();
            let gate_width = gates(cell) * hidden;
            let (input_weight, recurrent_weight, bias, recurrent_bias) = match layer {
                RecurrentLayer::Lstm(lstm) => (
                    read(&lstm.input_weight)?,
                    read(&lstm.recurrent_weight)?,
                    lstm.gate_bias()
                        .try_into_vec_as::<f32>()
                        .map_err(|e| StepperError::Read(format!("{e:?}")))?,
                    Vec::new(),
                ),
                RecurrentLayer::Gru(gru) => (
                    read(&gru.input_weight)?,
                    read(&gru.recurrent_weight)?,
                    read(&gru.input_bias)?,
                    read(&gru.recurrent_bias)?,
                ),
                RecurrentLayer::Rnn(rnn) => (
                    read(&rnn.input_weight)?,
                    read(&rnn.recurrent_weight)?,
                    read(&rnn.bias)?,
                    Vec::new(),
                ),
            };
            if index == 0 {
                input_table = vec![0.0; vocab_size * gate_width];
                for (v, row) in input_table.chunks_exact_mut(gate_width).enumerate() {
                    row.copy_from_slice(&bias);
                    for e in 0..embedding_size {
                        let x = embedding[v * embedding_size + e];
                        let weights = &input_weight[e * gate_width..(e + 1) * gate_width];
                        for (out, w) in row.iter_mut().zip(weights) {
                            *out += x * w;
                        }
                    }
                }
                layers.push(StepLayer::new(LayerWeights::new(
                    cell,
                    &[],
                    &recurrent_weight,
                    vec![0.0; gate_width],
                    recurrent_bias,
                    hidden,
                )));
            } else {
                layers.push(StepLayer::new(LayerWeights::new(
                    cell,
                    &input_weight,
                    &recurrent_weight,
                    bias,
                    recurrent_bias,
                    hidden,
                )));
            }
        }
        let head_weight = read(&model.head.weight)?;
        let head = Panels::from_input_major(&[&head_weight], vocab_size);
        let head_bias = match &model.head.bias {
            Some(bias) => read(bias)?,
            None => vec![0.0; vocab_size],
        };
        Ok(Self {
            team: Team::new(Product::new(), rayon::current_num_threads()),
            vocab_size,
            input_table,
            layers,
            head: Arc::new(head),
            head_bias,
            logits: vec![0.0; vocab_size],
            residual: model.residual,
            top_output: vec![0.0; model.layers.last().map_or(0, |l| l.hidden_size())],
        })
    }

    /// Uses `product` for the products, on `threads` threads (tests compare instruction sets
    /// and thread counts with it).
    pub fn with_product(mut self, product: Product, threads: usize) -> Self {
        self.team = Team::new(product, threads);
        self
    }

    /// Number of tokens the head predicts over.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Back to the all-zero state of a new stream.
    pub fn reset(&mut self) {
        for layer in &mut self.layers {
            layer.input_and_hidden.fill(0.0);
            layer.cell_state.fill(0.0);
        }
    }

    /// Reads `token` and returns the logits for the token after it, `[vocab_size]`.
    ///
    /// # Panics
    ///
    /// If `token` is not below [`Self::vocab_size`].
    pub fn step(&mut self, token: usize) -> &[f32] {
        assert!(
            token < self.vocab_size,
            "token {token} is outside the vocabulary of {}",
            self.vocab_size
        );
        let gate_width = self.input_table.len() / self.vocab_size;
        let table_row = &self.input_table[token * gate_width..(token + 1) * gate_width];
        for index in 0..self.layers.len() {
            let (below, rest) = self.layers.split_at_mut(index);
            let layer = &mut rest[0];
            match below.last() {
                None => layer.step(&self.team, Some(table_row)),
                Some(previous) => {
                    let input_size = layer.weights.input_size;
                    let input = &mut layer.input_and_hidden[..input_size];
                    input.copy_from_slice(previous.hidden(0));
                    // The layer below's output is its hidden state plus its own input.
                    if self.residual && index >= 2 {
                        add(input, previous.input(0));
                    }
                    layer.step(&self.team, None);
                }
            }
        }
        let top_layer = self.layers.last().expect("a model has at least one layer");
        let top = if self.residual && self.layers.len() >= 2 {
            self.top_output.copy_from_slice(top_layer.hidden(0));
            add(&mut self.top_output, top_layer.input(0));
            &self.top_output[..]
        } else {
            top_layer.hidden(0)
        };
        self.team
            .apply(&mut self.logits, &self.head_bias, &self.head, top);
        &self.logits
    }
}

#[cfg(test)]
mod tests {
    use super::product::Isa;
    use super::*;
    use crate::config::ModelConfig;
    use crate::recurrent::CellKind;
    use burn::prelude::*;

    fn model(layers: usize, device: &Device) -> CharModel {
        model_with(CellKind::Lstm, layers, false, device)
    }

    fn model_with(cell: CellKind, layers: usize, residual: bool, device: &Device) -> CharModel {
        small_model(cell, [layers, 20], residual, device)
    }

    /// A model of `cell` over 13 tokens, with embedding 6 and `[layers, hidden_size]`,
    /// initialised from a fixed seed: for the steppers' tests.
    pub(crate) fn small_model(
        cell: CellKind,
        [layers, hidden_size]: [usize; 2],
        residual: bool,
        device: &Device,
    ) -> CharModel {
        device.seed(11);
        ModelConfig {
            embedding_size: 6,
            hidden_size,
            num_layers: layers,
            residual,
            cell,
            ..ModelConfig::default()
        }
        .init(13, device)
    }

    /// The host stepper gives the logits of the Burn model's own step, token after token, with
    /// the state carried: for each cell, one to three layers, with and without residual
    /// connections, every instruction set, and after a reset.
    #[test]
    fn steps_match_the_burn_model() {
        let device = Device::flex();
        let tokens = [3usize, 0, 12, 7, 7, 1, 9, 4];
        let shapes = [(1, false), (2, false), (3, false), (2, true), (3, true)];
        let cells = [CellKind::Lstm, CellKind::Gru, CellKind::Rnn];
        for (cell, (layers, residual)) in cells
            .into_iter()
            .flat_map(|cell| shapes.map(|shape| (cell, shape)))
        {
            let model = model_with(cell, layers, residual, &device);
            for (isa, threads) in [(Isa::Portable, 1), (Isa::Avx2Fma, 2), (Isa::Avx512, 3)] {
                let mut stepper = HostStepper::new(&model)
                    .unwrap()
                    .with_product(Product::with_isa(isa), threads);
                for round in 0..2 {
                    let mut state = None;
                    for &token in &tokens {
                        let input = Tensor::<1, Int>::from_data(
                            TensorData::new(vec![token as i64], [1]),
                            &device,
                        );
                        let (expected, next) = model.step(input, state);
                        state = Some(next);
                        let expected: Vec<f32> = expected.try_into_vec_as().unwrap();
                        let got = stepper.step(token);
                        for (g, e) in got.iter().zip(&expected) {
                            assert!(
                                (g - e).abs() <= 1e-5 * e.abs().max(1.0),
                                "{cell:?}, {layers} layers (residual {residual}), {isa:?}, round {round}: {g} vs {e}"
                            );
                        }
                    }
                    stepper.reset();
                }
            }
        }
    }

    #[test]
    fn the_state_carries_over_between_steps() {
        let device = Device::flex();
        let model = model(2, &device);
        let mut stepper = HostStepper::new(&model).unwrap();
        let first = stepper.step(5).to_vec();
        let again = stepper.step(5).to_vec();
        assert_ne!(first, again, "the second step sees the state of the first");
        stepper.reset();
        assert_eq!(stepper.step(5), &first[..], "a reset starts a new stream");
    }
}
