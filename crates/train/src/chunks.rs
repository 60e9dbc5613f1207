//! An early phase of shorter chunks (`train.early_seq_len`): the first share of a run trains
//! on chunks a whole fraction of `train.seq_len` long, then the chunks, and with them the
//! batches in characters, grow to full length.
//!
//! Both phases read the same streams (`train.batch_size` of them, cut the same way), so a
//! chunk of either length starts where the previous one ended. The switch waits for a
//! position where an early chunk boundary is also a full-length one (at most `ratio - 1`
//! more short steps), so the carried recurrent state continues across it unchanged.

use crate::progress::Progress;

/// The early phase of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyChunks {
    /// Chunk length of the early phase.
    pub seq_len: usize,
    /// How many early chunks make one full-length chunk (`train.seq_len / early_seq_len`).
    pub ratio: usize,
    /// Share of the run (steps, or the time budget) in the early phase.
    pub share: f64,
}

impl EarlyChunks {
    /// Steps of a run that reads as much text as `full_steps` full-length steps while
    /// spending the first `share` of its steps on early chunks:
    /// `steps · (1 − share + share / ratio) = full_steps`.
    pub fn steps_for(&self, full_steps: usize) -> usize {
        let text_per_step = 1.0 - self.share + self.share / self.ratio as f64;
        // Rounding up, but not over a rounding error of the division.
        (full_steps as f64 / text_per_step - 1e-6).ceil() as usize
    }

    /// Whether a run that has spent `run_fraction` (0 to 1) of itself is still early.
    pub fn is_early(&self, run_fraction: f64) -> bool {
        run_fraction < self.share
    }
}

/// Moves `progress` to the chunk the next step trains on, and says whether that chunk starts
/// a new epoch (the caller then restarts the carried state).
///
/// `progress.batch_in_epoch` counts early chunks while `progress.early_chunks` is set, and
/// full-length chunks after; `batches(early)` is the number of chunks of that length in one
/// pass over the streams. The early phase ends for good once `stay_early` is false: at the
/// next full-length boundary, or at the end of the epoch.
pub fn next_chunk(
    progress: &mut Progress,
    stay_early: bool,
    ratio: usize,
    batches: impl Fn(bool) -> usize,
) -> bool {
    if progress.early_chunks && !stay_early && progress.batch_in_epoch.is_multiple_of(ratio) {
        progress.batch_in_epoch /= ratio;
        progress.early_chunks = false;
    }
    if progress.batch_in_epoch < batches(progress.early_chunks) {
        return false;
    }
    progress.epoch += 1;
    progress.batch_in_epoch = 0;
    progress.early_chunks &= stay_early;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epochs_run_with_an_early_phase_reads_the_same_text() {
        let early = EarlyChunks {
            seq_len: 25,
            ratio: 4,
            share: 0.4,
        };
        // 0.4 · 1000 steps at a quarter of the text each + 600 full ones = 700 full steps.
        assert_eq!(early.steps_for(700), 1000);
        assert!(early.is_early(0.39) && !early.is_early(0.4));
    }

    /// Walks `steps` steps over streams `stream_len` long, early for the first `early_steps`
    /// (chunks of 5 steps, full chunks of 10), and returns each step's (epoch, start, length).
    fn walk(stream_len: usize, early_steps: usize, steps: usize) -> Vec<(usize, usize, usize)> {
        let (early_len, ratio) = (5, 2);
        let batches = |early: bool| stream_len / if early { early_len } else { early_len * ratio };
        let mut progress = Progress::start("flex");
        progress.early_chunks = true;
        (0..steps)
            .map(|step| {
                next_chunk(&mut progress, step < early_steps, ratio, batches);
                let len = if progress.early_chunks {
                    early_len
                } else {
                    early_len * ratio
                };
                let chunk = (progress.epoch, progress.batch_in_epoch * len, len);
                progress.batch_in_epoch += 1;
                chunk
            })
            .collect()
    }

    #[test]
    fn chunks_continue_where_the_last_ended_across_the_switch() {
        // Streams of 47 steps: 9 early chunks or 4 full ones per pass. The early phase ends
        // after 3 steps, at an odd early chunk: one more short step, then full chunks.
        let chunks = walk(47, 3, 12);
        let expected = [
            run(0, 0, 5, 4),
            run(0, 20, 10, 2),
            run(1, 0, 10, 4),
            run(2, 0, 10, 2),
        ];
        assert_eq!(chunks, expected.concat());
    }

    #[test]
    fn an_early_phase_longer_than_an_epoch_stays_early_into_the_next() {
        // 4 early chunks per pass (the last 2 steps are never read), 2 full ones.
        let expected = [
            run(0, 0, 5, 4),
            run(1, 0, 5, 2),
            run(1, 10, 10, 1),
            run(2, 0, 10, 1),
        ];
        assert_eq!(walk(22, 6, 8), expected.concat());
    }

    /// `count` chunks `len` steps long one after another from `start` in `epoch`, as [`walk`]
    /// gives them.
    fn run(epoch: usize, start: usize, len: usize, count: usize) -> Vec<(usize, usize, usize)> {
        (0..count).map(|k| (epoch, start + k * len, len)).collect()
    }
}
