//! The training loop: truncated backpropagation through time over contiguous streams, with the
//! recurrent state carried from chunk to chunk and reset at each epoch.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::nn::DropoutConfig;
use burn::optim::ModuleOptimizer;
use burn::prelude::Device;
use charlstm_data::{CorpusLocator, DataError, PreparePhase, PreparedCorpus, Tokenizer};
use charlstm_model::{CharModel, Direction, RecurrentState, SamplingOptions};

use crate::checkpoint::{self, Checkpoint, CheckpointContents, Progress};
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::evaluate::evaluate_in;
use crate::generate::{GenerateOptions, generate};
use crate::metrics::{MetricsLog, MetricsRow};
use crate::observer::{TrainEvent, TrainObserver};
use crate::plot::{LOSS_PLOT_FILE, LossCurves, draw_loss_png};
use crate::resume::{OnResume, check_resume, recut_streams};
use crate::schedule::Schedule;
use crate::setup::{SeededModel, seeded_model, split_and_batch};
use crate::step::{Chunk, adam, step_seed, train_step};
use crate::tensors::batch_tensors;

/// Samples written at each validation, in the run directory.
pub const SAMPLES_FILE: &str = "samples.txt";

/// How to run a training job, beyond its configuration.
pub struct TrainOptions<'a> {
    /// The run directory: checkpoints, the resolved config and `metrics.csv` go here.
    pub run_dir: PathBuf,
    /// Continue from the run directory's latest checkpoint instead of starting afresh.
    pub resume: bool,
    /// Where named corpora are found.
    pub locator: CorpusLocator,
    /// Receives progress reports.
    pub observer: &'a mut dyn TrainObserver,
    /// When set (e.g. by a signal handler), the run finishes its current step, writes the
    /// `latest` checkpoint and returns with [`TrainSummary::interrupted`].
    pub stop: Option<Arc<AtomicBool>>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Optimizer steps taken in total (including before a resume).
    pub steps: usize,
    /// What the losses are per: "char", or "token" for a tokenizer.json.
    pub unit: &'static str,
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
    /// Whether the run stopped early because [`TrainOptions::stop`] was set.
    pub interrupted: bool,
}

