//! Finds a corpus by path or by name and reads it as text.
//!
//! A `corpus` value is, in order: the path of an existing file; the name of a synthetic corpus
//! (generated here); the name of a registered corpus (looked for in the data directories, then
//! the download cache, then downloaded into the cache and verified).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::DataError;
use crate::registry::{RegisteredCorpus, find_registered, registered_corpora};
use crate::sources::FileSelection;
use crate::synthetic::SyntheticCorpus;

/// The environment variable naming a directory of ready corpora (CI: `../shared/corpora`).
pub const DATA_DIR_ENV: &str = "CHARLSTM_DATA_DIR";
/// The environment variable naming the download cache.
pub const CACHE_DIR_ENV: &str = "CHARLSTM_CACHE_DIR";

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

/// A corpus read into memory.
#[derive(Debug, Clone)]
pub struct LoadedCorpus {
    /// How the user named it (path or name).
    pub label: String,
    /// Where the text came from: a file, or `None` for a synthetic corpus.
    pub path: Option<PathBuf>,
    /// The whole text.
    pub text: String,
    /// Invalid UTF-8 sequences replaced with U+FFFD (only under [`InvalidUtf8::Replace`]).
    pub replaced_invalid_utf8: usize,
    /// Files read (a directory or list counts each of its files).
    pub files: usize,
    /// Files of a directory left out because they are binary or empty.
    pub skipped_files: usize,
}

/// Where named corpora are looked for and downloaded to.
#[derive(Debug, Clone, Default)]
pub struct CorpusLocator {
    /// Directories searched for a registered corpus's file, first match wins.
    pub data_dirs: Vec<PathBuf>,
    /// Where downloads go; `None` disables downloading.
    pub cache_dir: Option<PathBuf>,
    /// Whether to draw a download progress bar.
    pub show_progress: bool,
    /// What to do with invalid UTF-8 in a corpus file.
    pub invalid_utf8: InvalidUtf8,
}

