//! Loss of a model over a whole split, with the state carried through each stream exactly as
//! in training, so the figure is comparable to the training loss.

use burn::prelude::*;
use charlstm_data::{
    CorpusLocator, PrepareOptions, RemainderPolicy, Split, StreamBatcher, TokenView, Tokenizer,
    TokenizerChoice, prepare,
};
use charlstm_model::{CharModel, Direction, cpu};

use crate::checkpoint::Checkpoint;
use crate::error::TrainError;
use crate::tensors::batch_tensors;

/// The result of an evaluation. A token is a character with the character tokenizer; with a
/// `tokenizer.json` it may be several.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy in nats per token.
    pub nats_per_token: f64,
    /// Tokens predicted.
    pub tokens: usize,
}

impl Evaluation {
    /// Mean cross-entropy in bits per token.
    pub fn bits_per_token(&self) -> f64 {
        self.nats_per_token / std::f64::consts::LN_2
    }
}

/// Evaluates the stack of `model` (an inference model, see `Module::valid`) that reads in
/// `direction` on `tokens`, cut into at most `batch_size` streams of `seq_len`-long chunks;
/// every character but the last `< batch_size` is predicted once. The backward stack of a
/// bidirectional model reads `tokens` reversed, predicting each character from the ones after
/// it.
pub fn evaluate_in(
    direction: Direction,
    model: &CharModel,
    tokens: TokenView<'_>,
    batch_size: usize,
    seq_len: usize,
    device: &Device,
    split: &str,
) -> Result<Evaluation, TrainError> {
    // On one of Rayon's threads: one hand-off to the pool, not one per parallel loop.
    cpu::on_rayon_thread(|| {
        // A short split gets fewer streams rather than an error.
        let streams = batch_size.min(tokens.len().saturating_sub(1)).max(1);
        let mut batcher =
            StreamBatcher::new(tokens, streams, seq_len, RemainderPolicy::Keep, split)?;
        if direction == Direction::Backward {
            batcher = batcher.reversed();
        }
        let mut state = None;
        let mut total: Option<Tensor<1>> = None;
        for batch in batcher.iter() {
            let (inputs, targets) = batch_tensors(&batch, device);
            let (loss, next) = model.summed_loss_in(direction, inputs, targets, state);
            total = Some(match total {
                Some(total) => total + loss,
                None => loss,
            });
            state = Some(next);
        }
        let predicted = batcher.tokens_per_pass();
        let total: f32 = total
            .expect("a batcher yields at least one batch")
            .into_scalar();
        Ok(Evaluation {
            nats_per_token: f64::from(total) / predicted as f64,
            tokens: predicted,
        })
    })
}

/// One text read in one direction, as `charlstm eval` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TextEvaluation {
    /// "validation", "test" or the corpus given, and for a bidirectional model the direction:
    /// "validation (forward)".
    pub name: String,
    /// The loss per token.
    pub evaluation: Evaluation,
    /// For a `tokenizer.json` model, the characters the text decodes to, so models with other
    /// tokenizers compare per character; `None` with the character tokenizer (a token is a
    /// character).
    pub characters: Option<usize>,
    /// Tokens in the text (the evaluation predicts all but the last few).
    pub text_tokens: usize,
}

impl TextEvaluation {
    /// Bits per character, whatever the tokenizer.
    pub fn bits_per_char(&self) -> f64 {
        let per_token = self.evaluation.bits_per_token();
        match self.characters {
            Some(characters) => per_token * self.text_tokens as f64 / characters.max(1) as f64,
            None => per_token,
        }
    }
}

/// What `charlstm eval` measures: `model` (the checkpoint's, on `device`) on `corpus` (a corpus
/// name or path, read with the checkpoint's tokenizer) or, without one, on the validation and
/// test splits of the corpus the run trained on; both directions of a bidirectional model.
/// `locator` finds the corpus (its invalid-UTF-8 policy is the run's).
pub fn evaluate_checkpoint(
    checkpoint: &Checkpoint,
    model: &CharModel,
    corpus: Option<&str>,
    locator: CorpusLocator,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<TextEvaluation>, TrainError> {
    if batch_size == 0 {
        return Err(TrainError::Config(
            "--batch-size 0 is invalid: it must be at least 1".to_string(),
        ));
    }
    let config = &checkpoint.config;
    let locator = locator.with_invalid_utf8(config.data.invalid_utf8);
    let tokenizer = &checkpoint.tokenizer;
    let mut results = Vec::new();
    let mut evaluate = |text: &str, tokens: TokenView<'_>| -> Result<(), TrainError> {
        let characters = tokenizer
            .characters()
            .is_none()
            .then(|| count_characters(tokenizer, tokens));
        for direction in model.directions() {
            let evaluation = evaluate_in(
                direction,
                model,
                tokens,
                batch_size,
                config.train.seq_len,
                device,
                text,
            )?;
            let name = match (model.is_bidirectional(), direction) {
                (false, _) => text.to_string(),
                (true, Direction::Forward) => format!("{text} (forward)"),
                (true, Direction::Backward) => format!("{text} (backward)"),
            };
            results.push(TextEvaluation {
                name,
                evaluation,
                characters,
                text_tokens: tokens.len(),
            });
        }
        Ok(())
    };
    match corpus {
        Some(spec) => {
            let options = PrepareOptions {
                cache_dir: locator.prepared_dir.clone().filter(|_| config.data.cache),
                invalid_utf8: config.data.invalid_utf8,
                progress: &mut |_, _, _| {},
            };
            let prepared = locator
                .resolve(spec)
                .and_then(|sources| {
                    prepare(&sources, &TokenizerChoice::Use(tokenizer.clone()), options)
                })
                .map_err(|e| TrainError::Config(format!("corpus '{spec}': {e}")))?;
            evaluate(spec, prepared.tokens())?;
        }
        None => {
            let prepared = config
                .data
                .prepare_for(&locator, tokenizer, &mut |_, _, _| {})?;
            let tokens = prepared.tokens();
            let split = Split::new(tokens.len(), config.data.split_fractions());
            if split.validation.len() < 2 && split.test.len() < 2 {
                return Err(TrainError::Config(
                    "the run has no validation or test split to evaluate (pass --corpus FILE)"
                        .to_string(),
                ));
            }
            if split.validation.len() >= 2 {
                let validation = tokens.slice(split.validation.clone());
                evaluate("validation", config.data.validation_part(validation))?;
            }
            if split.test.len() >= 2 {
                evaluate("test", tokens.slice(split.test))?;
            }
        }
    }
    Ok(results)
}

/// How many characters `tokens` decode to, decoded as a stream (a split of any size never
/// becomes one string).
pub fn count_characters(tokenizer: &Tokenizer, tokens: TokenView<'_>) -> usize {
    let mut decoder = tokenizer.stream_decoder();
    let mut text = String::new();
    let mut chars = 0;
    for index in 0..tokens.len() {
        decoder.push(tokens.get(index).expect("index below len"), &mut text);
        if text.len() >= 1 << 16 {
            chars += text.chars().count();
            text.clear();
        }
    }
    chars + text.chars().count()
}
