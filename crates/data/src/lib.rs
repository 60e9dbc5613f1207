//! Everything charlstm knows about text before it becomes tensors: the character vocabulary,
//! where corpora come from, how a corpus is split, and how a split is cut into contiguous
//! streams for truncated backpropagation through time.
//!
//! This crate knows nothing of Burn: batches are plain token ids that the training crate turns
//! into tensors.

pub mod batcher;
pub mod corpus;
pub mod error;
pub mod registry;
pub mod sources;
pub mod split;
pub mod synthetic;
pub mod tokenizer;
pub mod vocab;

pub use batcher::{Batch, RemainderPolicy, StreamBatcher};
pub use corpus::{CorpusLocator, InvalidUtf8, LoadedCorpus};
pub use error::DataError;
pub use sources::FileSelection;
pub use split::{Split, SplitFractions};
pub use tokenizer::{StreamDecoder, TOKENIZER_FILE, Tokenizer};
pub use vocab::{RareCharacters, Vocabulary};
