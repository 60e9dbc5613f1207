//! The training crate's error type. Every message is one line that names the problem and the
//! fix.

use std::path::PathBuf;

use charlstm_data::DataError;

/// Anything that can stop a run, an evaluation or a generation.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(String),
    /// The corpus could not be found, read or batched.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The requested backend cannot run here.
    #[error("{0}")]
    Backend(String),
    /// A checkpoint could not be read.
    #[error("checkpoint '{path}': {reason}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Writing a checkpoint or run file failed.
    #[error(
        "cannot write '{path}': {cause} (check the output directory is writable and the disk has room)"
    )]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The underlying error (in the message, so the line is complete on its own).
        cause: std::io::Error,
    },
    /// The run directory already holds a run.
    #[error(
        "run directory '{0}' already has a checkpoint (use --resume to continue it, or --out for a new run)"
    )]
    RunExists(PathBuf),
    /// Training diverged.
    #[error(
        "training diverged at step {step}: loss {loss:.4e}, gradient norm {grad_norm:.4e}; the weights before it are saved in '{}' (resume with a lower train.learning_rate, or set train.skip_nonfinite=true to skip such steps)",
        checkpoint.display()
    )]
    NonFinite {
        /// The step whose loss or gradient was not finite.
        step: usize,
        /// Its loss.
        loss: f32,
        /// Its gradient norm before clipping.
        grad_norm: f32,
        /// The checkpoint written with the weights before that step.
        checkpoint: PathBuf,
    },
    /// Sampling arguments are invalid.
    #[error("{0}")]
    Sampling(String),
    /// A resumed run was given a value its checkpoint fixes (the model's shape, the
    /// tokenizer); refused before anything is written.
    #[error("{0}")]
    ResumeRefused(String),
}

impl TrainError {
    /// A [`TrainError::Write`] for `path`.
    pub fn write(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Self::Write {
            path: path.into(),
            cause,
        }
    }

    /// A [`TrainError::Checkpoint`] for `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
