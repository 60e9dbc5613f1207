//! Loss of a model over a whole split, with the state carried through each stream exactly as
//! in training, so the figure is comparable to the training loss.

use burn::prelude::*;
use charlstm_data::{RemainderPolicy, StreamBatcher, TokenView};
use charlstm_model::{CharModel, Direction};

use crate::error::TrainError;
use crate::loss::sum_cross_entropy;
use crate::tensors::batch_tensors;

/// The result of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy in nats per character.
    pub nats_per_char: f64,
    /// Characters predicted.
    pub chars: usize,
}

impl Evaluation {
    /// Mean cross-entropy in bits per character.
    pub fn bits_per_char(&self) -> f64 {
        self.nats_per_char / std::f64::consts::LN_2
    }
}

/// Evaluates the stack of `model` (an inference model, see `Module::valid`) that reads in
/// `direction` on `tokens`, cut into at most `batch_size` streams of `seq_len`-long chunks;
/// every character but the last `< batch_size` is predicted once. The backward stack of a
/// bidirectional model reads `tokens` reversed, predicting each character from the ones after
/// it.
pub fn evaluate_in(
    direction: Direction,
    model: &CharModel,
    tokens: TokenView<'_>,
    batch_size: usize,
    seq_len: usize,
    device: &Device,
    split: &str,
) -> Result<Evaluation, TrainError> {
    // A short split gets fewer streams rather than an error.
    let streams = batch_size.min(tokens.len().saturating_sub(1)).max(1);
    let mut batcher = StreamBatcher::new(tokens, streams, seq_len, RemainderPolicy::Keep, split)?;
    if direction == Direction::Backward {
        batcher = batcher.reversed();
    }
    let mut state = None;
    let mut total: Option<Tensor<1>> = None;
    for batch in batcher.iter() {
        let (inputs, targets) = batch_tensors(&batch, device);
        let (logits, next) = model.forward_in(direction, inputs, state);
        let loss = sum_cross_entropy(logits, targets);
        total = Some(match total {
            Some(total) => total + loss,
            None => loss,
        });
        state = Some(next);
    }
    let chars = batcher.tokens_per_pass();
    let total: f32 = total
        .expect("a batcher yields at least one batch")
        .into_scalar();
    Ok(Evaluation {
        nats_per_char: f64::from(total) / chars as f64,
        chars,
    })
}
