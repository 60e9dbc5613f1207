//! Where a run stands (`progress.json` of every checkpoint): the step, the position in the
//! data, the losses so far, and where a fine-tuned run's weights came from.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Version of the checkpoint layout; a checkpoint of another version is refused.
pub const FORMAT_VERSION: u32 = 2;

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// Checkpoint layout version.
    pub format_version: u32,
    /// Optimizer steps taken.
    pub step: usize,
    /// Epoch (0-based) of the next step.
    pub epoch: usize,
    /// Index within the epoch of the next batch.
    pub batch_in_epoch: usize,
    /// Whether `batch_in_epoch` counts the early phase's shorter chunks
    /// (`train.early_seq_len`) rather than `train.seq_len`-long ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub early_chunks: bool,
    /// Mean training loss over the last report interval, nats/char.
    pub train_loss: Option<f32>,
    /// Validation loss of this checkpoint's weights, nats/char.
    pub validation_loss: Option<f32>,
    /// Lowest validation loss seen in the run so far (of a bidirectional model: the forward
    /// loss of the checkpoint with the lowest sum of both directions).
    pub best_validation_loss: Option<f32>,
    /// The backward stack's training loss (bidirectional models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backward_train_loss: Option<f32>,
    /// The backward stack's validation loss (bidirectional models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backward_validation_loss: Option<f32>,
    /// The backward validation loss of the best checkpoint (bidirectional models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_backward_validation_loss: Option<f32>,
    /// Seconds spent training so far.
    pub elapsed_seconds: f64,
    /// The backend that wrote the checkpoint.
    pub backend: String,
    /// Steps skipped because their loss or gradient was not finite (`train.skip_nonfinite`).
    pub skipped_steps: usize,
    /// The carried state's shape, `[layers, batch, hidden]`, when `state.bin` holds one.
    pub state_shape: Option<[usize; 3]>,
    /// sha256 (hex) of every other file of the checkpoint, by file name.
    pub checksums: BTreeMap<String, String>,
    /// Updates folded into the moving average of the weights (`train.ema_decay`); when
    /// non-zero, `model.bpk` holds the average and `training.bpk` the trained weights.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub averaged_steps: usize,
    /// The checkpoint a fine-tuned run's weights started from (`train --init-from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialized_from: Option<InitializedFrom>,
}

impl Progress {
    /// Where a new run starts.
    pub fn start(backend: &str) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            early_chunks: false,
            train_loss: None,
            validation_loss: None,
            best_validation_loss: None,
            backward_train_loss: None,
            backward_validation_loss: None,
            best_backward_validation_loss: None,
            elapsed_seconds: 0.0,
            backend: backend.to_string(),
            skipped_steps: 0,
            state_shape: None,
            checksums: BTreeMap::new(),
            averaged_steps: 0,
            initialized_from: None,
        }
    }
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// What a fine-tuned run started from, as its checkpoints record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitializedFrom {
    /// The checkpoint directory the weights came from.
    pub checkpoint: PathBuf,
    /// The steps that checkpoint had trained.
    pub step: usize,
    /// Its vocabulary size.
    pub vocab_size: usize,
    /// Tokens the new corpus added to it.
    pub added_tokens: usize,
}
