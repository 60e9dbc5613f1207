//! The run configuration: what a TOML file under `configs/` holds, with every field
//! overridable from the command line as `--set section.key=value`.
//!
//! Precedence is defaults → file → overrides. The structs are plain serde with defaults and
//! `deny_unknown_fields`, so a misspelt key is an error, not silently ignored; [`RunConfig::validate`]
//! then checks the values once, before anything runs.

use std::path::Path;

use charlstm_data::{
    CorpusLocator, FileSelection, InvalidUtf8, PrepareOptions, PreparePhase, PreparedCorpus,
    ResolvedCorpus, SplitFractions, TokenView, Tokenizer, TokenizerChoice,
};
use charlstm_model::{CellKind, CharModelConfig};
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::error::TrainError;
use crate::schedule::ScheduleKind;

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

/// `data.corpus`: one source, or several read in order as one text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CorpusSources {
    /// A file, directory or corpus name.
    One(String),
    /// Several, in order.
    Many(Vec<String>),
}

impl CorpusSources {
    /// The sources in order.
    pub fn specs(&self) -> Vec<String> {
        match self {
            Self::One(spec) => vec![spec.clone()],
            Self::Many(specs) => specs.clone(),
        }
    }
}

impl std::fmt::Display for CorpusSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.specs().join(", "))
    }
}

impl From<&str> for CorpusSources {
    fn from(spec: &str) -> Self {
        Self::One(spec.to_string())
    }
}

/// `data.tokenizer` for a character vocabulary built from the corpus.
pub const CHARACTER_TOKENIZER: &str = "chars";

/// The corpus and how it is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// A file, a directory (its files, recursively, as `include` / `exclude` select them), or
    /// the name of a known corpus (see `corpora/README.md`); or a list of these, read in order
    /// as one text.
    pub corpus: CorpusSources,
    /// Globs choosing the files of a corpus directory (empty: every file but hidden ones). A
    /// glob without `/` matches file names (`*.rs`), one with `/` the path inside the
    /// directory (`src/**/*.rs`).
    pub include: Vec<String>,
    /// Globs leaving out files or directories of a corpus directory (`target`, `*.min.js`).
    pub exclude: Vec<String>,
    /// At most this many tokens in a character vocabulary (0: every character of the corpus):
    /// the rarest characters beyond it share one unknown token.
    pub max_vocab: usize,
    /// Validate on at most this many characters of the validation split (0: all of it), so
    /// a large corpus's validation stays quick.
    pub val_chars: usize,
    /// Fraction of the corpus held out for validation (taken after the training part).
    pub validation_fraction: f64,
    /// Fraction held out for a final test (the very end of the corpus).
    pub test_fraction: f64,
    /// Invalid UTF-8 in the corpus: `error` (stop, naming the byte offset) or `replace` (with
    /// U+FFFD, counted).
    pub invalid_utf8: InvalidUtf8,
    /// How text becomes tokens: `chars` (one token per character of the corpus, the default)
    /// or the path of a Hugging Face `tokenizer.json` (byte-level, BPE, ...). A resumed run
    /// keeps the tokenizer saved with its checkpoint.
    pub tokenizer: String,
    /// Keep the prepared corpus (its token file) in the cache, so the next run on an unchanged
    /// corpus starts at once; `false` prepares it afresh into a temporary directory each time.
    pub cache: bool,
}

/// The network's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Recurrent cell: `lstm`, `gru` or `rnn`, with PyTorch's equations.
    pub cell: CellKind,
    /// Width of the character embedding.
    pub embedding_size: usize,
    /// Width of each recurrent layer.
    pub hidden_size: usize,
    /// Number of stacked recurrent layers.
    pub num_layers: usize,
    /// Dropout between layers while training, in `[0, 1)`.
    pub dropout: f64,
    /// Initial forget-gate bias (LSTM only; GRU and RNN layers ignore it).
    pub forget_bias: f64,
    /// Also train a backward stack (a bidirectional language model in the style of ELMo:
    /// each direction predicts from one side only; `charlstm fill` uses both).
    pub bidirectional: bool,
    /// Whether the two directions of a bidirectional model share the head.
    pub shared_head: bool,
    /// Residual connections: every layer above the first adds its input to its output.
    pub residual: bool,
}

