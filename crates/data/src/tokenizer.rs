//! How text becomes token ids: charlstm's own character [`Vocabulary`], or any Hugging Face
//! `tokenizer.json` (byte-level BPE, WordPiece, Unigram, ...) loaded with the `tokenizers`
//! crate.
//!
//! A character vocabulary is also written as a `tokenizer.json`, so Python's `tokenizers`
//! gives the same ids: a BPE model whose vocabulary is the characters and which has no merges
//! (so every character is one token and nothing is merged), no normalizer, no pre-tokenizer,
//! and a `Fuse` decoder (tokens are joined with nothing between them).

use std::path::Path;

use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::bpe::{BPE, Vocab};

use crate::{DataError, Vocabulary};

/// The file name a tokenizer is saved under, in run directories and checkpoints.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Token ids ↔ text.
#[derive(Clone)]
pub enum Tokenizer {
    /// One token per Unicode character of the training text.
    Characters(Vocabulary),
    /// A tokenizer read from a `tokenizer.json`.
    HuggingFace(Box<tokenizers::Tokenizer>),
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Tokenizer {
    /// Reads a `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self, DataError> {
        let invalid = |reason: String| DataError::InvalidTokenizer {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(invalid(
                "no such file (give the path of a tokenizer.json)".into(),
            ));
        }
        // The `tokenizers` crate panics on some malformed files rather than failing.
        let tokenizer =
            crate::quiet_panic::catch_quietly(|| tokenizers::Tokenizer::from_file(path))
                .map_err(|panic| invalid(format!("it is malformed ({panic})")))?
                .map_err(|e| invalid(e.to_string()))?;
        if tokenizer.get_vocab_size(true) == 0 {
            return Err(invalid("its vocabulary is empty".into()));
        }
        Ok(Self::HuggingFace(Box::new(tokenizer)))
    }

    /// Number of token ids: every id the model can read or predict is below this.
    pub fn len(&self) -> usize {
        match self {
            Self::Characters(vocab) => vocab.len(),
            Self::HuggingFace(tokenizer) => {
                // Added tokens may sit above the model's own vocabulary; the largest id counts.
                let largest = tokenizer
                    .get_vocab(true)
                    .values()
                    .copied()
                    .max()
                    .map_or(0, |id| id as usize + 1);
                largest.max(tokenizer.get_vocab_size(true))
            }
        }
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The character vocabulary, if this is one.
    pub fn characters(&self) -> Option<&Vocabulary> {
        match self {
            Self::Characters(vocab) => Some(vocab),
            Self::HuggingFace(_) => None,
        }
    }

    /// What one token is, for loss units: "char" or "token".
    pub fn unit(&self) -> &'static str {
        match self {
            Self::Characters(_) => "char",
            Self::HuggingFace(_) => "token",
        }
    }

    /// One line for people: "65 characters" or "tokenizer.json (BPE), 512 tokens".
    pub fn describe(&self) -> String {
        match self {
            Self::Characters(vocab) => format!("{} characters", vocab.len()),
            Self::HuggingFace(tokenizer) => {
                let model = serde_json::to_value(tokenizer.get_model())
                    .ok()
                    .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(String::from))
                    .unwrap_or_else(|| "unknown model".into());
                format!("{TOKENIZER_FILE} ({model}), {} tokens", self.len())
            }
        }
    }

    /// Encodes `text`. A character vocabulary fails with the characters it lacks; a
    /// `tokenizer.json` encodes as its own rules say (unknown text becomes its unknown token,
    /// or bytes for a byte-level one). A whole corpus is encoded by [`crate::prepare()`].
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DataError> {
        match self {
            Self::Characters(vocab) => vocab.encode(text),
            Self::HuggingFace(tokenizer) => tokenizer
                .encode_fast(text, false)
                .map(|encoding| encoding.get_ids().to_vec())
                .map_err(|e| DataError::Tokenize(e.to_string())),
        }
    }

    /// Decodes ids back to text.
    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
            Self::Characters(vocab) => vocab.decode(ids),
            Self::HuggingFace(tokenizer) => tokenizer
                .decode(ids, false)
                .unwrap_or_else(|_| char::REPLACEMENT_CHARACTER.to_string()),
        }
    }

    /// A decoder that turns ids, one at a time, into the text they add (a byte-level token may
    /// add nothing until the rest of its character arrives).
    pub fn stream_decoder(&self) -> StreamDecoder<'_> {
        match self {
            Self::Characters(vocab) => StreamDecoder::Characters(vocab),
            Self::HuggingFace(tokenizer) => {
                StreamDecoder::HuggingFace(Box::new(tokenizer.decode_stream(false)))
            }
        }
    }

    /// The `tokenizer.json` text: the file as read, or the character vocabulary as a BPE
    /// model without merges.
    pub fn to_tokenizer_json(&self) -> Result<String, DataError> {
        let tokenizer = match self {
            Self::Characters(vocab) => character_tokenizer(vocab)?,
            Self::HuggingFace(tokenizer) => (**tokenizer).clone(),
        };
        tokenizer
            .to_string(true)
            .map_err(|e| DataError::Tokenize(e.to_string()))
    }
}