/// Trains a model as `config` says, writing checkpoints into `options.run_dir`.
///
/// A resumed run continues exactly: weights, Adam's state, the data position, the carried
/// recurrent state and the learning-rate schedule come from the checkpoint, and the dropout
/// masks of every step are seeded from the config's seed and the step number.
pub fn train(config: &RunConfig, options: TrainOptions<'_>) -> Result<TrainSummary, TrainError> {
    let TrainOptions {
        run_dir,
        resume,
        locator,
        observer,
        stop,
    } = options;
    let resume_from = prepare_run_dir(&run_dir, resume)?;
    // A resumed run may not change what the checkpoint's weights fix: refused here, before
    // anything is written.
    let resume_plan = resume_from
        .as_ref()
        .map(|checkpoint| check_resume(&checkpoint.config, config))
        .transpose()?;

    // Data: the corpus prepared into a memory-mapped token file (with the vocabulary of the
    // whole corpus, or the checkpoint's), a contiguous split, and the training split cut into
    // streams.
    let mut preparing = |phase: PreparePhase, done: u64, total: u64| {
        observer.on_event(&TrainEvent::Preparing {
            phase: phase.name(),
            bytes_done: done,
            bytes_total: total,
        });
    };
    let prepared = match &resume_from {
        Some(checkpoint) => config
            .prepare_corpus_for(&locator, &checkpoint.tokenizer, &mut preparing)
            .map_err(|e| match e {
                TrainError::Data(e @ DataError::UnknownCharacters(_)) => TrainError::checkpoint(
                    &checkpoint.dir,
                    format!("its vocabulary does not cover the corpus ({e}); resume with the corpus it was trained on, or start a new run"),
                ),
                e => e,
            })?,
        None => config.prepare_corpus(&locator, &config.tokenizer_choice()?, &mut preparing)?,
    };
    report_corpus(config, &prepared, observer);
    let tokenizer = match &resume_from {
        Some(checkpoint) => checkpoint.tokenizer.clone(),
        None => prepared.tokenizer.clone(),
    };
    let tokens = prepared.tokens();
    let (split, batcher) = split_and_batch(config, tokens)?;
    // A bidirectional model's backward stack reads the training text reversed, cut into
    // streams the same way: truncated BPTT with carried state, as for the forward stack.
    let backward_batcher = config
        .model
        .bidirectional
        .then(|| batcher.clone().reversed());
    let train_chars = split.train.len();
    let validation_tokens = config.validation_part(tokens.slice(split.validation.clone()));
    let t = &config.train;

    // Model and optimizer on the chosen backend, with gradients.
    let SeededModel {
        inference_device,
        device,
        mut model,
    } = seeded_model(config, tokenizer.len())?;
    let mut optimizer = adam(&config.train);
    let mut progress = Progress::start(config.backend.name());
    let mut state: Option<RecurrentState> = None;
    let mut backward_state: Option<RecurrentState> = None;
    if let Some(checkpoint) = &resume_from {
        model = checkpoint.load_model(&device)?;
        // Dropout is free on resume: the given rate, not the checkpoint's.
        model.dropout = DropoutConfig::new(config.model.dropout).init();
        optimizer = checkpoint.load_optimizer(optimizer)?;
        (state, backward_state) = split_state(checkpoint.load_state(&device)?, model.layers.len());
        progress = checkpoint.progress.clone();
        progress.backend = config.backend.name().to_string();
        let plan = resume_plan.as_ref().expect("a resumed run has a plan");
        let recut = recut_streams(
            plan,
            &checkpoint.config,
            config,
            tokens,
            &batcher,
            &mut progress,
        );
        if let Some(message) = recut {
            // The carried state belongs to the old cut.
            (state, backward_state) = (None, None);
            observer.on_event(&TrainEvent::Notice { message: &message });
        }
        let free = plan.keys(OnResume::Free);
        if !free.is_empty() {
            observer.on_event(&TrainEvent::Notice {
                message: &format!("resuming with {}", free.join(", ")),
            });
        }
    }
    config_files(&run_dir, config, &tokenizer)?;
    let mut metrics = MetricsLog::open(&run_dir, progress.step)?;

    let steps_per_epoch = batcher.num_batches();
    let mut total_steps = steps_per_epoch * t.epochs;
    if t.max_steps > 0 {
        total_steps = total_steps.min(t.max_steps);
    }
    let schedule = Schedule {
        kind: t.schedule,
        peak: t.learning_rate,
        minimum: t.min_learning_rate,
        decay_fraction: t.decay_fraction,
        warmup_steps: t.warmup_steps,
        total_steps,
    };
    observer.on_event(&TrainEvent::Started {
        backend: config.backend.name(),
        parameters: model.num_params(),
        vocab_size: tokenizer.len(),
        unit: tokenizer.unit(),
        train_chars,
        validation_chars: validation_tokens.len(),
        steps_per_epoch,
        total_steps,
        resumed_at: resume_from.as_ref().map(|c| c.progress.step),
        time_budget: (t.max_minutes > 0.0)
            .then_some((t.max_minutes * 60.0, progress.elapsed_seconds)),
    });

    let session_start = Instant::now();
    let elapsed_before = progress.elapsed_seconds;
    let budget_seconds = t.max_minutes * 60.0;
    let chars_per_step = t.batch_size * t.seq_len;
    let steps_at_start = progress.step;
    let mut window = LossWindow::new();
    let mut interrupted = false;
    let mut plot_failed = false;
    let save_latest = |model: &CharModel,
                       optimizer: &ModuleOptimizer,
                       state: Option<&RecurrentState>,
                       backward_state: Option<&RecurrentState>,
                       progress: &Progress|
     -> Result<PathBuf, TrainError> {
        let state = join_states(state, backward_state);
        let contents = CheckpointContents {
            config,
            tokenizer: &tokenizer,
            model,
            optimizer: Some(optimizer),
            state: state.as_ref(),
            progress,
        };
        checkpoint::save(&run_dir, "latest", &contents)
    };

    while progress.step < total_steps {
        if progress.batch_in_epoch >= steps_per_epoch {
            progress.epoch += 1;
            progress.batch_in_epoch = 0;
            state = None;
            backward_state = None;
        }

        // One step: batch → forward → loss → backward → clip → Adam.
        let batch = batcher.batch(progress.batch_in_epoch);
        let (inputs, targets) = batch_tensors(&batch, &device);
        let backward_chunk = backward_batcher.as_ref().map(|batcher| {
            let (inputs, targets) = batch_tensors(&batcher.batch(progress.batch_in_epoch), &device);
            Chunk {
                inputs,
                targets,
                state: backward_state.take(),
            }
        });
        let time_fraction = if budget_seconds > 0.0 {
            (elapsed_before + session_start.elapsed().as_secs_f64()) / budget_seconds
        } else {
            0.0
        };
        let learning_rate = schedule.learning_rate_at(progress.step, time_fraction);
        device.seed(step_seed(config.seed, progress.step));
        let state_before = state.clone();
        let backward_state_before = backward_chunk.as_ref().and_then(|c| c.state.clone());
        let forward_chunk = Chunk {
            inputs,
            targets,
            state: state.take(),
        };
        let outcome = train_step(
            model,
            &mut optimizer,
            forward_chunk,
            backward_chunk,
            learning_rate,
            t.grad_clip,
        );
        model = outcome.model;
        if outcome.applied {
            window.add(outcome.loss, outcome.backward_loss);
            state = Some(outcome.state);
            backward_state = outcome.backward_state;
        } else if t.skip_nonfinite {
            observer.on_event(&TrainEvent::Skipped {
                step: progress.step + 1,
                loss: outcome.loss,
                grad_norm: outcome.grad_norm,
            });
            progress.skipped_steps += 1;
            // The chunk's state is suspect: the next chunk starts afresh.
            state = None;
            backward_state = None;
        } else {
            // Nothing is lost: the weights before this step are the last good ones.
            let path = save_latest(
                &model,
                &optimizer,
                state_before.as_ref(),
                backward_state_before.as_ref(),
                &progress,
            )?;
            return Err(TrainError::NonFinite {
                step: progress.step + 1,
                loss: outcome.loss,
                grad_norm: outcome.grad_norm,
                checkpoint: path,
            });
        }
        progress.step += 1;
        progress.batch_in_epoch += 1;

        let elapsed = elapsed_before + session_start.elapsed().as_secs_f64();
        let out_of_time = budget_seconds > 0.0 && elapsed >= budget_seconds;
        let last = progress.step >= total_steps || out_of_time;
        let stop_requested = stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
        progress.elapsed_seconds = elapsed;

        observer.on_event(&TrainEvent::Progress {
            step: progress.step,
            epoch: progress.epoch + 1,
        });
        let log_now = progress.step.is_multiple_of(t.log_interval) || last;
        let eval_now = progress.step.is_multiple_of(t.eval_interval) || last;
        let mut row = MetricsRow {
            step: progress.step,
            epoch: progress.epoch + 1,
            train_loss: None,
            validation_loss: None,
            learning_rate,
            chars_per_second: None,
            wall_seconds: elapsed,
            backward_train_loss: None,
            backward_validation_loss: None,
        };
        if log_now
            && let Some((train_loss, backward_train_loss, chars_per_second)) =
                window.take(chars_per_step)
        {
            progress.train_loss = Some(train_loss);
            progress.backward_train_loss = backward_train_loss;
            row.train_loss = Some(train_loss);
            row.backward_train_loss = backward_train_loss;
            row.chars_per_second = Some(chars_per_second);
            observer.on_event(&TrainEvent::Step {
                step: progress.step,
                total_steps,
                epoch: progress.epoch + 1,
                train_loss,
                backward_train_loss,
                learning_rate,
                chars_per_second,
            });
        }
        if eval_now {
            let inference_model = model.valid();
            let validate = |direction| -> Result<f32, TrainError> {
                let evaluation = evaluate_in(
                    direction,
                    &inference_model,
                    validation_tokens,
                    t.batch_size,
                    t.seq_len,
                    &inference_device,
                    "validation",
                )?;
                Ok(evaluation.nats_per_char as f32)
            };
            let validation_loss = if validation_tokens.len() >= 2 {
                Some(validate(Direction::Forward)?)
            } else {
                None
            };
            let backward_validation_loss = match validation_loss {
                Some(_) if model.is_bidirectional() => Some(validate(Direction::Backward)?),
                _ => None,
            };
            // A bidirectional model is as good as the sum of its two directions.
            let objective = |forward: Option<f32>, backward: Option<f32>| {
                forward.map(|f| f + backward.unwrap_or(0.0))
            };
            let is_best = match (
                objective(validation_loss, backward_validation_loss),
                objective(
                    progress.best_validation_loss,
                    progress.best_backward_validation_loss,
                ),
            ) {
                (Some(loss), Some(best)) => loss < best,
                (Some(_), None) => true,
                _ => false,
            };
            progress.validation_loss = validation_loss;
            progress.backward_validation_loss = backward_validation_loss;
            row.validation_loss = validation_loss;
            row.backward_validation_loss = backward_validation_loss;
            if is_best {
                progress.best_validation_loss = validation_loss;
                progress.best_backward_validation_loss = backward_validation_loss;
            }
            if let Some(loss) = validation_loss {
                observer.on_event(&TrainEvent::Validation {
                    step: progress.step,
                    loss,
                    backward_loss: backward_validation_loss,
                    best: is_best,
                });
            }
            if t.sample_chars > 0 {
                let text = periodic_sample(
                    &inference_model,
                    &tokenizer,
                    validation_tokens.get(0).or(tokens.get(0)).unwrap_or(0),
                    t.sample_chars,
                    config.seed,
                    &inference_device,
                )?;
                append_sample(&run_dir, progress.step, validation_loss, &text)?;
                observer.on_event(&TrainEvent::Sample {
                    step: progress.step,
                    text: &text,
                });
            }
            if is_best || validation_loss.is_none() {
                let best = CheckpointContents {
                    config,
                    tokenizer: &tokenizer,
                    model: &model,
                    optimizer: None,
                    state: None,
                    progress: &progress,
                };
                checkpoint::save(&run_dir, "best", &best)?;
            }
        }
        if row.train_loss.is_some() || row.validation_loss.is_some() {
            metrics.append(&row)?;
        }
        if eval_now {
            // The picture is a convenience: failing to draw it never stops a run.
            let curves = LossCurves::read(&run_dir)
                .and_then(|curves| draw_loss_png(&[curves], &run_dir.join(LOSS_PLOT_FILE), "loss"));
            if let Err(e) = curves
                && !plot_failed
            {
                plot_failed = true;
                let message = format!("cannot draw {LOSS_PLOT_FILE}: {e}");
                observer.on_event(&TrainEvent::Notice { message: &message });
            }
        }
        let checkpoint_now = eval_now
            || last
            || stop_requested
            || (t.checkpoint_interval > 0 && progress.step.is_multiple_of(t.checkpoint_interval));
        if checkpoint_now {
            let path = save_latest(
                &model,
                &optimizer,
                state.as_ref(),
                backward_state.as_ref(),
                &progress,
            )?;
            observer.on_event(&TrainEvent::Checkpoint { path: &path });
            window.restart_clock();
        }
        if stop_requested {
            interrupted = !last;
            break;
        }
        if out_of_time {
            break;
        }
    }

    let session_seconds = session_start.elapsed().as_secs_f64();
    Ok(TrainSummary {
        steps: progress.step,
        unit: tokenizer.unit(),
        final_train_loss: progress.train_loss,
        final_validation_loss: progress.validation_loss,
        best_validation_loss: progress.best_validation_loss,
        elapsed_seconds: progress.elapsed_seconds,
        chars_per_second: ((progress.step - steps_at_start) * chars_per_step) as f64
            / session_seconds.max(1e-9),
        run_dir,
        interrupted,
    })
}

