//! The `[data]` section of a run's configuration: which corpus, how it is split and tokenized,
//! and the preparation of the corpus it describes into a token file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::corpus::{CorpusLocator, InvalidUtf8, ResolvedCorpus};
use crate::error::DataError;
use crate::prepare::{PrepareOptions, PreparePhase, PreparedCorpus, TokenizerChoice};
use crate::sources::FileSelection;
use crate::split::SplitFractions;
use crate::tokenizer::Tokenizer;
use crate::tokens::TokenView;

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

impl DataConfig {
    /// The split fractions.
    pub fn split_fractions(&self) -> SplitFractions {
        SplitFractions {
            validation: self.validation_fraction,
            test: self.test_fraction,
        }
    }

    /// The parts of the corpus, as `locator` finds them.
    pub fn corpus_sources(&self, locator: &CorpusLocator) -> Result<ResolvedCorpus, DataError> {
        let selection = FileSelection::new(&self.include, &self.exclude)?;
        locator.resolve_all(&self.corpus.specs(), &selection)
    }

    /// How a new run's tokens are made: a character vocabulary of the corpus (within
    /// `data.max_vocab`) or the `tokenizer.json` that `data.tokenizer` names.
    pub fn tokenizer_choice(&self) -> Result<TokenizerChoice, DataError> {
        Ok(if self.tokenizer == CHARACTER_TOKENIZER {
            TokenizerChoice::BuildCharacters {
                max_vocab: self.max_vocab,
            }
        } else {
            TokenizerChoice::Use(Tokenizer::from_file(Path::new(&self.tokenizer))?)
        })
    }

    /// The corpus, encoded with `choice` into a memory-mapped token file
    /// (reused from the cache when the corpus has not changed); `progress` hears of each
    /// piece read and encoded.
    pub fn prepare(
        &self,
        locator: &CorpusLocator,
        choice: &TokenizerChoice,
        progress: &mut dyn FnMut(PreparePhase, u64, u64),
    ) -> Result<PreparedCorpus, DataError> {
        let sources = self.corpus_sources(locator)?;
        let options = PrepareOptions {
            cache_dir: locator.prepared_dir.clone().filter(|_| self.cache),
            invalid_utf8: self.invalid_utf8,
            progress,
        };
        crate::prepare::prepare(&sources, choice, options)
    }

    /// The corpus, encoded for a model that reads `tokenizer`'s ids (a
    /// checkpoint's): the run's own prepared corpus when it has this vocabulary, else the
    /// corpus encoded with `tokenizer`.
    pub fn prepare_for(
        &self,
        locator: &CorpusLocator,
        tokenizer: &Tokenizer,
        progress: &mut dyn FnMut(PreparePhase, u64, u64),
    ) -> Result<PreparedCorpus, DataError> {
        if let (Some(vocab), true) = (
            tokenizer.characters(),
            self.tokenizer == CHARACTER_TOKENIZER,
        ) {
            let own = TokenizerChoice::BuildCharacters {
                max_vocab: self.max_vocab,
            };
            let prepared = self.prepare(locator, &own, progress)?;
            if prepared.tokenizer.characters() == Some(vocab) {
                return Ok(prepared);
            }
        }
        self.prepare(locator, &TokenizerChoice::Use(tokenizer.clone()), progress)
    }

    /// The validation tokens to evaluate: the split, cut to `data.val_chars` if set.
    pub fn validation_part<'a>(&self, validation: TokenView<'a>) -> TokenView<'a> {
        match self.val_chars {
            0 => validation,
            cap => validation.prefix(cap),
        }
    }
}
