//! Scoring a text file with a character model: its loss, and the log probability and rank of
//! every character, streamed through the host stepper so any file size runs in constant
//! memory.

use std::io::Read;
use std::path::{Path, PathBuf};

use charlstm_data::{Tokenizer, Vocabulary};
use charlstm_model::{CharModel, HostStepper};

use crate::error::TrainError;
use crate::log_probs::log_sum_exp;
use crate::text_file::{cannot_read, not_utf8};

/// How well a model predicts one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileScore {
    /// The file.
    pub path: PathBuf,
    /// Characters predicted: every character after the first, which is read as context.
    pub characters: u64,
    /// The sum of their negative log probabilities, in nats.
    pub nats: f64,
}

impl FileScore {
    /// Mean loss, nats per character.
    pub fn nats_per_char(&self) -> f64 {
        self.nats / self.characters.max(1) as f64
    }

    /// Mean loss, bits per character.
    pub fn bits_per_char(&self) -> f64 {
        self.nats_per_char() / std::f64::consts::LN_2
    }
}

/// One predicted character: what it was, the model's log probability of it (nats) and its
/// rank among the model's predictions (1: the most likely).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredChar {
    /// The character.
    pub character: char,
    /// `log p(character | everything before it)`, nats.
    pub log_prob: f64,
    /// 1 + the number of tokens the model found more likely.
    pub rank: usize,
}

/// Bytes read from the file at a time.
const BLOCK: usize = 64 << 10;

/// Scores `path` with `model` (a character model): reads the first character as context, then
/// predicts each following one from everything before it, carrying the state through the whole
/// file. `each` receives every predicted character as it is scored; it returns `false` to stop
/// (e.g. when the reader of stdout went away). Characters outside the vocabulary map to its
/// unknown token where it has one, else they are an error that names the first.
pub fn score_file(
    model: &CharModel,
    tokenizer: &Tokenizer,
    path: &Path,
    mut each: impl FnMut(ScoredChar) -> bool,
) -> Result<FileScore, TrainError> {
    let vocab = tokenizer.characters().ok_or_else(|| {
        TrainError::Sampling(
            "score reads character models; for a tokenizer.json model use `charlstm eval \
             --corpus FILE`"
                .into(),
        )
    })?;
    let shown = path.display();
    // How the read and UTF-8 errors name the file.
    let named = shown.to_string();
    let mut file = std::fs::File::open(path).map_err(|e| cannot_read(&named, &e))?;
    let mut stepper = HostStepper::new(model).map_err(|e| TrainError::Backend(e.to_string()))?;
    let mut score = FileScore {
        path: path.to_path_buf(),
        characters: 0,
        nats: 0.0,
    };
    let mut block = vec![0u8; BLOCK];
    // Bytes of a character cut by the end of the last block.
    let mut pending: Vec<u8> = Vec::with_capacity(BLOCK + 4);
    let mut offset: u64 = 0;
    // The logits for the next character, once one has been read.
    let mut logits: Vec<f32> = Vec::new();
    // Characters read so far.
    let mut seen: u64 = 0;
    loop {
        let read = match file.read(&mut block) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(cannot_read(&named, &e));
            }
        };
        pending.extend_from_slice(&block[..read]);
        let valid = match std::str::from_utf8(&pending) {
            Ok(text) => text.len(),
            // An incomplete character at the end waits for the next block.
            Err(e) if e.error_len().is_none() && read > 0 => e.valid_up_to(),
            Err(e) => {
                return Err(not_utf8(&named, offset + e.valid_up_to() as u64));
            }
        };
        let text = std::str::from_utf8(&pending[..valid]).expect("checked above");
        for character in text.chars() {
            let token = token_of(vocab, character, &shown, seen)?;
            seen += 1;
            if !logits.is_empty() {
                let row = &logits;
                let log_prob = row[token] as f64 - log_sum_exp(row);
                let rank = 1 + row.iter().filter(|&&x| x > row[token]).count();
                score.characters += 1;
                score.nats -= log_prob;
                if !each(ScoredChar {
                    character,
                    log_prob,
                    rank,
                }) {
                    return Ok(score);
                }
            }
            logits.clear();
            logits.extend_from_slice(stepper.step(token));
        }
        offset += valid as u64;
        pending.drain(..valid);
        if read == 0 {
            if score.characters == 0 {
                return Err(TrainError::Sampling(format!(
                    "{shown} has fewer than two characters: nothing to predict"
                )));
            }
            return Ok(score);
        }
    }
}

/// The token of `character`, or its vocabulary's unknown token.
fn token_of(
    vocab: &Vocabulary,
    character: char,
    shown: &std::path::Display<'_>,
    before: u64,
) -> Result<usize, TrainError> {
    vocab.id(character).map(|id| id as usize).ok_or_else(|| {
        TrainError::Sampling(format!(
            "{shown} has a character the model does not know: {character:?} (character {}); \
             score it with a model trained with data.max_vocab, which has an unknown token",
            before + 1
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_nats_over_ln_2() {
        let score = FileScore {
            path: PathBuf::from("x"),
            characters: 4,
            nats: 4.0 * std::f64::consts::LN_2,
        };
        assert!((score.nats_per_char() - std::f64::consts::LN_2).abs() < 1e-12);
        assert!((score.bits_per_char() - 1.0).abs() < 1e-12);
    }
}
