//! The character vocabulary: every distinct Unicode scalar value of the training text, sorted,
//! so the same text always gives the same ids. It is saved next to the model because the ids
//! mean nothing without it.
//!
//! With a size limit (`data.max_vocab`), the most frequent characters keep their own ids and
//! the rest share one unknown token, the last id, so a corpus with stray symbols does not
//! widen the softmax; the unknown token decodes to U+FFFD.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::DataError;

/// A sorted set of characters and the id of each (its position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    chars: Vec<char>,
    ids: HashMap<char, u32>,
    /// The ids of ASCII characters ([`NO_ID`] if absent): most text is ASCII, and a table is
    /// faster than hashing.
    ascii_ids: Box<[u32; 128]>,
    /// Whether rare characters map to an unknown token (id `chars.len()`).
    has_unknown: bool,
}

/// Marks an ASCII character the vocabulary lacks.
const NO_ID: u32 = u32::MAX;

/// How often each character occurs, counted piece by piece (ASCII in a table, the rest in a
/// map), so a vocabulary can be built from a corpus that is never in memory whole.
#[derive(Debug, Clone)]
pub struct CharCounts {
    ascii: [u64; 128],
    other: HashMap<char, u64>,
}

impl Default for CharCounts {
    fn default() -> Self {
        Self {
            ascii: [0; 128],
            other: HashMap::new(),
        }
    }
}

impl CharCounts {
    /// Counts the characters of `text`.
    pub fn add(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_ascii() {
                self.ascii[c as usize] += 1;
            } else {
                *self.other.entry(c).or_default() += 1;
            }
        }
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &CharCounts) {
        for (mine, theirs) in self.ascii.iter_mut().zip(&other.ascii) {
            *mine += theirs;
        }
        for (&c, &n) in &other.other {
            *self.other.entry(c).or_default() += n;
        }
    }

    /// Characters counted, in all.
    pub fn total(&self) -> u64 {
        self.ascii.iter().sum::<u64>() + self.other.values().sum::<u64>()
    }

    /// Each character seen and its count, in no particular order.
    fn to_vec(&self) -> Vec<(char, u64)> {
        let ascii = (0u8..128)
            .map(|b| (b as char, self.ascii[b as usize]))
            .filter(|&(_, n)| n > 0);
        ascii
            .chain(self.other.iter().map(|(&c, &n)| (c, n)))
            .collect()
    }
}

/// On-disk form of a vocabulary: `{"chars": ["\n", " ", "!", ...]}`, and `"unknown": true`
/// when characters outside it map to an unknown token after them.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyFile {
    chars: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    unknown: bool,
}

/// What [`Vocabulary::from_text_limited`] left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RareCharacters {
    /// Distinct characters mapped to the unknown token.
    pub distinct: usize,
    /// Their occurrences in the text.
    pub occurrences: usize,
}

impl Vocabulary {
    /// The vocabulary of every character in `text`, sorted by code point.
    pub fn from_text(text: &str) -> Self {
        let set: BTreeSet<char> = text.chars().collect();
        Self::from_sorted(set.into_iter().collect())
    }

    /// The vocabulary of `text` with at most `max_size` tokens (0: no limit): if the text has
    /// more distinct characters, the `max_size - 1` most frequent (ties: lower code point
    /// first) keep their ids and the others map to an unknown token. Also says what was left
    /// out.
    pub fn from_text_limited(text: &str, max_size: usize) -> (Self, RareCharacters) {
        let mut counts = CharCounts::default();
        counts.add(text);
        Self::from_counts(&counts, max_size)
    }

    /// The vocabulary of the characters `counts` has seen, limited as
    /// [`Vocabulary::from_text_limited`] says: the streaming way to build one.
    pub fn from_counts(counts: &CharCounts, max_size: usize) -> (Self, RareCharacters) {
        let mut by_count = counts.to_vec();
        if max_size == 0 || by_count.len() <= max_size {
            let mut chars: Vec<char> = by_count.into_iter().map(|(c, _)| c).collect();
            chars.sort_unstable();
            return (Self::from_sorted(chars), RareCharacters::default());
        }
        by_count.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let keep = max_size.saturating_sub(1).max(1);
        let rare = &by_count[keep..];
        let left_out = RareCharacters {
            distinct: rare.len(),
            occurrences: rare.iter().map(|(_, n)| *n as usize).sum(),
        };
        let mut chars: Vec<char> = by_count[..keep].iter().map(|(c, _)| *c).collect();
        chars.sort_unstable();
        let mut vocab = Self::from_sorted(chars);
        vocab.has_unknown = true;
        (vocab, left_out)
    }

