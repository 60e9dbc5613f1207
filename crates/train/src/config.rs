//! The run configuration: what a TOML file under `configs/` holds, with every field
//! overridable from the command line as `--set section.key=value`.
//!
//! Precedence is defaults → file → overrides. The structs are plain serde with defaults and
//! `deny_unknown_fields`, so a misspelt key is an error, not silently ignored; [`RunConfig::validate`]
//! then checks the values once, before anything runs.

mod overrides;

use std::path::Path;

pub use charlstm_data::config::{CHARACTER_TOKENIZER, CorpusSources, DataConfig};
pub use charlstm_model::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::chunks::EarlyChunks;
use crate::error::TrainError;
use crate::schedule::{Schedule, ScheduleKind};
use overrides::{apply_override, one_line};

/// Everything a training run needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Where tensors live: `ndarray`, `flex` (CPU) or `wgpu` (GPU).
    pub backend: BackendKind,
    /// One seed for weight initialisation, dropout and the data order.
    pub seed: u64,
    /// The corpus and its split.
    pub data: DataConfig,
    /// The network's shape.
    pub model: ModelConfig,
    /// The optimisation.
    pub train: TrainConfig,
}

/// The optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Parallel streams per batch.
    pub batch_size: usize,
    /// Steps of backpropagation through time per chunk.
    pub seq_len: usize,
    /// Chunk length of the run's first `early_share` (0: `seq_len` throughout). Shorter
    /// chunks early make cheaper steps, so more of them, while the model learns short-range
    /// statistics; the batches, in characters, then grow to `seq_len` for the rest of the run.
    /// Must divide `seq_len`. The streams and the carried state continue across the switch.
    pub early_seq_len: usize,
    /// Share of the run (steps, or the time budget) trained on `early_seq_len`-long chunks,
    /// in (0, 1).
    pub early_share: f64,
    /// Peak learning rate of Adam.
    pub learning_rate: f64,
    /// Learning rate at the end of the schedule (cosine and linear).
    pub min_learning_rate: f64,
    /// Schedule after warm-up: `constant`, `cosine` or `linear`.
    pub schedule: ScheduleKind,
    /// Share of the run (steps, or the time budget) at its end over which the learning rate
    /// decays; before it, the learning rate stays at its peak. 1: the decay spans the whole
    /// run after warm-up.
    pub decay_fraction: f64,
    /// Steps of linear warm-up from 0 to `learning_rate`.
    pub warmup_steps: usize,
    /// Adam's decay rate of the gradient's running mean (PyTorch's default 0.9).
    pub adam_beta1: f64,
    /// Adam's decay rate of the squared gradient's running mean (PyTorch's default 0.999).
    /// Smaller values adapt the step size faster, which short runs may prefer.
    pub adam_beta2: f64,
    /// Decoupled weight decay (AdamW) of the weight matrices and the embedding: each step
    /// shrinks them by `learning_rate · weight_decay` of themselves (0: plain Adam).
    pub weight_decay: f64,
    /// Keep an exponential moving average of the weights with this decay (0: none); it is
    /// what validation measures, `best/` keeps and sampling reads.
    pub ema_decay: f64,
    /// Clip the global gradient norm (all parameters together, as PyTorch's
    /// `clip_grad_norm_`) to this value; 0 turns clipping off.
    pub grad_clip: f64,
    /// Passes over the training split.
    pub epochs: usize,
    /// Stop after this many steps (0: no limit).
    pub max_steps: usize,
    /// Stop after this many minutes of training (0: no limit).
    pub max_minutes: f64,
    /// Validate (and checkpoint) every this many steps.
    pub eval_interval: usize,
    /// Also write the `latest` checkpoint every this many steps (0: only at validation). A
    /// killed run loses at most this many steps.
    pub checkpoint_interval: usize,
    /// Print training progress (and add a row to `metrics.csv`) every this many steps.
    pub log_interval: usize,
    /// When a step's loss or gradient is not finite, skip it (no update) and go on, instead of
    /// stopping the run.
    pub skip_nonfinite: bool,
    /// Characters sampled at each validation and appended to `samples.txt` in the run
    /// directory (0: none).
    pub sample_chars: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::Flex,
            seed: 1337,
            data: DataConfig::default(),
            model: ModelConfig::default(),
            train: TrainConfig::default(),
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            seq_len: 100,
            early_seq_len: 0,
            early_share: 0.3,
            learning_rate: 2e-3,
            min_learning_rate: 2e-4,
            schedule: ScheduleKind::Cosine,
            decay_fraction: 1.0,
            warmup_steps: 100,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            weight_decay: 0.0,
            ema_decay: 0.0,
            grad_clip: 5.0,
            epochs: 10,
            max_steps: 0,
            max_minutes: 0.0,
            eval_interval: 250,
            checkpoint_interval: 0,
            log_interval: 25,
            skip_nonfinite: false,
            sample_chars: 200,
        }
    }
}

