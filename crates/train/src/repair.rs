//! The repair of runs whose `config.toml` does not describe their weights (older charlstm
//! versions let `train --resume --set model.hidden_size=...` write the new shape into the
//! config while training the old weights).

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use charlstm_model::ModelShape;

use crate::checkpoint::{self, Checkpoint, CheckpointContents};
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::step::adam;
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
}

/// What `charlstm repair RUN` would change: every checkpoint of the run whose config does not
/// describe its weights, and the run's own `config.toml` when it disagrees with the latest
/// weights. Reads only.
pub fn plan_repair(run_dir: &Path) -> Result<Vec<RepairItem>, TrainError> {
    let mut items = Vec::new();
    let mut reference: Option<(ModelShape, usize)> = None;
    for name in ["latest", "best"] {
        let dir = run_dir.join(name);
        if !dir.is_dir() {
            continue;
        }
        let checkpoint = Checkpoint::open_unchecked(&dir)?;
        let shape = weights_shape(&dir, checkpoint.config.model.residual)?;
        let vocab = checkpoint.tokenizer.len();
        reference.get_or_insert((shape, vocab));
        let mismatch = config_mismatch(&checkpoint.config, vocab, &shape);
        if !mismatch.is_empty() {
            items.push(RepairItem {
                path: dir,
                mismatch,
            });
        }
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
        let mismatch = config_mismatch(&config, vocab, &shape);
        if !mismatch.is_empty() {
            items.push(RepairItem {
                path: run_config,
                mismatch,
            });
        }
    }
    Ok(items)
}

/// Rewrites what [`plan_repair`] found: each checkpoint again, atomically, with its config's
/// `model` section taken from its weights (weights, optimizer state, carried state and
/// progress unchanged), and the run's `config.toml` likewise.
pub fn repair(run_dir: &Path, items: &[RepairItem]) -> Result<(), TrainError> {
    // The weights only pass through memory: any CPU backend reads and writes them unchanged.
    let device = Device::flex();
    let mut latest_config = None;
    for item in items {
        if item.path.is_dir() {
            let checkpoint = Checkpoint::open_unchecked(&item.path)?;
            let shape = weights_shape(&item.path, checkpoint.config.model.residual)?;
            let repaired = Checkpoint {
                config: config_for_shape(&checkpoint.config, &shape),
                ..checkpoint
            };
            let model = repaired.load_model(&device)?;
            let optimizer = match repaired.dir.join("optimizer.bpk").is_file() {
                true => Some(repaired.load_optimizer(adam())?),
                false => None,
            };
            let state = repaired.load_state(&device)?;
            let name = item
                .path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("latest")
                .to_string();
            let parent = item.path.parent().unwrap_or(run_dir);
            checkpoint::save(
                parent,
                &name,
                &CheckpointContents {
                    config: &repaired.config,
                    tokenizer: &repaired.tokenizer,
                    model: &model,
                    optimizer: optimizer.as_ref(),
                    state: state.as_ref(),
                    progress: &repaired.progress,
                },
            )?;
            if name == "latest" {
                latest_config = Some(repaired.config.clone());
            }
        }
    }
    for item in items {
        if item.path.is_file() {
            let text = std::fs::read_to_string(&item.path)
                .map_err(|e| TrainError::checkpoint(&item.path, format!("cannot read: {e}")))?;
            let config = RunConfig::from_toml(&text)?;
            let residual = config.model.residual;
            let shape = weights_shape(&run_dir.join("latest"), residual)
                .or_else(|_| weights_shape(&run_dir.join("best"), residual))?;
            let repaired = latest_config
                .clone()
                .unwrap_or_else(|| config_for_shape(&config, &shape));
            checkpoint::write_atomically(&item.path, repaired.to_toml().as_bytes())?;
        }
    }
    Ok(())
}
