//! Corpora charlstm generates itself: no download, no third-party text, the same characters
//! on every machine. They are small classic tasks whose difficulty is known in advance, which
//! makes them good first runs and good tests.

/// Length of every synthetic corpus, in characters.
pub const SYNTHETIC_LEN: usize = 100_000;

/// A generated corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntheticCorpus {
    /// `abcdefghijklmnopqrstuvwxyz\n` repeated: every next character is certain.
    Alphabet,
    /// The numbers 0, 1, 2, … one per line.
    Counting,
    /// Random balanced `()[]{}` expressions, one per line.
    Brackets,
}

impl SyntheticCorpus {
    /// Every synthetic corpus, in the order the docs list them.
    pub const ALL: [SyntheticCorpus; 3] = [Self::Alphabet, Self::Counting, Self::Brackets];

    /// The name a config uses for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Alphabet => "alphabet",
            Self::Counting => "counting",
            Self::Brackets => "brackets",
        }
    }

    /// The synthetic corpus called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Generates the text ([`SYNTHETIC_LEN`] characters, always the same).
    pub fn generate(self) -> String {
        let mut text = String::with_capacity(SYNTHETIC_LEN + 64);
        match self {
            Self::Alphabet => {
                while text.len() < SYNTHETIC_LEN {
                    text.push_str("abcdefghijklmnopqrstuvwxyz\n");
                }
            }
            Self::Counting => {
                let mut n = 0u64;
                while text.len() < SYNTHETIC_LEN {
                    text.push_str(&n.to_string());
                    text.push('\n');
                    n += 1;
                }
            }
            Self::Brackets => {
                let mut rng = SplitMix64(0x5eed_b7ac_6e75);
                while text.len() < SYNTHETIC_LEN {
                    write_brackets(&mut text, &mut rng, 0);
                    text.push('\n');
                }
            }
        }
        text.truncate(SYNTHETIC_LEN);
        text
    }
}

/// Writes one or more balanced groups, nesting at most eight deep.
fn write_brackets(text: &mut String, rng: &mut SplitMix64, depth: usize) {
    const PAIRS: [(char, char); 3] = [('(', ')'), ('[', ']'), ('{', '}')];
    loop {
        let (open, close) = PAIRS[(rng.next() % 3) as usize];
        text.push(open);
        if depth < 8 && rng.next() % 100 < 45 {
            write_brackets(text, rng, depth + 1);
        }
        text.push(close);
        if rng.next() % 100 >= 40 {
            break;
        }
    }
}

/// SplitMix64: a tiny, well-known generator, enough for reproducible synthetic text.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_sized() {
        for corpus in SyntheticCorpus::ALL {
            let text = corpus.generate();
            assert_eq!(text.len(), SYNTHETIC_LEN, "{}", corpus.name());
            assert_eq!(text, corpus.generate());
            assert_eq!(SyntheticCorpus::from_name(corpus.name()), Some(corpus));
        }
    }

    #[test]
    fn bracket_lines_are_balanced() {
        let text = SyntheticCorpus::Brackets.generate();
        let lines: Vec<&str> = text.lines().collect();
        // The last line may be cut short by the length limit.
        for line in &lines[..lines.len() - 1] {
            let mut stack = Vec::new();
            for c in line.chars() {
                match c {
                    '(' | '[' | '{' => stack.push(c),
                    _ => {
                        let open = stack.pop().expect("a close has an open");
                        assert_eq!(
                            (open, c).0,
                            match c {
                                ')' => '(',
                                ']' => '[',
                                _ => '{',
                            }
                        );
                    }
                }
            }
            assert!(stack.is_empty(), "{line}");
        }
    }

    #[test]
    fn counting_counts() {
        let text = SyntheticCorpus::Counting.generate();
        let numbers: Vec<u64> = text.lines().take(200).map(|l| l.parse().unwrap()).collect();
        assert_eq!(numbers, (0..200).collect::<Vec<_>>());
    }
}
