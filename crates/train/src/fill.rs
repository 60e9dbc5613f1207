//! `charlstm fill`: blanks in text filled by a bidirectional model, and how often the filled
//! character is the right one on held-out text, for each way of choosing it.

use burn::prelude::Device;
use charlstm_data::{TokenView, Tokenizer};
use charlstm_model::{CharModel, FillChoice, fill_blanks};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::TrainError;

/// Checks that `model` and `tokenizer` can fill blanks as `choice` says.
fn check(model: &CharModel, tokenizer: &Tokenizer, choice: FillChoice) -> Result<(), TrainError> {
    if tokenizer.characters().is_none() {
        return Err(TrainError::Sampling(
            "fill works on characters: this model was trained with a tokenizer.json".into(),
        ));
    }
    if choice != FillChoice::Forward && !model.is_bidirectional() {
        return Err(TrainError::Sampling(
            "this model reads in one direction only: fill it with --method forward, or train one with model.bidirectional = true".into(),
        ));
    }
    Ok(())
}

/// `text` with every `mask` character replaced by the character `model` chooses for it.
/// `model` should be an inference model on `device`.
pub fn fill_text(
    model: &CharModel,
    tokenizer: &Tokenizer,
    text: &str,
    mask: char,
    choice: FillChoice,
    device: &Device,
) -> Result<String, TrainError> {
    check(model, tokenizer, choice)?;
    let vocab = tokenizer.characters().expect("checked above");
    if !text.contains(mask) {
        return Err(TrainError::Sampling(format!(
            "the text has no blank to fill (mark each with {mask:?}, or choose the mark with --mask)"
        )));
    }
    let known: String = text.chars().filter(|&c| c != mask).collect();
    vocab
        .encode(&known)
        .map_err(|e| TrainError::Sampling(format!("the text: {e}")))?;
    let row: Vec<Option<u32>> = text
        .chars()
        .map(|c| if c == mask { None } else { vocab.id(c) })
        .collect();
    let filled = fill_blanks(model, &[row], choice, device);
    Ok(vocab.decode(&filled[0]))
}

/// How often each way of filling chose the right character.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillAccuracy {
    /// Blanks filled (by each method).
    pub blanks: usize,
    /// Windows of text they were spread over.
    pub windows: usize,
    /// Fraction right from the text before each blank only.
    pub forward: f64,
    /// Fraction right from the text after each blank only.
    pub backward: f64,
    /// Fraction right from both.
    pub combined: f64,
}

/// What [`fill_accuracy`] blanks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillTest {
    /// Windows of text, at random places in the text.
    pub windows: usize,
    /// Characters per window.
    pub window_len: usize,
    /// Probability that a character is blanked (each window gets at least one blank).
    pub blank_rate: f64,
    /// Seed of the windows' places and the blanks.
    pub seed: u64,
}

/// Blanks random characters of `tokens` (held-out text) in `test.windows` windows and fills
/// them forward-only, backward-only and combined, counting the right answers.
pub fn fill_accuracy(
    model: &CharModel,
    tokenizer: &Tokenizer,
    tokens: TokenView<'_>,
    test: FillTest,
    device: &Device,
) -> Result<FillAccuracy, TrainError> {
    check(model, tokenizer, FillChoice::Combined)?;
    if tokens.len() < test.window_len || test.window_len == 0 || test.windows == 0 {
        return Err(TrainError::Sampling(format!(
            "the text has {} characters, too few for windows of {} (use a smaller --window)",
            tokens.len(),
            test.window_len
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(test.seed);
    let mut truths = Vec::with_capacity(test.windows);
    let mut rows = Vec::with_capacity(test.windows);
    for _ in 0..test.windows {
        let start = rng.random_range(0..=tokens.len() - test.window_len);
        let truth = tokens.slice(start..start + test.window_len).to_vec();
        let mut row: Vec<Option<u32>> = truth.iter().map(|&t| Some(t)).collect();
        for slot in row.iter_mut() {
            if rng.random_bool(test.blank_rate) {
                *slot = None;
            }
        }
        if row.iter().all(Option::is_some) {
            row[rng.random_range(0..test.window_len)] = None;
        }
        truths.push(truth);
        rows.push(row);
    }
    let blanks: usize = rows
        .iter()
        .map(|row| row.iter().filter(|t| t.is_none()).count())
        .sum();
    let accuracy = |choice: FillChoice| {
        let filled = fill_blanks(model, &rows, choice, device);
        let mut right = 0;
        for ((row, truth), filled) in rows.iter().zip(&truths).zip(&filled) {
            for ((slot, want), got) in row.iter().zip(truth).zip(filled) {
                if slot.is_none() && want == got {
                    right += 1;
                }
            }
        }
        right as f64 / blanks as f64
    };
    Ok(FillAccuracy {
        blanks,
        windows: test.windows,
        forward: accuracy(FillChoice::Forward),
        backward: accuracy(FillChoice::Backward),
        combined: accuracy(FillChoice::Combined),
    })
}
