//! What the training loop reports. The binary turns it into log lines and a progress bar.

use std::path::Path;

/// Something that happened during training.
#[derive(Debug, Clone)]
pub enum TrainEvent<'a> {
    /// The run is about to take its first step.
    Started {
        /// Backend name.
        backend: &'a str,
        /// Trainable parameters.
        parameters: usize,
        /// Tokens in the vocabulary.
        vocab_size: usize,
        /// What a token is ("char", or "token" for a tokenizer.json): losses are per unit.
        unit: &'a str,
        /// Tokens in the training split.
        train_chars: usize,
        /// Tokens in the validation split.
        validation_chars: usize,
        /// Optimizer steps in one epoch.
        steps_per_epoch: usize,
        /// With an early phase of shorter chunks: their length, the steps an epoch of them
        /// takes, and the share of the run they train.
        early_chunks: Option<(usize, usize, f64)>,
        /// Optimizer steps the run will take (unless stopped by time).
        total_steps: usize,
        /// The step a resumed run continues from.
        resumed_at: Option<usize>,
        /// `train.max_minutes` in seconds, if set, and the part of it already used.
        time_budget: Option<(f64, f64)>,
        /// The regularisation, in words ([`crate::RunConfig::describe_regularization`]).
        regularization: &'a str,
    },
    /// The corpus is being prepared: read (checked and counted), then encoded into the
    /// token file; sent after each piece of about 1 MiB.
    Preparing {
        /// "reading" or "encoding".
        phase: &'static str,
        /// Bytes of text done in this phase.
        bytes_done: u64,
        /// Bytes of text in all.
        bytes_total: u64,
    },
    /// The corpus is ready: its token file was prepared now, or reused from the cache.
    Prepared {
        /// Token ids in the file.
        tokens: usize,
        /// Bytes per id.
        width_bytes: usize,
        /// Bytes of source text.
        source_bytes: u64,
        /// Where the token file is.
        location: &'a Path,
        /// Whether it was reused rather than prepared now.
        reused: bool,
        /// Seconds the preparation took (when it was made).
        seconds: f64,
        /// Source text prepared per second then, in MB.
        megabytes_per_second: f64,
    },
    /// A step finished (every step; [`TrainEvent::Step`] carries the losses).
    Progress {
        /// Steps done.
        step: usize,
        /// Epoch (1-based).
        epoch: usize,
    },
    /// Training progress, every `log_interval` steps.
    Step {
        /// Steps done.
        step: usize,
        /// Steps planned.
        total_steps: usize,
        /// Epoch (1-based) the step belongs to.
        epoch: usize,
        /// Mean training loss (nats/char) since the last report.
        train_loss: f32,
        /// The backward stack's, for a bidirectional model.
        backward_train_loss: Option<f32>,
        /// Learning rate of the last step.
        learning_rate: f64,
        /// Training throughput since the last report.
        chars_per_second: f64,
    },
    /// A validation pass finished.
    Validation {
        /// Steps done.
        step: usize,
        /// Validation loss in nats/char.
        loss: f32,
        /// The backward stack's, for a bidirectional model.
        backward_loss: Option<f32>,
        /// Whether this is the best so far.
        best: bool,
    },
    /// A step was skipped because its loss or gradient was not finite
    /// (`train.skip_nonfinite`).
    Skipped {
        /// The step.
        step: usize,
        /// Its loss.
        loss: f32,
        /// Its gradient norm.
        grad_norm: f32,
    },
    /// A sample drawn at a validation (also appended to the run's `samples.txt`).
    Sample {
        /// Steps done.
        step: usize,
        /// The generated text.
        text: &'a str,
    },
    /// Something the user should know that is not an error.
    Notice {
        /// What happened.
        message: &'a str,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Its directory.
        path: &'a Path,
    },
}

/// Receives [`TrainEvent`]s.
pub trait TrainObserver {
    /// Called for every event, in order.
    fn on_event(&mut self, event: &TrainEvent<'_>);
}
