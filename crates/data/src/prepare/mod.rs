//! Prepares a corpus for training: encodes it once into a compact token file (one, two or four
//! bytes per id, as the vocabulary needs), memory-maps it, and reuses it while the sources are
//! unchanged.
//!
//! Preparation streams: a first pass reads every part in pieces, checking it (binary files of
//! a directory are skipped) and counting characters for the vocabulary; a second pass encodes
//! the pieces and appends their ids to the token file. The text is never in memory whole.
//!
//! A prepared corpus lives in a directory of the cache named by a hash of which sources these
//! are and the settings that change the ids (the tokenizer, `max_vocab`, the UTF-8 policy):
//!
//! ```text
//! <cache>/<key>/meta.json          what was prepared and from what (size + mtime of each file)
//!               tokens.bin         the ids, little-endian, `width` bytes each
//!               vocab.json         the character vocabulary (or tokenizer.json)
//! ```
//!
//! It is reused when `meta.json` says the sources had the same sizes and modification times;
//! otherwise it is prepared again and replaced. A new entry is written under a temporary name
//! and renamed into place, so a reader never sees half of one. Runs preparing the same corpus
//! at once each map their own file before publishing it; the first to publish wins and the
//! others keep what they mapped, so none of them fails.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::corpus::ResolvedCorpus;
use crate::files::hex;
use crate::{
    DataError, InvalidUtf8, RareCharacters, TOKENIZER_FILE, TokenView, TokenWidth, Tokenizer,
    Vocabulary,
};
use encode::write_entry;

mod encode;

/// Bumped whenever the layout of a prepared corpus changes, so old entries are not misread.
const FORMAT: u32 = 1;
pub(crate) const META_FILE: &str = "meta.json";
pub(crate) const TOKENS_FILE: &str = "tokens.bin";
const VOCAB_FILE: &str = "vocab.json";
/// What a directory being written is named after: `<key>.partial-<pid>-…`.
pub(crate) const PARTIAL_MARK: &str = ".partial-";
/// What a replaced directory being removed is named after: `<key>.stale-<pid>-…`.
pub(crate) const STALE_MARK: &str = ".stale-";

/// Which tokenizer the corpus is encoded with.
#[derive(Debug, Clone)]
pub enum TokenizerChoice {
    /// A character vocabulary built from the corpus, with at most `max_vocab` tokens (0: no
    /// limit; see [`Vocabulary::from_counts`]).
    BuildCharacters {
        /// The size limit.
        max_vocab: usize,
    },
    /// This tokenizer (a checkpoint's, or a `tokenizer.json`).
    Use(Tokenizer),
    /// A checkpoint's character vocabulary grown with the corpus's new characters, for
    /// fine-tuning (see [`Vocabulary::extended`]).
    ExtendCharacters {
        /// The vocabulary whose ids stay.
        base: Vocabulary,
        /// The size limit.
        max_vocab: usize,
    },
}

impl TokenizerChoice {
    /// What about the choice changes the ids, for the cache key.
    fn identity(&self) -> Result<String, DataError> {
        Ok(match self {
            Self::BuildCharacters { max_vocab } => format!("chars max_vocab={max_vocab}"),
            Self::Use(tokenizer) => format!(
                "tokenizer {}",
                hex(&Sha256::digest(tokenizer.to_tokenizer_json()?))
            ),
            Self::ExtendCharacters { base, max_vocab } => format!(
                "extend {} max_vocab={max_vocab}",
                hex(&Sha256::digest(base.to_json()))
            ),
        })
    }
}

/// Which pass of preparation is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreparePhase {
    /// Checking the text and counting its characters.
    Reading,
    /// Encoding it into the token file.
    Encoding,
}

impl PreparePhase {
    /// "reading" or "encoding".
    pub fn name(self) -> &'static str {
        match self {
            Self::Reading => "reading",
            Self::Encoding => "encoding",
        }
    }
}

/// How to prepare a corpus.
pub struct PrepareOptions<'a> {
    /// Where prepared corpora are kept; `None` prepares into a temporary directory, removed
    /// when the [`PreparedCorpus`] is dropped.
    pub cache_dir: Option<PathBuf>,
    /// What to do with invalid UTF-8.
    pub invalid_utf8: InvalidUtf8,
    /// Called after each piece with the phase, the bytes done and the bytes in all.
    pub progress: &'a mut dyn FnMut(PreparePhase, u64, u64),
}

