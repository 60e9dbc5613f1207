//! Large work buffers of the fused layers, written by every thread of the pool at once and
//! reused from one training step to the next.
//!
//! A training step uses about 100 MB of such buffers per layer (gate activations, states,
//! their gradients). Zeroing them on the calling thread, and taking their pages' first-touch
//! faults there, kept one core busy while the other waited: a third of a step's wall time on
//! two threads. Here each thread writes (and faults in) its own share.
//!
//! A buffer the kernels are done with goes back to a small pool ([`recycle`]), from which the
//! next buffer of about its size is taken: a training step then reuses the previous step's
//! memory, whose pages are already mapped, instead of asking the system for fresh zeroed pages
//! (the allocator hands buffers this large back to the system at once). A buffer that its
//! user writes in full ([`scratch`]) is not even cleared.
//!
//! On Linux a new buffer of a few megabytes or more asks for 2 MB pages before it is first
//! written ([`advise_huge_pages`]). The backward pass writes each step's gate gradients into
//! 2,048 rows tens of kilobytes apart; on 4 KB pages every row is a page of its own and every
//! write a TLB miss.

use std::mem::MaybeUninit;
use std::sync::Mutex;

use rayon::prelude::*;

/// Elements below which a buffer is written on the calling thread and not pooled: handing out
/// work costs more than it saves.
const PARALLEL_FROM: usize = 1 << 16;

/// Elements one task writes at least.
const TASK_LEN: usize = 1 << 14;

/// A new buffer has room for `1 / ROOM` more elements than asked for.
const ROOM: usize = 16;

/// Buffers kept for reuse at most; beyond, the smallest is freed.
const POOL_BUFFERS: usize = 24;

/// Buffers waiting for reuse, with the values their last user left.
static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// `len` elements of unspecified values (what an earlier user left, or zeros), for a buffer
/// that the caller overwrites in full before reading it.
pub fn scratch(len: usize) -> Vec<f32> {
    match pooled(len) {
        Some(buffer) => buffer,
        None => fresh_zeros(len),
    }
}

/// `runs · run_len` elements in runs of `run_len`, every element of run `r` equal to
/// `value(r)`: for instance one step's gate pre-activations, each unit's run of `B` values
/// starting from the unit's bias.
pub fn runs_of(runs: usize, run_len: usize, value: impl Fn(usize) -> f32 + Sync) -> Vec<f32> {
    let len = runs * run_len;
    if len < PARALLEL_FROM {
        let mut values = Vec::with_capacity(len);
        for run in 0..runs {
            values.extend(std::iter::repeat_n(value(run), run_len));
        }
        return values;
    }
    let runs_per_task = TASK_LEN.div_ceil(run_len);
    let mut values = scratch(len);
    values
        .par_chunks_mut(runs_per_task * run_len)
        .enumerate()
        .for_each(|(task, chunk)| {
            for (run, elements) in chunk.chunks_mut(run_len).enumerate() {
                elements.fill(value(task * runs_per_task + run));
            }
        });
    values
}

/// Gives a buffer that is no longer needed back for reuse. Small ones are simply freed.
pub fn recycle(buffer: Vec<f32>) {
    if buffer.len() < PARALLEL_FROM {
        return;
    }
    let mut pool = lock_pool();
    pool.push(buffer);
    if pool.len() > POOL_BUFFERS
        && let Some(smallest) = (0..pool.len()).min_by_key(|&index| pool[index].capacity())
    {
        pool.swap_remove(smallest);
    }
}

/// [`recycle`]s each of `buffers`, leaving them empty: for a kernel's trace when it is dropped.
pub fn recycle_all<const N: usize>(buffers: [&mut Vec<f32>; N]) {
    for buffer in buffers {
        recycle(std::mem::take(buffer));
    }
}

/// The pool's smallest buffer with room for `len` to `2 · len` elements, cut or grown to
/// `len` (grown within its room: the new tail is zeros).
fn pooled(len: usize) -> Option<Vec<f32>> {
    if len < PARALLEL_FROM {
        return None;
    }
    let mut pool = lock_pool();
    let best = (0..pool.len())
        .filter(|&index| (len..=2 * len).contains(&pool[index].capacity()))
        .min_by_key(|&index| pool[index].capacity())?;
    let mut buffer = pool.swap_remove(best);
    buffer.resize(len, 0.0);
    Some(buffer)
}

fn lock_pool() -> std::sync::MutexGuard<'static, Vec<Vec<f32>>> {
    // The pool holds plain buffers: one left behind by a panicking thread is still fine.
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A newly allocated buffer of `len` zeros, written (and so faulted in) by every thread, with
/// room for [`ROOM`] more: sizes that differ by a step's worth of state (`[T, B, H]` and
/// `[T+1, B, H]`) then share buffers.
fn fresh_zeros(len: usize) -> Vec<f32> {
    let mut values: Vec<f32> = Vec::with_capacity(len + len / ROOM);
    advise_huge_pages(&mut values);
    values.spare_capacity_mut()[..len]
        .par_chunks_mut(TASK_LEN)
        .for_each(|chunk| chunk.fill(MaybeUninit::new(0.0)));
    // SAFETY: the chunks above cover the first `len` elements of the spare capacity, and
    // every element of every chunk was written.
    unsafe { values.set_len(len) };
    values
}

/// Size of a transparent huge page on x86-64 and most arm64 Linux systems.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the whole 2 MB pages inside `values`' allocation with huge pages
/// when they are first touched (`madvise(MADV_HUGEPAGE)`: Linux's default for transparent
/// huge pages is to use them only where asked). An advice: where the kernel has them
/// disabled the call fails and nothing changes.
#[cfg(target_os = "linux")]
fn advise_huge_pages(values: &mut Vec<f32>) {
    let start = values.as_mut_ptr() as usize;
    let end = start + values.capacity() * size_of::<f32>();
    let (first, last) = (
        start.next_multiple_of(HUGE_PAGE),
        end / HUGE_PAGE * HUGE_PAGE,
    );
    if last > first {
        // SAFETY: [first, last) lies inside the allocation `values` owns, and is page-aligned;
        // the advice changes how its pages are backed, never their contents.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_values: &mut Vec<f32>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_hold_their_values_small_and_large() {
        for (runs, run_len) in [(3, 4), (1, 0), (5000, 64), (PARALLEL_FROM / 7 + 3, 7)] {
            let values = runs_of(runs, run_len, |run| run as f32 * 0.5);
            assert_eq!(values.len(), runs * run_len);
            for (index, &value) in values.iter().enumerate() {
                assert_eq!(
                    value,
                    (index / run_len) as f32 * 0.5,
                    "runs {runs} × {run_len}"
                );
            }
        }
    }

    /// A recycled buffer comes back dirty: runs taken from the pool are written in full,
    /// scratch buffers have the asked length, and the pool stays bounded.
    #[test]
    fn recycled_buffers_come_back_written() {
        let len = 3 * PARALLEL_FROM;
        for round in 0..3 {
            let mut buffer = runs_of(len / 8, 8, |_| 7.0);
            buffer.fill(f32::NAN);
            recycle(buffer);
            let runs = runs_of(len / 4, 4, |run| run as f32);
            assert!(
                runs.iter()
                    .enumerate()
                    .all(|(index, &value)| value == (index / 4) as f32),
                "round {round}"
            );
            recycle(runs);
            assert_eq!(scratch(len - 1).len(), len - 1);
        }
        for _ in 0..2 * POOL_BUFFERS {
            recycle(vec![1.0; PARALLEL_FROM]);
        }
        assert!(lock_pool().len() <= POOL_BUFFERS);
    }
}
