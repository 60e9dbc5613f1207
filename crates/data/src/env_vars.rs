//! The environment variables that say where corpora are found and kept.

/// The environment variable naming a directory of ready corpora (CI: `../shared/corpora`).
pub const DATA_DIR_ENV: &str = "CHARLSTM_DATA_DIR";
/// The environment variable naming the download cache.
pub const CACHE_DIR_ENV: &str = "CHARLSTM_CACHE_DIR";
/// The environment variable naming where prepared corpora (token files) are kept.
pub const PREPARED_DIR_ENV: &str = "CHARLSTM_PREPARED_DIR";
