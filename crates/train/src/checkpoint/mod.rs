//! Checkpoints: self-describing directories that load on any backend.
//!
//! ```text
//! RUN_DIR/
//!   latest/            the most recent checkpoint
//!     config.toml      the resolved run configuration
//!     vocab.json       the character vocabulary (absent when a tokenizer.json was given)
//!     tokenizer.json   the tokens as a Hugging Face tokenizer (the character vocabulary as
//!                      one, or the tokenizer.json the run was given)
//!     model.bpk        weights (Burn's burnpack format; backend-independent): the moving
//!                      average of the weights when the run keeps one (`train.ema_decay`)
//!     model.safetensors  the same weights under PyTorch's names (see `charlstm export`)
//!     training.bpk     the trained weights under the average, for resuming (only with
//!                      `train.ema_decay`)
//!     optimizer.bpk    Adam's moments and step count, for resuming
//!     state.bin        the recurrent state carried into the next chunk (little-endian f32,
//!                      per layer h then c), absent at the start of an epoch
//!     progress.json    format version, step, epoch, position in the epoch, losses, and the
//!                      sha256 of every other file
//!   best/              the checkpoint with the lowest validation loss (no optimizer or state)
//! ```
//!
//! With the weights, the optimizer, the data position and the carried state saved, and the
//! dropout masks seeded by the step number, a resumed run takes exactly the steps the
//! uninterrupted run would have.
//!
//! A checkpoint is written into a hidden temporary directory, every file synced, and only
//! then renamed into place; the previous one is kept as `.NAME.old` until the swap is done, so
//! a crash at any moment leaves a complete checkpoint behind. Opening one checks every file
//! against its sha256, so a truncated or altered file is reported, not loaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::store::ModuleRecord;
use charlstm_data::quiet_panic::catch_quietly;
use charlstm_data::{TOKENIZER_FILE, Tokenizer, Vocabulary};
use charlstm_model::{CharModel, LayerState, RecurrentState};
use sha2::{Digest, Sha256};

use crate::config::RunConfig;
pub use crate::durable::{write_atomically, write_synced};
use crate::error::TrainError;
use crate::progress::{FORMAT_VERSION, Progress};
use crate::weights_shape::{config_mismatch, describe_mismatch, weights_shape};

mod save;

pub use save::{CheckpointContents, save, tokenizer_files};

const CONFIG_FILE: &str = "config.toml";
const VOCAB_FILE: &str = "vocab.json";
const MODEL_FILE: &str = "model.bpk";
const SAFETENSORS_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const TRAINING_FILE: &str = "training.bpk";
const STATE_FILE: &str = "state.bin";
const PROGRESS_FILE: &str = "progress.json";

/// A checkpoint directory read from disk (weights are loaded on demand).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// The run configuration it was trained with.
    pub config: RunConfig,
    /// Its tokenizer (the character vocabulary, or the tokenizer.json it was given).
    pub tokenizer: Tokenizer,
    /// Where training stood.
    pub progress: Progress,
}

impl Checkpoint {
    /// Opens the checkpoint at `path`: a checkpoint directory, or a run directory (its `best`
    /// checkpoint, else its `latest`).
    pub fn open(path: &Path) -> Result<Self, TrainError> {
        let checkpoint = Self::open_unchecked(path)?;
        checkpoint.check_config_describes_weights()?;
        Ok(checkpoint)
    }

    /// Opens the checkpoint at `path` like [`Checkpoint::open`], without checking that its
    /// config describes its weights (for `charlstm repair`).
    pub fn open_unchecked(path: &Path) -> Result<Self, TrainError> {
        let dir = resolve(path)?;
        let config_text = std::fs::read_to_string(dir.join(CONFIG_FILE))
            .map_err(|e| TrainError::checkpoint(&dir, format!("cannot read {CONFIG_FILE}: {e}")))?;
        let config = RunConfig::from_toml(&config_text)
            .map_err(|e| TrainError::checkpoint(&dir, format!("bad {CONFIG_FILE}: {e}")))?;
        let tokenizer = load_tokenizer(&dir)?;
        let progress_text = std::fs::read_to_string(dir.join(PROGRESS_FILE)).map_err(|e| {
            TrainError::checkpoint(&dir, format!("cannot read {PROGRESS_FILE}: {e}"))
        })?;
        // The version first, so an older layout is named as such rather than as a parse error.
        let version = serde_json::from_str::<serde_json::Value>(&progress_text)
            .ok()
            .and_then(|v| v.get("format_version").and_then(|v| v.as_u64()));
        if let Some(version) = version
            && version != u64::from(FORMAT_VERSION)
        {
            return Err(TrainError::checkpoint(
                &dir,
                format!(
                    "it has format version {version}, this charlstm reads version {FORMAT_VERSION} (use the charlstm version that wrote it, or start a new run)"
                ),
            ));
        }
        let progress: Progress = serde_json::from_str(&progress_text).map_err(|e| {
            TrainError::checkpoint(
                &dir,
                format!("{PROGRESS_FILE} is damaged ({e}); resume from another checkpoint or start a new run"),
            )
        })?;
        verify_checksums(&dir, &progress.checksums)?;
        Ok(Self {
            dir,
            config,
            tokenizer,
            progress,
        })
    }