impl TrainConfig {
    /// Target characters (tokens) one training step predicts: every stream's chunk.
    pub fn chars_per_step(&self) -> usize {
        self.batch_size * self.seq_len
    }

    /// The early phase of shorter chunks, when `early_seq_len` asks for one.
    pub fn early_chunks(&self) -> Option<EarlyChunks> {
        (self.early_seq_len > 0).then(|| EarlyChunks {
            seq_len: self.early_seq_len,
            ratio: self.seq_len / self.early_seq_len,
            share: self.early_share,
        })
    }

    /// The learning-rate schedule of a run of `epochs` epochs of `steps_per_epoch` steps of
    /// `seq_len`-long chunks, cut short by `max_steps` when that is set. With an early phase
    /// of shorter chunks the run takes more steps for the same epochs: its first
    /// `early_share` of the steps cover a `seq_len / early_seq_len`-th of the text each.
    pub fn schedule_for(&self, steps_per_epoch: usize) -> Schedule {
        let late_steps = steps_per_epoch * self.epochs;
        let mut total_steps = match self.early_chunks() {
            Some(early) => early.steps_for(late_steps),
            None => late_steps,
        };
        if self.max_steps > 0 {
            total_steps = total_steps.min(self.max_steps);
        }
        Schedule {
            kind: self.schedule,
            peak: self.learning_rate,
            minimum: self.min_learning_rate,
            decay_fraction: self.decay_fraction,
            warmup_steps: self.warmup_steps,
            total_steps,
        }
    }
}

impl RunConfig {
    /// The run's regularisation in words, e.g. `dropout 0.2 (locked), weight drop 0.3,
    /// weight decay 0.1, weights averaged (decay 0.999)`, or `none`.
    pub fn describe_regularization(&self) -> String {
        let (m, t) = (&self.model, &self.train);
        let mut parts = Vec::new();
        if m.dropout > 0.0 {
            let placement = match (m.locked_dropout, m.output_dropout) {
                (true, true) => " (locked, also before the head)",
                (true, false) => " (locked)",
                (false, true) => " (also before the head)",
                (false, false) => "",
            };
            parts.push(format!("dropout {}{placement}", m.dropout));
        }
        for (name, value) in [
            ("input dropout", m.input_dropout),
            ("embedding dropout", m.embedding_dropout),
            ("weight drop", m.weight_drop),
            ("weight decay", t.weight_decay),
        ] {
            if value > 0.0 {
                parts.push(format!("{name} {value}"));
            }
        }
        if t.ema_decay > 0.0 {
            parts.push(format!("weights averaged (decay {})", t.ema_decay));
        }
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    }

