//! The character language model: embedding → recurrent stack → linear head, and optionally a
//! second stack reading the text backwards (a bidirectional language model in the style of
//! ELMo).
//!
//! A bidirectional model is two language models sharing the embedding (and, by default, the
//! head): the forward stack predicts character t+1 from characters ≤ t, the backward stack
//! predicts character t−1 from characters ≥ t. Neither sees the character it predicts, so
//! training both together cannot cheat, sampling uses the forward stack alone, and filling a
//! blank combines the two (`fill.rs`). The backward stack runs over the reversed text, so all
//! of its machinery (carried state, truncated BPTT) is the forward stack's.

use burn::nn::{Dropout, Embedding, Linear};
use burn::prelude::*;

use crate::fused_head;
use crate::loss::sum_cross_entropy;
use crate::recurrent::RecurrentLayer;
use crate::regularization::{self, Regularization};
use crate::state::{LayerState, RecurrentState};

/// Embedding → `num_layers` recurrent layers → linear head.
#[derive(Module, Debug)]
pub struct CharModel {
    /// Token embedding, `[vocab_size, embedding_size]`.
    pub embedding: Embedding,
    /// Recurrent layers, bottom first.
    pub layers: Vec<RecurrentLayer>,
    /// Dropout between layers (and before the head, when `output_dropout`).
    pub dropout: Dropout,
    /// Whether `dropout` also applies to the top layer's output, before the head.
    pub output_dropout: bool,
    /// Projection from the top layer's hidden state to logits over the vocabulary.
    pub head: Linear,
    /// The backward stack of a bidirectional model, bottom first (empty otherwise).
    pub backward_layers: Vec<RecurrentLayer>,
    /// The backward stack's own head, when the directions do not share one.
    pub backward_head: Option<Linear>,
    /// Whether layers above the first add their input to their output.
    pub residual: bool,
    /// What else is dropped while training (embedding rows, the bottom layer's input,
    /// recurrent weights; locked masks between layers).
    #[module(skip)]
    pub regularization: Regularization,
}

/// Which way a stack reads the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Left to right: predicts the next token.
    Forward,
    /// Right to left: predicts the previous token.
    Backward,
}

impl CharModel {
    /// The model as models were saved before LSTM layers had a recurrent bias, to load such a
    /// checkpoint: every LSTM layer without one, its `bias` the whole gate bias.
    pub fn without_lstm_recurrent_biases(mut self) -> Self {
        for layers in [&mut self.layers, &mut self.backward_layers] {
            *layers = std::mem::take(layers)
                .into_iter()
                .map(RecurrentLayer::without_lstm_recurrent_bias)
                .collect();
        }
        self
    }

    /// The all-zero state of the forward stack for `batch` parallel streams.
    pub fn zero_state(&self, batch: usize, device: &Device) -> RecurrentState {
        zero_state(&self.layers, batch, device)
    }

    /// The all-zero state of the stack reading in `direction`.
    pub fn zero_state_of(
        &self,
        direction: Direction,
        batch: usize,
        device: &Device,
    ) -> RecurrentState {
        zero_state(self.stack(direction), batch, device)
    }

    /// The directions the model reads in: forward, then backward for a bidirectional model.
    pub fn directions(&self) -> Vec<Direction> {
        if self.is_bidirectional() {
            vec![Direction::Forward, Direction::Backward]
        } else {
            vec![Direction::Forward]
        }
    }

    /// Whether the model has a backward stack.
    pub fn is_bidirectional(&self) -> bool {
        !self.backward_layers.is_empty()
    }

    /// Number of tokens the head predicts over.
    pub fn vocab_size(&self) -> usize {
        self.embedding.weight.lazy_shape().as_slice()[0]
    }

    /// The layers reading in `direction`.
    ///
    /// # Panics
    ///
    /// For [`Direction::Backward`] on a model that is not bidirectional.
    pub fn stack(&self, direction: Direction) -> &[RecurrentLayer] {
        match direction {
            Direction::Forward => &self.layers,
            Direction::Backward => {
                assert!(self.is_bidirectional(), "the model has no backward stack");
                &self.backward_layers
            }
        }
    }

    fn head_of(&self, direction: Direction) -> &Linear {
        match (direction, &self.backward_head) {
            (Direction::Backward, Some(head)) => head,
            _ => &self.head,
        }
    }

