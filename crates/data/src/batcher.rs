//! Cuts a token sequence into `batch_size` parallel contiguous streams and yields `seq_len`-long
//! chunks of them in order, for truncated backpropagation through time.
//!
//! With `n = (len - 1) / batch_size`, stream `b` reads tokens `b·n .. b·n + n` as inputs and
//! the same range shifted by one as targets. Chunk `k` holds steps `k·T .. (k+1)·T` of every
//! stream, so the recurrent state the model ends chunk `k` with is exactly the state it should
//! start chunk `k + 1` with. The last `(len - 1) mod batch_size` tokens are never read.
//!
//! The tokens are read where they are (a memory-mapped token file of any width), and only the
//! chunk asked for is copied out; a reversed batcher reads them last first, for the backward
//! stack of a bidirectional model, without a reversed copy.

use crate::{DataError, TokenView};

/// What to do with the steps left over when a stream's length is not a multiple of `seq_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemainderPolicy {
    /// Drop them: every chunk is exactly `seq_len` long (training).
    Drop,
    /// Yield them as a final, shorter chunk, so every stream step is seen (evaluation).
    Keep,
}

/// One chunk: `inputs` and `targets` are row-major `[batch_size, seq_len]` token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Input ids, `[batch_size, seq_len]` row-major.
    pub inputs: Vec<u32>,
    /// Target ids (inputs shifted by one), `[batch_size, seq_len]` row-major.
    pub targets: Vec<u32>,
    /// Number of streams.
    pub batch_size: usize,
    /// Steps in this chunk.
    pub seq_len: usize,
}

/// Yields the chunks of a token sequence as parallel contiguous streams.
#[derive(Debug, Clone)]
pub struct StreamBatcher<'a> {
    tokens: TokenView<'a>,
    reversed: bool,
    batch_size: usize,
    seq_len: usize,
    stream_len: usize,
    num_batches: usize,
}

impl<'a> StreamBatcher<'a> {
    /// A batcher over `tokens`; `split` names the split in the error when it is too short.
    pub fn new(
        tokens: impl Into<TokenView<'a>>,
        batch_size: usize,
        seq_len: usize,
        policy: RemainderPolicy,
        split: &str,
    ) -> Result<Self, DataError> {
        let tokens = tokens.into();
        assert!(
            batch_size > 0 && seq_len > 0,
            "sizes are validated by the config"
        );
        let stream_len = tokens.len().saturating_sub(1) / batch_size;
        let num_batches = match policy {
            RemainderPolicy::Drop => stream_len / seq_len,
            RemainderPolicy::Keep => stream_len.div_ceil(seq_len),
        };
        if num_batches == 0 {
            let needed = match policy {
                RemainderPolicy::Drop => batch_size * seq_len + 1,
                RemainderPolicy::Keep => batch_size + 1,
            };
            return Err(DataError::TooShort {
                split: split.to_string(),
                tokens: tokens.len(),
                batch_size,
                seq_len,
                needed,
            });
        }
        Ok(Self {
            tokens,
            reversed: false,
            batch_size,
            seq_len,
            stream_len,
            num_batches,
        })
    }

    /// The same batcher reading the tokens last first: the streams of the reversed text.
    pub fn reversed(mut self) -> Self {
        self.reversed = !self.reversed;
        self
    }

    /// Number of chunks in one pass over the streams.
    pub fn num_batches(&self) -> usize {
        self.num_batches
    }

    /// Number of streams.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Number of target tokens one full pass covers.
    pub fn tokens_per_pass(&self) -> usize {
        (0..self.num_batches)
            .map(|k| self.chunk_len(k) * self.batch_size)
            .sum()
    }

    fn chunk_len(&self, index: usize) -> usize {
        let start = index * self.seq_len;
        self.seq_len.min(self.stream_len - start)
    }

    /// Chunk `index` (`0 .. num_batches()`).
    pub fn batch(&self, index: usize) -> Batch {
        assert!(index < self.num_batches, "batch index out of range");
        let start = index * self.seq_len;
        let len = self.chunk_len(index);
        let mut inputs = Vec::with_capacity(self.batch_size * len);
        let mut targets = Vec::with_capacity(self.batch_size * len);
        for stream in 0..self.batch_size {
            let offset = stream * self.stream_len + start;
            self.read(offset..offset + len, &mut inputs);
            self.read(offset + 1..offset + 1 + len, &mut targets);
        }
        Batch {
            inputs,
            targets,
            batch_size: self.batch_size,
            seq_len: len,
        }
    }

