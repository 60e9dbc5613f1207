//! Wires data and model together: the run configuration, backend selection, the training loop
//! (truncated BPTT with carried state, Adam, global gradient-norm clipping, a learning-rate
//! schedule, periodic validation), evaluation, text generation and checkpoints.

pub mod averaging;
pub mod backend;
pub mod beam;
pub mod benchmark;
pub mod checkpoint;
pub mod chunks;
pub mod clip;
pub mod config;
pub mod durable;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod fill;
pub mod generate;
pub mod init_from;
pub mod inspect;
pub mod log_probs;
pub mod metrics;
pub mod observer;
pub mod optimizer;
pub mod plot;
pub mod progress;
pub mod repair;
pub mod resume;
pub mod run_dir;
pub mod schedule;
pub mod score;
pub mod setup;
pub mod step;
pub mod stop;
pub mod tensors;
pub mod text_file;
pub mod trainer;
pub mod weights_shape;

pub use backend::BackendKind;
pub use checkpoint::Checkpoint;
pub use config::RunConfig;
pub use error::TrainError;
pub use observer::{TrainEvent, TrainObserver};
pub use progress::Progress;
pub use trainer::{TrainOptions, TrainSummary, train};
