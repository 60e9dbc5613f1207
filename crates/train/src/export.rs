//! `charlstm export`: a model's weights as safetensors under the names and layouts of the
//! equivalent PyTorch model, so that
//!
//! ```python
//! embedding = nn.Embedding(V, E); lstm = nn.LSTM(E, H, num_layers=L); head = nn.Linear(H, V)
//! ```
//!
//! (or `gru = nn.GRU(...)`, `rnn = nn.RNN(...)`; with `model.residual`, one module per layer
//! and the input added to each output above the first) loaded with them (`embedding.weight`,
//! `lstm.weight_ih_l0`, …, `head.weight`, `head.bias`) computes the same logits. PyTorch keeps
//! `weight_ih = W_xᵀ`, `weight_hh = W_hᵀ` (gates i, f, g, o for the LSTM and r, z, n for the
//! GRU, as ours) and a `Linear` weight `[out, in]`, the transpose of Burn's. Our LSTM and RNN
//! have one bias, PyTorch's sum of two, so `bias_hh` is written as zeros; the GRU has both, as
//! PyTorch. The cell, vocabulary and shape go into the file's metadata. A bidirectional model's
//! backward stack goes out as `backward_lstm.*` (and its own head, if any, as `backward_head.*`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;
use charlstm_data::Tokenizer;
use charlstm_model::{CellKind, CharModel, RecurrentLayer};
use safetensors::tensor::{Dtype, TensorView};

use crate::error::TrainError;

/// One exported tensor: PyTorch name, shape, row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// The name in PyTorch's `state_dict`.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

fn read<const D: usize>(param: &Param<Tensor<D>>) -> Result<Vec<f32>, TrainError> {
    param
        .val()
        .try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Backend(format!("cannot read the weights: {e:?}")))
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// The model's weights under PyTorch's names and layouts.
pub fn pytorch_tensors(model: &CharModel) -> Result<Vec<NamedTensor>, TrainError> {
    let tensor = |name: String, shape: Vec<usize>, values: Vec<f32>| NamedTensor {
        name,
        shape,
        values,
    };
    let [vocab, embedding_size] = model.embedding.weight.dims();
    let mut tensors = vec![tensor(
        "embedding.weight".into(),
        vec![vocab, embedding_size],
        read(&model.embedding.weight)?,
    )];
    // A bidirectional model's backward stack (and head, if it has its own) go under the same
    // names with a `backward_` prefix: it is a second language model over the reversed text,
    // not the `_reverse` half of a bidirectional `nn.LSTM` layer.
    let stacks = [("", &model.layers), ("backward_", &model.backward_layers)];
    for (direction, layers) in stacks {
        for (index, layer) in layers.iter().enumerate() {
            // (W_x, W_h, bias_ih, bias_hh) of the layer; PyTorch's weights are W_xᵀ and W_hᵀ.
            let (input_weight, recurrent_weight, bias_ih, bias_hh) = match layer {
                RecurrentLayer::Lstm(lstm) => {
                    let bias = read(&lstm.bias)?;
                    let recurrent_bias = match &lstm.recurrent_bias {
                        Some(recurrent_bias) => read(recurrent_bias)?,
                        None => vec![0.0; bias.len()],
                    };
                    (
                        &lstm.input_weight,
                        &lstm.recurrent_weight,
                        bias,
                        recurrent_bias,
                    )
                }
                RecurrentLayer::Gru(gru) => (
                    &gru.input_weight,
                    &gru.recurrent_weight,
                    read(&gru.input_bias)?,
                    read(&gru.recurrent_bias)?,
                ),
                RecurrentLayer::Rnn(rnn) => {
                    let bias = read(&rnn.bias)?;
                    let zeros = vec![0.0; bias.len()];
                    (&rnn.input_weight, &rnn.recurrent_weight, bias, zeros)
                }
            };
            let prefix = format!("{direction}{}", layer.cell().name());
            let [input_size, gate_width] = input_weight.dims();
            let hidden = layer.hidden_size();
            tensors.push(tensor(
                format!("{prefix}.weight_ih_l{index}"),
                vec![gate_width, input_size],
                transpose(&read(input_weight)?, input_size, gate_width),
            ));
            tensors.push(tensor(
                format!("{prefix}.weight_hh_l{index}"),
                vec![gate_width, hidden],
                transpose(&read(recurrent_weight)?, hidden, gate_width),
            ));
            tensors.push(tensor(
                format!("{prefix}.bias_ih_l{index}"),
                vec![gate_width],
                bias_ih,
            ));
            tensors.push(tensor(
                format!("{prefix}.bias_hh_l{index}"),
                vec![gate_width],
                bias_hh,
            ));
        }
    }
    let heads = [
        ("head", Some(&model.head)),
        ("backward_head", model.backward_head.as_ref()),
    ];
    for (name, head) in heads {
        let Some(head) = head else { continue };
        let [top, _] = head.weight.dims();
        tensors.push(tensor(
            format!("{name}.weight"),
            vec![vocab, top],
            transpose(&read(&head.weight)?, top, vocab),
        ));
        let bias = match &head.bias {
            Some(bias) => read(bias)?,
            None => vec![0.0; vocab],
        };
        tensors.push(tensor(format!("{name}.bias"), vec![vocab], bias));
    }
    Ok(tensors)
}

