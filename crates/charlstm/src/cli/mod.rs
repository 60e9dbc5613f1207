//! Command-line arguments, as the user typed them. Validation happens when they are turned
//! into a run configuration.

use std::path::PathBuf;

use charlstm_train::BackendKind;
use clap::{Args, Parser, Subcommand};

mod inference;

pub use inference::{FillArgs, FillMethod, SampleArgs, ScoreArgs, ServeArgs, VizArgs};

/// Train character-level LSTM language models and sample text from them, on CPU or GPU.
#[derive(Debug, Parser)]
#[command(name = "charlstm", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// More detail on stderr: -v adds every logged step, checkpoints and samples; -vv more.
    #[arg(long, short, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print only warnings and errors (no progress bar).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model (or resume a run) and write checkpoints into a run directory.
    Train(TrainArgs),
    /// Generate text from a checkpoint, streaming it to stdout.
    Sample(SampleArgs),
    /// Fill the blanks in a text with a bidirectional model (the text before and after each
    /// blank), or measure how often it fills them right on held-out text (--evaluate).
    Fill(FillArgs),
    /// Report a checkpoint's loss on a text, in nats and bits per character (per token too,
    /// for a model trained with a tokenizer.json).
    Eval(EvalArgs),
    /// Score text files with a character model, one character after another with the state
    /// carried through each file (any size, constant memory): each file's loss, or with
    /// --per-char every character's log probability and rank as TSV.
    Score(ScoreArgs),
    /// Look inside a character model over a text: an HTML report of its surprisal at each
    /// character (top predictions on hover) and of the units that track quotes, line position,
    /// bracket depth and words; --gates adds the gate-saturation picture.
    Viz(VizArgs),
    /// Serve a model over HTTP: a playground page at /, and OpenAI's completions API
    /// (POST /v1/completions, GET /v1/models) for existing clients; localhost unless --host
    /// says otherwise.
    Serve(ServeArgs),
    /// Prepare a config's corpus ahead of training: encode it into its cached token file (or
    /// find it there, unchanged) and say what it holds.
    Prepare(PrepareArgs),
    /// List the prepared corpora in the cache, or remove those no longer wanted.
    Cache(CacheArgs),
    /// Measure training and sampling speed of a config on a backend (writes no files).
    Bench(BenchArgs),
    /// Describe a checkpoint: config, parameters, vocabulary, steps trained, losses.
    Info(InfoArgs),
    /// Draw the loss curves of one or more runs into one PNG picture.
    Plot(PlotArgs),
    /// Write a checkpoint's weights as safetensors under PyTorch's names (nn.Embedding,
    /// nn.LSTM / nn.GRU / nn.RNN, nn.Linear), for use outside charlstm.
    Export(ExportArgs),
    /// Rewrite a run's config.toml files from its weights' shapes, for a run whose config no
    /// longer describes its weights (older versions let `train --resume` change the shape).
    Repair(RepairArgs),
}

/// Where a run's configuration comes from: a file, a backend and `--set` overrides.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// TOML config (see configs/); omitted keys take their defaults.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Backend: flex or ndarray (CPU), wgpu (GPU). Overrides the config's `backend`.
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<BackendKind>,
    /// Override a config key, e.g. --set train.learning_rate=1e-3 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// `charlstm train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run's configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Run directory [default: runs/<config name>, or runs/<run>-finetuned with --init-from].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out (or the default run directory) from its latest checkpoint.
    #[arg(long, conflicts_with = "init_from")]
    pub resume: bool,
    /// Fine-tune: start a new run from this checkpoint's weights (a run directory or
    /// checkpoint), on any corpus. The optimizer, schedule and step count start afresh; the
    /// model's shape must match; new characters extend the vocabulary. Without --config the
    /// checkpoint's own config is the base (override e.g. --set data.corpus=new.txt).
    #[arg(long, value_name = "RUN")]
    pub init_from: Option<PathBuf>,
}

/// `charlstm prepare`.
#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// The configuration whose `data` section names the corpus.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `charlstm cache`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// What to do with the cache.
    #[command(subcommand)]
    pub action: CacheAction,
    /// The cache directory [default: $CHARLSTM_PREPARED_DIR, else prepared/ beside the
    /// downloaded corpora: $CHARLSTM_CACHE_DIR/prepared or ~/.cache/charlstm/prepared].
    #[arg(long, global = true)]
    pub dir: Option<PathBuf>,
}

/// `charlstm cache list` or `charlstm cache clean`.
#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Show each prepared corpus: size, when it was last used, what it was prepared from.
    List {
        /// Print one JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove prepared corpora. Without options, those nothing can use any more: their
    /// sources are gone, they are damaged, or an interrupted preparation left them.
    Clean {
        /// Also remove those no run has used for this many days (e.g. 30, or 0.5).
        #[arg(long, value_name = "DAYS", allow_negative_numbers = true)]
        unused_for: Option<f64>,
        /// Remove every prepared corpus (except one being prepared right now).
        #[arg(long, conflicts_with = "unused_for")]
        all: bool,
        /// Say what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `charlstm eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A run directory (its best checkpoint is used) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Text file (or corpus name) to evaluate [default: the run's validation split].
    #[arg(long)]
    pub corpus: Option<String>,
    /// Backend [default: the one the checkpoint was trained on].
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<BackendKind>,
    /// Parallel streams [default: the run's batch size].
    #[arg(long)]
    pub batch_size: Option<usize>,
}

/// `charlstm bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The configuration to measure.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Untimed training steps first (allocation, kernel compilation, autotuning).
    #[arg(long, default_value_t = 2)]
    pub warmup_steps: usize,
    /// Timed training steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Characters generated, timed, at batch 1 (and per sample with --num-samples).
    #[arg(long, default_value_t = 2000)]
    pub sample_length: usize,
    /// Also time this many samples generated at once (0 or 1: not measured).
    #[arg(long, default_value_t = 32)]
    pub num_samples: usize,
    /// Print the figures as one JSON object (for scripts/bench.sh).
    #[arg(long)]
    pub json: bool,
}

/// `charlstm info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A run directory (its best checkpoint) or a checkpoint directory.
    pub checkpoint: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `charlstm repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The run directory.
    pub run: PathBuf,
    /// Rewrite without asking for confirmation.
    #[arg(long, short)]
    pub yes: bool,
}

/// `charlstm plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Run directories (each has a metrics.csv).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The PNG file to write.
    #[arg(long, short, default_value = "loss.png")]
    pub out: PathBuf,
    /// Title of the chart.
    #[arg(long, default_value = "loss")]
    pub title: String,
}

/// `charlstm export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A run directory (its best checkpoint) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The safetensors file to write.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Also write OUT.reference.json: this many token ids and the logits charlstm computes for
    /// them, for checking the export elsewhere (scripts/check_export.sh).
    #[arg(long, value_name = "TOKENS")]
    pub reference: Option<usize>,
}

/// `--backend NAME`, parsed once: an unknown name is refused with the list of known ones.
pub(crate) fn parse_backend(name: &str) -> Result<BackendKind, String> {
    BackendKind::from_name(name).map_err(|e| e.to_string())
}
