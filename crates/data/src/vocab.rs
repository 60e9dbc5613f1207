//! The character vocabulary: every distinct Unicode scalar value of the training text, sorted,
//! so the same text always gives the same ids. It is saved next to the model because the ids
//! mean nothing without it.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::DataError;

/// A sorted set of characters and the id of each (its position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    chars: Vec<char>,
    ids: HashMap<char, u32>,
}

/// On-disk form of a vocabulary: `{"chars": ["\n", " ", "!", ...]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyFile {
    chars: Vec<String>,
}

impl Vocabulary {
    /// The vocabulary of every character in `text`, sorted by code point.
    pub fn from_text(text: &str) -> Self {
        let set: BTreeSet<char> = text.chars().collect();
        Self::from_sorted(set.into_iter().collect())
    }

    fn from_sorted(chars: Vec<char>) -> Self {
        let ids = chars
            .iter()
            .enumerate()
            .map(|(id, &c)| (c, id as u32))
            .collect();
        Self { chars, ids }
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary has no characters.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`, if the vocabulary has it.
    pub fn id(&self, c: char) -> Option<u32> {
        self.ids.get(&c).copied()
    }

    /// The character with id `id`.
    pub fn char(&self, id: u32) -> Option<char> {
        self.chars.get(id as usize).copied()
    }

    /// Encodes `text`, failing with the list of characters the vocabulary lacks.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DataError> {
        let mut ids = Vec::with_capacity(text.len());
        let mut unknown = BTreeSet::new();
        for c in text.chars() {
            match self.id(c) {
                Some(id) => ids.push(id),
                None => {
                    unknown.insert(c);
                }
            }
        }
        if unknown.is_empty() {
            Ok(ids)
        } else {
            let listed: Vec<String> = unknown.iter().map(|c| format!("{c:?}")).collect();
            Err(DataError::UnknownCharacters(listed.join(", ")))
        }
    }

    /// Decodes ids back to text. Ids outside the vocabulary become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&id| self.char(id).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }

    /// The vocabulary as the JSON [`Vocabulary::save`] writes.
    pub fn to_json(&self) -> String {
        let file = VocabularyFile {
            chars: self.chars.iter().map(|c| c.to_string()).collect(),
        };
        serde_json::to_string_pretty(&file).expect("a list of strings serializes")
    }

    /// Writes the vocabulary as JSON.
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        std::fs::write(path, self.to_json()).map_err(|e| DataError::io("write", path, e))
    }

    /// Reads a vocabulary written by [`Vocabulary::save`], checking it is sorted and has one
    /// character per entry.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let invalid = |reason: String| DataError::InvalidVocabulary {
            path: path.to_path_buf(),
            reason,
        };
        let json = std::fs::read_to_string(path).map_err(|e| DataError::io("read", path, e))?;
        let file: VocabularyFile =
            serde_json::from_str(&json).map_err(|e| invalid(e.to_string()))?;
        let mut chars = Vec::with_capacity(file.chars.len());
        for entry in &file.chars {
            let mut it = entry.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => chars.push(c),
                _ => return Err(invalid(format!("entry {entry:?} is not one character"))),
            }
        }
        if chars.is_empty() {
            return Err(invalid("it has no characters".into()));
        }
        if chars.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid("characters are not sorted and distinct".into()));
        }
        Ok(Self::from_sorted(chars))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sorted_by_code_point_and_deterministic() {
        let vocab = Vocabulary::from_text("banana");
        assert_eq!(vocab.chars(), &['a', 'b', 'n']);
        assert_eq!(vocab.encode("nab").unwrap(), vec![2, 0, 1]);
        assert_eq!(Vocabulary::from_text("nnaabb"), vocab);
    }

    #[test]
    fn multi_byte_characters_round_trip() {
        let text = "héllo wörld — 日本語 🦀\n\tcafé";
        let vocab = Vocabulary::from_text(text);
        let ids = vocab.encode(text).unwrap();
        assert_eq!(ids.len(), text.chars().count());
        assert_eq!(vocab.decode(&ids), text);
    }

    #[test]
    fn unknown_characters_are_named() {
        let vocab = Vocabulary::from_text("abc");
        let err = vocab.encode("abxcz🦀").unwrap_err().to_string();
        assert!(
            err.contains("'x'") && err.contains("'z'") && err.contains("'🦀'"),
            "{err}"
        );
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.json");
        let vocab = Vocabulary::from_text("Zürich 🦀 \"quoted\" \\ \n");
        vocab.save(&path).unwrap();
        assert_eq!(Vocabulary::load(&path).unwrap(), vocab);
    }

    #[test]
    fn load_rejects_unsorted_or_multi_char_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.json");
        std::fs::write(&path, r#"{"chars": ["b", "a"]}"#).unwrap();
        assert!(
            Vocabulary::load(&path)
                .unwrap_err()
                .to_string()
                .contains("sorted")
        );
        std::fs::write(&path, r#"{"chars": ["ab"]}"#).unwrap();
        assert!(
            Vocabulary::load(&path)
                .unwrap_err()
                .to_string()
                .contains("one character")
        );
    }
}