    /// Reads `path` (if given) over the defaults, applies `overrides` (`key=value`, dotted
    /// keys such as `train.learning_rate=1e-3`), and validates the result.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self, TrainError> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    TrainError::Config(format!("cannot read config '{}': {e}", path.display()))
                })?;
                text.parse::<toml::Table>().map_err(|e| {
                    TrainError::Config(format!(
                        "config '{}' is not valid TOML: {}",
                        path.display(),
                        one_line(&e.to_string())
                    ))
                })?
            }
            None => toml::Table::new(),
        };
        for assignment in overrides {
            apply_override(&mut table, assignment)?;
        }
        let source = match (path, overrides.is_empty()) {
            (None, _) => "the command line".to_string(),
            (Some(p), true) => format!("config '{}'", p.display()),
            (Some(p), false) => format!("config '{}' with --set overrides", p.display()),
        };
        let config: RunConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e| TrainError::Config(format!("{source}: {}", one_line(&e.to_string()))))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a config written by [`RunConfig::to_toml`] (e.g. a checkpoint's).
    pub fn from_toml(text: &str) -> Result<Self, TrainError> {
        let config: RunConfig =
            toml::from_str(text).map_err(|e| TrainError::Config(one_line(&e.to_string())))?;
        config.validate()?;
        Ok(config)
    }

    /// The config as TOML, every field written out.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config serializes")
    }

    /// Checks every value, failing on the first bad one with a message that names the key.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |key: &str, value: String, rule: &str| {
            Err(TrainError::Config(format!(
                "{key} = {value} is invalid: it must be {rule}"
            )))
        };
        let positive = [
            ("model.embedding_size", self.model.embedding_size),
            ("model.hidden_size", self.model.hidden_size),
            ("model.num_layers", self.model.num_layers),
            ("train.batch_size", self.train.batch_size),
            ("train.seq_len", self.train.seq_len),
            ("train.epochs", self.train.epochs),
            ("train.eval_interval", self.train.eval_interval),
            ("train.log_interval", self.train.log_interval),
        ];
        for (key, value) in positive {
            if value == 0 {
                return bad(key, value.to_string(), "at least 1");
            }
        }
        let specs = self.data.corpus.specs();
        if specs.is_empty() || specs.iter().any(|spec| spec.trim().is_empty()) {
            return bad(
                "data.corpus",
                format!("{:?}", specs),
                "a file, directory or corpus name, or a list of them",
            );
        }
        if self.data.max_vocab == 1 {
            return bad("data.max_vocab", "1".into(), "0 (no limit) or at least 2");
        }
        if self.data.tokenizer.trim().is_empty() {
            return bad(
                "data.tokenizer",
                "\"\"".into(),
                "\"chars\" or the path of a tokenizer.json",
            );
        }
        let recipe = &self.train;
        if !(recipe.learning_rate.is_finite() && recipe.learning_rate > 0.0) {
            return bad(
                "train.learning_rate",
                recipe.learning_rate.to_string(),
                "> 0",
            );
        }
        if !(recipe.min_learning_rate.is_finite()
            && recipe.min_learning_rate >= 0.0
            && recipe.min_learning_rate <= recipe.learning_rate)
        {
            return bad(
                "train.min_learning_rate",
                recipe.min_learning_rate.to_string(),
                "between 0 and train.learning_rate",
            );
        }
        if !(recipe.decay_fraction > 0.0 && recipe.decay_fraction <= 1.0) {
            return bad(
                "train.decay_fraction",
                recipe.decay_fraction.to_string(),
                "in (0, 1]",
            );
        }
        if recipe.early_seq_len > 0
            && (recipe.early_seq_len >= recipe.seq_len
                || !recipe.seq_len.is_multiple_of(recipe.early_seq_len))
        {
            return bad(
                "train.early_seq_len",
                recipe.early_seq_len.to_string(),
                &format!(
                    "0 (off) or a divisor of train.seq_len = {} smaller than it",
                    recipe.seq_len
                ),
            );
        }
        if !(recipe.early_share > 0.0 && recipe.early_share < 1.0) {
            return bad(
                "train.early_share",
                recipe.early_share.to_string(),
                "in (0, 1)",
            );
        }
        for (key, beta) in [
            ("train.adam_beta1", recipe.adam_beta1),
            ("train.adam_beta2", recipe.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&beta) {
                return bad(key, beta.to_string(), "in [0, 1)");
            }
        }
        if !(recipe.weight_decay.is_finite() && recipe.weight_decay >= 0.0) {
            return bad(
                "train.weight_decay",
                recipe.weight_decay.to_string(),
                ">= 0 (0 turns it off)",
            );
        }
        if !(0.0..1.0).contains(&recipe.ema_decay) {
            return bad(
                "train.ema_decay",
                recipe.ema_decay.to_string(),
                "in [0, 1) (0 turns averaging off)",
            );
        }
        if !(recipe.grad_clip.is_finite() && recipe.grad_clip >= 0.0) {
            return bad(
                "train.grad_clip",
                recipe.grad_clip.to_string(),
                ">= 0 (0 turns it off)",
            );
        }
        if !(recipe.max_minutes.is_finite() && recipe.max_minutes >= 0.0) {
            return bad(
                "train.max_minutes",
                recipe.max_minutes.to_string(),
                ">= 0 (0: no limit)",
            );
        }
        let m = &self.model;
        for (key, prob) in [
            ("model.dropout", m.dropout),
            ("model.input_dropout", m.input_dropout),
            ("model.embedding_dropout", m.embedding_dropout),
            ("model.weight_drop", m.weight_drop),
        ] {
            if !(prob.is_finite() && (0.0..1.0).contains(&prob)) {
                return bad(key, prob.to_string(), "in [0, 1)");
            }
        }
        if !m.forget_bias.is_finite() {
            return bad(
                "model.forget_bias",
                m.forget_bias.to_string(),
                "a finite number",
            );
        }
        let d = &self.data;
        for (key, value) in [
            ("data.validation_fraction", d.validation_fraction),
            ("data.test_fraction", d.test_fraction),
        ] {
            if !(value.is_finite() && (0.0..1.0).contains(&value)) {
                return bad(key, value.to_string(), "in [0, 1)");
            }
        }
        if d.validation_fraction + d.test_fraction >= 0.9 {
            return bad(
                "data.validation_fraction + data.test_fraction",
                (d.validation_fraction + d.test_fraction).to_string(),
                "below 0.9, to leave text to train on",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
