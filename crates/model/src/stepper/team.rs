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

use super::product::{PANEL, PARALLEL_MIN_WEIGHTS, Panels, Product, scatter};

/// How long an idle helper spins before it parks.
const SPIN: Duration = Duration::from_micros(200);

/// A helper's share of a product: panels `panels` of `init + W x`, written panel after panel.
#[derive(Default)]
struct Job {
    weights: Option<Arc<Panels>>,
    panels: std::ops::Range<usize>,
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
    fn spawn(product: Product) -> Option<Self> {
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
            .spawn(move || work(&for_thread, product))
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
fn work(shared: &Shared, product: Product) {
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
                weights,
                panels,
                x,
                init,
                out,
            } = &mut *job;
            if let Some(weights) = weights {
                product.panels(weights, panels.clone(), &[&init[..]], x, out);
            }
        }
        shared.finished.store(done, Ordering::Release);
    }
}

/// The calling thread plus helpers that split matrix–vector products by panels.
pub struct Team {
    product: Product,
    helpers: Vec<Helper>,
    /// The caller's share of a product's panels.
    own_blocks: Mutex<Vec<f32>>,
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team")
            .field("product", &self.product)
            .field("helpers", &self.helpers.len())
            .finish()
    }
}

impl Team {
    /// A team of `threads` threads in all (the caller and `threads - 1` helpers).
    pub fn new(product: Product, threads: usize) -> Self {
        let helpers = (1..threads.max(1))
            .map_while(|_| Helper::spawn(product))
            .collect();
        Self {
            product,
            helpers,
            own_blocks: Mutex::new(Vec::new()),
        }
    }

    /// The products' routine.
    pub fn product(&self) -> Product {
        self.product
    }

    /// Threads that share a product, the caller included.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// `out = init + W x` for one stream, split over the team by panels when the matrix is
    /// large.
    ///
    /// # Panics
    ///
    /// If the lengths disagree.
    pub fn apply(&self, out: &mut [f32], init: &[f32], weights: &Arc<Panels>, x: &[f32]) {
        let mut own_blocks = lock_blocks(&self.own_blocks);
        let count = weights.count();
        if self.helpers.is_empty() || weights.outputs() * weights.inputs() < PARALLEL_MIN_WEIGHTS {
            self.product
                .apply(weights, &[init], x, out, &mut own_blocks);
            return;
        }
        // Runs of whole panels: the caller's first, then one per helper (the last ones may be
        // empty).
        let per_thread = count.div_ceil(self.threads());
        let share =
            |index: usize| (index * per_thread).min(count)..((index + 1) * per_thread).min(count);
        for (index, helper) in self.helpers.iter().enumerate() {
            let panels = share(index + 1);
            if panels.is_empty() {
                break;
            }
            {
                let mut job = lock(&helper.shared.job);
                job.weights = Some(Arc::clone(weights));
                job.x.clear();
                job.x.extend_from_slice(x);
                job.init.clear();
                job.init.extend_from_slice(init);
                job.out.resize(panels.len() * PANEL, 0.0);
                job.panels = panels;
            }
            helper.post();
        }
        let own = share(0);
        own_blocks.resize(own.len() * PANEL, 0.0);
        self.product
            .panels(weights, own.clone(), &[init], x, &mut own_blocks);
        scatter(&own_blocks, own.start, 1, out);
        for (index, helper) in self.helpers.iter().enumerate() {
            let panels = share(index + 1);
            if panels.is_empty() {
                break;
            }
            helper.wait();
            scatter(&lock(&helper.shared.job).out, panels.start, 1, out);
        }
    }
}

fn lock_blocks(blocks: &Mutex<Vec<f32>>) -> MutexGuard<'_, Vec<f32>> {
    // Scratch space only: whatever a panic left in it is overwritten before it is read.
    blocks.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_computes_what_one_thread_computes() {
        let product = Product::new();
        for threads in [1, 2, 3] {
            let team = Team::new(product, threads);
            assert_eq!(team.threads(), threads);
            for (outputs, inputs) in [(5, 3), (2048, 64), (1000, 77)] {
                let weights: Vec<f32> = (0..outputs * inputs)
                    .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.01)
                    .collect();
                let weights = Arc::new(Panels::from_input_major(&[&weights], outputs));
                let x: Vec<f32> = (0..inputs).map(|i| (i % 5) as f32 * 0.1).collect();
                let init: Vec<f32> = (0..outputs).map(|i| i as f32).collect();
                let mut expected = vec![0.0; outputs];
                product.apply(&weights, &[&init], &x, &mut expected, &mut Vec::new());
                // Several rounds: the helpers are reused, awake or parked.
                for round in 0..3 {
                    if round == 2 {
                        std::thread::sleep(SPIN * 3);
                    }
                    let mut got = vec![f32::NAN; outputs];
                    team.apply(&mut got, &init, &weights, &x);
                    assert_eq!(got, expected, "{threads} threads, [{outputs}, {inputs}]");
                }
            }
        }
    }
}
