//! Fine-tuning: a new run whose weights start from another run's checkpoint (`train
//! --init-from`). The optimizer, the schedule and the step count start afresh; the model's
//! shape must be the checkpoint's. A character model's vocabulary is the checkpoint's, grown
//! with the new corpus's characters: every existing id keeps its embedding row and head
//! column bit for bit, and new characters get freshly initialised ones (or share the unknown
//! token, within `data.max_vocab`).

use std::path::Path;

use burn::prelude::Device;
use charlstm_data::{CHARACTER_TOKENIZER, Tokenizer, TokenizerChoice};
use charlstm_model::CharModel;

use crate::checkpoint::Checkpoint;
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::progress::InitializedFrom;
use crate::weights_shape::{config_mismatch, describe_mismatch};

/// Refuses `given` when its model shape is not the checkpoint's, naming every field that
/// differs with both values.
pub fn check_shape(checkpoint: &Checkpoint, given: &RunConfig) -> Result<(), TrainError> {
    let vocab_size = checkpoint.tokenizer.len();
    let saved = checkpoint.config.model.shape(vocab_size);
    let mismatch = config_mismatch(given, vocab_size, &saved);
    if mismatch.is_empty() {
        return Ok(());
    }
    Err(TrainError::checkpoint(
        &checkpoint.dir,
        format!(
            "cannot initialise from it: the model's shape differs ({}); give the checkpoint's values, or leave out --config to train with the checkpoint's own config",
            describe_mismatch(&mismatch, "the config", "the checkpoint")
        ),
    ))
}

/// How the new corpus is encoded: a character checkpoint's vocabulary grown with the
/// corpus's new characters, or a `tokenizer.json` checkpoint's tokenizer, which the config
/// must name (the same file's content) since its ids are what the weights read.
pub fn tokenizer_choice(
    checkpoint: &Checkpoint,
    given: &RunConfig,
) -> Result<TokenizerChoice, TrainError> {
    let dir = &checkpoint.dir;
    let named = &given.data.tokenizer;
    let refuse = |reason: String| Err(TrainError::checkpoint(dir, reason));
    let saved_json = dir.join(charlstm_data::TOKENIZER_FILE);
    match (&checkpoint.tokenizer, named.as_str() == CHARACTER_TOKENIZER) {
        (Tokenizer::Characters(base), true) => Ok(TokenizerChoice::ExtendCharacters {
            base: base.clone(),
            max_vocab: given.data.max_vocab,
        }),
        (Tokenizer::Characters(_), false) => refuse(format!(
            "cannot initialise from it: it is a character model, and data.tokenizer names {named}; drop data.tokenizer (its default, \"{CHARACTER_TOKENIZER}\", is the checkpoint's vocabulary)"
        )),
        (Tokenizer::HuggingFace(_), true) => refuse(format!(
            "cannot initialise from it: its model reads the ids of a tokenizer.json; set data.tokenizer = \"{}\"",
            saved_json.display()
        )),
        (saved @ Tokenizer::HuggingFace(_), false) => {
            let given_tokenizer = Tokenizer::from_file(Path::new(named))?;
            if given_tokenizer.to_tokenizer_json()? != saved.to_tokenizer_json()? {
                return refuse(format!(
                    "cannot initialise from it: data.tokenizer names {named}, a different tokenizer.json from the checkpoint's; set data.tokenizer = \"{}\"",
                    saved_json.display()
                ));
            }
            Ok(TokenizerChoice::Use(saved.clone()))
        }
    }
}

/// The model a fine-tuned run starts from: the checkpoint's weights on `device`, its
/// vocabulary grown to `fresh`'s (a model initialised for the run's tokenizer, whose rows the
/// new tokens take), with the dropout and other regularisation `config` gives.
pub fn initial_model(
    checkpoint: &Checkpoint,
    config: &RunConfig,
    fresh: &CharModel,
    device: &Device,
) -> Result<CharModel, TrainError> {
    let mut model = checkpoint.load_model(device)?.with_vocabulary_of(fresh);
    config.model.apply_regularization(&mut model);
    Ok(model)
}

/// The record of what a run with `tokenizer` was initialised from.
pub fn record(checkpoint: &Checkpoint, tokenizer: &Tokenizer) -> InitializedFrom {
    InitializedFrom {
        checkpoint: std::fs::canonicalize(&checkpoint.dir).unwrap_or(checkpoint.dir.clone()),
        step: checkpoint.progress.step,
        vocab_size: checkpoint.tokenizer.len(),
        added_tokens: tokenizer.len().saturating_sub(checkpoint.tokenizer.len()),
    }
}