/// Writes `model` as a safetensors file at `out` (see [`safetensors_bytes`]).
pub fn export_safetensors(
    model: &CharModel,
    tokenizer: &Tokenizer,
    out: &Path,
) -> Result<(), TrainError> {
    crate::durable::write_synced(out, &safetensors_bytes(model, tokenizer)?)
}

/// Writes `<out without extension>.reference.json` beside an export: a fixed sequence of
/// `length` token ids (at least one) and the logits `model` (on `device`) gives for each, so a
/// program loading the export can check it computes the same. Returns the file's path.
pub fn write_reference_logits(
    model: &CharModel,
    length: usize,
    out: &Path,
    device: &Device,
) -> Result<PathBuf, TrainError> {
    let vocab_size = model.vocab_size() as i64;
    let ids: Vec<i64> = (0..length.max(1) as i64)
        .map(|i| (i * 7 + i / vocab_size) % vocab_size)
        .collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [1, ids.len()]), device);
    let logits: Vec<f32> = model
        .valid()
        .forward(tokens, None)
        .0
        .try_into_vec_as()
        .map_err(|e| TrainError::Config(format!("cannot read logits: {e}")))?;
    let rows: Vec<&[f32]> = logits.chunks(vocab_size as usize).collect();
    let path = out.with_extension("reference.json");
    let json = serde_json::json!({ "tokens": ids, "logits": rows });
    crate::durable::write_synced(&path, json.to_string().as_bytes())?;
    Ok(path)
}

/// `model` as a safetensors file under PyTorch's names, with the cell (`lstm`, `gru`, `rnn`),
/// the shape and the tokens in its metadata: `vocab`, a JSON list of characters (index = token id), for a character
/// vocabulary; `tokenizer`, the whole `tokenizer.json`, otherwise.
pub fn safetensors_bytes(model: &CharModel, tokenizer: &Tokenizer) -> Result<Vec<u8>, TrainError> {
    let tensors = pytorch_tensors(model)?;
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|view| (t.name.clone(), view))
                .map_err(|e| TrainError::Backend(format!("cannot export {}: {e}", t.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let layers = model.layers.len();
    let hidden = model.layers.first().map_or(0, |l| l.hidden_size());
    let cell = model
        .layers
        .first()
        .map_or(CellKind::default(), RecurrentLayer::cell);
    let mut metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("producer".to_string(), "charlstm".to_string()),
        ("cell".to_string(), cell.name().to_string()),
        (
            "bidirectional".to_string(),
            model.is_bidirectional().to_string(),
        ),
        ("residual".to_string(), model.residual.to_string()),
        ("num_layers".to_string(), layers.to_string()),
        ("hidden_size".to_string(), hidden.to_string()),
        (
            "embedding_size".to_string(),
            model.embedding.weight.dims()[1].to_string(),
        ),
    ]);
    match tokenizer.characters() {
        Some(vocab) => {
            let mut chars: Vec<String> = vocab.chars().iter().map(|c| c.to_string()).collect();
            // The unknown token of a size-limited vocabulary decodes to U+FFFD.
            if vocab.unknown_id().is_some() {
                chars.push(char::REPLACEMENT_CHARACTER.to_string());
            }
            metadata.insert(
                "vocab".to_string(),
                serde_json::to_string(&chars).expect("strings serialize"),
            );
        }
        None => {
            metadata.insert("tokenizer".to_string(), tokenizer.to_tokenizer_json()?);
        }
    }
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| TrainError::Backend(format!("cannot serialize the weights: {e}")))
}

#[cfg(test)]
mod tests;