/// The optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Parallel streams per batch.
    pub batch_size: usize,
    /// Steps of backpropagation through time per chunk.
    pub seq_len: usize,
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

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            corpus: "tinyshakespeare".into(),
            include: Vec::new(),
            exclude: Vec::new(),
            max_vocab: 0,
            val_chars: 0,
            validation_fraction: 0.1,
            test_fraction: 0.0,
            invalid_utf8: InvalidUtf8::Error,
            tokenizer: CHARACTER_TOKENIZER.into(),
            cache: true,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            cell: CellKind::Lstm,
            embedding_size: 64,
            hidden_size: 512,
            num_layers: 2,
            dropout: 0.0,
            forget_bias: 0.0,
            bidirectional: false,
            shared_head: true,
            residual: false,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            seq_len: 100,
            learning_rate: 2e-3,
            min_learning_rate: 2e-4,
            schedule: ScheduleKind::Cosine,
            decay_fraction: 1.0,
            warmup_steps: 100,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
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

impl RunConfig {
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
        let t = &self.train;
        if !(t.learning_rate.is_finite() && t.learning_rate > 0.0) {
            return bad("train.learning_rate", t.learning_rate.to_string(), "> 0");
        }
        if !(t.min_learning_rate.is_finite()
            && t.min_learning_rate >= 0.0
            && t.min_learning_rate <= t.learning_rate)
        {
            return bad(
                "train.min_learning_rate",
                t.min_learning_rate.to_string(),
                "between 0 and train.learning_rate",
            );
        }
        if !(t.decay_fraction > 0.0 && t.decay_fraction <= 1.0) {
            return bad(
                "train.decay_fraction",
                t.decay_fraction.to_string(),
                "in (0, 1]",
            );
        }
        for (key, beta) in [
            ("train.adam_beta1", t.adam_beta1),
            ("train.adam_beta2", t.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&beta) {
                return bad(key, beta.to_string(), "in [0, 1)");
            }
        }
        if !(t.grad_clip.is_finite() && t.grad_clip >= 0.0) {
            return bad(
                "train.grad_clip",
                t.grad_clip.to_string(),
                ">= 0 (0 turns it off)",
            );
        }
        if !(t.max_minutes.is_finite() && t.max_minutes >= 0.0) {
            return bad(
                "train.max_minutes",
                t.max_minutes.to_string(),
                ">= 0 (0: no limit)",
            );
        }
        let m = &self.model;
        if !(m.dropout.is_finite() && (0.0..1.0).contains(&m.dropout)) {
            return bad("model.dropout", m.dropout.to_string(), "in [0, 1)");
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

    /// The split fractions of the data section.
    pub fn split_fractions(&self) -> SplitFractions {
        SplitFractions {
            validation: self.data.validation_fraction,
            test: self.data.test_fraction,
        }
    }

    /// The parts of the corpus `data` describes, as `locator` finds them.
    pub fn corpus_sources(&self, locator: &CorpusLocator) -> Result<ResolvedCorpus, TrainError> {
        let selection = FileSelection::new(&self.data.include, &self.data.exclude)?;
        Ok(locator.resolve_all(&self.data.corpus.specs(), &selection)?)
    }

    /// How a new run's tokens are made: a character vocabulary of the corpus (within
    /// `data.max_vocab`) or the `tokenizer.json` that `data.tokenizer` names.
    pub fn tokenizer_choice(&self) -> Result<TokenizerChoice, TrainError> {
        Ok(if self.data.tokenizer == CHARACTER_TOKENIZER {
            TokenizerChoice::BuildCharacters {
                max_vocab: self.data.max_vocab,
            }
        } else {
            TokenizerChoice::Use(Tokenizer::from_file(Path::new(&self.data.tokenizer))?)
        })
    }

    /// The corpus `data` describes, encoded with `choice` into a memory-mapped token file
    /// (reused from the cache when the corpus has not changed); `progress` hears of each
    /// piece read and encoded.
    pub fn prepare_corpus(
        &self,
        locator: &CorpusLocator,
        choice: &TokenizerChoice,
        progress: &mut dyn FnMut(PreparePhase, u64, u64),
    ) -> Result<PreparedCorpus, TrainError> {
        let sources = self.corpus_sources(locator)?;
        let options = PrepareOptions {
            cache_dir: locator.prepared_dir.clone().filter(|_| self.data.cache),
            invalid_utf8: self.data.invalid_utf8,
            progress,
        };
        Ok(charlstm_data::prepare(&sources, choice, options)?)
    }

    /// The corpus `data` describes, encoded for a model that reads `tokenizer`'s ids (a
    /// checkpoint's): the run's own prepared corpus when it has this vocabulary, else the
    /// corpus encoded with `tokenizer`.
    pub fn prepare_corpus_for(
        &self,
        locator: &CorpusLocator,
        tokenizer: &Tokenizer,
        progress: &mut dyn FnMut(PreparePhase, u64, u64),
    ) -> Result<PreparedCorpus, TrainError> {
        if let (Some(vocab), true) = (
            tokenizer.characters(),
            self.data.tokenizer == CHARACTER_TOKENIZER,
        ) {
            let own = TokenizerChoice::BuildCharacters {
                max_vocab: self.data.max_vocab,
            };
            let prepared = self.prepare_corpus(locator, &own, progress)?;
            if prepared.tokenizer.characters() == Some(vocab) {
                return Ok(prepared);
            }
        }
        self.prepare_corpus(locator, &TokenizerChoice::Use(tokenizer.clone()), progress)
    }

    /// The validation tokens to evaluate: the split, cut to `data.val_chars` if set.
    pub fn validation_part<'a>(&self, validation: TokenView<'a>) -> TokenView<'a> {
        match self.data.val_chars {
            0 => validation,
            cap => validation.prefix(cap),
        }
    }

    /// The model's shape for a vocabulary of `vocab_size` characters.
    pub fn model_config(&self, vocab_size: usize) -> CharModelConfig {
        CharModelConfig::new(vocab_size)
            .with_cell(self.model.cell)
            .with_embedding_size(self.model.embedding_size)
            .with_hidden_size(self.model.hidden_size)
            .with_num_layers(self.model.num_layers)
            .with_dropout(self.model.dropout)
            .with_forget_bias(self.model.forget_bias)
            .with_bidirectional(self.model.bidirectional)
            .with_shared_head(self.model.shared_head)
            .with_residual(self.model.residual)
    }
}

