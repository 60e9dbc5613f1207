//! Fetching a registered corpus into the download cache, and checking a file's sha256.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::DataError;
use crate::env_vars::DATA_DIR_ENV;
use crate::files::hex;
use crate::registry::RegisteredCorpus;

/// Downloads `corpus` into `cache_dir`, hashing as it goes; the file appears under its
/// final name only once complete and verified.
pub(crate) fn download(
    corpus: &RegisteredCorpus,
    cache_dir: &Path,
    show_progress: bool,
) -> Result<PathBuf, DataError> {
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
    let progress = if show_progress {
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