/// Tells the user what was read: the prepared token file (made now, or reused), and when
/// there is more to say, how many files, how many skipped, how many invalid UTF-8 sequences
/// replaced, how many rare characters share the unknown token.
fn report_corpus(config: &RunConfig, prepared: &PreparedCorpus, observer: &mut dyn TrainObserver) {
    let info = &prepared.info;
    let label = config.data.corpus.specs().join(", ");
    if let Some(problem) = &prepared.cache_problem {
        let message = problem.clone();
        observer.on_event(&TrainEvent::Notice { message: &message });
    }
    observer.on_event(&TrainEvent::Prepared {
        tokens: info.tokens,
        width_bytes: info.width.bytes(),
        source_bytes: info.source_bytes,
        location: &prepared.location,
        reused: prepared.reused,
        seconds: info.seconds,
        megabytes_per_second: info.megabytes_per_second(),
    });
    let mut notice = |message: String| observer.on_event(&TrainEvent::Notice { message: &message });
    if info.files > 1 || info.skipped_files > 0 {
        notice(format!(
            "corpus '{label}': {} files read, {} binary or empty ones skipped",
            info.files, info.skipped_files
        ));
    }
    if info.replaced_invalid_utf8 > 0 {
        notice(format!(
            "corpus '{label}': replaced {} invalid UTF-8 sequences with U+FFFD (data.invalid_utf8 = replace)",
            info.replaced_invalid_utf8
        ));
    }
    let rare = prepared.rare_characters();
    if rare.distinct > 0 {
        notice(format!(
            "data.max_vocab = {}: {} rare characters ({} occurrences) share the unknown token",
            config.data.max_vocab, rare.distinct, rare.occurrences
        ));
    }
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
            std::fs::create_dir_all(run_dir)
                .map_err(|source| TrainError::write(run_dir.to_path_buf(), source))?;
            Ok(None)
        }
    }
}

