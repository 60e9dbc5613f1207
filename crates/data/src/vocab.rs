//! The character vocabulary: every distinct Unicode scalar value of the training text, sorted,
//! so the same text always gives the same ids. It is saved next to the model because the ids
//! mean nothing without it.
//!
//! With a size limit (`data.max_vocab`), the most frequent characters keep their own ids and
//! the rest share one unknown token, the last id, so a corpus with stray symbols does not
//! widen the softmax; the unknown token decodes to U+FFFD.
//!
//! A model fine-tuned on new text keeps its vocabulary's ids and appends the characters it
//! lacks after them ([`Vocabulary::extended`]), so such a vocabulary is sorted in two runs.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::DataError;

/// A set of characters and the id of each (its position).
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
        Self::from_ordered(set.into_iter().collect())
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
            return (Self::from_ordered(chars), RareCharacters::default());
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
        let mut vocab = Self::from_ordered(chars);
        vocab.has_unknown = true;
        (vocab, left_out)
    }

    /// This vocabulary grown with the characters `counts` has seen that it lacks, for a model
    /// fine-tuned on new text: every character keeps its id, and the new ones follow in
    /// code-point order. With `max_size` (0: no limit) the vocabulary holds at most `max_size`
    /// tokens, or one more than it has now if that is more: the most frequent new characters
    /// (ties: lower code point first) get ids and the rest share an unknown token, last. A
    /// vocabulary that has an unknown token already maps every new character to it. Also says
    /// what was left out.
    pub fn extended(&self, counts: &CharCounts, max_size: usize) -> (Self, RareCharacters) {
        let mut new: Vec<(char, u64)> = counts
            .to_vec()
            .into_iter()
            .filter(|(c, _)| !self.ids.contains_key(c))
            .collect();
        let room = if self.has_unknown {
            0
        } else if max_size == 0 {
            usize::MAX
        } else {
            max_size.saturating_sub(self.chars.len())
        };
        let mut rare = Vec::new();
        if new.len() > room {
            new.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            // One place goes to the unknown token (a vocabulary that has one has no room).
            rare = new.split_off(room.saturating_sub(1));
        }
        let mut added: Vec<char> = new.into_iter().map(|(c, _)| c).collect();
        added.sort_unstable();
        let mut chars = self.chars.clone();
        chars.extend(added);
        let mut vocab = Self::from_ordered(chars);
        vocab.has_unknown = self.has_unknown || !rare.is_empty();
        let left_out = RareCharacters {
            distinct: rare.len(),
            occurrences: rare.iter().map(|(_, n)| *n as usize).sum(),
        };
        (vocab, left_out)
    }

    fn from_ordered(chars: Vec<char>) -> Self {
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

    /// Reads a vocabulary written by [`Vocabulary::save`], checking it has one character per
    /// entry and no character twice.
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
        let mut vocab = Self::from_ordered(chars);
        if vocab.ids.len() != vocab.chars.len() {
            return Err(invalid("a character appears twice".into()));
        }
        vocab.has_unknown = file.unknown;
        Ok(vocab)
    }
}

#[cfg(test)]
mod tests;
