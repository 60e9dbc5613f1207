//! What a training run and a benchmark both start from: the training split cut into streams,
//! and a freshly initialised model on the chosen backend's autodiff device.

use burn::prelude::*;
use charlstm_data::{RemainderPolicy, Split, StreamBatcher, TokenView};
use charlstm_model::CharModel;

use crate::config::RunConfig;
use crate::error::TrainError;

/// The contiguous split of `tokens` that `config` asks for, and its training part cut into
/// `train.batch_size` streams of `train.seq_len`-long chunks.
pub fn split_and_batch<'a>(
    config: &RunConfig,
    tokens: TokenView<'a>,
) -> Result<(Split, StreamBatcher<'a>), TrainError> {
    let split = Split::new(tokens.len(), config.data.split_fractions());
    let batcher = training_streams(config, tokens, &split, config.train.seq_len)?;
    Ok((split, batcher))
}

/// The training part of `split` cut into `train.batch_size` streams of `seq_len`-long chunks.
pub fn training_streams<'a>(
    config: &RunConfig,
    tokens: TokenView<'a>,
    split: &Split,
    seq_len: usize,
) -> Result<StreamBatcher<'a>, TrainError> {
    Ok(StreamBatcher::new(
        tokens.slice(split.train.clone()),
        config.train.batch_size,
        seq_len,
        RemainderPolicy::Drop,
        "training",
    )?)
}

/// The devices of `config.backend` and a model initialised on the training one from
/// `config.seed`.
pub struct SeededModel {
    /// The backend's device without gradients (validation, sampling).
    pub inference_device: Device,
    /// The same device with autodiff (training).
    pub device: Device,
    /// A fresh model on `device`.
    pub model: CharModel,
}

/// Checks the backend works, then initialises a model for `vocab_size` characters from the
/// config's seed.
pub fn seeded_model(config: &RunConfig, vocab_size: usize) -> Result<SeededModel, TrainError> {
    let inference_device = config.backend.device()?;
    let device = inference_device.clone().autodiff();
    device.seed(config.seed);
    let model = config.model.init(vocab_size, &device);
    Ok(SeededModel {
        inference_device,
        device,
        model,
    })
}
