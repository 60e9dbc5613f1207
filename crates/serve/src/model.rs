//! The model the server loaded once, and the bounded pool its generations run on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use burn::prelude::Device;
use charlstm_data::Tokenizer;
use charlstm_model::CharModel;
use rayon::{ThreadPool, ThreadPoolBuilder};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// A loaded character model and what the API says of it.
pub struct ServedModel {
    /// The inference model (no autodiff) on `device`.
    pub model: CharModel,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Where it runs.
    pub device: Device,
    /// The id `GET /v1/models` lists and requests name.
    pub id: String,
    /// When it was loaded, Unix seconds.
    pub created: u64,
}

/// At most `workers` generations at once; the rest wait their turn. Each generation runs on its
/// own share of the cores (the cores divided by `workers`, at least one thread), so that
/// generations side by side never have more threads than cores. Counts the generations running,
/// for `GET /health`.
#[derive(Clone)]
pub struct Pool {
    permits: Arc<Semaphore>,
    running: Arc<AtomicUsize>,
    idle_threads: Arc<Mutex<Vec<ThreadPool>>>,
}

/// A place in the pool, held while one generation runs, with the threads it runs on.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    running: Arc<AtomicUsize>,
    threads: Option<ThreadPool>,
    idle_threads: Arc<Mutex<Vec<ThreadPool>>>,
}

impl Slot {
    /// Runs `job` on this place's threads (the stepper splits its products over them).
    pub fn run<R: Send>(&self, job: impl FnOnce() -> R + Send) -> R {
        match &self.threads {
            Some(threads) => threads.install(job),
            None => job(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(threads) = self.threads.take() {
            lock(&self.idle_threads).push(threads);
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    /// A pool running `workers` generations at once (at least one), sharing `cores` cores.
    pub fn new(workers: usize, cores: usize) -> Self {
        let workers = workers.max(1);
        let share = (cores / workers).max(1);
        // A worker whose threads cannot be made runs on the caller's (rayon's global pool).
        let idle_threads = (0..workers)
            .filter_map(|_| ThreadPoolBuilder::new().num_threads(share).build().ok())
            .collect();
        Self {
            permits: Arc::new(Semaphore::new(workers)),
            running: Arc::new(AtomicUsize::new(0)),
            idle_threads: Arc::new(Mutex::new(idle_threads)),
        }
    }

    /// Waits for a place.
    pub async fn slot(&self) -> Result<Slot, ApiError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| {
            ApiError::with_status(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "the server is shutting down",
            )
        })?;
        self.running.fetch_add(1, Ordering::SeqCst);
        Ok(Slot {
            _permit: permit,
            running: self.running.clone(),
            threads: lock(&self.idle_threads).pop(),
            idle_threads: self.idle_threads.clone(),
        })
    }

    /// Generations running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }
}