/// Writes the resolved config and the tokenizer (`vocab.json` and `tokenizer.json`) at the top
/// of the run directory, so a person can see what the run is without opening a checkpoint.
fn config_files(
    run_dir: &Path,
    config: &RunConfig,
    tokenizer: &Tokenizer,
) -> Result<(), TrainError> {
    checkpoint::write_synced(&run_dir.join("config.toml"), config.to_toml().as_bytes())?;
    for (file, bytes) in checkpoint::tokenizer_files(tokenizer)? {
        checkpoint::write_synced(&run_dir.join(file), &bytes)?;
    }
    Ok(())
}

/// A sample of `length` tokens from `model`, primed with the token `first` (the first token of
/// the validation text), the same seed every time, so successive samples show the model, not
/// the dice, changing.
fn periodic_sample(
    model: &CharModel,
    tokenizer: &Tokenizer,
    first: u32,
    length: usize,
    seed: u64,
    device: &Device,
) -> Result<String, TrainError> {
    let prime = tokenizer.decode(&[first]);
    let options = GenerateOptions {
        prime,
        length,
        sampling: SamplingOptions {
            temperature: 0.8,
            ..Default::default()
        },
        seed,
    };
    generate(model, tokenizer, &options, device, |_| true)
}

/// Appends a sample to `run_dir/samples.txt` under a header naming the step.
fn append_sample(
    run_dir: &Path,
    step: usize,
    validation_loss: Option<f32>,
    text: &str,
) -> Result<(), TrainError> {
    let path = run_dir.join(SAMPLES_FILE);
    let loss = validation_loss.map_or(String::new(), |l| format!(", validation loss {l:.4}"));
    let entry = format!("=== step {step}{loss} ===\n{text}\n\n");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, entry.as_bytes()))
        .map_err(|e| TrainError::write(&path, e))
}

