//! The model the server loaded once, and the bounded pool its generations run on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::Device;
use charlstm_data::Tokenizer;
use charlstm_model::CharModel;
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

/// At most `workers` generations at once; the rest wait their turn. Counts the generations
/// running, for `GET /health`.
#[derive(Clone)]
pub struct Pool {
    permits: Arc<Semaphore>,
    running: Arc<AtomicUsize>,
}

/// A place in the pool, held while one generation runs.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    running: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Pool {
    /// A pool running `workers` generations at once (at least one).
    pub fn new(workers: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(workers.max(1))),
            running: Arc::new(AtomicUsize::new(0)),
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
        })
    }

    /// Generations running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }
}
