//! A run in progress: the model, Adam's state, the carried recurrent state and the progress
//! counters, and what the loop does with them: one step, a report of the training loss, a
//! validation (with its sample and `best` checkpoint), and the `latest` checkpoint.

mod validation;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::Device;
use charlstm_data::Tokenizer;
use charlstm_model::{CharModel, RecurrentState};

use super::TrainSummary;
use super::data::TrainingData;
use crate::averaging::WeightAverage;
use crate::checkpoint::{self, Checkpoint, CheckpointContents};
use crate::chunks::next_chunk;
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::init_from;
use crate::metrics::{LossWindow, MetricsRow};
use crate::observer::{TrainEvent, TrainObserver};
use crate::optimizer::adam;
use crate::progress::Progress;
use crate::resume::{OnResume, ResumePlan, recut_streams};
use crate::setup::{SeededModel, seeded_model};
use crate::step::{Chunk, step_seed, train_step};
use crate::tensors::batch_tensors;

/// The state of a run between steps.
pub(super) struct Session<'r> {
    config: &'r RunConfig,
    run_dir: &'r Path,
    tokenizer: &'r Tokenizer,
    /// The backend's device without gradients (validation, sampling).
    inference_device: Device,
    /// The same device with autodiff (training).
    device: Device,
    model: CharModel,
    /// The moving average of the weights (`train.ema_decay`): what validation measures and
    /// `best/` keeps.
    average: Option<WeightAverage>,
    optimizer: ModuleOptimizer,
    /// The forward stack's state after the last chunk: the start of the next.
    state: Option<RecurrentState>,
    /// The backward stack's (bidirectional models).
    backward_state: Option<RecurrentState>,
    /// Steps, epoch, position in the epoch, losses so far: what a checkpoint records.
    pub progress: Progress,
    window: LossWindow,
    /// Target characters of the steps this session took (the early phase's are shorter).
    session_chars: usize,
}

impl<'r> Session<'r> {
    /// A new run: a model initialised from the config's seed, a fresh optimizer, step 0.
    pub fn start(
        config: &'r RunConfig,
        run_dir: &'r Path,
        tokenizer: &'r Tokenizer,
    ) -> Result<Self, TrainError> {
        let SeededModel {
            inference_device,
            device,
            model,
        } = seeded_model(config, tokenizer.len())?;
        Ok(Self {
            config,
            run_dir,
            tokenizer,
            inference_device,
            device,
            average: new_average(config),
            model,
            optimizer: adam(&config.train),
            state: None,
            backward_state: None,
            progress: Progress {
                early_chunks: config.train.early_chunks().is_some(),
                ..Progress::start(config.backend.name())
            },
            window: LossWindow::new(),
            session_chars: 0,
        })
    }

    /// Continues where `checkpoint` stopped: its weights, Adam's state, carried state and
    /// progress, with the keys that are free on resume (`plan`) taken from the new config. When
    /// the streams are cut anew, the carried state (which belongs to the old cut) is dropped.
    pub fn resume(
        &mut self,
        checkpoint: &Checkpoint,
        plan: &ResumePlan,
        data: &TrainingData<'_>,
        observer: &mut dyn TrainObserver,
    ) -> Result<(), TrainError> {
        let config = self.config;
        self.model = checkpoint.load_training_model(&self.device)?;
        // Regularisation is free on resume: the given rates and placement, not the checkpoint's.
        config.model.apply_regularization(&mut self.model);
        // So is averaging: a run that kept an average goes on with it, one that did not (or a
        // new decay) starts one from the weights it resumes.
        let averaged = checkpoint.progress.averaged_steps;
        self.average = match new_average(config) {
            Some(_) if averaged > 0 => {
                let model = checkpoint.load_model(&self.inference_device)?;
                Some(WeightAverage::resumed(
                    &model,
                    config.train.ema_decay,
                    averaged,
                ))
            }
            other => other,
        };
        self.optimizer = checkpoint.load_optimizer(adam(&config.train))?;
        (self.state, self.backward_state) = split_state(
            checkpoint.load_state(&self.device)?,
            self.model.layers.len(),
        );
        self.progress = checkpoint.progress.clone();
        self.progress.backend = config.backend.name().to_string();
        self.progress.averaged_steps = self.average.as_ref().map_or(0, WeightAverage::updates);
        let recut = recut_streams(
            plan,
            &checkpoint.config,
            config,
            data.tokens,
            &mut self.progress,
        );
        if let Some(message) = recut {
            (self.state, self.backward_state) = (None, None);
            observer.on_event(&TrainEvent::Notice { message: &message });
        }
        let free = plan.keys(OnResume::Free);
        if !free.is_empty() {
            observer.on_event(&TrainEvent::Notice {
                message: &format!("resuming with {}", free.join(", ")),
            });
        }
        Ok(())
    }