    /// Runs the forward stack over a chunk of tokens.
    ///
    /// - `tokens`: `[batch, seq_len]` token ids
    /// - `state`: the state to start from (`None`: zeros)
    /// - returns logits `[batch, seq_len, vocab_size]` for the token after each position, and
    ///   the state after the last position, ready to start the next chunk.
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        state: Option<RecurrentState>,
    ) -> (Tensor<3>, RecurrentState) {
        self.forward_in(Direction::Forward, tokens, state)
    }

    /// Runs the stack reading in `direction` over a chunk of tokens given in its reading
    /// order: for [`Direction::Backward`], `tokens` is the text reversed, and the logits at
    /// each position are for the token after it in that order, the one before it in the text.
    ///
    /// - `tokens`: `[batch, seq_len]` token ids, in reading order
    /// - `state`: the state to start from (`None`: zeros)
    /// - returns logits `[batch, seq_len, vocab_size]` and the state after the last position.
    pub fn forward_in(
        &self,
        direction: Direction,
        tokens: Tensor<2, Int>,
        state: Option<RecurrentState>,
    ) -> (Tensor<3>, RecurrentState) {
        let (features, state) = self.features_in(direction, tokens, state);
        let logits = self.head_of(direction).forward(features).swap_dims(0, 1);
        (logits, state)
    }

    /// The cross-entropy of the stack's predictions over a chunk, summed over all of them,
    /// without handing out the logits: on the CPU backends the head and the loss run as one
    /// operation ([`crate::fused_head`]), elsewhere as [`forward_in`](Self::forward_in)
    /// followed by [`sum_cross_entropy`].
    ///
    /// - `tokens`, `targets`: `[batch, seq_len]` token ids in reading order; `targets` holds
    ///   the token after each of `tokens` in that order
    /// - `state`: the state to start from (`None`: zeros)
    /// - returns `[1]`, the summed loss in nats, and the state after the last position.
    pub fn summed_loss_in(
        &self,
        direction: Direction,
        tokens: Tensor<2, Int>,
        targets: Tensor<2, Int>,
        state: Option<RecurrentState>,
    ) -> (Tensor<1>, RecurrentState) {
        let (features, state) = self.features_in(direction, tokens, state);
        let head = self.head_of(direction);
        let loss = if fused_head::accepts(&features) {
            // The weight before the bias, as `Linear::forward` reads them: a parameter not yet
            // used is drawn from the device's generator on first read, so the order fixes a
            // seeded model's initial head.
            let weight = head.weight.val();
            let bias = head.bias.as_ref().map(|bias| bias.val());
            fused_head::head_cross_entropy(features, weight, bias, targets)
        } else {
            sum_cross_entropy(head.forward(features).swap_dims(0, 1), targets)
        };
        (loss, state)
    }

    /// The top layer's outputs over a chunk, time-major `[seq_len, batch, hidden]` (after the
    /// output dropout, if any), ready for the head, and the state after the last position.
    fn features_in(
        &self,
        direction: Direction,
        tokens: Tensor<2, Int>,
        state: Option<RecurrentState>,
    ) -> (Tensor<3>, RecurrentState) {
        let layers = self.stack(direction);
        let [batch, _] = tokens.dims();
        let state = state.unwrap_or_else(|| zero_state(layers, batch, &tokens.device()));
        assert_eq!(
            state.layers.len(),
            layers.len(),
            "state has one entry per layer"
        );

        let extra = &self.regularization;
        // The recurrent layers work time-major, [seq_len, batch, features], so that every step
        // reads a contiguous block.
        let embedded = if extra.embedding_dropout > 0.0 {
            let weight =
                regularization::drop_rows(self.embedding.weight.val(), extra.embedding_dropout);
            burn::tensor::module::embedding(weight, tokens)
        } else {
            self.embedding.forward(tokens)
        };
        let mut features =
            regularization::locked_dropout(embedded.swap_dims(0, 1), extra.input_dropout);
        let last = layers.len() - 1;
        let mut final_states = Vec::with_capacity(layers.len());
        for (index, (layer, layer_state)) in layers.iter().zip(state.layers).enumerate() {
            // x_{l+1} = f_l(x_l) + x_l above the first layer (equal widths there).
            let skip = (self.residual && index > 0).then(|| features.clone());
            let dropped = regularization::drop_recurrent_weight(layer, extra.weight_drop);
            let layer = dropped.as_ref().unwrap_or(layer);
            let (mut output, final_state) = layer.forward(features, layer_state);
            final_states.push(final_state);
            if let Some(input) = skip {
                output = output + input;
            }
            features = if index < last || self.output_dropout {
                self.drop_between_layers(output)
            } else {
                output
            };
        }
        (
            features,
            RecurrentState {
                layers: final_states,
            },
        )
    }

    /// The dropout between layers: one mask per step and feature, or, with locked dropout,
    /// one per stream and feature for the whole chunk.
    fn drop_between_layers(&self, output: Tensor<3>) -> Tensor<3> {
        if self.regularization.locked_dropout {
            let prob = if self.dropout.training.is_enabled() {
                self.dropout.prob
            } else {
                0.0
            };
            regularization::locked_dropout(output, prob)
        } else {
            self.dropout.forward(output)
        }
    }

    /// One step of the forward stack for sampling: `tokens` `[batch]` → logits
    /// `[batch, vocab_size]` and the new state.
    pub fn step(
        &self,
        tokens: Tensor<1, Int>,
        state: Option<RecurrentState>,
    ) -> (Tensor<2>, RecurrentState) {
        self.step_in(Direction::Forward, tokens, state)
    }

    /// One step of the stack reading in `direction`: `tokens` `[batch]` → logits
    /// `[batch, vocab_size]` (of the next token in reading order) and the new state.
    pub fn step_in(
        &self,
        direction: Direction,
        tokens: Tensor<1, Int>,
        state: Option<RecurrentState>,
    ) -> (Tensor<2>, RecurrentState) {
        let [batch] = tokens.dims();
        let (logits, state) = self.forward_in(direction, tokens.unsqueeze_dim(1), state);
        let vocab = logits.dims()[2];
        (logits.reshape([batch, vocab]), state)
    }
}

fn zero_state(layers: &[RecurrentLayer], batch: usize, device: &Device) -> RecurrentState {
    RecurrentState {
        layers: layers
            .iter()
            .map(|layer| LayerState::zeros(batch, layer.hidden_size(), device))
            .collect(),
    }
}

mod vocabulary;

#[cfg(test)]
mod tests;
