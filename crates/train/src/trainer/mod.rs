//! The training loop: truncated backpropagation through time over contiguous streams, with the
//! recurrent state carried from chunk to chunk and reset at each epoch.

mod data;
mod session;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use charlstm_data::CorpusLocator;

use crate::checkpoint::Checkpoint;
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::init_from;
use crate::metrics::{MetricsLog, MetricsRow};
use crate::observer::{TrainEvent, TrainObserver};
use crate::resume::{ResumePlan, check_resume};
use crate::run_dir::{self, LossPicture};
use data::TrainingData;
use session::Session;

/// How to run a training job, beyond its configuration.
pub struct TrainOptions<'a> {
    /// The run directory: checkpoints, the resolved config and `metrics.csv` go here.
    pub run_dir: PathBuf,
    /// Continue from the run directory's latest checkpoint instead of starting afresh.
    pub resume: bool,
    /// Start a new run from this checkpoint's weights (a checkpoint or run directory):
    /// fine-tuning. Not with `resume`.
    pub init_from: Option<PathBuf>,
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
        init_from,
        locator,
        observer,
        stop,
    } = options;
    let init_from = init_from
        .map(|path| open_init_from(&path, resume, config))
        .transpose()?;
    let resumed = open_resume(&run_dir, resume, config)?;
    let resume_from = resumed.as_ref().map(|(checkpoint, _)| checkpoint);
    let prepared = data::prepare(config, &locator, resume_from, init_from.as_ref(), observer)?;
    let data = TrainingData::new(config, &prepared)?;
    let tokenizer = resume_from.map_or(&prepared.tokenizer, |c| &c.tokenizer);
    let mut session = Session::start(config, &run_dir, tokenizer)?;
    if let Some((checkpoint, plan)) = &resumed {
        session.resume(checkpoint, plan, &data, observer)?;
    }
    if let Some(checkpoint) = &init_from {
        session.init_from(checkpoint, observer)?;
    }
    run_dir::write_config_files(&run_dir, config, tokenizer)?;
    let mut metrics = MetricsLog::open(&run_dir, session.progress.step)?;
    let recipe = &config.train;
    let schedule = recipe.schedule_for(data.full.forward.num_batches());
    let early_chunks = recipe.early_chunks();
    let resumed_at = resume_from.map(|c| c.progress.step);
    session.announce(&data, schedule.total_steps, resumed_at, observer);
    if init_from.is_some() {
        // Where fine-tuning starts: the loss on the new text before any step.
        let row = MetricsRow::new(0, 1, 0.0, 0.0);
        finish_row(&mut session, &data, true, row, &mut metrics, observer)?;
    }

    let clock = BudgetClock::start(recipe.max_minutes, session.progress.elapsed_seconds);
    let mut picture = LossPicture::default();
    let mut interrupted = false;
    while session.progress.step < schedule.total_steps {
        let (step, time_fraction) = (session.progress.step, clock.fraction());
        let learning_rate = schedule.learning_rate_at(step, time_fraction);
        let run_fraction = schedule.run_fraction(step, time_fraction);
        let stay_early = early_chunks.is_some_and(|early| early.is_early(run_fraction));
        session = session.step(&data, learning_rate, stay_early, observer)?;
        let progress = &mut session.progress;
        progress.elapsed_seconds = clock.elapsed();
        let (step, epoch) = (progress.step, progress.epoch + 1);
        let out_of_time = clock.is_spent(progress.elapsed_seconds);
        let last = step >= schedule.total_steps || out_of_time;
        let stop_requested = stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
        observer.on_event(&TrainEvent::Progress { step, epoch });

        let mut row = MetricsRow::new(step, epoch, learning_rate, progress.elapsed_seconds);
        if step.is_multiple_of(recipe.log_interval) || last {
            session.report_training(&mut row, schedule.total_steps, observer);
        }
        let eval_now = step.is_multiple_of(recipe.eval_interval) || last;
        finish_row(&mut session, &data, eval_now, row, &mut metrics, observer)?;
        if eval_now {
            picture.redraw(&run_dir, observer);
        }
        let periodic =
            recipe.checkpoint_interval > 0 && step.is_multiple_of(recipe.checkpoint_interval);
        if eval_now || last || stop_requested || periodic {
            let path = session.save_latest()?;
            observer.on_event(&TrainEvent::Checkpoint { path: &path });
        }
        if stop_requested || out_of_time {
            interrupted = stop_requested && !last;
            break;
        }
    }
    let session_seconds = clock.session_seconds();
    Ok(session.summary(session_seconds, interrupted))
}

/// The run directory's latest checkpoint when resuming, and what `config` may change of it: a
/// resumed run may not change what the checkpoint's weights fix, refused here, before anything
/// is written.
fn open_resume(
    run_dir: &Path,
    resume: bool,
    config: &RunConfig,
) -> Result<Option<(Checkpoint, ResumePlan)>, TrainError> {
    let Some(checkpoint) = run_dir::open(run_dir, resume)? else {
        return Ok(None);
    };
    let plan = check_resume(&checkpoint.config, config)?;
    Ok(Some((checkpoint, plan)))
}

/// Completes a step's metrics row: the validation (with its sample and best checkpoint) when
/// `validate`, then the row into `metrics.csv` if it holds a loss.
fn finish_row(
    session: &mut Session,
    data: &TrainingData<'_>,
    validate: bool,
    mut row: MetricsRow,
    metrics: &mut MetricsLog,
    observer: &mut dyn TrainObserver,
) -> Result<(), TrainError> {
    if validate {
        session.validate(data, &mut row, observer)?;
    }
    if row.has_losses() {
        metrics.append(&row)?;
    }
    Ok(())
}

/// The checkpoint at `path` that a new run starts from, once `config` is known to fit its
/// weights.
fn open_init_from(path: &Path, resume: bool, config: &RunConfig) -> Result<Checkpoint, TrainError> {
    if resume {
        return Err(TrainError::Config(
            "--init-from starts a new run from a checkpoint and --resume continues a run: give one of them".into(),
        ));
    }
    let checkpoint = Checkpoint::open(path)?;
    init_from::check_shape(&checkpoint, config)?;
    Ok(checkpoint)
}

/// The clock of `train.max_minutes`, counting the time of earlier sessions of a resumed run.
struct BudgetClock {
    /// Seconds of the budget (0: none).
    budget_seconds: f64,
    /// Training seconds before this session.
    elapsed_before: f64,
    session_start: Instant,
}

impl BudgetClock {
    fn start(max_minutes: f64, elapsed_before: f64) -> Self {
        Self {
            budget_seconds: max_minutes * 60.0,
            elapsed_before,
            session_start: Instant::now(),
        }
    }

    /// Seconds of this session.
    fn session_seconds(&self) -> f64 {
        self.session_start.elapsed().as_secs_f64()
    }

    /// Seconds of training across sessions.
    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.session_seconds()
    }

    /// The share of the budget spent (0 without a budget).
    fn fraction(&self) -> f64 {
        if self.budget_seconds > 0.0 {
            self.elapsed() / self.budget_seconds
        } else {
            0.0
        }
    }

    /// Whether `elapsed` seconds of training have spent the budget.
    fn is_spent(&self, elapsed: f64) -> bool {
        self.budget_seconds > 0.0 && elapsed >= self.budget_seconds
    }
}