impl CorpusLocator {
    /// The locator the environment describes: `$CHARLSTM_DATA_DIR` (if set) and the cache in
    /// `$CHARLSTM_CACHE_DIR`, `$XDG_CACHE_HOME/charlstm/corpora` or `~/.cache/charlstm/corpora`.
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
        Self {
            data_dirs,
            cache_dir,
            show_progress: true,
            invalid_utf8: InvalidUtf8::Error,
        }
    }

    /// The same locator, treating invalid UTF-8 as `policy` says.
    pub fn with_invalid_utf8(mut self, policy: InvalidUtf8) -> Self {
        self.invalid_utf8 = policy;
        self
    }

    /// Loads the corpus `spec` names (a file, a directory of files, or a name).
    pub fn load(&self, spec: &str) -> Result<LoadedCorpus, DataError> {
        self.load_all(&[spec.to_string()], &FileSelection::default())
    }

    /// Loads the corpora `specs` name, in order, as one text: each a file, a directory (its
    /// files that `selection` selects, in sorted order; binary and empty ones are skipped and
    /// counted) or a name.
    pub fn load_all(
        &self,
        specs: &[String],
        selection: &FileSelection,
    ) -> Result<LoadedCorpus, DataError> {
        let mut corpora = Vec::with_capacity(specs.len());
        for spec in specs {
            corpora.push(self.load_one(spec, selection)?);
        }
        if corpora.len() == 1 {
            return Ok(corpora.pop().expect("one corpus"));
        }
        let mut text = String::with_capacity(corpora.iter().map(|c| c.text.len()).sum());
        for corpus in &corpora {
            text.push_str(&corpus.text);
        }
        if text.is_empty() {
            return Err(DataError::Empty(specs.join(", ")));
        }
        Ok(LoadedCorpus {
            label: specs.join(", "),
            path: None,
            text,
            replaced_invalid_utf8: corpora.iter().map(|c| c.replaced_invalid_utf8).sum(),
            files: corpora.iter().map(|c| c.files).sum(),
            skipped_files: corpora.iter().map(|c| c.skipped_files).sum(),
        })
    }

    fn load_one(&self, spec: &str, selection: &FileSelection) -> Result<LoadedCorpus, DataError> {
        let as_path = Path::new(spec);
        if as_path.is_dir() {
            return self.load_directory(spec, as_path, selection);
        }
        if as_path.exists() {
            let (text, replaced_invalid_utf8) = read_text_file(as_path, self.invalid_utf8)?;
            return Ok(LoadedCorpus {
                label: spec.to_string(),
                path: Some(as_path.to_path_buf()),
                text,
                replaced_invalid_utf8,
                files: 1,
                skipped_files: 0,
            });
        }
        if let Some(synthetic) = SyntheticCorpus::from_name(spec) {
            return Ok(LoadedCorpus {
                label: spec.to_string(),
                path: None,
                text: synthetic.generate(),
                replaced_invalid_utf8: 0,
                files: 0,
                skipped_files: 0,
            });
        }
        if let Some(registered) = find_registered(spec)? {
            let path = self.locate_registered(&registered)?;
            let (text, replaced_invalid_utf8) = read_text_file(&path, self.invalid_utf8)?;
            return Ok(LoadedCorpus {
                label: spec.to_string(),
                path: Some(path.clone()),
                text,
                replaced_invalid_utf8,
                files: 1,
                skipped_files: 0,
            });
        }
        let mut known: Vec<String> = registered_corpora()?.into_iter().map(|c| c.name).collect();
        known.extend(SyntheticCorpus::ALL.iter().map(|c| c.name().to_string()));
        Err(DataError::UnknownCorpus {
            name: spec.to_string(),
            known: known.join(", "),
        })
    }

    /// The files of `dir` that `selection` selects, in sorted order, as one text.
    fn load_directory(
        &self,
        spec: &str,
        dir: &Path,
        selection: &FileSelection,
    ) -> Result<LoadedCorpus, DataError> {
        let mut corpus = LoadedCorpus {
            label: spec.to_string(),
            path: Some(dir.to_path_buf()),
            text: String::new(),
            replaced_invalid_utf8: 0,
            files: 0,
            skipped_files: 0,
        };
        for file in selection.files_in(dir)? {
            match read_text_file(&file, self.invalid_utf8) {
                Ok((text, replaced)) => {
                    corpus.text.push_str(&text);
                    corpus.replaced_invalid_utf8 += replaced;
                    corpus.files += 1;
                }
                // A code base has images and empty files; they are not text to learn.
                Err(DataError::Binary { .. } | DataError::Empty(_)) => corpus.skipped_files += 1,
                Err(e) => return Err(e),
            }
        }
        if corpus.text.is_empty() {
            return Err(DataError::NoTextFiles(dir.to_path_buf()));
        }
        Ok(corpus)
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
        self.download(corpus, cache_dir)
    }

    /// Downloads `corpus` into `cache_dir`, hashing as it goes; the file appears under its
    /// final name only once complete and verified.
    fn download(&self, corpus: &RegisteredCorpus, cache_dir: &Path) -> Result<PathBuf, DataError> {
        let fail = |message: String| DataError::Download {
            name: corpus.name.clone(),
            url: corpus.url.clone(),
            message,
            env_var: DATA_DIR_ENV,
        };
        std::fs::create_dir_all(cache_dir).map_err(|e| DataError::io("create", cache_dir, e))?;
        let final_path = cache_dir.join(&corpus.file);
        let partial_path = cache_dir.join(format!("{}.partial", corpus.file));

        let mut response = ureq::get(&corpus.url)
            .call()
            .map_err(|e| fail(e.to_string()))?;
        let progress = if self.show_progress {
            let bar = indicatif::ProgressBar::new(corpus.bytes);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "downloading {msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec})",
                )
                .expect("the template is valid"),
            );
            bar.set_message(corpus.name.clone());
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };

        let mut reader = response.body_mut().as_reader();
        let mut file =
            File::create(&partial_path).map_err(|e| DataError::io("create", &partial_path, e))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buffer).map_err(|e| fail(e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            file.write_all(&buffer[..n])
                .map_err(|e| DataError::io("write", &partial_path, e))?;
            progress.inc(n as u64);
        }
        file.sync_all()
            .map_err(|e| DataError::io("write", &partial_path, e))?;
        progress.finish_and_clear();

        let actual = hex(&hasher.finalize());
        if actual != corpus.sha256 {
            let _ = std::fs::remove_file(&partial_path);
            return Err(fail(format!(
                "downloaded file has sha256 {actual}, expected {}",
                corpus.sha256
            )));
        }
        std::fs::rename(&partial_path, &final_path)
            .map_err(|e| DataError::io("rename", &partial_path, e))?;
        Ok(final_path)
    }
}

