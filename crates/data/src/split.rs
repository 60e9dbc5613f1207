//! Contiguous train / validation / test split. Contiguous, not shuffled, because the model
//! reads text as long streams: a shuffled split would leak neighbouring context across sets.
//! The layout is `[ train | validation | test ]`, so with no test set the validation split is
//! the last part of the corpus (nanoGPT's tinyshakespeare split uses the last 10%).

use std::ops::Range;

/// What fraction of the corpus goes to validation and to test; the rest is for training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitFractions {
    /// Fraction for validation, in `[0, 1)`.
    pub validation: f64,
    /// Fraction for test, in `[0, 1)`.
    pub test: f64,
}

/// Token ranges of each split within the encoded corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Tokens used for training.
    pub train: Range<usize>,
    /// Tokens used for validation.
    pub validation: Range<usize>,
    /// Tokens held out for a final test.
    pub test: Range<usize>,
}

impl Split {
    /// Splits `len` tokens by `fractions`, rounding each held-out part down.
    pub fn new(len: usize, fractions: SplitFractions) -> Self {
        let test_len = (len as f64 * fractions.test).floor() as usize;
        let validation_len = (len as f64 * fractions.validation).floor() as usize;
        let train_end = len.saturating_sub(test_len + validation_len);
        let validation_end = train_end + validation_len;
        Self {
            train: 0..train_end,
            validation: train_end..validation_end,
            test: validation_end..len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_is_the_tail_without_a_test_set() {
        let split = Split::new(
            1000,
            SplitFractions {
                validation: 0.1,
                test: 0.0,
            },
        );
        assert_eq!(split.train, 0..900);
        assert_eq!(split.validation, 900..1000);
        assert!(split.test.is_empty());
    }

    #[test]
    fn splits_are_contiguous_and_cover_everything() {
        let split = Split::new(
            1001,
            SplitFractions {
                validation: 0.15,
                test: 0.05,
            },
        );
        assert_eq!(split.train.start, 0);
        assert_eq!(split.train.end, split.validation.start);
        assert_eq!(split.validation.end, split.test.start);
        assert_eq!(split.test.end, 1001);
        assert_eq!(split.validation.len(), 150);
        assert_eq!(split.test.len(), 50);
    }
}
