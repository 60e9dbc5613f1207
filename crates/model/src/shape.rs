//! A model's shape as its weights say it, so a config can be checked against the tensors it
//! claims to describe.

use crate::char_model::{CharModel, CharModelConfig};
use crate::recurrent::{CellKind, RecurrentLayer};

/// The shape of a [`CharModel`]: what its weights fix and a resumed run cannot change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelShape {
    /// Tokens the embedding and head cover.
    pub vocab_size: usize,
    /// Width of the token embedding.
    pub embedding_size: usize,
    /// Width of every recurrent layer.
    pub hidden_size: usize,
    /// Recurrent layers per direction.
    pub num_layers: usize,
    /// The recurrent cell.
    pub cell: CellKind,
    /// Whether there is a backward stack.
    pub bidirectional: bool,
    /// Whether a bidirectional model's directions share the head (true for one-way models).
    pub shared_head: bool,
    /// Whether layers above the first add their input to their output.
    pub residual: bool,
}

impl ModelShape {
    /// Every field on which `self` and `other` differ: its name (as in the `model` section of
    /// a run config, or `vocab_size`), `self`'s value and `other`'s.
    pub fn differences(&self, other: &ModelShape) -> Vec<(&'static str, String, String)> {
        let mut found = Vec::new();
        let mut compare = |name: &'static str, mine: String, theirs: String| {
            if mine != theirs {
                found.push((name, mine, theirs));
            }
        };
        compare(
            "vocab_size",
            self.vocab_size.to_string(),
            other.vocab_size.to_string(),
        );
        compare(
            "cell",
            self.cell.name().to_string(),
            other.cell.name().to_string(),
        );
        compare(
            "embedding_size",
            self.embedding_size.to_string(),
            other.embedding_size.to_string(),
        );
        compare(
            "hidden_size",
            self.hidden_size.to_string(),
            other.hidden_size.to_string(),
        );
        compare(
            "num_layers",
            self.num_layers.to_string(),
            other.num_layers.to_string(),
        );
        compare(
            "bidirectional",
            self.bidirectional.to_string(),
            other.bidirectional.to_string(),
        );
        compare(
            "shared_head",
            self.shared_head.to_string(),
            other.shared_head.to_string(),
        );
        compare(
            "residual",
            self.residual.to_string(),
            other.residual.to_string(),
        );
        found
    }
}

impl CharModelConfig {
    /// The shape a model initialised from this config has.
    pub fn shape(&self) -> ModelShape {
        ModelShape {
            vocab_size: self.vocab_size,
            embedding_size: self.embedding_size,
            hidden_size: self.hidden_size,
            num_layers: self.num_layers,
            cell: self.cell,
            bidirectional: self.bidirectional,
            // A one-way model has one head, which its single direction "shares".
            shared_head: self.shared_head || !self.bidirectional,
            residual: self.residual,
        }
    }
}

impl CharModel {
    /// The model's shape, read from its tensors (the embedding's and head's widths, the
    /// recurrent weights' rows, the number of layers and heads), not from any config.
    pub fn shape(&self) -> ModelShape {
        let [vocab_size, embedding_size] = self.embedding.weight.lazy_shape().dims::<2>();
        let first = self
            .layers
            .first()
            .expect("a model has at least one recurrent layer");
        ModelShape {
            vocab_size,
            embedding_size,
            hidden_size: recurrent_rows(first),
            num_layers: self.layers.len(),
            cell: first.cell(),
            bidirectional: self.is_bidirectional(),
            shared_head: self.backward_head.is_none(),
            residual: self.residual,
        }
    }
}

/// Rows of a layer's recurrent weight `W_h`: its hidden size, as the tensor has it.
fn recurrent_rows(layer: &RecurrentLayer) -> usize {
    let weight = match layer {
        RecurrentLayer::Lstm(layer) => &layer.recurrent_weight,
        RecurrentLayer::Gru(layer) => &layer.recurrent_weight,
        RecurrentLayer::Rnn(layer) => &layer.recurrent_weight,
    };
    weight.lazy_shape().dims::<2>()[0]
}