    /// Fails, naming every difference and the fix, when the config does not describe the
    /// weights (as older versions could leave a run resumed with a new model shape).
    fn check_config_describes_weights(&self) -> Result<(), TrainError> {
        if !self.dir.join(SAFETENSORS_FILE).is_file() {
            return Ok(());
        }
        let weights = weights_shape(&self.dir, self.config.model.residual)?;
        let mismatch = config_mismatch(&self.config, self.tokenizer.len(), &weights);
        if mismatch.is_empty() {
            return Ok(());
        }
        let run = self.dir.parent().unwrap_or(&self.dir);
        Err(TrainError::checkpoint(
            &self.dir,
            format!(
                "its config.toml does not describe its weights ({}), as a `train --resume` with a new model shape left runs before charlstm refused it; fix it with: charlstm repair {}",
                describe_mismatch(&mismatch, "config.toml", "the weights"),
                run.display()
            ),
        ))
    }

    /// The model with this checkpoint's weights, on `device`: what sampling, evaluation and
    /// export use (the moving average of the weights, when the run keeps one).
    pub fn load_model(&self, device: &Device) -> Result<CharModel, TrainError> {
        self.load_weights(MODEL_FILE, device)
    }

    /// The weights training continues from, on `device`: the trained weights under the
    /// average when the run keeps one, else the same as [`Self::load_model`].
    pub fn load_training_model(&self, device: &Device) -> Result<CharModel, TrainError> {
        if self.has_training_weights() {
            self.load_weights(TRAINING_FILE, device)
        } else {
            self.load_model(device)
        }
    }

    /// Whether the checkpoint holds trained weights beside its averaged ones (`latest/` of a
    /// run that keeps an average; never `best/`).
    pub fn has_training_weights(&self) -> bool {
        self.dir.join(TRAINING_FILE).is_file()
    }

    fn load_weights(&self, file: &str, device: &Device) -> Result<CharModel, TrainError> {
        let path = self.dir.join(file);
        let model = self.config.model.init(self.tokenizer.len(), device);
        let malformed = |panic: String| {
            TrainError::checkpoint(
                &path,
                format!("cannot read weights: they are malformed ({panic})"),
            )
        };
        // Burn's reader panics on some malformed files rather than failing.
        let record = catch_quietly(|| ModuleRecord::load(&path))
            .map_err(malformed)?
            .map_err(|e| TrainError::checkpoint(&path, format!("cannot read weights: {e}")))?;
        // Checkpoints written before LSTM layers had PyTorch's second (recurrent) bias hold
        // one bias per layer: they load into layers without one, computing what they did.
        let legacy = model.clone().without_lstm_recurrent_biases();
        catch_quietly(|| {
            model.try_load_record(record.clone()).or_else(|e| {
                legacy.try_load_record(record).map_err(|_| {
                    TrainError::checkpoint(&path, format!("weights do not fit the config: {e}"))
                })
            })
        })
        .map_err(malformed)?
    }