/// Decodes one id at a time (see [`Tokenizer::stream_decoder`]).
pub enum StreamDecoder<'a> {
    /// Every id is one character.
    Characters(&'a Vocabulary),
    /// The `tokenizers` crate's incremental decoder.
    HuggingFace(
        Box<tokenizers::tokenizer::DecodeStream<'a, TokModel, TokNorm, TokPre, TokPost, TokDec>>,
    ),
}

type TokModel = tokenizers::ModelWrapper;
type TokNorm = tokenizers::NormalizerWrapper;
type TokPre = tokenizers::PreTokenizerWrapper;
type TokPost = tokenizers::PostProcessorWrapper;
type TokDec = tokenizers::DecoderWrapper;

impl StreamDecoder<'_> {
    /// Appends the text that `id` adds to `out`.
    pub fn push(&mut self, id: u32, out: &mut String) {
        match self {
            Self::Characters(vocab) => {
                out.push(vocab.char(id).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Self::HuggingFace(stream) => match stream.step(id) {
                Ok(Some(text)) => out.push_str(&text),
                Ok(None) => {}
                Err(_) => out.push(char::REPLACEMENT_CHARACTER),
            },
        }
    }
}

/// The unknown token of a size-limited character vocabulary, in its `tokenizer.json`.
const UNKNOWN_TOKEN: &str = "<unk>";

/// The character vocabulary as a `tokenizers` tokenizer: BPE over the characters with no
/// merges (and `<unk>` for the characters a size limit left out), nothing before it, and a
/// decoder that joins tokens with nothing between them.
fn character_tokenizer(vocab: &Vocabulary) -> Result<tokenizers::Tokenizer, DataError> {
    let mut ids: Vocab = vocab
        .chars()
        .iter()
        .enumerate()
        .map(|(id, c)| (c.to_string(), id as u32))
        .collect();
    let mut builder = BPE::builder();
    if let Some(unknown) = vocab.unknown_id() {
        ids.insert(UNKNOWN_TOKEN.to_string(), unknown);
        builder = builder.unk_token(UNKNOWN_TOKEN.to_string());
    }
    let model = builder
        .vocab_and_merges(ids, Vec::new())
        .build()
        .map_err(|e| DataError::Tokenize(e.to_string()))?;
    let mut tokenizer = tokenizers::Tokenizer::new(model);
    tokenizer.with_decoder(Some(Fuse::new()));
    Ok(tokenizer)
}

/// Splits `text` into pieces of at least `target` bytes (the last may be shorter), each ending
/// just after a line break, so the pieces concatenate to `text`.
pub(crate) fn pieces_at_line_breaks(text: &str, target: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > target {
        match rest[target..].find('\n') {
            Some(offset) => {
                let (piece, tail) = rest.split_at(target + offset + 1);
                pieces.push(piece);
                rest = tail;
            }
            None => break,
        }
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_tokenizer_json_gives_the_same_ids_and_text() {
        let text = "Zürich, 日本 🦀 \"quoted\"\n\ttabs  and  spaces\r\n";
        let vocab = Vocabulary::from_text(text);
        let ours = Tokenizer::Characters(vocab.clone());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKENIZER_FILE);
        std::fs::write(&path, ours.to_tokenizer_json().unwrap()).unwrap();

        let theirs = Tokenizer::from_file(&path).unwrap();
        assert_eq!(theirs.len(), vocab.len());
        let ids = vocab.encode(text).unwrap();
        assert_eq!(theirs.encode(text).unwrap(), ids);
        assert_eq!(theirs.decode(&ids), text);
        let mut streamed = String::new();
        let mut decoder = theirs.stream_decoder();
        for &id in &ids {
            decoder.push(id, &mut streamed);
        }
        assert_eq!(streamed, text);
    }

    #[test]
    fn a_size_limited_vocabulary_has_an_unknown_token_in_its_tokenizer_json() {
        let text = "aaaa bbb cc d☃ é";
        let (vocab, _) = Vocabulary::from_text_limited(text, 4);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKENIZER_FILE);
        std::fs::write(
            &path,
            Tokenizer::Characters(vocab.clone())
                .to_tokenizer_json()
                .unwrap(),
        )
        .unwrap();
        let theirs = Tokenizer::from_file(&path).unwrap();
        assert_eq!(theirs.len(), 4);
        assert_eq!(theirs.encode(text).unwrap(), vocab.encode(text).unwrap());
    }

    #[test]
    fn pieces_end_at_line_breaks_and_cover_the_text() {
        let text = "aaaa\nbb\ncccccc\nd";
        let pieces = pieces_at_line_breaks(text, 3);
        assert_eq!(pieces, ["aaaa\n", "bb\ncccccc\n", "d"]);
        assert_eq!(pieces_at_line_breaks("abc", 10), ["abc"]);
        assert!(pieces_at_line_breaks("", 10).is_empty());
    }

    #[test]
    fn a_missing_or_broken_tokenizer_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let err = Tokenizer::from_file(&missing).unwrap_err().to_string();
        assert!(
            err.contains("nope.json") && err.contains("no such file"),
            "{err}"
        );
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "{\"model\": 3}").unwrap();
        let err = Tokenizer::from_file(&broken).unwrap_err().to_string();
        assert!(err.contains("broken.json"), "{err}");
    }
}