/// Sets the dotted `key` of `assignment` (`key=value`) in `table`. The value is read as TOML
/// (`0.5`, `true`, `"text"`), or as a plain string when it is not valid TOML (`wgpu`).
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), TrainError> {
    let Some((key, raw)) = assignment.split_once('=') else {
        return Err(TrainError::Config(format!(
            "--set '{assignment}' is not key=value (e.g. --set train.learning_rate=1e-3)"
        )));
    };
    let key = key.trim();
    let raw = raw.trim();
    let value = format!("value = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("value"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));

    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(TrainError::Config(format!(
            "--set key '{key}' is malformed"
        )));
    }
    let (last, sections) = parts.split_last().expect("split yields at least one part");
    let mut current = table;
    for section in sections {
        let entry = current
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(TrainError::Config(format!(
                    "--set {key}: '{section}' is a value, not a section"
                )));
            }
        };
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// TOML errors span several lines with a source excerpt; the user gets one line.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect();
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        let path = dir.join("c.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn file_values_override_defaults_and_flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[train]\nbatch_size = 8\nseq_len = 20\n");
        let config = RunConfig::load(
            Some(&path),
            &[
                "train.seq_len=30".into(),
                "backend=wgpu".into(),
                "data.corpus=x.txt".into(),
            ],
        )
        .unwrap();
        assert_eq!(config.train.batch_size, 8);
        assert_eq!(config.train.seq_len, 30);
        assert_eq!(config.backend, BackendKind::Wgpu);
        assert_eq!(config.data.corpus, "x.txt".into());
        assert_eq!(config.model.hidden_size, ModelConfig::default().hidden_size);
    }

    #[test]
    fn unknown_keys_wrong_types_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[train]\nbatch_sise = 8\n");
        let err = RunConfig::load(Some(&path), &[]).unwrap_err().to_string();
        assert!(err.contains("batch_sise"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");

        let path = write(dir.path(), "[train]\nbatch_size = \"big\"\n");
        let err = RunConfig::load(Some(&path), &[]).unwrap_err().to_string();
        assert!(err.contains("invalid type"), "{err}");

        let err = RunConfig::load(None, &["train.learning_rate=0".into()]).unwrap_err();
        assert!(
            err.to_string()
                .contains("train.learning_rate = 0 is invalid"),
            "{err}"
        );
        let err = RunConfig::load(None, &["model.dropout=1.0".into()]).unwrap_err();
        assert!(err.to_string().contains("model.dropout"), "{err}");
        let err = RunConfig::load(None, &["model.hidden_size=0".into()]).unwrap_err();
        assert!(err.to_string().contains("model.hidden_size"), "{err}");
        let err = RunConfig::load(None, &["backend=tpu".into()]).unwrap_err();
        assert!(err.to_string().contains("tpu"), "{err}");
        let err = RunConfig::load(None, &["nonsense".into()]).unwrap_err();
        assert!(err.to_string().contains("key=value"), "{err}");
    }

    #[test]
    fn every_cell_is_accepted_and_an_unknown_one_is_named() {
        for (name, cell) in [
            ("lstm", CellKind::Lstm),
            ("gru", CellKind::Gru),
            ("rnn", CellKind::Rnn),
        ] {
            let config = RunConfig::load(None, &[format!("model.cell={name}")]).unwrap();
            assert_eq!(config.model.cell, cell);
            assert_eq!(config.model_config(5).cell, cell);
            assert_eq!(RunConfig::from_toml(&config.to_toml()).unwrap(), config);
        }
        let err = RunConfig::load(None, &["model.cell=transformer".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("transformer"), "{err}");
        assert!(
            err.contains("lstm") && err.contains("gru") && err.contains("rnn"),
            "{err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn the_shipped_configs_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let config = RunConfig::load(Some(&path), &[])
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_eq!(RunConfig::from_toml(&config.to_toml()).unwrap(), config);
                loaded += 1;
            }
        }
        assert!(
            loaded >= 2,
            "configs/ holds the tiny and the default config"
        );
    }

    #[test]
    fn a_decay_fraction_outside_its_range_is_refused() {
        for value in ["0", "1.5", "-0.2", "nan"] {
            let err = RunConfig::load(None, &[format!("train.decay_fraction={value}")])
                .unwrap_err()
                .to_string();
            assert!(err.contains("train.decay_fraction"), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn adam_decay_rates_outside_zero_to_one_are_refused() {
        for key in ["train.adam_beta1", "train.adam_beta2"] {
            for value in ["1", "1.5", "-0.1", "nan"] {
                let err = RunConfig::load(None, &[format!("{key}={value}")])
                    .unwrap_err()
                    .to_string();
                assert!(err.starts_with(&format!("{key} = ")), "{err}");
                assert!(err.ends_with("is invalid: it must be in [0, 1)"), "{err}");
            }
            let config = RunConfig::load(None, &[format!("{key}=0.95")]).unwrap();
            assert_eq!(config.train.adam_beta1 == 0.95, key.ends_with('1'));
        }
    }

    #[test]
    fn toml_round_trip() {
        let config = RunConfig::load(None, &["train.max_minutes=2.5".into()]).unwrap();
        assert_eq!(RunConfig::from_toml(&config.to_toml()).unwrap(), config);
    }
}
