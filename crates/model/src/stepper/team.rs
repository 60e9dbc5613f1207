//! Threads that stay awake between the steps of a generation, for the matrix–vector products.
//!
//! At batch 1 a product takes tens of microseconds. Handing half of it to a Rayon worker that
//! went to sleep since the last step costs a wake-up through the kernel every time, a quarter
//! of the step in our profile. A [`Team`] keeps its helpers spinning for a short while after
//! each job (then parks them), so from one step to the next a hand-off is a couple of atomic
//! operations.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::dot::RowDot;

/// How long an idle helper spins before it parks.
const SPIN: Duration = Duration::from_micros(200);

/// A helper's share of a product: `out = init + rows[first row..] · x`.
#[derive(Default)]
struct Job {
    rows: Option<Arc<[f32]>>,
    first_row: usize,
    x: Vec<f32>,
    init: Vec<f32>,
    out: Vec<f32>,
}

struct Shared {
    job: Mutex<Job>,
    posted: AtomicU64,
    finished: AtomicU64,
    sleeping: AtomicBool,
    shutdown: AtomicBool,
}

fn lock(job: &Mutex<Job>) -> MutexGuard<'_, Job> {
    // A helper that panicked left plain numbers behind; nothing to repair.
    job.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Helper {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Helper {
    fn spawn(dot: RowDot) -> Option<Self> {
        let shared = Arc::new(Shared {
            job: Mutex::new(Job::default()),
            posted: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("charlstm-step".into())
            .spawn(move || work(&for_thread, dot))
            .ok()?;
        Some(Self {
            shared,
            thread: Some(thread),
        })
    }

    fn post(&self) {
        self.shared.posted.fetch_add(1, Ordering::SeqCst);
        if self.shared.sleeping.load(Ordering::SeqCst)
            && let Some(thread) = &self.thread
        {
            thread.thread().unpark();
        }
    }

    fn wait(&self) {
        let posted = self.shared.posted.load(Ordering::SeqCst);
        while self.shared.finished.load(Ordering::Acquire) < posted {
            std::hint::spin_loop();
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// The helper's loop: wait for a job (spinning, then parked), run it, report it done.
fn work(shared: &Shared, dot: RowDot) {
    let mut done = 0;
    loop {
        let started = Instant::now();
        let mut spins = 0u32;
        while shared.posted.load(Ordering::SeqCst) == done {
            if shared.shutdown.load(Ordering::SeqCst) {
                return;
            }
            spins = spins.wrapping_add(1);
            // The clock is read now and then: reading it is slower than a spin.
            if !spins.is_multiple_of(256) || started.elapsed() < SPIN {
                std::hint::spin_loop();
            } else {
                shared.sleeping.store(true, Ordering::SeqCst);
                // Checked again after announcing the sleep, so a job posted in between is seen.
                if shared.posted.load(Ordering::SeqCst) == done
                    && !shared.shutdown.load(Ordering::SeqCst)
                {
                    std::thread::park_timeout(Duration::from_millis(50));
                }
                shared.sleeping.store(false, Ordering::SeqCst);
            }
        }
        done += 1;
        {
            let mut job = lock(&shared.job);
            let Job {
                rows,
                first_row,
                x,
                init,
                out,
            } = &mut *job;
            if let Some(rows) = rows {
                let k = x.len();
                let rows = &rows[*first_row * k..(*first_row + out.len()) * k];
                dot.apply(out, init, rows, x);
            }
        }
        shared.finished.store(done, Ordering::Release);
    }
}

/// The calling thread plus helpers that split matrix–vector products by rows.
pub struct Team {
    dot: RowDot,
    helpers: Vec<Helper>,
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team")
            .field("dot", &self.dot)
            .field("helpers", &self.helpers.len())
            .finish()
    }
}

impl Team {
    /// A team of `threads` threads in all (the caller and `threads - 1` helpers).
    pub fn new(dot: RowDot, threads: usize) -> Self {
        let helpers = (1..threads.max(1))
            .map_while(|_| Helper::spawn(dot))
            .collect();
        Self { dot, helpers }
    }

    /// The products' routine.
    pub fn dot(&self) -> RowDot {
        self.dot
    }

    /// Threads that share a product, the caller included.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// `out[r] = init[r] + rows[r] · x` for the row-major `[out.len(), x.len()]` `rows`, split
    /// over the team when the matrix is large.
    ///
    /// # Panics
    ///
    /// If the lengths disagree.
    pub fn apply(&self, out: &mut [f32], init: &[f32], rows: &Arc<[f32]>, x: &[f32]) {
        let k = x.len();
        assert_eq!(rows.len(), out.len() * k, "weights are [outputs, inputs]");
        assert_eq!(init.len(), out.len(), "one initial value per output");
        if self.helpers.is_empty() || rows.len() < super::dot::PARALLEL_MIN_WEIGHTS || k == 0 {
            self.dot.apply(out, init, rows, x);
            return;
        }
        // Blocks of whole 16-row groups: the caller's first, then one per helper (the last
        // ones may be empty).
        let outputs = out.len();
        let per_thread = outputs.div_ceil(self.threads()).next_multiple_of(16);
        let block = |index: usize| {
            (index * per_thread).min(outputs)..((index + 1) * per_thread).min(outputs)
        };
        for (index, helper) in self.helpers.iter().enumerate() {
            let rows_of_helper = block(index + 1);
            if rows_of_helper.is_empty() {
                break;
            }
            {
                let mut job = lock(&helper.shared.job);
                job.rows = Some(Arc::clone(rows));
                job.first_row = rows_of_helper.start;
                job.x.clear();
                job.x.extend_from_slice(x);
                job.init.clear();
                job.init.extend_from_slice(&init[rows_of_helper.clone()]);
                job.out.resize(rows_of_helper.len(), 0.0);
            }
            helper.post();
        }
        let own = block(0);
        self.dot.apply(
            &mut out[own.clone()],
            &init[own.clone()],
            &rows[own.start * k..own.end * k],
            x,
        );
        for (index, helper) in self.helpers.iter().enumerate() {
            let rows_of_helper = block(index + 1);
            if rows_of_helper.is_empty() {
                break;
            }
            helper.wait();
            out[rows_of_helper].copy_from_slice(&lock(&helper.shared.job).out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_computes_what_one_thread_computes() {
        let dot = RowDot::new();
        for threads in [1, 2, 3] {
            let team = Team::new(dot, threads);
            assert_eq!(team.threads(), threads);
            for (outputs, inputs) in [(5, 3), (2048, 64), (1000, 77)] {
                let rows: Arc<[f32]> = (0..outputs * inputs)
                    .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.01)
                    .collect();
                let x: Vec<f32> = (0..inputs).map(|i| (i % 5) as f32 * 0.1).collect();
                let init: Vec<f32> = (0..outputs).map(|i| i as f32).collect();
                let mut expected = vec![0.0; outputs];
                dot.apply(&mut expected, &init, &rows, &x);
                // Several rounds: the helpers are reused, awake or parked.
                for round in 0..3 {
                    if round == 2 {
                        std::thread::sleep(SPIN * 3);
                    }
                    let mut got = vec![f32::NAN; outputs];
                    team.apply(&mut got, &init, &rows, &x);
                    assert_eq!(got, expected, "{threads} threads, [{outputs}, {inputs}]");
                }
            }
        }
    }
}
