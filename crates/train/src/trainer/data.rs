//! What a run reads: the corpus prepared into a memory-mapped token file (with the vocabulary
//! of the whole corpus, or the checkpoint's), its contiguous split, and the training part cut
//! into streams.

use charlstm_data::{
    CorpusLocator, DataError, PreparePhase, PreparedCorpus, StreamBatcher, TokenView,
};

use crate::checkpoint::Checkpoint;
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::init_from;
use crate::observer::{TrainEvent, TrainObserver};
use crate::setup::{split_and_batch, training_streams};

/// Prepares the corpus `config` names (reporting progress and what was read to `observer`),
/// with the tokenizer `resume_from` was trained with, the vocabulary of `init_from` grown
/// with the corpus's new characters, or a new one.
pub(super) fn prepare(
    config: &RunConfig,
    locator: &CorpusLocator,
    resume_from: Option<&Checkpoint>,
    init_from: Option<&Checkpoint>,
    observer: &mut dyn TrainObserver,
) -> Result<PreparedCorpus, TrainError> {
    let mut preparing = |phase: PreparePhase, done: u64, total: u64| {
        observer.on_event(&TrainEvent::Preparing {
            phase: phase.name(),
            bytes_done: done,
            bytes_total: total,
        });
    };
    let prepared = match resume_from {
        Some(checkpoint) => config
            .data
            .prepare_for(locator, &checkpoint.tokenizer, &mut preparing)
            .map_err(|e| match e {
                e @ DataError::UnknownCharacters(_) => TrainError::checkpoint(
                    &checkpoint.dir,
                    format!("its vocabulary does not cover the corpus ({e}); resume with the corpus it was trained on, or start a new run"),
                ),
                e => e.into(),
            })?,
        None => {
            let choice = match init_from {
                Some(checkpoint) => init_from::tokenizer_choice(checkpoint, config)?,
                None => config.data.tokenizer_choice()?,
            };
            config.data.prepare(locator, &choice, &mut preparing)?
        }
    };
    report_corpus(config, &prepared, observer);
    Ok(prepared)
}

/// The training split cut into `train.batch_size` streams, read in chunks of one length.
pub(super) struct Streams<'a> {
    /// The streams in reading order.
    pub forward: StreamBatcher<'a>,
    /// The same streams reversed, for a bidirectional model's backward stack: truncated BPTT
    /// with carried state over the text read backwards.
    pub backward: Option<StreamBatcher<'a>>,
}

impl<'a> Streams<'a> {
    fn new(forward: StreamBatcher<'a>, bidirectional: bool) -> Self {
        let backward = bidirectional.then(|| forward.clone().reversed());
        Self { forward, backward }
    }
}

/// The token streams of a run.
pub(super) struct TrainingData<'a> {
    /// The whole corpus.
    pub tokens: TokenView<'a>,
    /// The streams in `train.seq_len`-long chunks.
    pub full: Streams<'a>,
    /// The same streams in the early phase's shorter chunks (`train.early_seq_len`).
    pub early: Option<Streams<'a>>,
    /// Tokens in the training split.
    pub train_chars: usize,
    /// The validation text (capped by `data.val_chars`).
    pub validation: TokenView<'a>,
}

impl<'a> TrainingData<'a> {
    /// Splits `prepared` as `config` says.
    pub fn new(config: &RunConfig, prepared: &'a PreparedCorpus) -> Result<Self, TrainError> {
        let tokens = prepared.tokens();
        let (split, batcher) = split_and_batch(config, tokens)?;
        let bidirectional = config.model.bidirectional;
        let early = match config.train.early_chunks() {
            Some(early) => {
                let batcher = training_streams(config, tokens, &split, early.seq_len)?;
                Some(Streams::new(batcher, bidirectional))
            }
            None => None,
        };
        Ok(Self {
            tokens,
            full: Streams::new(batcher, bidirectional),
            early,
            train_chars: split.train.len(),
            validation: config
                .data
                .validation_part(tokens.slice(split.validation.clone())),
        })
    }

    /// The streams in early chunks when `early` (and the run has an early phase), else in
    /// full-length ones.
    pub fn streams(&self, early: bool) -> &Streams<'a> {
        match &self.early {
            Some(streams) if early => streams,
            _ => &self.full,
        }
    }

    /// The token a periodic sample starts from: the first of the validation text.
    pub fn first_token(&self) -> u32 {
        self.validation.get(0).or(self.tokens.get(0)).unwrap_or(0)
    }
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
