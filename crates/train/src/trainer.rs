//! The training loop: truncated backpropagation through time over contiguous streams, with the
//! recurrent state carried from chunk to chunk and reset at each epoch.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use charlstm_data::{CorpusLocator, Vocabulary};
use charlstm_model::RecurrentState;

use crate::checkpoint::{self, Checkpoint, CheckpointContents, FORMAT_VERSION, Progress};
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::evaluate::evaluate;
use crate::observer::{TrainEvent, TrainObserver};
use crate::schedule::Schedule;
use crate::setup::{SeededModel, seeded_model, split_and_batch};
use crate::step::{adam, train_step};
use crate::tensors::batch_tensors;

/// How to run a training job, beyond its configuration.
pub struct TrainOptions<'a> {
    /// The run directory: checkpoints and the resolved config go here.
    pub run_dir: PathBuf,
    /// Continue from the run directory's latest checkpoint instead of starting afresh.
    pub resume: bool,
    /// Where named corpora are found.
    pub locator: CorpusLocator,
    /// Receives progress reports.
    pub observer: &'a mut dyn TrainObserver,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Optimizer steps taken in total (including before a resume).
    pub steps: usize,
    /// Mean training loss over the last report interval, nats/char.
    pub final_train_loss: Option<f32>,
    /// Validation loss at the end, nats/char.
    pub final_validation_loss: Option<f32>,
    /// Lowest validation loss of the run, nats/char.
    pub best_validation_loss: Option<f32>,
    /// Seconds spent training in total.
    pub elapsed_seconds: f64,
    /// Mean training throughput of this session.
    pub chars_per_second: f64,
    /// The run directory.
    pub run_dir: PathBuf,
}

/// Trains a model as `config` says, writing checkpoints into `options.run_dir`.
pub fn train(config: &RunConfig, options: TrainOptions<'_>) -> Result<TrainSummary, TrainError> {
    let TrainOptions {
        run_dir,
        resume,
        locator,
        observer,
    } = options;
    let resume_from = prepare_run_dir(&run_dir, resume)?;

    // Data: the vocabulary of the whole corpus (or the checkpoint's), a contiguous split, and
    // the training split cut into streams.
    let corpus = locator.load(&config.data.corpus)?;
    let vocab = match &resume_from {
        Some(checkpoint) => checkpoint.vocab.clone(),
        None => Vocabulary::from_text(&corpus.text),
    };
    let tokens = vocab.encode(&corpus.text)?;
    let (split, batcher) = split_and_batch(config, &tokens)?;
    let train_chars = split.train.len();
    let validation_tokens = &tokens[split.validation.clone()];
    let t = &config.train;

    // Model and optimizer on the chosen backend, with gradients.
    let SeededModel {
        inference_device,
        device,
        mut model,
    } = seeded_model(config, vocab.len())?;
    let mut optimizer = adam();
    let mut progress = Progress {
        format_version: FORMAT_VERSION,
        step: 0,
        epoch: 0,
        batch_in_epoch: 0,
        train_loss: None,
        validation_loss: None,
        best_validation_loss: None,
        elapsed_seconds: 0.0,
        backend: config.backend.name().to_string(),
    };
    if let Some(checkpoint) = &resume_from {
        model = checkpoint.load_model(&device)?;
        optimizer = checkpoint.load_optimizer(optimizer)?;
        progress = checkpoint.progress.clone();
        progress.backend = config.backend.name().to_string();
    }
    config_files(&run_dir, config, &vocab)?;

    let steps_per_epoch = batcher.num_batches();
    let mut total_steps = steps_per_epoch * t.epochs;
    if t.max_steps > 0 {
        total_steps = total_steps.min(t.max_steps);
    }
    let schedule = Schedule {
        kind: t.schedule,
        peak: t.learning_rate,
        minimum: t.min_learning_rate,
        warmup_steps: t.warmup_steps,
        total_steps,
    };
    observer.on_event(&TrainEvent::Started {
        backend: config.backend.name(),
        parameters: model.num_params(),
        vocab_size: vocab.len(),
        train_chars,
        validation_chars: validation_tokens.len(),
        steps_per_epoch,
        total_steps,
        resumed_at: resume_from.as_ref().map(|c| c.progress.step),
    });

    let session_start = Instant::now();
    let elapsed_before = progress.elapsed_seconds;
    let chars_per_step = t.batch_size * t.seq_len;
    let steps_at_start = progress.step;
    let mut window = LossWindow::new();
    let mut state: Option<RecurrentState> = None;

    while progress.step < total_steps {
        if progress.batch_in_epoch >= steps_per_epoch {
            progress.epoch += 1;
            progress.batch_in_epoch = 0;
            state = None;
        }

        // One step: batch → forward → loss → backward → clip → Adam.
        let batch = batcher.batch(progress.batch_in_epoch);
        let (inputs, targets) = batch_tensors(&batch, &device);
        let time_fraction = if t.max_minutes > 0.0 {
            session_start.elapsed().as_secs_f64() / (t.max_minutes * 60.0)
        } else {
            0.0
        };
        let learning_rate = schedule.learning_rate_at(progress.step, time_fraction);
        let outcome = train_step(
            model,
            &mut optimizer,
            inputs,
            targets,
            state.take(),
            learning_rate,
            t.grad_clip,
        );
        model = outcome.model;
        window.add(outcome.loss);
        state = Some(outcome.state);
        progress.step += 1;
        progress.batch_in_epoch += 1;

        let elapsed = session_start.elapsed().as_secs_f64();
        let out_of_time = t.max_minutes > 0.0 && elapsed >= t.max_minutes * 60.0;
        let last = progress.step >= total_steps || out_of_time;
        progress.elapsed_seconds = elapsed_before + elapsed;

        if progress.step.is_multiple_of(t.log_interval) || last {
            let (train_loss, chars_per_second) = window.take(chars_per_step, progress.step)?;
            progress.train_loss = Some(train_loss);
            observer.on_event(&TrainEvent::Step {
                step: progress.step,
                total_steps,
                epoch: progress.epoch + 1,
                train_loss,
                learning_rate,
                chars_per_second,
            });
        }
        if progress.step.is_multiple_of(t.eval_interval) || last {
            let inference_model = model.valid();
            let validation_loss = if validation_tokens.len() >= 2 {
                Some(
                    evaluate(
                        &inference_model,
                        validation_tokens,
                        t.batch_size,
                        t.seq_len,
                        &inference_device,
                        "validation",
                    )?
                    .nats_per_char as f32,
                )
            } else {
                None
            };
            let is_best = match (validation_loss, progress.best_validation_loss) {
                (Some(loss), Some(best)) => loss < best,
                (Some(_), None) => true,
                _ => false,
            };
            progress.validation_loss = validation_loss;
            if is_best {
                progress.best_validation_loss = validation_loss;
            }
            if let Some(loss) = validation_loss {
                observer.on_event(&TrainEvent::Validation {
                    step: progress.step,
                    loss,
                    best: is_best,
                });
            }
            let contents = CheckpointContents {
                config,
                vocab: &vocab,
                model: &model,
                optimizer: Some(&optimizer),
                progress: &progress,
            };
            let path = checkpoint::save(&run_dir, "latest", &contents)?;
            observer.on_event(&TrainEvent::Checkpoint { path: &path });
            if is_best || validation_loss.is_none() {
                let best = CheckpointContents {
                    optimizer: None,
                    ..contents
                };
                checkpoint::save(&run_dir, "best", &best)?;
            }
            window.restart_clock();
        }
        if out_of_time {
            break;
        }
    }

    let session_seconds = session_start.elapsed().as_secs_f64();
    Ok(TrainSummary {
        steps: progress.step,
        final_train_loss: progress.train_loss,
        final_validation_loss: progress.validation_loss,
        best_validation_loss: progress.best_validation_loss,
        elapsed_seconds: progress.elapsed_seconds,
        chars_per_second: ((progress.step - steps_at_start) * chars_per_step) as f64
            / session_seconds.max(1e-9),
        run_dir,
    })
}