    /// Appends the tokens at `range` of the (possibly reversed) sequence to `out`.
    fn read(&self, range: std::ops::Range<usize>, out: &mut Vec<u32>) {
        if self.reversed {
            let len = self.tokens.len();
            self.tokens
                .extend_reversed_into(len - range.end..len - range.start, out);
        } else {
            self.tokens.extend_into(range, out);
        }
    }

    /// All chunks in order.
    pub fn iter(&self) -> impl Iterator<Item = Batch> + '_ {
        (0..self.num_batches).map(|index| self.batch(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(n: u32) -> Vec<u32> {
        (0..n).collect()
    }

    #[test]
    fn targets_are_inputs_shifted_by_one() {
        let data = tokens(103);
        let batcher = StreamBatcher::new(&data, 4, 5, RemainderPolicy::Drop, "training").unwrap();
        for batch in batcher.iter() {
            for (input, target) in batch.inputs.iter().zip(&batch.targets) {
                assert_eq!(*target, input + 1);
            }
        }
    }

    #[test]
    fn each_stream_continues_where_the_previous_chunk_stopped() {
        let data = tokens(103);
        let batcher = StreamBatcher::new(&data, 4, 5, RemainderPolicy::Drop, "training").unwrap();
        // (103 - 1) / 4 = 25 steps per stream, 5 chunks of 5.
        assert_eq!(batcher.num_batches(), 5);
        let batches: Vec<Batch> = batcher.iter().collect();
        for stream in 0..4 {
            let joined: Vec<u32> = batches
                .iter()
                .flat_map(|b| b.inputs[stream * b.seq_len..(stream + 1) * b.seq_len].to_vec())
                .collect();
            let start = stream as u32 * 25;
            assert_eq!(joined, (start..start + 25).collect::<Vec<_>>());
        }
    }

    #[test]
    fn remainder_is_dropped_or_kept_as_a_short_chunk() {
        let data = tokens(50); // 49 / 2 = 24 steps per stream
        let drop = StreamBatcher::new(&data, 2, 10, RemainderPolicy::Drop, "training").unwrap();
        assert_eq!(drop.num_batches(), 2);
        assert_eq!(drop.tokens_per_pass(), 40);
        let keep = StreamBatcher::new(&data, 2, 10, RemainderPolicy::Keep, "validation").unwrap();
        assert_eq!(keep.num_batches(), 3);
        let last = keep.batch(2);
        assert_eq!(last.seq_len, 4);
        assert_eq!(last.inputs, vec![20, 21, 22, 23, 44, 45, 46, 47]);
        assert_eq!(keep.tokens_per_pass(), 48);
    }

    #[test]
    fn a_reversed_batcher_reads_the_reversed_sequence() {
        let data = tokens(103);
        let reversed_data: Vec<u32> = data.iter().rev().copied().collect();
        let reversed = StreamBatcher::new(&data, 4, 5, RemainderPolicy::Keep, "training")
            .unwrap()
            .reversed();
        let copied =
            StreamBatcher::new(&reversed_data, 4, 5, RemainderPolicy::Keep, "training").unwrap();
        assert_eq!(reversed.num_batches(), copied.num_batches());
        for (a, b) in reversed.iter().zip(copied.iter()) {
            assert_eq!(a, b);
        }
        assert_eq!(reversed.clone().reversed().batch(0), {
            StreamBatcher::new(&data, 4, 5, RemainderPolicy::Keep, "training")
                .unwrap()
                .batch(0)
        });
    }

    #[test]
    fn narrow_tokens_give_the_same_batches() {
        let wide: Vec<u32> = (0..203).map(|i| i % 200).collect();
        let narrow: Vec<u8> = wide.iter().map(|&id| id as u8).collect();
        let a = StreamBatcher::new(&wide, 3, 7, RemainderPolicy::Keep, "training").unwrap();
        let b = StreamBatcher::new(
            TokenView::U8(&narrow),
            3,
            7,
            RemainderPolicy::Keep,
            "training",
        )
        .unwrap();
        assert_eq!(a.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
    }

    #[test]
    fn too_short_a_split_is_an_error_naming_the_split() {
        let data = tokens(20);
        let err = StreamBatcher::new(&data, 4, 10, RemainderPolicy::Drop, "training").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("training split has 20 characters"),
            "{message}"
        );
        assert!(message.contains("needs at least 41"), "{message}");
    }
}
