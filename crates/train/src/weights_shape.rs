//! A checkpoint's model shape as its weights have it, and where its config disagrees.

use std::path::Path;

use charlstm_model::{CellKind, ModelShape};

use crate::config::RunConfig;
use crate::error::TrainError;

/// The file whose tensor shapes tell a checkpoint's model shape.
const WEIGHTS_FILE: &str = "model.safetensors";

/// The shape of the model saved in checkpoint directory `dir`, read from the tensors of its
/// `model.safetensors` (PyTorch's names: `embedding.weight`, `lstm.weight_hh_l0`, ...) and
/// the `residual` entry of its metadata, which no tensor shows (`residual_if_unknown` when
/// the file has none).
pub fn weights_shape(dir: &Path, residual_if_unknown: bool) -> Result<ModelShape, TrainError> {
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path)
        .map_err(|e| TrainError::checkpoint(&path, format!("cannot read: {e}")))?;
    let bad = |reason: String| TrainError::checkpoint(&path, reason);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let tensors = header.tensors();
    let shape_of = |name: &str| tensors.get(name).map(|info| info.shape.clone());
    let [vocab_size, embedding_size] = shape_of("embedding.weight")
        .and_then(|shape| <[usize; 2]>::try_from(shape).ok())
        .ok_or_else(|| bad("it has no 2-D embedding.weight".into()))?;
    let cell = [CellKind::Lstm, CellKind::Gru, CellKind::Rnn]
        .into_iter()
        .find(|cell| tensors.contains_key(&format!("{}.weight_hh_l0", cell.name())))
        .ok_or_else(|| bad("it has no recurrent layer (lstm/gru/rnn.weight_hh_l0)".into()))?;
    let layers_of = |prefix: &str| {
        (0..)
            .take_while(|index| tensors.contains_key(&format!("{prefix}.weight_hh_l{index}")))
            .count()
    };
    let num_layers = layers_of(cell.name());
    let hidden_size = shape_of(&format!("{}.weight_hh_l0", cell.name()))
        .and_then(|shape| shape.get(1).copied())
        .ok_or_else(|| bad("its weight_hh_l0 is not 2-D".into()))?;
    let bidirectional = layers_of(&format!("backward_{}", cell.name())) > 0;
    let residual = header
        .metadata()
        .as_ref()
        .and_then(|metadata| metadata.get("residual"))
        .map_or(residual_if_unknown, |value| value == "true");
    Ok(ModelShape {
        vocab_size,
        embedding_size,
        hidden_size,
        num_layers,
        cell,
        bidirectional,
        shared_head: !tensors.contains_key("backward_head.weight"),
        residual,
    })
}

/// Where a checkpoint's config and weights disagree: `(key, config's value, weights' value)`
/// with `model.` keys, plus `vocab_size` against the tokenizer. Empty when they agree.
pub fn config_mismatch(
    config: &RunConfig,
    vocab_size: usize,
    weights: &ModelShape,
) -> Vec<(String, String, String)> {
    config
        .model
        .shape(vocab_size)
        .differences(weights)
        .into_iter()
        .map(|(key, config, weights)| {
            let key = if key == "vocab_size" {
                "the vocabulary size".to_string()
            } else {
                format!("model.{key}")
            };
            (key, config, weights)
        })
        .collect()
}

/// `mismatch` in words: `model.hidden_size = 32 in config.toml, 16 in the weights, ...`, the
/// config named `config_name` and the shape it is compared with `weights_name`.
pub fn describe_mismatch(
    mismatch: &[(String, String, String)],
    config_name: &str,
    weights_name: &str,
) -> String {
    mismatch
        .iter()
        .map(|(key, config, weights)| {
            format!("{key} = {config} in {config_name}, {weights} in {weights_name}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}
