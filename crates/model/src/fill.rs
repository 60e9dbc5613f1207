//! Filling blanks in text with a bidirectional model: the forward stack gives the distribution
//! of a blank character from the text before it, the backward stack from the text after it,
//! and the two are combined as their product, renormalised:
//!
//! ```text
//! p(c) ∝ p_forward(c | x_<t) · p_backward(c | x_>t)
//! ```
//!
//! Blanks are chosen left to right, each as the most likely character. The text after a blank
//! may hold later blanks; the backward stack reads them first (it reads right to left) and
//! puts its own best guess in each, which the forward pass then revises.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::char_model::{CharModel, Direction};
use crate::state::RecurrentState;

/// Which predictions choose a blank's character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillChoice {
    /// The forward stack alone (the text before the blank).
    Forward,
    /// The backward stack alone (the text after the blank).
    Backward,
    /// Both: the product of the two distributions, renormalised.
    Combined,
}

/// Fills the blanks (`None`) of every row of `rows` as `choice` says and returns the rows with
/// every blank filled. All rows have the same length; they run in lockstep as one batch.
/// `model` should be an inference model (`Module::valid`) on `device`; [`FillChoice::Forward`]
/// works with any model, the others need a bidirectional one.
///
/// # Panics
///
/// If the rows differ in length, or a backward choice is asked of a model without a backward
/// stack.
pub fn fill_blanks(
    model: &CharModel,
    rows: &[Vec<Option<u32>>],
    choice: FillChoice,
    device: &Device,
) -> Vec<Vec<u32>> {
    let length = rows.first().map_or(0, Vec::len);
    assert!(
        rows.iter().all(|row| row.len() == length),
        "rows of equal length"
    );
    let vocab_size = model.vocab_size();
    let mut filled: Vec<Vec<u32>> = rows
        .iter()
        .map(|row| row.iter().map(|t| t.unwrap_or(0)).collect())
        .collect();
    if rows.is_empty() || length == 0 {
        return filled;
    }

    // Right to left: the backward distribution of each blank, and the backward stack's own
    // choice for it (what later blanks hold while earlier ones are chosen).
    let mut backward_log_probs: Vec<Vec<Option<Vec<f32>>>> = vec![vec![None; length]; rows.len()];
    if choice != FillChoice::Forward {
        let mut reader = Reader::new(model, Direction::Backward, rows.len(), vocab_size, device);
        for position in (0..length).rev() {
            for (row, blanks) in rows.iter().enumerate() {
                if blanks[position].is_none() {
                    let log_probs = reader.log_probs(row).to_vec();
                    filled[row][position] = argmax(&log_probs);
                    backward_log_probs[row][position] = Some(log_probs);
                }
            }
            if position > 0 {
                reader.read(&column(&filled, position));
            }
        }
        if choice == FillChoice::Backward {
            return filled;
        }
    }

    // Left to right: each blank from the forward distribution, times the backward one.
    let mut reader = Reader::new(model, Direction::Forward, rows.len(), vocab_size, device);
    for position in 0..length {
        for (row, blanks) in rows.iter().enumerate() {
            if blanks[position].is_none() {
                let mut scores = reader.log_probs(row).to_vec();
                if let Some(backward) = &backward_log_probs[row][position] {
                    for (score, b) in scores.iter_mut().zip(backward) {
                        *score += b;
                    }
                }
                filled[row][position] = argmax(&scores);
            }
        }
        if position + 1 < length {
            reader.read(&column(&filled, position));
        }
    }
    filled
}

/// One stack reading a batch one token at a time, with the log-probabilities of the next token
/// (uniform before the first).
struct Reader<'a> {
    model: &'a CharModel,
    direction: Direction,
    device: &'a Device,
    state: Option<RecurrentState>,
    /// `[batch × vocab_size]`, row-major.
    log_probs: Vec<f32>,
    vocab_size: usize,
}

impl<'a> Reader<'a> {
    fn new(
        model: &'a CharModel,
        direction: Direction,
        batch: usize,
        vocab_size: usize,
        device: &'a Device,
    ) -> Self {
        let uniform = -(vocab_size as f32).ln();
        Self {
            model,
            direction,
            device,
            state: None,
            log_probs: vec![uniform; batch * vocab_size],
            vocab_size,
        }
    }

    fn log_probs(&self, row: usize) -> &[f32] {
        &self.log_probs[row * self.vocab_size..(row + 1) * self.vocab_size]
    }

    fn read(&mut self, tokens: &[i64]) {
        let tokens = Tensor::<1, Int>::from_data(
            TensorData::new(tokens.to_vec(), [tokens.len()]),
            self.device,
        );
        let (logits, state) = self
            .model
            .step_in(self.direction, tokens, self.state.take());
        self.state = Some(state);
        self.log_probs = log_softmax(logits, 1)
            .try_into_vec_as()
            .expect("log-probabilities are f32 on a working device");
    }
}

/// The tokens at `position` of every row.
fn column(rows: &[Vec<u32>], position: usize) -> Vec<i64> {
    rows.iter().map(|row| i64::from(row[position])).collect()
}

/// Index of the largest value (the first, on ties).
fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (index, value) in values.iter().enumerate() {
        if *value > values[best] {
            best = index;
        }
    }
    best as u32
}
