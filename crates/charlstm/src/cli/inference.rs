//! The arguments of the commands that use a trained model: `sample`, `fill`, `score`, `viz`
//! and `serve`.

use std::path::PathBuf;

use charlstm_train::BackendKind;
use clap::Args;

use super::parse_backend;

/// `charlstm sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A run directory (its best checkpoint is used) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Backend [default: the one the checkpoint was trained on].
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<BackendKind>,
    /// Text to start from; it is printed, then continued [default: a newline].
    #[arg(long, default_value = "\n")]
    pub prime: String,
    /// Start from the text of this UTF-8 file instead of --prime.
    #[arg(long, value_name = "FILE", conflicts_with = "prime")]
    pub prime_file: Option<PathBuf>,
    /// End the sample after the first occurrence of STRING in the generated text, which is
    /// kept (repeatable: the first of any; e.g. --stop $'\n\n' for an empty line).
    #[arg(long, value_name = "STRING")]
    pub stop: Vec<String>,
    /// Characters to generate (tokens, for a model trained with a tokenizer.json).
    #[arg(long, default_value_t = 1000)]
    pub length: usize,
    /// Below 1 is more conservative, above 1 more adventurous; must be > 0.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Sample only from the K most likely characters.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Sample only from the most likely characters whose probabilities add up to P, in (0, 1].
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Seed: the same seed, checkpoint and backend give the same text [default: random,
    /// printed to stderr].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Generate N independent samples at once, printed one after another under a header line;
    /// sample k is the text `--seed <seed + k - 1>` gives alone. Much faster per sample than N
    /// separate runs.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub num_samples: usize,
    /// Print each sample as one line of JSON: its seed, prime, text, and every token drawn
    /// with the model's log probability of it (nats, before temperature, top-k and top-p).
    #[arg(long)]
    pub json: bool,
    /// The most likely continuation instead of a random one: beam search keeping the N best
    /// hypotheses at each step (1: greedy), deterministic; prints its log probability to
    /// stderr.
    #[arg(
        long,
        value_name = "N",
        conflicts_with_all = ["num_samples", "stop", "temperature", "top_k", "top_p", "seed", "json"]
    )]
    pub beam: Option<usize>,
}

/// `charlstm score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// A run directory (its best checkpoint is used) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Backend [default: the one the checkpoint was trained on].
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<BackendKind>,
    /// Print every character's log probability (nats) and rank as TSV on stdout (one file),
    /// the summary on stderr.
    #[arg(long)]
    pub per_char: bool,
    /// UTF-8 text files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `charlstm viz`.
#[derive(Debug, Args)]
pub struct VizArgs {
    /// A run directory (its best checkpoint is used) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Backend [default: the one the checkpoint was trained on].
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<BackendKind>,
    /// The UTF-8 text to read with the model (at most 20,000 characters).
    #[arg(long, value_name = "FILE")]
    pub text: PathBuf,
    /// Where to write the HTML report (one self-contained file).
    #[arg(long, value_name = "FILE", default_value = "report.html")]
    pub out: PathBuf,
    /// Also draw the gate-saturation scatter (LSTM and GRU gates) into this PNG.
    #[arg(long, value_name = "FILE")]
    pub gates: Option<PathBuf>,
    /// Units shown for each text feature.
    #[arg(long, default_value_t = 2)]
    pub units: usize,
    /// Predictions shown on hover for each character.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// `charlstm serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A run directory (its best checkpoint is used) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Backend [default: the one the checkpoint was trained on].
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<BackendKind>,
    /// Address to listen on (0.0.0.0 or :: for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Generations running at once; later requests wait [default: the CPU cores].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Largest max_tokens a request may ask for.
    #[arg(long, default_value_t = 4096)]
    pub max_tokens: usize,
    /// Largest n a request may ask for.
    #[arg(long, default_value_t = 16)]
    pub max_n: usize,
    /// Longest prompt (or inspected text), in characters.
    #[arg(long, default_value_t = 8192)]
    pub max_prompt_chars: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,
}

/// How `charlstm fill` chooses a blank's character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FillMethod {
    /// The product of the forward and backward distributions, renormalised.
    Combined,
    /// The forward stack alone (the text before the blank).
    Forward,
    /// The backward stack alone (the text after the blank).
    Backward,
}

/// `charlstm fill`.
#[derive(Debug, Args)]
pub struct FillArgs {
    /// A run directory (its best checkpoint is used) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The text, with each blank marked by the mask character, e.g. "To be, or n_t to be".
    #[arg(required_unless_present = "evaluate")]
    pub text: Option<String>,
    /// The character that marks a blank.
    #[arg(long, default_value_t = '_')]
    pub mask: char,
    /// How each blank is chosen.
    #[arg(long, value_enum, default_value_t = FillMethod::Combined)]
    pub method: FillMethod,
    /// Instead of filling TEXT, blank random characters of the run's validation text and
    /// report how often each method fills them right.
    #[arg(long, conflicts_with = "text")]
    pub evaluate: bool,
    /// --evaluate: windows of validation text.
    #[arg(long, default_value_t = 200)]
    pub windows: usize,
    /// --evaluate: characters per window.
    #[arg(long, default_value_t = 100)]
    pub window: usize,
    /// --evaluate: probability that a character is blanked.
    #[arg(long, default_value_t = 0.1)]
    pub blank_rate: f64,
    /// --evaluate: seed of the windows and blanks.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Backend [default: the one the checkpoint was trained on].
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<BackendKind>,
}
