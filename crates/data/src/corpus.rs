//! Finds a corpus by path or by name: the files (or generated text) it is made of, in order.
//! Reading them is [`crate::prepare`]'s job, piece by piece.
//!
//! A `corpus` value is, in order: the path of an existing file; the name of a synthetic corpus
//! (generated here); the name of a registered corpus (looked for in the data directories, then
//! the download cache, then downloaded into the cache and verified).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::DataError;
use crate::download::download;
pub use crate::download::verify_sha256;
use crate::env_vars::{CACHE_DIR_ENV, DATA_DIR_ENV, PREPARED_DIR_ENV};
use crate::files::hex;
use crate::registry::{RegisteredCorpus, find_registered, registered_corpora};
use crate::sources::FileSelection;
use crate::synthetic::SyntheticCorpus;
use crate::text_stream::{PIECE_BYTES, read_pieces};
use crate::tokenizer::pieces_at_line_breaks;

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// What to do with bytes that are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvalidUtf8 {
    /// Refuse the corpus, naming the file and the byte offset.
    #[default]
    Error,
    /// Replace each invalid sequence with U+FFFD and count them.
    Replace,
}

/// One part of a corpus, in reading order.
#[derive(Debug, Clone)]
pub enum CorpusPart {
    /// A text file.
    File {
        /// Where it is.
        path: PathBuf,
        /// Its size in bytes when the corpus was resolved.
        bytes: u64,
        /// Its modification time then, if the file system keeps one.
        modified: Option<SystemTime>,
        /// Found by walking a directory: a binary file there is skipped, not refused.
        in_directory: bool,
    },
    /// A synthetic corpus, generated (they are small).
    Generated {
        /// Its name.
        name: String,
        /// Its text.
        text: String,
    },
}

/// What a corpus is made of: its parts in reading order, found but not yet read.
#[derive(Debug, Clone)]
pub struct ResolvedCorpus {
    /// How the user named it (paths or names, comma-separated).
    pub label: String,
    /// The files and generated texts, in reading order.
    pub parts: Vec<CorpusPart>,
    /// Empty files of directories, left out.
    pub skipped_files: usize,
    /// Which corpus this is, as named: see [`ResolvedCorpus::identity`].
    identity: String,
    /// The corpus as named: see [`ResolvedCorpus::named`].
    named: Vec<String>,
}

impl CorpusPart {
    /// Bytes of text in it (a file's size when the corpus was resolved).
    pub fn bytes(&self) -> u64 {
        match self {
            Self::File { bytes, .. } => *bytes,
            Self::Generated { text, .. } => text.len() as u64,
        }
    }

    /// Calls `each` with consecutive pieces of its text (see [`read_pieces`]); returns the
    /// number of invalid UTF-8 sequences replaced.
    pub fn read_pieces(
        &self,
        policy: InvalidUtf8,
        mut each: impl FnMut(&str) -> Result<(), DataError>,
    ) -> Result<usize, DataError> {
        match self {
            Self::File { path, .. } => read_pieces(path, policy, each),
            Self::Generated { text, .. } => {
                for piece in pieces_at_line_breaks(text, PIECE_BYTES) {
                    each(piece)?;
                }
                Ok(0)
            }
        }
    }
}

impl ResolvedCorpus {
    /// Bytes of text in all parts.
    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(CorpusPart::bytes).sum()
    }

    /// Which corpus this is, as the user named it: the absolute paths and the names given,
    /// in order, and the include/exclude globs. Not what it holds: a file added to a
    /// directory changes the [`ResolvedCorpus::fingerprint`], not this.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The corpus as the user named it: each path made absolute, each name as given.
    pub fn named(&self) -> &[String] {
        &self.named
    }

    /// What the parts hold, as far as can be told without reading them: which files, each
    /// one's size and modification time, each generated text's hash. Equal fingerprints mean
    /// unchanged text.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.identity.as_bytes());
        for part in &self.parts {
            match part {
                CorpusPart::File {
                    path,
                    bytes,
                    modified,
                    ..
                } => {
                    hasher.update(path.as_os_str().as_encoded_bytes());
                    hasher.update(b"\0");
                    let nanos = modified
                        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    hasher.update(bytes.to_le_bytes());
                    hasher.update(nanos.to_le_bytes());
                }
                CorpusPart::Generated { name, text } => {
                    hasher.update(name.as_bytes());
                    hasher.update(b"\0");
                    hasher.update(Sha256::digest(text));
                }
            }
        }
        hex(&hasher.finalize())
    }
}

/// Where named corpora are looked for and downloaded to.
#[derive(Debug, Clone, Default)]
pub struct CorpusLocator {
    /// Directories searched for a registered corpus's file, first match wins.
    pub data_dirs: Vec<PathBuf>,
    /// Where downloads go; `None` disables downloading.
    pub cache_dir: Option<PathBuf>,
    /// Where prepared corpora are kept (see [`crate::prepare()`]); `None` prepares each run's
    /// corpus afresh into a temporary directory.
    pub prepared_dir: Option<PathBuf>,
    /// Whether to draw a download progress bar.
    pub show_progress: bool,
    /// What to do with invalid UTF-8 in a corpus file.
    pub invalid_utf8: InvalidUtf8,
}

