//! The repair of runs whose `config.toml` does not describe their weights (older charlstm
//! versions let `train --resume --set model.hidden_size=...` write the new shape into the
//! config while training the old weights).

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use charlstm_model::ModelShape;

use crate::checkpoint::{self, Checkpoint, CheckpointContents};
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::optimizer::adam;
use crate::weights_shape::{config_mismatch, weights_shape};

/// `config` with its `model` section made to describe `shape` (dropout and forget bias, which
/// no weight shows, are kept).
pub fn config_for_shape(config: &RunConfig, shape: &ModelShape) -> RunConfig {
    let mut repaired = config.clone();
    let model = &mut repaired.model;
    model.cell = shape.cell;
    model.embedding_size = shape.embedding_size;
    model.hidden_size = shape.hidden_size;
    model.num_layers = shape.num_layers;
    model.bidirectional = shape.bidirectional;
    model.shared_head = shape.shared_head;
    model.residual = shape.residual;
    repaired
}

/// One checkpoint (or the run directory's `config.toml`) a repair rewrites.
#[derive(Debug, Clone)]
pub struct RepairItem {
    /// The checkpoint directory, or the run's `config.toml`.
    pub path: PathBuf,
    /// The differences found: `(key, config's value, weights' value)`.
    pub mismatch: Vec<(String, String, String)>,
    /// The config as it will be written: its `model` section taken from the weights.
    pub repaired: RunConfig,
}

/// What `charlstm repair RUN` would change: every checkpoint of the run whose config does not
/// describe its weights, and the run's own `config.toml` when it disagrees with the latest
/// weights. Reads only.
pub fn plan_repair(run_dir: &Path) -> Result<Vec<RepairItem>, TrainError> {
    let mut items = Vec::new();
    let mut reference: Option<(ModelShape, usize)> = None;
    let mut check = |path: PathBuf, config: &RunConfig, vocab: usize, shape: &ModelShape| {
        let mismatch = config_mismatch(config, vocab, shape);
        if !mismatch.is_empty() {
            items.push(RepairItem {
                path,
                mismatch,
                repaired: config_for_shape(config, shape),
            });
        }
    };
    for name in ["latest", "best"] {
        let dir = run_dir.join(name);
        if !dir.is_dir() {
            continue;
        }
        let checkpoint = Checkpoint::open_unchecked(&dir)?;
        let shape = weights_shape(&dir, checkpoint.config.model.residual)?;
        let vocab = checkpoint.tokenizer.len();
        reference.get_or_insert((shape, vocab));
        check(dir, &checkpoint.config, vocab, &shape);
    }
    let Some((shape, vocab)) = reference else {
        return Err(TrainError::checkpoint(
            run_dir,
            "it has no latest or best checkpoint to repair (give the run directory)",
        ));
    };
    let run_config = run_dir.join("config.toml");
    if let Ok(text) = std::fs::read_to_string(&run_config)
        && let Ok(config) = RunConfig::from_toml(&text)
    {
        check(run_config, &config, vocab, &shape);
    }
    Ok(items)
}

/// Rewrites what [`plan_repair`] found: each checkpoint again, atomically, with its repaired
/// config (weights, optimizer state, carried state and progress unchanged), and the run's
/// `config.toml` through a temporary file renamed over it.
pub fn repair(run_dir: &Path, items: &[RepairItem]) -> Result<(), TrainError> {
    // The weights only pass through memory: any CPU backend reads and writes them unchanged.
    let device = Device::flex();
    for item in items {
        if !item.path.is_dir() {
            checkpoint::write_atomically(&item.path, item.repaired.to_toml().as_bytes())?;
            continue;
        }
        let repaired = Checkpoint {
            config: item.repaired.clone(),
            ..Checkpoint::open_unchecked(&item.path)?
        };
        let model = repaired.load_model(&device)?;
        let training_model = match repaired.has_training_weights() {
            true => Some(repaired.load_training_model(&device)?),
            false => None,
        };
        let optimizer = match repaired.dir.join("optimizer.bpk").is_file() {
            true => Some(repaired.load_optimizer(adam(&item.repaired.train))?),
            false => None,
        };
        let state = repaired.load_state(&device)?;
        let name = item
            .path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("latest");
        checkpoint::save(
            item.path.parent().unwrap_or(run_dir),
            name,
            &CheckpointContents {
                config: &repaired.config,
                tokenizer: &repaired.tokenizer,
                model: &model,
                training_model: training_model.as_ref(),
                optimizer: optimizer.as_ref(),
                state: state.as_ref(),
                progress: &repaired.progress,
            },
        )?;
    }
    Ok(())
}
