//! Corpora made of many files: a directory walked recursively, keeping the files that the
//! include globs select and the exclude globs do not, in a fixed order (sorted by path), so the
//! same tree always gives the same text.
//!
//! A glob without `/` matches a file name (or, to exclude, any directory name on the way:
//! `target` skips every `target/` directory); a glob with `/` matches the path relative to the
//! directory (`src/**/*.rs`). Hidden files and directories (`.git`, `.cache`) are skipped.

use std::path::{Path, PathBuf};

use glob::{MatchOptions, Pattern};

use crate::DataError;

/// Which files of a directory make up a corpus.
#[derive(Debug, Clone, Default)]
pub struct FileSelection {
    include: Vec<Glob>,
    exclude: Vec<Glob>,
}

#[derive(Debug, Clone)]
struct Glob {
    pattern: Pattern,
    /// Whether it matches whole relative paths (it has a `/`) rather than names.
    whole_path: bool,
}

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl Glob {
    fn new(text: &str) -> Result<Self, DataError> {
        let pattern = Pattern::new(text).map_err(|e| DataError::InvalidGlob {
            glob: text.to_string(),
            reason: e.msg.to_string(),
        })?;
        Ok(Self {
            pattern,
            whole_path: text.contains('/'),
        })
    }

    fn matches_file(&self, relative: &Path) -> bool {
        if self.whole_path {
            self.pattern.matches_path_with(relative, OPTIONS)
        } else {
            relative
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| self.pattern.matches_with(name, OPTIONS))
        }
    }
}

impl FileSelection {
    /// Every file but hidden ones when `include` is empty; else the files some include glob
    /// matches. Files or directories an exclude glob matches are left out.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, DataError> {
        Ok(Self {
            include: include
                .iter()
                .map(|g| Glob::new(g))
                .collect::<Result<_, _>>()?,
            exclude: exclude
                .iter()
                .map(|g| Glob::new(g))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The globs as given, for telling selections apart: `include: ...; exclude: ...`.
    pub fn describe(&self) -> String {
        let list = |globs: &[Glob]| {
            globs
                .iter()
                .map(|g| g.pattern.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "include: {}; exclude: {}",
            list(&self.include),
            list(&self.exclude)
        )
    }

    fn excluded(&self, relative: &Path) -> bool {
        self.exclude.iter().any(|glob| glob.matches_file(relative))
    }

    fn included(&self, relative: &Path) -> bool {
        self.include.is_empty() || self.include.iter().any(|glob| glob.matches_file(relative))
    }

    /// The selected files under `dir`, sorted by their path relative to it.
    pub fn files_in(&self, dir: &Path) -> Result<Vec<PathBuf>, DataError> {
        let mut files = Vec::new();
        let walker = walkdir::WalkDir::new(dir)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
                let hidden = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| name.starts_with('.'));
                entry.depth() == 0 || !(hidden || self.excluded(relative))
            });
        for entry in walker {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(dir).to_path_buf();
                DataError::io("read", path, e.into())
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            if self.included(relative) {
                files.push(entry.path().to_path_buf());
            }
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, file).unwrap();
        }
        dir
    }

    fn relative(dir: &Path, files: Vec<PathBuf>) -> Vec<String> {
        files
            .iter()
            .map(|f| f.strip_prefix(dir).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn a_directory_is_walked_in_sorted_order_without_hidden_files() {
        let dir = tree(&["b.txt", "a/z.rs", "a/b/c.rs", ".git/config", "a/.hidden"]);
        let files = FileSelection::default().files_in(dir.path()).unwrap();
        assert_eq!(relative(dir.path(), files), ["a/b/c.rs", "a/z.rs", "b.txt"]);
    }

    #[test]
    fn include_and_exclude_globs_select_files() {
        let dir = tree(&[
            "src/main.rs",
            "src/lib/mod.rs",
            "target/debug/out.rs",
            "README.md",
            "src/notes.md",
        ]);
        let select = |include: &[&str], exclude: &[&str]| {
            let to_strings =
                |globs: &[&str]| globs.iter().map(|g| g.to_string()).collect::<Vec<_>>();
            let selection = FileSelection::new(&to_strings(include), &to_strings(exclude)).unwrap();
            relative(dir.path(), selection.files_in(dir.path()).unwrap())
        };
        assert_eq!(
            select(&["*.rs"], &["target"]),
            ["src/lib/mod.rs", "src/main.rs"]
        );
        assert_eq!(select(&["src/*.md"], &[]), ["src/notes.md"]);
        assert_eq!(select(&["src/**/*.rs"], &["lib"]), ["src/main.rs"]);
        assert_eq!(select(&[], &["*.rs"]), ["README.md", "src/notes.md"]);
        let err = FileSelection::new(&["[".to_string()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'['"), "{err}");
    }
}
