//! Writing a checkpoint: every file into a hidden staging directory, synced, with its sha256
//! in `progress.json`, then renamed into place over the previous one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use charlstm_data::{TOKENIZER_FILE, Tokenizer};
use charlstm_model::{CharModel, RecurrentState};

use super::{
    CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, PROGRESS_FILE, Progress, SAFETENSORS_FILE, STATE_FILE,
    TRAINING_FILE, VOCAB_FILE, sha256_hex,
};
use crate::config::RunConfig;
use crate::durable::{sync_dir, write_synced};
use crate::error::TrainError;
use crate::weights_shape::{config_mismatch, describe_mismatch};

/// The files that describe `tokenizer`, by name: `vocab.json` and `tokenizer.json` for a
/// character vocabulary (the first is what charlstm reads, the second is for Hugging Face
/// tooling), `tokenizer.json` alone otherwise.
pub fn tokenizer_files(tokenizer: &Tokenizer) -> Result<Vec<(&'static str, Vec<u8>)>, TrainError> {
    let mut files = Vec::new();
    if let Some(vocab) = tokenizer.characters() {
        files.push((VOCAB_FILE, vocab.to_json().into_bytes()));
    }
    files.push((TOKENIZER_FILE, tokenizer.to_tokenizer_json()?.into_bytes()));
    Ok(files)
}

/// What goes into a checkpoint.
pub struct CheckpointContents<'a> {
    /// Run configuration.
    pub config: &'a RunConfig,
    /// Tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// The model (any device): the weights to sample from, the moving average when the run
    /// keeps one.
    pub model: &'a CharModel,
    /// The trained weights under that average, for resumable checkpoints of runs that keep
    /// one.
    pub training_model: Option<&'a CharModel>,
    /// Optimizer state, for resumable checkpoints.
    pub optimizer: Option<&'a ModuleOptimizer>,
    /// The recurrent state carried into the next chunk, for resumable checkpoints.
    pub state: Option<&'a RecurrentState>,
    /// Where training stands.
    pub progress: &'a Progress,
}

/// Writes checkpoint `name` (e.g. `latest`) into `run_dir`, atomically replacing any previous
/// one. Returns its directory.
pub fn save(
    run_dir: &Path,
    name: &str,
    contents: &CheckpointContents<'_>,
) -> Result<PathBuf, TrainError> {
    let write_error =
        |path: &Path, source: std::io::Error| TrainError::write(path.to_path_buf(), source);
    check_config_fits_weights(contents)?;
    let staging = run_dir.join(format!(".{name}.tmp"));
    let target = run_dir.join(name);
    let previous = run_dir.join(format!(".{name}.old"));

    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| write_error(&staging, e))?;
    }
    std::fs::create_dir_all(&staging).map_err(|e| write_error(&staging, e))?;

    let mut checksums = BTreeMap::new();
    let mut write = |file: &str, bytes: &[u8]| -> Result<(), TrainError> {
        write_synced(&staging.join(file), bytes)?;
        checksums.insert(file.to_string(), sha256_hex(bytes));
        Ok(())
    };
    write(CONFIG_FILE, contents.config.to_toml().as_bytes())?;
    for (file, bytes) in tokenizer_files(contents.tokenizer)? {
        write(file, &bytes)?;
    }
    let weight_bytes = |model: &CharModel| {
        model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| write_error(&staging, std::io::Error::other(e.to_string())))
    };
    write(MODEL_FILE, &weight_bytes(contents.model)?)?;
    if let Some(training) = contents.training_model {
        write(TRAINING_FILE, &weight_bytes(training)?)?;
    }
    write(
        SAFETENSORS_FILE,
        &crate::export::safetensors_bytes(contents.model, contents.tokenizer)?,
    )?;
    if let Some(optimizer) = contents.optimizer {
        let bytes = optimizer
            .into_bytes()
            .map_err(|e| write_error(&staging, std::io::Error::other(e.to_string())))?;
        write(OPTIMIZER_FILE, &bytes)?;
    }
    let mut progress = contents.progress.clone();
    progress.state_shape = None;
    if let Some(state) = contents.state {
        let (shape, bytes) = state_bytes(state)?;
        write(STATE_FILE, &bytes)?;
        progress.state_shape = Some(shape);
    }
    progress.checksums = checksums;
    let progress_json = serde_json::to_string_pretty(&progress).expect("progress serializes");
    write_synced(&staging.join(PROGRESS_FILE), progress_json.as_bytes())?;
    sync_dir(&staging)?;

    if target.exists() {
        if previous.exists() {
            std::fs::remove_dir_all(&previous).map_err(|e| write_error(&previous, e))?;
        }
        std::fs::rename(&target, &previous).map_err(|e| write_error(&target, e))?;
    }
    std::fs::rename(&staging, &target).map_err(|e| write_error(&target, e))?;
    sync_dir(run_dir)?;
    if previous.exists() {
        std::fs::remove_dir_all(&previous).map_err(|e| write_error(&previous, e))?;
    }
    Ok(target)
}

/// The state as `[layers, batch, hidden]` and little-endian f32 bytes, per layer h then c.
fn state_bytes(state: &RecurrentState) -> Result<([usize; 3], Vec<u8>), TrainError> {
    let [batch, hidden] = state.layers.first().map_or([0, 0], |l| l.hidden.dims());
    let mut bytes = Vec::with_capacity(state.layers.len() * 2 * batch * hidden * 4);
    for layer in &state.layers {
        for tensor in [&layer.hidden, &layer.cell] {
            let values: Vec<f32> = tensor.clone().try_into_vec_as().map_err(|e| {
                TrainError::Backend(format!("cannot read the recurrent state: {e}"))
            })?;
            bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        }
    }
    Ok(([state.layers.len(), batch, hidden], bytes))
}

/// The config a checkpoint saves must describe the weights it saves: a mismatch is a bug,
/// caught here before any file is written, never a checkpoint on disk.
fn check_config_fits_weights(contents: &CheckpointContents<'_>) -> Result<(), TrainError> {
    let mismatch = config_mismatch(
        contents.config,
        contents.tokenizer.len(),
        &contents.model.shape(),
    );
    if mismatch.is_empty() {
        return Ok(());
    }
    Err(TrainError::Config(format!(
        "internal error: refusing to write a checkpoint whose config does not describe its weights ({}); please report this",
        describe_mismatch(&mismatch, "the config", "the weights")
    )))
}
