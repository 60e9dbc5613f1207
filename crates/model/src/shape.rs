//! A model's shape as its weights say it, so a config can be checked against the tensors it
//! claims to describe.

use crate::char_model::CharModel;
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
        let fields = |shape: &ModelShape| {
            [
                ("vocab_size", shape.vocab_size.to_string()),
                ("cell", shape.cell.name().to_string()),
                ("embedding_size", shape.embedding_size.to_string()),
                ("hidden_size", shape.hidden_size.to_string()),
                ("num_layers", shape.num_layers.to_string()),
                ("bidirectional", shape.bidirectional.to_string()),
                ("shared_head", shape.shared_head.to_string()),
                ("residual", shape.residual.to_string()),
            ]
        };
        fields(self)
            .into_iter()
            .zip(fields(other))
            .filter(|((_, mine), (_, theirs))| mine != theirs)
            .map(|((name, mine), (_, theirs))| (name, mine, theirs))
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use burn::prelude::Device;

    #[test]
    fn a_model_has_the_shape_of_its_config_read_from_its_tensors() {
        let device = Device::flex();
        let configs = [
            (11, ModelConfig::default()),
            (
                7,
                ModelConfig {
                    cell: CellKind::Gru,
                    num_layers: 3,
                    hidden_size: 12,
                    embedding_size: 5,
                    ..ModelConfig::default()
                },
            ),
            (
                9,
                ModelConfig {
                    cell: CellKind::Rnn,
                    bidirectional: true,
                    shared_head: false,
                    hidden_size: 6,
                    residual: true,
                    ..ModelConfig::default()
                },
            ),
        ];
        for (vocab_size, config) in configs {
            let model = config.init(vocab_size, &device);
            assert_eq!(model.shape(), config.shape(vocab_size), "{config:?}");
        }
    }

    #[test]
    fn differences_name_each_changed_field_with_both_values() {
        let shape = ModelConfig::default().shape(11);
        let other = ModelShape {
            hidden_size: 32,
            cell: CellKind::Gru,
            ..shape
        };
        assert_eq!(
            shape.differences(&other),
            vec![
                ("cell", "lstm".to_string(), "gru".to_string()),
                ("hidden_size", "512".to_string(), "32".to_string()),
            ]
        );
        assert!(shape.differences(&shape).is_empty());
    }
}