/// Makes sure the run directory can take this run, and opens its latest checkpoint when
/// resuming.
fn prepare_run_dir(run_dir: &Path, resume: bool) -> Result<Option<Checkpoint>, TrainError> {
    let latest = checkpoint::latest_in(run_dir);
    match (resume, latest) {
        (true, Some(path)) => Ok(Some(Checkpoint::open(&path)?)),
        (true, None) => Err(TrainError::checkpoint(
            run_dir,
            "nothing to resume: it has no latest checkpoint (drop --resume to start a new run)",
        )),
        (false, Some(_)) => Err(TrainError::RunExists(run_dir.to_path_buf())),
        (false, None) => {
            std::fs::create_dir_all(run_dir).map_err(|source| TrainError::Write {
                path: run_dir.to_path_buf(),
                source,
            })?;
            Ok(None)
        }
    }
}

/// Writes the resolved config and the vocabulary at the top of the run directory, so a person
/// can see what the run is without opening a checkpoint.
fn config_files(run_dir: &Path, config: &RunConfig, vocab: &Vocabulary) -> Result<(), TrainError> {
    checkpoint::write_synced(&run_dir.join("config.toml"), config.to_toml().as_bytes())?;
    let path = run_dir.join("vocab.json");
    vocab.save(&path).map_err(|e| TrainError::Write {
        path,
        source: std::io::Error::other(e.to_string()),
    })
}

/// Training losses since the last report, summed on the device so that no step waits for it.
struct LossWindow {
    sum: Option<Tensor<1>>,
    steps: usize,
    start: Instant,
}

impl LossWindow {
    fn new() -> Self {
        Self {
            sum: None,
            steps: 0,
            start: Instant::now(),
        }
    }

    fn add(&mut self, loss: Tensor<1>) {
        self.sum = Some(match self.sum.take() {
            Some(sum) => sum + loss,
            None => loss,
        });
        self.steps += 1;
    }

    /// Mean loss and throughput since the last call; fails if the loss is not finite.
    fn take(&mut self, chars_per_step: usize, step: usize) -> Result<(f32, f64), TrainError> {
        let sum: f32 = self.sum.take().map(|s| s.into_scalar()).unwrap_or(f32::NAN);
        let mean = sum / self.steps.max(1) as f32;
        if !mean.is_finite() {
            return Err(TrainError::NonFinite { step, loss: mean });
        }
        let seconds = self.start.elapsed().as_secs_f64().max(1e-9);
        let throughput = (self.steps * chars_per_step) as f64 / seconds;
        self.steps = 0;
        self.start = Instant::now();
        Ok((mean, throughput))
    }

    /// Validation and checkpoints do not count against throughput.
    fn restart_clock(&mut self) {
        self.start = Instant::now();
    }
}