    /// Starts from `checkpoint`'s weights instead of fresh ones (fine-tuning): its vocabulary
    /// grown to the run's, the new tokens' rows from this session's fresh model. The optimizer
    /// and the step count stay new.
    pub fn init_from(
        &mut self,
        checkpoint: &Checkpoint,
        observer: &mut dyn TrainObserver,
    ) -> Result<(), TrainError> {
        self.model = init_from::initial_model(checkpoint, self.config, &self.model, &self.device)?;
        self.average = new_average(self.config);
        let record = init_from::record(checkpoint, self.tokenizer);
        let message = format!(
            "initialised from {} (step {}): its {} tokens, {} new",
            record.checkpoint.display(),
            record.step,
            record.vocab_size,
            record.added_tokens,
        );
        observer.on_event(&TrainEvent::Notice { message: &message });
        self.progress.initialized_from = Some(record);
        Ok(())
    }

    /// Tells `observer` what the run is about to do.
    pub fn announce(
        &self,
        data: &TrainingData<'_>,
        total_steps: usize,
        resumed_at: Option<usize>,
        observer: &mut dyn TrainObserver,
    ) {
        let recipe = &self.config.train;
        let regularization = self.config.describe_regularization();
        observer.on_event(&TrainEvent::Started {
            backend: self.config.backend.name(),
            parameters: self.model.num_params(),
            vocab_size: self.tokenizer.len(),
            unit: self.tokenizer.unit(),
            train_chars: data.train_chars,
            validation_chars: data.validation.len(),
            steps_per_epoch: data.full.forward.num_batches(),
            early_chunks: recipe
                .early_chunks()
                .zip(data.early.as_ref())
                .map(|(early, streams)| {
                    (early.seq_len, streams.forward.num_batches(), early.share)
                }),
            total_steps,
            resumed_at,
            time_budget: (recipe.max_minutes > 0.0)
                .then_some((recipe.max_minutes * 60.0, self.progress.elapsed_seconds)),
            regularization: &regularization,
        });
    }

    /// One step at `learning_rate`: batch → forward → loss → backward → clip → Adam, starting
    /// a new epoch (and fresh state) after the last batch of the previous one. The chunk is
    /// an early, shorter one while the run has an early phase and `stay_early` holds.
    ///
    /// A step whose loss or gradient norm is not finite is skipped with `train.skip_nonfinite`;
    /// otherwise the weights before it are saved as `latest` and the run ends with an error.
    /// Takes and gives back the session because the step consumes the model.
    pub fn step(
        mut self,
        data: &TrainingData<'_>,
        learning_rate: f64,
        stay_early: bool,
        observer: &mut dyn TrainObserver,
    ) -> Result<Self, TrainError> {
        let config = self.config;
        let ratio = config.train.early_chunks().map_or(1, |early| early.ratio);
        let batches = |early: bool| data.streams(early).forward.num_batches();
        if next_chunk(&mut self.progress, stay_early, ratio, batches) {
            (self.state, self.backward_state) = (None, None);
        }
        let streams = data.streams(self.progress.early_chunks);
        let position = self.progress.batch_in_epoch;
        let forward_batch = streams.forward.batch(position);
        let chars = forward_batch.batch_size * forward_batch.seq_len;
        let (inputs, targets) = batch_tensors(&forward_batch, &self.device);
        let backward_chunk = streams.backward.as_ref().map(|batcher| {
            let (inputs, targets) = batch_tensors(&batcher.batch(position), &self.device);
            Chunk {
                inputs,
                targets,
                state: self.backward_state.take(),
            }
        });
        self.device.seed(step_seed(config.seed, self.progress.step));
        let state_before = self.state.clone();
        let backward_state_before = backward_chunk.as_ref().and_then(|c| c.state.clone());
        let forward_chunk = Chunk {
            inputs,
            targets,
            state: self.state.take(),
        };
        let outcome = train_step(
            self.model,
            &mut self.optimizer,
            forward_chunk,
            backward_chunk,
            learning_rate,
            config.train.grad_clip,
        );
        self.model = outcome.model;
        if outcome.applied
            && let Some(average) = &mut self.average
        {
            average.update(&self.model);
            self.progress.averaged_steps = average.updates();
        }
        if outcome.applied {
            self.window.add(outcome.loss, outcome.backward_loss, chars);
            self.state = Some(outcome.state);
            self.backward_state = outcome.backward_state;
        } else if config.train.skip_nonfinite {
            observer.on_event(&TrainEvent::Skipped {
                step: self.progress.step + 1,
                loss: outcome.loss,
                grad_norm: outcome.grad_norm,
            });
            self.progress.skipped_steps += 1;
            // The chunk's state is suspect: the next chunk starts afresh.
            (self.state, self.backward_state) = (None, None);
        } else {
            // Nothing is lost: the weights before this step are the last good ones.
            let path =
                self.save_latest_with(state_before.as_ref(), backward_state_before.as_ref())?;
            return Err(TrainError::NonFinite {
                step: self.progress.step + 1,
                loss: outcome.loss,
                grad_norm: outcome.grad_norm,
                checkpoint: path,
            });
        }
        self.progress.step += 1;
        self.progress.batch_in_epoch += 1;
        self.session_chars += chars;
        Ok(self)
    }

