//! Reading a text file the user named (a prime, a text to inspect): whole, as UTF-8, with
//! errors that name the file and what to do.

use std::path::Path;

use crate::error::TrainError;

/// Reads `path` as UTF-8 text; `named` is how the errors name it (`--prime-file x.txt`,
/// `'x.txt'`).
pub fn read_text(path: &Path, named: &str) -> Result<String, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| cannot_read(named, &e))?;
    String::from_utf8(bytes).map_err(|e| not_utf8(named, e.utf8_error().valid_up_to() as u64))
}

/// The error for a text file `named` that could not be opened or read.
pub(crate) fn cannot_read(named: &str, error: &std::io::Error) -> TrainError {
    TrainError::Sampling(format!("cannot read {named}: {error} (check the path)"))
}

/// The error for a text file `named` whose bytes stop being UTF-8 at `offset`.
pub(crate) fn not_utf8(named: &str, offset: u64) -> TrainError {
    TrainError::Sampling(format!(
        "{named} is not valid UTF-8 at byte {offset} (give a UTF-8 text file)"
    ))
}
