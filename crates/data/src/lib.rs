//! Everything charlstm knows about text before it becomes tensors: the character vocabulary,
//! where corpora come from, how a corpus is split, and how a split is cut into contiguous
//! streams for truncated backpropagation through time. A corpus of any size is prepared once
//! into a compact, memory-mapped token file (see [`prepare()`]).
//!
//! This crate knows nothing of Burn: batches are plain token ids that the training crate turns
//! into tensors.

pub mod batcher;
pub mod config;
pub mod corpus;
mod download;
pub mod env_vars;
pub mod error;
pub mod files;
pub mod prepare;
pub mod prepared_cache;
pub mod quiet_panic;
pub mod registry;
pub mod sources;
pub mod split;
pub mod synthetic;
pub mod text_stream;
pub mod tokenizer;
pub mod tokens;
pub mod vocab;

pub use batcher::{Batch, RemainderPolicy, StreamBatcher};
pub use config::{CHARACTER_TOKENIZER, CorpusSources, DataConfig};
pub use corpus::{CorpusLocator, CorpusPart, InvalidUtf8, ResolvedCorpus};
pub use error::DataError;
pub use prepare::{
    PrepareOptions, PreparePhase, PreparedCorpus, PreparedInfo, TokenizerChoice, prepare,
};
pub use prepared_cache::{CacheEntry, EntryState, list_cache, remove_entry};
pub use sources::FileSelection;
pub use split::{Split, SplitFractions};
pub use tokenizer::{StreamDecoder, TOKENIZER_FILE, Tokenizer};
pub use tokens::{TokenView, TokenWidth};
pub use vocab::{CharCounts, RareCharacters, Vocabulary};