    /// Puts the mean training loss and throughput since the last report into `row` and tells
    /// `observer` (nothing when every step since was skipped).
    pub fn report_training(
        &mut self,
        row: &mut MetricsRow,
        total_steps: usize,
        observer: &mut dyn TrainObserver,
    ) {
        let Some((train_loss, backward_train_loss, chars_per_second)) = self.window.take() else {
            return;
        };
        self.progress.train_loss = Some(train_loss);
        self.progress.backward_train_loss = backward_train_loss;
        row.train_loss = Some(train_loss);
        row.backward_train_loss = backward_train_loss;
        row.chars_per_second = Some(chars_per_second);
        observer.on_event(&TrainEvent::Step {
            step: self.progress.step,
            total_steps,
            epoch: self.progress.epoch + 1,
            train_loss,
            backward_train_loss,
            learning_rate: row.learning_rate,
            chars_per_second,
        });
    }

    /// Saves everything a resume needs as the `latest` checkpoint, and restarts the
    /// throughput clock (saving does not count against it).
    pub fn save_latest(&mut self) -> Result<PathBuf, TrainError> {
        let path = self.save_latest_with(self.state.as_ref(), self.backward_state.as_ref())?;
        self.window.restart_clock();
        Ok(path)
    }

    /// How the run ended, after `session_seconds` in this session (its throughput: the
    /// characters of this session's steps over that time).
    pub fn summary(self, session_seconds: f64, interrupted: bool) -> TrainSummary {
        let progress = self.progress;
        TrainSummary {
            steps: progress.step,
            unit: self.tokenizer.unit(),
            final_train_loss: progress.train_loss,
            final_validation_loss: progress.validation_loss,
            best_validation_loss: progress.best_validation_loss,
            elapsed_seconds: progress.elapsed_seconds,
            chars_per_second: self.session_chars as f64 / session_seconds.max(1e-9),
            run_dir: self.run_dir.to_path_buf(),
            interrupted,
        }
    }

    fn save_latest_with(
        &self,
        state: Option<&RecurrentState>,
        backward_state: Option<&RecurrentState>,
    ) -> Result<PathBuf, TrainError> {
        let state = join_states(state, backward_state);
        let contents = CheckpointContents {
            config: self.config,
            tokenizer: self.tokenizer,
            model: self.sampled_model(),
            training_model: self.averaged_model().map(|_| &self.model),
            optimizer: Some(&self.optimizer),
            state: state.as_ref(),
            progress: &self.progress,
        };
        checkpoint::save(self.run_dir, "latest", &contents)
    }
}

impl Session<'_> {
    /// The moving average of the weights, once the run keeps one and has averaged a step.
    fn averaged_model(&self) -> Option<&CharModel> {
        self.average.as_ref().and_then(WeightAverage::model)
    }

    /// The weights sampling and validation use: the average when there is one.
    fn sampled_model(&self) -> &CharModel {
        self.averaged_model().unwrap_or(&self.model)
    }
}

/// A new, empty moving average of the weights, when `config` asks for one.
fn new_average(config: &RunConfig) -> Option<WeightAverage> {
    let decay = config.train.ema_decay;
    (decay > 0.0).then(|| WeightAverage::new(decay))
}

/// Splits a checkpoint's carried state into the forward stack's (its first `forward_layers`
/// layers) and the backward stack's (the rest, if any).
fn split_state(
    state: Option<RecurrentState>,
    forward_layers: usize,
) -> (Option<RecurrentState>, Option<RecurrentState>) {
    let Some(mut state) = state else {
        return (None, None);
    };
    let backward = state
        .layers
        .split_off(forward_layers.min(state.layers.len()));
    let backward = (!backward.is_empty()).then_some(RecurrentState { layers: backward });
    (Some(state), backward)
}

/// The carried state as one checkpoint holds it: the forward layers, then the backward ones.
fn join_states(
    forward: Option<&RecurrentState>,
    backward: Option<&RecurrentState>,
) -> Option<RecurrentState> {
    let mut state = forward?.clone();
    if let Some(backward) = backward {
        state.layers.extend(backward.layers.iter().cloned());
    }
    Some(state)
}