    /// The recurrent state the run carried into its next chunk, on `device` (`None` at the
    /// start of an epoch).
    pub fn load_state(&self, device: &Device) -> Result<Option<RecurrentState>, TrainError> {
        let Some([layers, batch, hidden]) = self.progress.state_shape else {
            return Ok(None);
        };
        let path = self.dir.join(STATE_FILE);
        let bytes = std::fs::read(&path)
            .map_err(|e| TrainError::checkpoint(&path, format!("cannot read: {e}")))?;
        let block = batch * hidden;
        // Checked: the shape comes from a file, and a damaged one must not wrap around.
        let expected = [layers, 2, batch, hidden, 4]
            .iter()
            .try_fold(1usize, |product, &factor| product.checked_mul(factor));
        if expected != Some(bytes.len()) {
            return Err(TrainError::checkpoint(
                &path,
                format!(
                    "holds {} bytes, not the 4·2·{layers}·{batch}·{hidden} of a [{layers}, {batch}, {hidden}] state",
                    bytes.len(),
                ),
            ));
        }
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let tensor = |offset: usize| {
            Tensor::<2>::from_data(
                TensorData::new(values[offset..offset + block].to_vec(), [batch, hidden]),
                device,
            )
        };
        let layers = (0..layers)
            .map(|layer| LayerState {
                hidden: tensor(2 * layer * block),
                cell: tensor((2 * layer + 1) * block),
            })
            .collect();
        Ok(Some(RecurrentState { layers }))
    }

    /// `optimizer` with this checkpoint's saved state, if it has one.
    pub fn load_optimizer(
        &self,
        optimizer: ModuleOptimizer,
    ) -> Result<ModuleOptimizer, TrainError> {
        let path = self.dir.join(OPTIMIZER_FILE);
        if !path.exists() {
            return Err(TrainError::checkpoint(
                &self.dir,
                "it holds no optimizer state (resume from a run's latest checkpoint)",
            ));
        }
        // Burn's reader panics on some malformed records rather than failing.
        catch_quietly(|| optimizer.load(&path))
            .map_err(|panic| {
                TrainError::checkpoint(
                    &path,
                    format!("cannot read optimizer state: it is malformed ({panic})"),
                )
            })?
            .map_err(|e| TrainError::checkpoint(&path, format!("cannot read optimizer state: {e}")))
    }
}

/// The checkpoint directory `path` refers to.
pub fn resolve(path: &Path) -> Result<PathBuf, TrainError> {
    if !path.exists() {
        return Err(TrainError::checkpoint(
            path,
            "no such directory (give a run directory or a checkpoint inside one)",
        ));
    }
    if is_checkpoint(path) {
        return Ok(path.to_path_buf());
    }
    ["best", "latest", ".best.old", ".latest.old"]
        .iter()
        .map(|name| path.join(name))
        .find(|candidate| is_checkpoint(candidate))
        .ok_or_else(|| {
            TrainError::checkpoint(
                path,
                format!("no checkpoint found (expected {MODEL_FILE}, or best/ or latest/ inside a run directory)"),
            )
        })
}

/// The latest checkpoint of a run directory, for resuming.
pub fn latest_in(run_dir: &Path) -> Option<PathBuf> {
    ["latest", ".latest.old"]
        .iter()
        .map(|name| run_dir.join(name))
        .find(|candidate| is_checkpoint(candidate))
}

/// The tokenizer saved in `dir`: its character vocabulary if it has one, else its
/// `tokenizer.json`.
fn load_tokenizer(dir: &Path) -> Result<Tokenizer, TrainError> {
    let vocab_path = dir.join(VOCAB_FILE);
    let result = if vocab_path.is_file() || !dir.join(TOKENIZER_FILE).is_file() {
        Vocabulary::load(&vocab_path).map(Tokenizer::Characters)
    } else {
        Tokenizer::from_file(&dir.join(TOKENIZER_FILE))
    };
    result.map_err(|e| TrainError::checkpoint(dir, e.to_string()))
}

fn is_checkpoint(dir: &Path) -> bool {
    dir.join(MODEL_FILE).is_file() && dir.join(PROGRESS_FILE).is_file()
}

/// The sha256 of `bytes` in lowercase hex, as `progress.json` records each file's.
pub fn sha256_hex(bytes: &[u8]) -> String {
    charlstm_data::files::hex(&Sha256::digest(bytes))
}

/// Fails with a one-line message naming the first file of `dir` that is missing or whose
/// sha256 differs from the one recorded when it was written.
fn verify_checksums(dir: &Path, checksums: &BTreeMap<String, String>) -> Result<(), TrainError> {
    for (file, expected) in checksums {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).map_err(|e| {
            TrainError::checkpoint(
                dir,
                format!("is incomplete: cannot read {file} ({e}); resume from another checkpoint or start a new run"),
            )
        })?;
        if &sha256_hex(&bytes) != expected {
            return Err(TrainError::checkpoint(
                dir,
                format!(
                    "{file} is damaged (truncated or changed: its sha256 does not match the one written with it); resume from another checkpoint or start a new run"
                ),
            ));
        }
    }
    Ok(())
}