/// What a prepared corpus holds and where it came from (`meta.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreparedInfo {
    /// The layout version.
    pub format: u32,
    /// The sources' fingerprint when prepared (see [`ResolvedCorpus::fingerprint`]).
    pub fingerprint: String,
    /// Bytes per token id in `tokens.bin`.
    pub width: TokenWidth,
    /// Token ids in `tokens.bin`.
    pub tokens: usize,
    /// Bytes of source text read.
    pub source_bytes: u64,
    /// Files read.
    pub files: usize,
    /// Files of directories left out: empty or binary.
    pub skipped_files: usize,
    /// Invalid UTF-8 sequences replaced with U+FFFD.
    pub replaced_invalid_utf8: usize,
    /// Characters a vocabulary limit mapped to the unknown token.
    pub rare_distinct: usize,
    /// Their occurrences.
    pub rare_occurrences: usize,
    /// Seconds the preparation took.
    pub seconds: f64,
    /// The corpus as named: absolute paths and names, in order (empty in entries written
    /// before it was recorded).
    #[serde(default)]
    pub sources: Vec<String>,
    /// The tokenizer, described (e.g. "98 characters").
    #[serde(default)]
    pub tokenizer: String,
}

impl PreparedInfo {
    /// Source text prepared per second, in MB (10^6 bytes).
    pub fn megabytes_per_second(&self) -> f64 {
        self.source_bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }
}

/// A corpus encoded into a memory-mapped token file.
pub struct PreparedCorpus {
    /// The tokenizer its ids belong to.
    pub tokenizer: Tokenizer,
    /// What it holds.
    pub info: PreparedInfo,
    /// The directory holding it.
    pub location: PathBuf,
    /// Whether it was found prepared already.
    pub reused: bool,
    /// Why the cache could not be used, if it could not (the corpus was prepared into a
    /// temporary directory instead).
    pub cache_problem: Option<String>,
    map: Mmap,
    _temporary: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for PreparedCorpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCorpus")
            .field("info", &self.info)
            .field("location", &self.location)
            .field("reused", &self.reused)
            .finish()
    }
}

impl PreparedCorpus {
    /// The token ids, read in place from the mapped file.
    pub fn tokens(&self) -> TokenView<'_> {
        self.info
            .width
            .view(&self.map)
            .expect("the file's length was checked against its width")
    }

    /// What a character vocabulary left out (nothing for a `tokenizer.json`).
    pub fn rare_characters(&self) -> RareCharacters {
        RareCharacters {
            distinct: self.info.rare_distinct,
            occurrences: self.info.rare_occurrences,
        }
    }
}

/// Prepares `sources` with the tokenizer `choice` names, or reuses the prepared corpus in the
/// cache if the sources have not changed since.
pub fn prepare(
    sources: &ResolvedCorpus,
    choice: &TokenizerChoice,
    options: PrepareOptions<'_>,
) -> Result<PreparedCorpus, DataError> {
    let PrepareOptions {
        cache_dir,
        invalid_utf8,
        progress,
    } = options;
    let key = cache_key(sources, choice, invalid_utf8)?;
    let fingerprint = sources.fingerprint();
    let mut cache_problem = None;
    if let Some(cache_dir) = &cache_dir {
        let entry = cache_dir.join(&key);
        if let Some(prepared) = open_entry(&entry, &fingerprint) {
            mark_used(&entry);
            return Ok(prepared);
        }
        let staging = cache_dir.join(format!("{key}{PARTIAL_MARK}{}", unique_suffix()));
        // A cache that cannot take a new directory (read-only, not ours) is passed over.
        match std::fs::create_dir_all(&staging) {
            Ok(()) => {
                let written = write_entry(
                    sources,
                    &fingerprint,
                    choice,
                    invalid_utf8,
                    &staging,
                    progress,
                );
                let settled = written.and_then(|info| settle(&staging, &entry, &info.fingerprint));
                let _ = std::fs::remove_dir_all(&staging);
                return settled;
            }
            Err(e) => {
                cache_problem = Some(format!(
                    "cannot use the cache '{}' ({e}); preparing into a temporary directory",
                    cache_dir.display()
                ))
            }
        }
    }
    let temporary = tempfile::Builder::new()
        .prefix("charlstm-prepared-")
        .tempdir()
        .map_err(|e| DataError::io("create", std::env::temp_dir(), e))?;
    let location = temporary.path().join(&key);
    let info = write_entry(
        sources,
        &fingerprint,
        choice,
        invalid_utf8,
        &location,
        progress,
    )?;
    let mut prepared = open_new(&location, &info.fingerprint)?;
    prepared.cache_problem = cache_problem;
    prepared._temporary = Some(temporary);
    Ok(prepared)
}

/// Opens the corpus just prepared into `entry`.
fn open_new(entry: &Path, fingerprint: &str) -> Result<PreparedCorpus, DataError> {
    let mut prepared = open_entry(entry, fingerprint).ok_or_else(|| {
        let reason = std::io::Error::other("the prepared corpus is unreadable");
        DataError::io("write", entry, reason)
    })?;
    prepared.reused = false;
    Ok(prepared)
}