/// Checks that the file at `path` has sha256 `expected`.
pub fn verify_sha256(path: &Path, expected: &str) -> Result<(), DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io("read", path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| DataError::io("read", path, e))?;
    let actual = hex(&hasher.finalize());
    if actual == expected {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a whole text file, rejecting directories, binary files, empty files and (unless
/// `invalid_utf8` says to replace it) invalid UTF-8 with errors that say which and where.
/// Returns the text and the number of invalid sequences replaced.
pub fn read_text_file(
    path: &Path,
    invalid_utf8: InvalidUtf8,
) -> Result<(String, usize), DataError> {
    if path.is_dir() {
        return Err(DataError::IsDirectory(path.to_path_buf()));
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io("read", path, e))?;
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(DataError::Binary {
            path: path.to_path_buf(),
            offset,
        });
    }
    let (text, replaced) = match String::from_utf8(bytes) {
        Ok(text) => (text, 0),
        Err(e) if invalid_utf8 == InvalidUtf8::Replace => {
            let bytes = e.into_bytes();
            let replaced = bytes
                .utf8_chunks()
                .filter(|chunk| !chunk.invalid().is_empty())
                .count();
            (String::from_utf8_lossy(&bytes).into_owned(), replaced)
        }
        Err(e) => {
            return Err(DataError::NotUtf8 {
                path: path.to_path_buf(),
                offset: e.utf8_error().valid_up_to(),
            });
        }
    };
    if text.is_empty() {
        return Err(DataError::Empty(path.display().to_string()));
    }
    Ok((text, replaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offline_locator(data_dir: &Path) -> CorpusLocator {
        CorpusLocator {
            data_dirs: vec![data_dir.to_path_buf()],
            cache_dir: None,
            show_progress: false,
            invalid_utf8: InvalidUtf8::Error,
        }
    }

    #[test]
    fn a_path_is_read_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "hello ✓").unwrap();
        let corpus = offline_locator(dir.path())
            .load(path.to_str().unwrap())
            .unwrap();
        assert_eq!(corpus.text, "hello ✓");
    }

    #[test]
    fn synthetic_names_need_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = offline_locator(dir.path()).load("alphabet").unwrap();
        assert!(corpus.text.starts_with("abcdefghijklmnopqrstuvwxyz\nabc"));
        assert!(corpus.path.is_none());
    }

    #[test]
    fn bad_files_get_errors_that_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let locator = offline_locator(dir.path());
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, b"ok\xffno").unwrap();
        let err = locator.load(bad.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("not valid UTF-8 at byte 2"), "{err}");
        assert!(err.contains("data.invalid_utf8=replace"), "{err}");
        std::fs::write(&bad, b"ok\xffno\xc3(\xe2\x82").unwrap();
        let lossy = locator
            .clone()
            .with_invalid_utf8(InvalidUtf8::Replace)
            .load(bad.to_str().unwrap())
            .unwrap();
        assert_eq!(lossy.text, "ok\u{fffd}no\u{fffd}(\u{fffd}");
        assert_eq!(lossy.replaced_invalid_utf8, 3);

        std::fs::write(&bad, b"").unwrap();
        let err = locator.load(bad.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");

        std::fs::write(&bad, b"\x7fELF\x00\x01").unwrap();
        let err = locator.load(bad.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("binary file"), "{err}");

        // A directory whose only file is binary has nothing to read.
        let err = locator
            .load(dir.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no text files to read"), "{err}");

        let err = locator.load("no-such-corpus").unwrap_err().to_string();
        assert!(
            err.contains("tinyshakespeare") && err.contains("alphabet"),
            "{err}"
        );
    }

    #[test]
    fn a_registered_corpus_with_the_wrong_content_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tinyshakespeare.txt"), "not shakespeare").unwrap();
        let err = offline_locator(dir.path())
            .load("tinyshakespeare")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected 86c4e6aa"), "{err}");
    }

    #[test]
    fn without_a_cache_a_missing_registered_corpus_says_where_to_put_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = offline_locator(dir.path())
            .load("tinyshakespeare")
            .unwrap_err()
            .to_string();
        assert!(err.contains("CHARLSTM_DATA_DIR"), "{err}");
    }

    /// Files, directories and names load in the order given, a directory's files in sorted
    /// order, binary and empty ones skipped and counted; the same sources give the same text.
    #[test]
    fn several_sources_are_one_text_in_a_fixed_order() {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("code");
        for (name, bytes) in [
            ("b.rs", &b"fn b() {}\n"[..]),
            ("a/z.rs", b"fn z() {}\n"),
            ("a/logo.png", b"\x89PNG\x00\x01"),
            ("a/empty.rs", b""),
            ("notes.md", b"# notes\n"),
        ] {
            let path = code.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let intro = dir.path().join("intro.txt");
        std::fs::write(&intro, "intro\n").unwrap();
        let locator = offline_locator(dir.path());
        let specs = [
            intro.display().to_string(),
            code.display().to_string(),
            "alphabet".to_string(),
        ];
        let corpus = locator.load_all(&specs, &FileSelection::default()).unwrap();
        let alphabet = SyntheticCorpus::from_name("alphabet").unwrap().generate();
        assert_eq!(
            corpus.text,
            format!("intro\nfn z() {{}}\nfn b() {{}}\n# notes\n{alphabet}")
        );
        assert_eq!((corpus.files, corpus.skipped_files), (4, 2));
        let again = locator.load_all(&specs, &FileSelection::default()).unwrap();
        assert_eq!(again.text, corpus.text);

        let rust_only = FileSelection::new(&["*.rs".to_string()], &[]).unwrap();
        let corpus = locator
            .load_all(&[code.display().to_string()], &rust_only)
            .unwrap();
        assert_eq!(corpus.text, "fn z() {}\nfn b() {}\n");

        let nothing = FileSelection::new(&["*.py".to_string()], &[]).unwrap();
        let err = locator
            .load_all(&[code.display().to_string()], &nothing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no text files to read"), "{err}");
    }

    /// In a directory, a file that is not UTF-8 stops the load, naming the file and the byte.
    #[test]
    fn invalid_utf8_in_a_directory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "fine\n").unwrap();
        std::fs::write(dir.path().join("b.txt"), b"caf\xe9\n").unwrap();
        let locator = offline_locator(dir.path());
        let err = locator
            .load(dir.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("b.txt") && err.contains("at byte 3"), "{err}");
        let lossy = locator
            .with_invalid_utf8(InvalidUtf8::Replace)
            .load(dir.path().to_str().unwrap())
            .unwrap();
        assert_eq!(lossy.text, "fine\ncaf\u{fffd}\n");
        assert_eq!(lossy.replaced_invalid_utf8, 1);
    }
}
