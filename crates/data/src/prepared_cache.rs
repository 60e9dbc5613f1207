//! The cache of prepared corpora as a whole: what it holds, and removing what is no longer
//! wanted (`charlstm cache list` and `charlstm cache clean`).
//!
//! Only directories named like the cache's own entries (a 64-digit hex key, possibly followed
//! by the mark of a directory being written or removed) are looked at, so a cache directory
//! pointed at the wrong place never has anything else in it listed or removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::DataError;
use crate::prepare::{META_FILE, PARTIAL_MARK, PreparedInfo, STALE_MARK, read_complete};

/// What shape an entry of the cache is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryState {
    /// Complete, and every file or directory it was prepared from is still there.
    Ready,
    /// Complete, but these files or directories it was prepared from are gone.
    SourcesMissing(Vec<String>),
    /// Not readable as a prepared corpus (cut short, or an older layout); the next run that
    /// needs it prepares it again.
    Damaged,
    /// Left by a preparation that was interrupted, or a replaced entry not yet removed.
    /// `running` when the process writing it may still be at work.
    Leftover {
        /// Whether the process that wrote it may still be running.
        running: bool,
    },
}

/// One directory of the cache.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    /// The directory's name (the key, for a complete entry).
    pub name: String,
    /// The directory.
    pub path: PathBuf,
    /// Bytes of the files in it.
    pub bytes: u64,
    /// When a run last used it (prepared or reused it).
    pub last_used: Option<SystemTime>,
    /// What its `meta.json` says, when it is complete.
    pub info: Option<PreparedInfo>,
    /// What shape it is in.
    pub state: EntryState,
}

impl CacheEntry {
    /// Whether nothing can use it any more: its sources are gone, it is damaged, or it was
    /// left by a preparation that has stopped.
    pub fn is_unusable(&self) -> bool {
        match self.state {
            EntryState::Ready => false,
            EntryState::SourcesMissing(_) | EntryState::Damaged => true,
            EntryState::Leftover { running } => !running,
        }
    }

    /// How long ago it was last used, at `now` (zero for a time in the future).
    pub fn unused_for(&self, now: SystemTime) -> Option<Duration> {
        self.last_used
            .map(|used| now.duration_since(used).unwrap_or_default())
    }
}

/// The entries of the cache in `dir`, most recently used first. A directory that does not
/// exist is an empty cache.
pub fn list_cache(dir: &Path) -> Result<Vec<CacheEntry>, DataError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DataError::io("read", dir, e)),
    };
    let mut entries = Vec::new();
    for item in listing {
        let item = item.map_err(|e| DataError::io("read", dir, e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        let path = item.path();
        if !path.is_dir() || !is_cache_name(&name) {
            continue;
        }
        entries.push(describe(name, path));
    }
    entries.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.name.cmp(&b.name)));
    Ok(entries)
}

/// Removes an entry. It is renamed first, so a run looking it up at the same moment finds it
/// whole or not at all; a run that has it mapped keeps reading it.
pub fn remove_entry(entry: &CacheEntry) -> Result<(), DataError> {
    let mut doomed = entry.path.as_os_str().to_owned();
    doomed.push(format!("{STALE_MARK}{}-removed", std::process::id()));
    let doomed = PathBuf::from(doomed);
    let target = match std::fs::rename(&entry.path, &doomed) {
        Ok(()) => doomed,
        // Already being removed (a stale or partial directory): remove it where it is.
        Err(_) => entry.path.clone(),
    };
    match std::fs::remove_dir_all(&target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DataError::io("remove", &target, e)),
    }
}

/// Whether `name` is one the cache gives its directories: a 64-digit hex key, alone or
/// followed by a partial or stale mark.
fn is_cache_name(name: &str) -> bool {
    let key = name.get(..64).unwrap_or("");
    let rest = name.get(64..).unwrap_or("");
    key.len() == 64
        && key.bytes().all(|b| b.is_ascii_hexdigit())
        && (rest.is_empty() || rest.starts_with(PARTIAL_MARK) || rest.starts_with(STALE_MARK))
}

fn describe(name: String, path: PathBuf) -> CacheEntry {
    let (bytes, newest) = size_and_newest(&path);
    let (info, state, last_used) = examine(&name, &path, newest);
    CacheEntry {
        name,
        path,
        bytes,
        last_used,
        info,
        state,
    }
}

/// What the directory `name` at `path` holds, the shape it is in and when it was last used
/// (`newest`, the latest change to it, unless `meta.json` says).
fn examine(
    name: &str,
    path: &Path,
    newest: Option<SystemTime>,
) -> (Option<PreparedInfo>, EntryState, Option<SystemTime>) {
    let mark = [PARTIAL_MARK, STALE_MARK]
        .into_iter()
        .find_map(|mark| name.split_once(mark).map(|(_, rest)| rest));
    if let Some(rest) = mark {
        let running = name.contains(PARTIAL_MARK) && writer_may_be_running(rest, newest);
        return (None, EntryState::Leftover { running }, newest);
    }
    let Some((info, _)) = read_complete(path) else {
        return (None, EntryState::Damaged, newest);
    };
    let missing: Vec<String> = info
        .sources
        .iter()
        .filter(|source| {
            let source = Path::new(source);
            source.is_absolute() && !source.exists()
        })
        .cloned()
        .collect();
    let state = if missing.is_empty() {
        EntryState::Ready
    } else {
        EntryState::SourcesMissing(missing)
    };
    let last_used = std::fs::metadata(path.join(META_FILE))
        .and_then(|m| m.modified())
        .ok()
        .or(newest);
    (Some(info), state, last_used)
}

/// The bytes of the files directly in `dir` (entries are flat), and the newest modification
/// time among them and the directory.
fn size_and_newest(dir: &Path) -> (u64, Option<SystemTime>) {
    let mut bytes = 0;
    let mut newest = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
    for item in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(meta) = item.metadata() {
            bytes += meta.len();
            newest = newest.max(meta.modified().ok());
        }
    }
    (bytes, newest)
}

/// Whether the process that named a partial directory `…<mark><pid>-…` may still be writing
/// it: where processes can be looked up (`/proc`), whether it is alive; elsewhere, whether the
/// directory changed in the last day.
fn writer_may_be_running(after_mark: &str, newest: Option<SystemTime>) -> bool {
    let pid = after_mark.split('-').next().unwrap_or("");
    if pid == std::process::id().to_string() {
        return true;
    }
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        return !pid.is_empty() && proc.join(pid).exists();
    }
    const A_DAY: Duration = Duration::from_secs(24 * 60 * 60);
    newest
        .and_then(|time| SystemTime::now().duration_since(time).ok())
        .is_none_or(|age| age < A_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_caches_own_names_are_entries() {
        let key = "0123456789abcdef".repeat(4);
        assert!(is_cache_name(&key));
        assert!(is_cache_name(&format!("{key}{PARTIAL_MARK}12-34-0")));
        assert!(is_cache_name(&format!("{key}{STALE_MARK}12-34-0")));
        assert!(!is_cache_name(&format!("{key}x")));
        assert!(!is_cache_name(&key[..63]));
        assert!(!is_cache_name("Documents"));
        assert!(!is_cache_name(&"g".repeat(64)));
    }
}