/// Maps the corpus just written to `staging`, then moves it to `entry` in the cache unless
/// another run has put the same corpus there meanwhile. The mapping outlives the files'
/// names, so whichever run publishes, each keeps reading what it mapped.
fn settle(staging: &Path, entry: &Path, fingerprint: &str) -> Result<PreparedCorpus, DataError> {
    let mut prepared = open_new(staging, fingerprint)?;
    prepared.location = entry.to_path_buf();
    if open_entry(entry, fingerprint).is_some() {
        return Ok(prepared);
    }
    if let Err(e) = publish(staging, entry)
        && open_entry(entry, fingerprint).is_none()
    {
        prepared.cache_problem = Some(format!(
            "cannot store the prepared corpus in the cache as '{}' ({e}); this run uses it \
             uncached",
            entry.display()
        ));
        prepared.location = staging.to_path_buf();
    }
    Ok(prepared)
}

/// The name of the cache entry: which sources, which tokenizer, which UTF-8 policy.
fn cache_key(
    sources: &ResolvedCorpus,
    choice: &TokenizerChoice,
    invalid_utf8: InvalidUtf8,
) -> Result<String, DataError> {
    let mut hasher = Sha256::new();
    hasher.update(format!("charlstm prepared corpus v{FORMAT}\n"));
    hasher.update(sources.identity());
    hasher.update(format!("\n{}\n{invalid_utf8:?}\n", choice.identity()?));
    Ok(hex(&hasher.finalize()))
}

/// A name part no other run, and no other thread of this one, uses at the same time.
fn unique_suffix() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{nanos}-{count}", std::process::id())
}

/// Records that the entry was just used (the modification time of its `meta.json`), so
/// `charlstm cache clean --unused-for` keeps it. A cache that cannot be written is left as is.
fn mark_used(entry: &Path) {
    if let Ok(meta) = File::options().write(true).open(entry.join(META_FILE)) {
        let _ = meta.set_modified(std::time::SystemTime::now());
    }
}

/// What `entry`'s `meta.json` says, with its token file opened, if the entry is complete: a
/// known layout, and a token file of the length the meta data gives.
pub(crate) fn read_complete(entry: &Path) -> Option<(PreparedInfo, File)> {
    let meta = std::fs::read_to_string(entry.join(META_FILE)).ok()?;
    let info: PreparedInfo = serde_json::from_str(&meta).ok()?;
    if info.format != FORMAT || info.tokens == 0 {
        return None;
    }
    let file = File::open(entry.join(TOKENS_FILE)).ok()?;
    let expected_len = (info.tokens * info.width.bytes()) as u64;
    if file.metadata().ok()?.len() != expected_len {
        return None;
    }
    Some((info, file))
}

/// Opens the prepared corpus in `entry` if it is complete and was prepared from sources with
/// this `fingerprint`.
fn open_entry(entry: &Path, fingerprint: &str) -> Option<PreparedCorpus> {
    let (info, file) = read_complete(entry)?;
    if info.fingerprint != fingerprint {
        return None;
    }
    let vocab_path = entry.join(VOCAB_FILE);
    let tokenizer = if vocab_path.is_file() {
        Tokenizer::Characters(Vocabulary::load(&vocab_path).ok()?)
    } else {
        Tokenizer::from_file(&entry.join(TOKENIZER_FILE)).ok()?
    };
    if TokenWidth::for_vocab(tokenizer.len()).bytes() > info.width.bytes() {
        return None;
    }
    // SAFETY: the file is only ever written under a temporary name and renamed into place
    // complete; nothing writes to it afterwards (a newer preparation replaces the directory,
    // which leaves this mapping's pages intact), so the mapped bytes do not change under us.
    let map = unsafe { Mmap::map(&file) }.ok()?;
    Some(PreparedCorpus {
        tokenizer,
        info,
        location: entry.to_path_buf(),
        reused: true,
        cache_problem: None,
        map,
        _temporary: None,
    })
}

/// Moves the finished `staging` directory to `entry`, replacing an outdated one.
fn publish(staging: &Path, entry: &Path) -> std::io::Result<()> {
    if entry.exists() {
        let mut stale = entry.as_os_str().to_owned();
        stale.push(format!("{STALE_MARK}{}", unique_suffix()));
        // Another run may have moved it already.
        if std::fs::rename(entry, &stale).is_ok() {
            let _ = std::fs::remove_dir_all(&stale);
        }
    }
    std::fs::rename(staging, entry)
}
