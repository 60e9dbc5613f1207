//! What the preparation tests share: resolving files, preparing them, reading the text back.

// Each test binary uses some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use charlstm_data::{
    CorpusLocator, FileSelection, InvalidUtf8, PrepareOptions, PreparePhase, PreparedCorpus,
    ResolvedCorpus, TokenizerChoice, prepare,
};

/// Resolves the given files and directories (nothing downloads).
pub fn resolve(specs: &[&Path]) -> ResolvedCorpus {
    let specs: Vec<String> = specs.iter().map(|p| p.display().to_string()).collect();
    CorpusLocator::default()
        .resolve_all(&specs, &FileSelection::default())
        .unwrap()
}

pub const CHARS: TokenizerChoice = TokenizerChoice::BuildCharacters { max_vocab: 0 };

pub fn prepare_in(
    cache: &Path,
    sources: &ResolvedCorpus,
    choice: &TokenizerChoice,
) -> PreparedCorpus {
    prepare(
        sources,
        choice,
        PrepareOptions {
            cache_dir: Some(cache.to_path_buf()),
            invalid_utf8: InvalidUtf8::Error,
            progress: &mut |_, _, _| {},
        },
    )
    .unwrap()
}

/// Prepares into a temporary directory, as with `data.cache = false`.
pub fn prepare_uncached(
    sources: &ResolvedCorpus,
    choice: &TokenizerChoice,
    invalid_utf8: InvalidUtf8,
) -> Result<PreparedCorpus, charlstm_data::DataError> {
    prepare(
        sources,
        choice,
        PrepareOptions {
            cache_dir: None,
            invalid_utf8,
            progress: &mut |_, _, _| {},
        },
    )
}

/// Prepares into a temporary directory, recording every progress report.
pub fn prepare_with_progress(
    sources: &ResolvedCorpus,
    choice: &TokenizerChoice,
) -> (PreparedCorpus, Vec<(PreparePhase, u64, u64)>) {
    let mut seen = Vec::new();
    let prepared = prepare(
        sources,
        choice,
        PrepareOptions {
            cache_dir: None,
            invalid_utf8: InvalidUtf8::Error,
            progress: &mut |phase, done, total| seen.push((phase, done, total)),
        },
    )
    .unwrap();
    (prepared, seen)
}

pub fn text_of(prepared: &PreparedCorpus) -> String {
    prepared.tokenizer.decode(&prepared.tokens().to_vec())
}

/// Sets a file's modification time, so a test need not wait for the clock to tick.
pub fn touch(path: &Path, seconds: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
        .unwrap();
}

/// A new temporary directory holding one file, `name`, of `contents`, and that file's path.
pub fn temp_file(name: &str, contents: impl AsRef<[u8]>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

/// The names of the entries of `dir`, sorted.
pub fn entry_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
