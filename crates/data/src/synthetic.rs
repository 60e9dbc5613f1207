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
    /// Strings of the embedded Reber grammar, one per line: `B`, then `T` or `P`, then a Reber
    /// string, then the same `T` or `P` again, then `E`. Predicting that second `T`/`P` needs
    /// a memory of the first across the whole inner string: the classic long-range test of
    /// Hochreiter & Schmidhuber (1997).
    Reber,
}

impl SyntheticCorpus {
    /// Every synthetic corpus, in the order the docs list them.
    pub const ALL: [SyntheticCorpus; 4] =
        [Self::Alphabet, Self::Counting, Self::Brackets, Self::Reber];

    /// The name a config uses for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Alphabet => "alphabet",
            Self::Counting => "counting",
            Self::Brackets => "brackets",
            Self::Reber => "reber",
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
            Self::Reber => {
                let mut rng = SplitMix64(0x0004_eb37_6ea3);
                while text.len() < SYNTHETIC_LEN {
                    write_embedded_reber(&mut text, &mut rng);
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

/// The Reber grammar as a finite automaton: from each state, two (symbol, next state) choices
/// taken with equal probability; state 5 ends the string.
const REBER: [[(char, usize); 2]; 5] = [
    [('T', 1), ('P', 2)],
    [('S', 1), ('X', 3)],
    [('T', 2), ('V', 4)],
    [('X', 2), ('S', 5)],
    [('P', 3), ('V', 5)],
];

/// Writes one embedded Reber string: `B`, `T` or `P`, `B`…`E` of the inner grammar, the same
/// `T` or `P`, `E`.
fn write_embedded_reber(text: &mut String, rng: &mut SplitMix64) {
    let branch = if rng.next().is_multiple_of(2) {
        'T'
    } else {
        'P'
    };
    text.push('B');
    text.push(branch);
    text.push('B');
    let mut state = 0;
    while state < 5 {
        let (symbol, next) = REBER[state][(rng.next() % 2) as usize];
        text.push(symbol);
        state = next;
    }
    text.push('E');
    text.push(branch);
    text.push('E');
}

/// Whether `line` is a string of the embedded Reber grammar.
pub fn is_embedded_reber(line: &str) -> bool {
    let bytes = line.as_bytes();
    let n = bytes.len();
    if n < 9 || bytes[0] != b'B' || bytes[2] != b'B' || bytes[n - 3] != b'E' || bytes[n - 1] != b'E'
    {
        return false;
    }
    if !matches!(bytes[1], b'T' | b'P') || bytes[n - 2] != bytes[1] {
        return false;
    }
    let mut state = 0;
    for &symbol in &bytes[3..n - 3] {
        match REBER
            .get(state)
            .and_then(|choices| choices.iter().find(|(s, _)| *s as u8 == symbol))
        {
            Some(&(_, next)) => state = next,
            None => return false,
        }
    }
    state == 5
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
    fn reber_lines_follow_the_embedded_grammar_and_use_both_branches() {
        let text = SyntheticCorpus::Reber.generate();
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[..lines.len() - 1] {
            assert!(is_embedded_reber(line), "{line}");
        }
        let t = lines.iter().filter(|l| l.starts_with("BT")).count();
        let p = lines.iter().filter(|l| l.starts_with("BP")).count();
        assert!(t > 1000 && p > 1000, "{t} T, {p} P");
        assert!(is_embedded_reber("BTBTXSETE"));
        assert!(is_embedded_reber("BPBPVVEPE"));
        assert!(!is_embedded_reber("BTBTXXETE"), "inner string cut short");
        assert!(!is_embedded_reber("BTBTXSEPE"), "branches differ");
        assert!(!is_embedded_reber("BTBTSSETE"), "S cannot follow B");
    }

    #[test]
    fn counting_counts() {
        let text = SyntheticCorpus::Counting.generate();
        let numbers: Vec<u64> = text.lines().take(200).map(|l| l.parse().unwrap()).collect();
        assert_eq!(numbers, (0..200).collect::<Vec<_>>());
    }
}