impl CorpusLocator {
    /// The locator the environment describes: `$CHARLSTM_DATA_DIR` (if set) and the cache in
    /// `$CHARLSTM_CACHE_DIR`, `$XDG_CACHE_HOME/charlstm/corpora` or `~/.cache/charlstm/corpora`;
    /// prepared corpora in `$CHARLSTM_PREPARED_DIR`, or `prepared/` inside
    /// `$CHARLSTM_CACHE_DIR`, or `$XDG_CACHE_HOME/charlstm/prepared` or
    /// `~/.cache/charlstm/prepared`.
    pub fn from_env() -> Self {
        let data_dirs = std::env::var_os(DATA_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(|v| vec![PathBuf::from(v)])
            .unwrap_or_default();
        let cache_dir = std::env::var_os(CACHE_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .filter(|v| !v.is_empty())
                    .map(|v| PathBuf::from(v).join("charlstm/corpora"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/charlstm/corpora"))
            });
        let prepared_dir = if let Some(dir) = env_path(PREPARED_DIR_ENV) {
            Some(dir)
        } else if let Some(dir) = env_path(CACHE_DIR_ENV) {
            Some(dir.join("prepared"))
        } else {
            cache_dir
                .as_ref()
                .and_then(|corpora| corpora.parent())
                .map(|root| root.join("prepared"))
        };
        Self {
            data_dirs,
            cache_dir,
            prepared_dir,
            show_progress: true,
            invalid_utf8: InvalidUtf8::Error,
        }
    }

    /// The same locator, treating invalid UTF-8 as `policy` says.
    pub fn with_invalid_utf8(mut self, policy: InvalidUtf8) -> Self {
        self.invalid_utf8 = policy;
        self
    }

    /// Finds the corpus `spec` names (a file, a directory of files, or a name).
    pub fn resolve(&self, spec: &str) -> Result<ResolvedCorpus, DataError> {
        self.resolve_all(&[spec.to_string()], &FileSelection::default())
    }

    /// Finds the corpora `specs` name, in order, as one corpus: each a file, a directory (its
    /// files that `selection` selects, in sorted order; empty ones are left out and counted)
    /// or a name. Nothing is read yet, except to download or verify a registered corpus.
    pub fn resolve_all(
        &self,
        specs: &[String],
        selection: &FileSelection,
    ) -> Result<ResolvedCorpus, DataError> {
        let mut identity = Sha256::new();
        let mut named = Vec::with_capacity(specs.len());
        for spec in specs {
            // A path names the same corpus from any working directory.
            let absolute = std::fs::canonicalize(spec).unwrap_or_else(|_| PathBuf::from(spec));
            identity.update(absolute.as_os_str().as_encoded_bytes());
            identity.update(b"\0");
            named.push(absolute.to_string_lossy().into_owned());
        }
        identity.update(selection.describe());
        let mut sources = ResolvedCorpus {
            label: specs.join(", "),
            parts: Vec::new(),
            skipped_files: 0,
            identity: hex(&identity.finalize()),
            named,
        };
        for spec in specs {
            self.resolve_one(spec, selection, &mut sources)?;
        }
        if sources.parts.is_empty() {
            return Err(DataError::Empty(sources.label));
        }
        Ok(sources)
    }

    fn resolve_one(
        &self,
        spec: &str,
        selection: &FileSelection,
        sources: &mut ResolvedCorpus,
    ) -> Result<(), DataError> {
        let as_path = Path::new(spec);
        if as_path.is_dir() {
            let before = sources.parts.len();
            for path in selection.files_in(as_path)? {
                let part = file_part(&path, true)?;
                match part {
                    CorpusPart::File { bytes: 0, .. } => sources.skipped_files += 1,
                    part => sources.parts.push(part),
                }
            }
            if sources.parts.len() == before {
                return Err(DataError::NoTextFiles(as_path.to_path_buf()));
            }
            return Ok(());
        }
        if as_path.exists() {
            let part = file_part(as_path, false)?;
            if matches!(part, CorpusPart::File { bytes: 0, .. }) {
                return Err(DataError::Empty(spec.to_string()));
            }
            sources.parts.push(part);
            return Ok(());
        }
        if let Some(synthetic) = SyntheticCorpus::from_name(spec) {
            sources.parts.push(CorpusPart::Generated {
                name: spec.to_string(),
                text: synthetic.generate(),
            });
            return Ok(());
        }
        if let Some(registered) = find_registered(spec)? {
            let path = self.locate_registered(&registered)?;
            sources.parts.push(file_part(&path, false)?);
            return Ok(());
        }
        let mut known: Vec<String> = registered_corpora()?.into_iter().map(|c| c.name).collect();
        known.extend(SyntheticCorpus::ALL.iter().map(|c| c.name().to_string()));
        Err(DataError::UnknownCorpus {
            name: spec.to_string(),
            known: known.join(", "),
        })
    }

    /// The verified local file of a registered corpus, downloading it if need be.
    fn locate_registered(&self, corpus: &RegisteredCorpus) -> Result<PathBuf, DataError> {
        let candidates = self
            .data_dirs
            .iter()
            .chain(self.cache_dir.as_ref())
            .map(|dir| dir.join(&corpus.file));
        for path in candidates {
            if path.is_file() {
                verify_sha256(&path, &corpus.sha256)?;
                return Ok(path);
            }
        }
        let Some(cache_dir) = &self.cache_dir else {
            return Err(DataError::Download {
                name: corpus.name.clone(),
                url: corpus.url.clone(),
                message: "no cache directory (set CHARLSTM_CACHE_DIR or HOME)".into(),
                env_var: DATA_DIR_ENV,
            });
        };
        download(corpus, cache_dir, self.show_progress)
    }
}

/// The part for the file at `path`, with its size and modification time.
fn file_part(path: &Path, in_directory: bool) -> Result<CorpusPart, DataError> {
    if path.is_dir() {
        return Err(DataError::IsDirectory(path.to_path_buf()));
    }
    let metadata = std::fs::metadata(path).map_err(|e| DataError::io("read", path, e))?;
    Ok(CorpusPart::File {
        path: path.to_path_buf(),
        bytes: metadata.len(),
        modified: metadata.modified().ok(),
        in_directory,
    })
}

#[cfg(test)]
mod tests;