    fn from_sorted(chars: Vec<char>) -> Self {
        let ids = chars
            .iter()
            .enumerate()
            .map(|(id, &c)| (c, id as u32))
            .collect();
        let mut ascii_ids = Box::new([NO_ID; 128]);
        for (id, &c) in chars.iter().enumerate() {
            if c.is_ascii() {
                ascii_ids[c as usize] = id as u32;
            }
        }
        Self {
            chars,
            ids,
            ascii_ids,
            has_unknown: false,
        }
    }

    /// Number of tokens: the characters, and the unknown token if there is one.
    pub fn len(&self) -> usize {
        self.chars.len() + usize::from(self.has_unknown)
    }

    /// The id of the unknown token, if rare characters map to one.
    pub fn unknown_id(&self) -> Option<u32> {
        self.has_unknown.then_some(self.chars.len() as u32)
    }

    /// Whether the vocabulary has no characters.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters in id order (the unknown token, if any, comes after them).
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`: its own, else the unknown token's if there is one.
    pub fn id(&self, c: char) -> Option<u32> {
        if c.is_ascii() {
            let id = self.ascii_ids[c as usize];
            return if id == NO_ID {
                self.unknown_id()
            } else {
                Some(id)
            };
        }
        self.ids.get(&c).copied().or(self.unknown_id())
    }

    /// The character with id `id`.
    pub fn char(&self, id: u32) -> Option<char> {
        self.chars.get(id as usize).copied()
    }

    /// Encodes `text`, failing with the list of characters the vocabulary lacks (none, if it
    /// has an unknown token).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DataError> {
        let mut ids = Vec::with_capacity(text.len());
        let mut unknown = BTreeSet::new();
        self.encode_into(text, &mut ids, &mut unknown);
        if unknown.is_empty() {
            Ok(ids)
        } else {
            Err(Self::unknown_error(&unknown))
        }
    }

    /// Appends the ids of `text` to `ids`, and the characters it lacks to `unknown`: for
    /// encoding a corpus piece by piece.
    pub fn encode_into(&self, text: &str, ids: &mut Vec<u32>, unknown: &mut BTreeSet<char>) {
        for c in text.chars() {
            match self.id(c) {
                Some(id) => ids.push(id),
                None => {
                    unknown.insert(c);
                }
            }
        }
    }

    /// The error for characters a vocabulary lacks.
    pub fn unknown_error(unknown: &BTreeSet<char>) -> DataError {
        let listed: Vec<String> = unknown.iter().map(|c| format!("{c:?}")).collect();
        DataError::UnknownCharacters(listed.join(", "))
    }

    /// Decodes ids back to text. The unknown token and ids outside the vocabulary become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&id| self.char(id).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }

    /// The vocabulary as the JSON [`Vocabulary::save`] writes.
    pub fn to_json(&self) -> String {
        let file = VocabularyFile {
            chars: self.chars.iter().map(|c| c.to_string()).collect(),
            unknown: self.has_unknown,
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
        let json = std::fs::read_to_string(path).map_err(|e| DataError::io("read", path, e))?;
        Self::from_json(&json, path)
    }

    /// Reads the JSON of [`Vocabulary::to_json`]; `path` names it in errors.
    pub fn from_json(json: &str, path: &Path) -> Result<Self, DataError> {
        let invalid = |reason: String| DataError::InvalidVocabulary {
            path: path.to_path_buf(),
            reason,
        };
        let file: VocabularyFile =
            serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
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
        let mut vocab = Self::from_sorted(chars);
        vocab.has_unknown = file.unknown;
        Ok(vocab)
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

    #[test]
    fn a_size_limit_maps_rare_characters_to_the_unknown_token() {
        let text = "aaaa bbb cc d☃ é";
        let (vocab, rare) = Vocabulary::from_text_limited(text, 4);
        // The three most frequent (' ' 4, 'a' 4, 'b' 3) keep ids; the rest share id 3.
        assert_eq!(vocab.chars(), &[' ', 'a', 'b']);
        assert_eq!(vocab.len(), 4);
        assert_eq!(vocab.unknown_id(), Some(3));
        assert_eq!(
            rare,
            RareCharacters {
                distinct: 4,
                occurrences: 5
            }
        );
        let ids = vocab.encode("ab cé").unwrap();
        assert_eq!(ids, vec![1, 2, 0, 3, 3]);
        assert_eq!(vocab.decode(&ids), "ab \u{fffd}\u{fffd}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.json");
        vocab.save(&path).unwrap();
        assert_eq!(Vocabulary::load(&path).unwrap(), vocab);

        // Under the limit nothing changes.
        let (whole, rare) = Vocabulary::from_text_limited(text, 100);
        assert_eq!(whole, Vocabulary::from_text(text));
        assert_eq!(rare, RareCharacters::default());
        assert_eq!(Vocabulary::from_text_limited(text, 0).0, whole);
    }
}