/// Training losses and time since the last report.
struct LossWindow {
    sum: f64,
    backward_sum: Option<f64>,
    steps: usize,
    start: Instant,
}

impl LossWindow {
    fn new() -> Self {
        Self {
            sum: 0.0,
            backward_sum: None,
            steps: 0,
            start: Instant::now(),
        }
    }

    fn add(&mut self, loss: f32, backward_loss: Option<f32>) {
        self.sum += f64::from(loss);
        if let Some(loss) = backward_loss {
            *self.backward_sum.get_or_insert(0.0) += f64::from(loss);
        }
        self.steps += 1;
    }

    /// Mean forward and backward losses and throughput since the last call (`None` if no step
    /// counted: all skipped). With one step in the window the mean is that step's loss exactly.
    fn take(&mut self, chars_per_step: usize) -> Option<(f32, Option<f32>, f64)> {
        let steps = std::mem::take(&mut self.steps);
        let sum = std::mem::take(&mut self.sum);
        let backward_sum = self.backward_sum.take();
        let seconds = self.start.elapsed().as_secs_f64().max(1e-9);
        self.start = Instant::now();
        (steps > 0).then(|| {
            (
                (sum / steps as f64) as f32,
                backward_sum.map(|sum| (sum / steps as f64) as f32),
                (steps * chars_per_step) as f64 / seconds,
            )
        })
    }

    /// Validation and checkpoints do not count against throughput.
    fn restart_clock(&mut self) {
        self.start = Instant::now();
    }
}
