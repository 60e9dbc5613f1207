//! Writes that survive a crash: synced to disk, or renamed into place whole.

use std::fs::File;
use std::path::Path;

use crate::error::TrainError;

/// Writes `bytes` to `path` and waits until they are on disk.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    charlstm_data::files::write_synced(path, bytes)
        .map_err(|source| TrainError::write(path.to_path_buf(), source))
}

/// Writes `bytes` to `path` through a synced temporary file renamed over it, so `path` holds
/// either its old contents or the new ones, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.tmp"));
    write_synced(&temporary, bytes)?;
    std::fs::rename(&temporary, path).map_err(|source| TrainError::write(path, source))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_file(path: &Path) -> Result<(), TrainError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| TrainError::write(path.to_path_buf(), source))
}

pub(crate) fn sync_dir(path: &Path) -> Result<(), TrainError> {
    // Directories can be opened and synced on Unix; elsewhere the rename is the best we have.
    #[cfg(unix)]
    sync_file(path)?;
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
