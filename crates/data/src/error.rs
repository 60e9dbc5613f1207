//! The one error type of the data crate. Every message names the problem and, where there is
//! one, the fix, so the binary can print it as a single line.

use std::path::PathBuf;

/// Anything that can go wrong while finding, reading, encoding or batching a corpus.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read or written.
    #[error("cannot {action} '{path}': {source}")]
    Io {
        /// What we were doing, e.g. "read".
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The corpus path names a directory, not a file.
    #[error("corpus '{0}' is a directory (give a text file inside it)")]
    IsDirectory(PathBuf),
    /// A corpus directory has no text file that the include/exclude globs select.
    #[error(
        "corpus directory '{0}' has no text files to read (check data.include and data.exclude, or give a file)"
    )]
    NoTextFiles(PathBuf),
    /// An include or exclude glob is malformed.
    #[error("glob '{glob}' is invalid: {reason} (see data.include / data.exclude)")]
    InvalidGlob {
        /// The glob as given.
        glob: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The corpus is not valid UTF-8.
    #[error(
        "corpus '{path}' is not valid UTF-8 at byte {offset} (convert it to UTF-8, or set data.invalid_utf8=replace to replace bad bytes)"
    )]
    NotUtf8 {
        /// The corpus file.
        path: PathBuf,
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The corpus holds NUL bytes, so it is almost certainly a binary file.
    #[error(
        "corpus '{path}' looks like a binary file (NUL byte at offset {offset}); give a text file"
    )]
    Binary {
        /// The corpus file.
        path: PathBuf,
        /// Offset of the first NUL byte.
        offset: usize,
    },
    /// The corpus holds no characters.
    #[error("corpus '{0}' is empty (give a file with some text in it)")]
    Empty(String),
    /// The corpus is neither a file nor a name we know.
    #[error("corpus '{name}' is neither a file nor a known corpus (known: {known})")]
    UnknownCorpus {
        /// What the user asked for.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
    /// A downloaded or cached corpus does not have the expected content.
    #[error(
        "corpus file '{path}' has sha256 {actual}, expected {expected} (delete it so it is downloaded again)"
    )]
    ChecksumMismatch {
        /// The offending file.
        path: PathBuf,
        /// The sha256 the registry lists.
        expected: String,
        /// The sha256 of the file.
        actual: String,
    },
    /// A corpus could not be downloaded.
    #[error(
        "cannot download corpus '{name}' from {url}: {message} (download it by hand into ${env_var} or pass a file path)"
    )]
    Download {
        /// The corpus name.
        name: String,
        /// Where we tried to get it.
        url: String,
        /// What went wrong.
        message: String,
        /// The environment variable naming the data directory.
        env_var: &'static str,
    },
    /// Text holds characters the vocabulary does not know.
    #[error(
        "text has characters not in the vocabulary: {0} (use only characters the model was trained on)"
    )]
    UnknownCharacters(String),
    /// A saved vocabulary is malformed.
    #[error("vocabulary '{path}' is invalid: {reason}")]
    InvalidVocabulary {
        /// The vocabulary file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A `tokenizer.json` cannot be used.
    #[error("tokenizer '{path}' is invalid: {reason}")]
    InvalidTokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The `tokenizers` crate failed to encode or serialize.
    #[error("tokenizer failed: {0}")]
    Tokenize(String),
    /// A split is too short to make even one batch.
    #[error(
        "the {split} split has {tokens} characters, too few for one batch of {batch_size} streams × {seq_len} steps (needs at least {needed}; use a smaller batch_size or seq_len, or a longer corpus)"
    )]
    TooShort {
        /// Which split ("training", "validation", ...).
        split: String,
        /// How many tokens it has.
        tokens: usize,
        /// The batch size asked for.
        batch_size: usize,
        /// The sequence length asked for.
        seq_len: usize,
        /// The minimum number of tokens needed.
        needed: usize,
    },
    /// The registry of known corpora is malformed (a bug in the build).
    #[error("corpus registry is invalid: {0}")]
    Registry(String),
}

impl DataError {
    /// An [`DataError::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
