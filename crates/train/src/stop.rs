//! Stop strings: generation ends after the first occurrence of any of them in the generated
//! text (not the prime), which is kept.

/// The strings that end a sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopStrings {
    strings: Vec<String>,
    /// The longest string's length in bytes.
    longest: usize,
}

impl StopStrings {
    /// Ends a sample at any of `strings` (none: the sample runs to its length).
    pub fn new(strings: Vec<String>) -> Self {
        let longest = strings.iter().map(String::len).max().unwrap_or(0);
        Self { strings, longest }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }

    /// The strings, as given.
    pub fn strings(&self) -> &[String] {
        &self.strings
    }

    /// With `text[..grown_from]` free of every stop string, the end (in bytes) of the first
    /// occurrence of one that `text[grown_from..]` completes, if any: where the sample ends.
    pub fn end_in(&self, text: &str, grown_from: usize) -> Option<usize> {
        let mut from = grown_from.saturating_sub(self.longest.saturating_sub(1));
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        let window = &text[from..];
        self.strings
            .iter()
            .filter_map(|stop| {
                window
                    .match_indices(stop.as_str())
                    .map(|(start, _)| from + start + stop.len())
                    .find(|&end| end > grown_from)
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(strings: &[&str]) -> StopStrings {
        StopStrings::new(strings.iter().map(|s| s.to_string()).collect())
    }

    /// Grows `text` one character at a time, as generation does, and returns where it stops.
    fn stop_of(stops: &StopStrings, text: &str) -> Option<usize> {
        let mut grown = 0;
        for (index, c) in text.char_indices() {
            let end = index + c.len_utf8();
            if let Some(stop) = stops.end_in(&text[..end], grown) {
                return Some(stop);
            }
            grown = end;
        }
        None
    }

    #[test]
    fn a_sample_ends_after_the_first_stop_string_it_completes() {
        let two = stops(&["\n\n", "END"]);
        assert_eq!(stop_of(&two, "ab\ncd\n\nef"), Some(7));
        assert_eq!(stop_of(&two, "abENDx\n\n"), Some(5));
        assert_eq!(stop_of(&two, "no stop here\n"), None);
        assert_eq!(stop_of(&stops(&[]), "anything"), None);
        // Multi-byte characters on either side of the window's edge.
        assert_eq!(stop_of(&stops(&["éé"]), "aéxéé…"), Some(8));
        assert_eq!(stop_of(&stops(&["…"]), "é…"), Some(5));
    }

    /// A piece of several characters (a tokenizer token) may complete a stop string; the
    /// sample ends at the first one completed, even inside the piece.
    #[test]
    fn a_piece_of_several_characters_ends_at_the_first_completed_stop() {
        let both = stops(&["cd", "b"]);
        assert_eq!(both.end_in("abcd", 0), Some(2));
        assert_eq!(both.end_in("xacd", 2), Some(4));
        // Completed before `grown_from` means already seen: not again.
        assert_eq!(stops(&["ab"]).end_in("abab", 3), Some(4));
        assert_eq!(stops(&["ab"]).end_in("abx", 2), None);
    }
}
