//! The list of corpora charlstm knows by name, compiled in from `corpora/registry.toml`.

use serde::Deserialize;

use crate::DataError;

const REGISTRY_TOML: &str = include_str!("../../../corpora/registry.toml");

/// A corpus that is downloaded on first use.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RegisteredCorpus {
    /// The name a config uses for it.
    pub name: String,
    /// File name in the data and cache directories.
    pub file: String,
    /// Where it is downloaded from.
    pub url: String,
    /// Expected sha256 of the file, lowercase hex.
    pub sha256: String,
    /// Expected size in bytes (for the progress bar).
    pub bytes: u64,
    /// One line about what it is.
    pub description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    corpus: Vec<RegisteredCorpus>,
}

/// Every registered (downloadable) corpus.
pub fn registered_corpora() -> Result<Vec<RegisteredCorpus>, DataError> {
    let file: RegistryFile =
        toml::from_str(REGISTRY_TOML).map_err(|e| DataError::Registry(e.to_string()))?;
    Ok(file.corpus)
}

/// The registered corpus called `name`, if any.
pub fn find_registered(name: &str) -> Result<Option<RegisteredCorpus>, DataError> {
    Ok(registered_corpora()?.into_iter().find(|c| c.name == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_parses_and_every_entry_is_listed_in_the_readme() {
        let readme = include_str!("../../../corpora/README.md");
        let corpora = registered_corpora().unwrap();
        assert!(!corpora.is_empty());
        for corpus in corpora {
            assert_eq!(corpus.sha256.len(), 64, "{}", corpus.name);
            assert!(
                corpus
                    .sha256
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
            let row = readme
                .lines()
                .find(|line| line.starts_with(&format!("| {} |", corpus.name)))
                .unwrap_or_else(|| panic!("corpora/README.md has no row for {}", corpus.name));
            assert!(
                row.contains(&corpus.sha256),
                "README sha256 differs for {}",
                corpus.name
            );
            assert!(
                row.contains(&corpus.url),
                "README url differs for {}",
                corpus.name
            );
            assert!(
                row.contains(&corpus.file),
                "README file differs for {}",
                corpus.name
            );
        }
    }
}
