//! What the training loop reports, and the default reporter that prints it to stderr.

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
        /// Characters in the vocabulary.
        vocab_size: usize,
        /// Characters in the training split.
        train_chars: usize,
        /// Characters in the validation split.
        validation_chars: usize,
        /// Optimizer steps in one epoch.
        steps_per_epoch: usize,
        /// Optimizer steps the run will take (unless stopped by time).
        total_steps: usize,
        /// The step a resumed run continues from.
        resumed_at: Option<usize>,
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

/// Prints events as plain lines on stderr (stdout stays free for generated text).
#[derive(Debug, Default)]
pub struct StderrObserver {
    /// Print nothing.
    pub quiet: bool,
}

impl TrainObserver for StderrObserver {
    fn on_event(&mut self, event: &TrainEvent<'_>) {
        if self.quiet {
            return;
        }
        match event {
            TrainEvent::Started {
                backend,
                parameters,
                vocab_size,
                train_chars,
                validation_chars,
                steps_per_epoch,
                total_steps,
                resumed_at,
            } => {
                eprintln!(
                    "training on {backend}: {parameters} parameters, vocabulary {vocab_size}, \
                     {train_chars} training / {validation_chars} validation characters, \
                     {steps_per_epoch} steps per epoch, {total_steps} steps"
                );
                if let Some(step) = resumed_at {
                    eprintln!("resuming at step {step}");
                }
            }
            TrainEvent::Step {
                step,
                total_steps,
                epoch,
                train_loss,
                learning_rate,
                chars_per_second,
            } => eprintln!(
                "step {step:>6}/{total_steps} | epoch {epoch:>3} | train loss {train_loss:.4} | \
                 lr {learning_rate:.2e} | {chars_per_second:>8.0} chars/s"
            ),
            TrainEvent::Validation { step, loss, best } => eprintln!(
                "step {step:>6} | validation loss {loss:.4} nats/char ({:.4} bits/char){}",
                loss / std::f32::consts::LN_2,
                if *best { " | best so far" } else { "" }
            ),
            TrainEvent::Skipped {
                step,
                loss,
                grad_norm,
            } => eprintln!(
                "step {step:>6} | skipped: loss {loss}, gradient norm {grad_norm} (train.skip_nonfinite)"
            ),
            TrainEvent::Notice { message } => eprintln!("note: {message}"),
            // Written to samples.txt; a multi-line text would break up the log.
            TrainEvent::Sample { .. } => {}
            TrainEvent::Checkpoint { path } => {
                eprintln!("checkpoint written to {}", path.display())
            }
        }
    }
}
