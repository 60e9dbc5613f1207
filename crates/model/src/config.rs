//! The `[model]` section of a run's configuration: the network's shape and regularisation,
//! and the model it initialises.

use burn::nn::{DropoutConfig, EmbeddingConfig, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::char_model::CharModel;
use crate::recurrent::{CellKind, RecurrentLayer};
use crate::regularization::Regularization;
use crate::shape::ModelShape;

/// The network's shape (the vocabulary comes from the corpus).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Recurrent cell: `lstm`, `gru` or `rnn`, with PyTorch's equations.
    pub cell: CellKind,
    /// Width of the token embedding.
    pub embedding_size: usize,
    /// Width of each recurrent layer.
    pub hidden_size: usize,
    /// Number of stacked recurrent layers.
    pub num_layers: usize,
    /// Dropout probability on the output of every layer but the last (PyTorch's `nn.LSTM`
    /// convention), applied only while training, in `[0, 1)`.
    pub dropout: f64,
    /// Also apply `dropout` to the top layer's output, before the head (char-rnn's
    /// convention; the only dropout a one-layer model can have).
    pub output_dropout: bool,
    /// Keep one `dropout` mask per stream and feature over a chunk's steps (variational
    /// dropout) instead of a new one at every step.
    pub locked_dropout: bool,
    /// Locked dropout on the embedding's output, the bottom layer's input, in `[0, 1)`.
    pub input_dropout: f64,
    /// Probability of dropping a token's whole embedding row for a step, in `[0, 1)`.
    pub embedding_dropout: f64,
    /// DropConnect on every recurrent weight matrix (one mask per step), in `[0, 1)`.
    pub weight_drop: f64,
    /// Added to the initial forget-gate bias of LSTM layers (0: PyTorch's initialisation; GRU
    /// and RNN layers ignore it).
    pub forget_bias: f64,
    /// Also train a backward stack (a bidirectional language model in the style of ELMo:
    /// each direction predicts from one side only; `charlstm fill` uses both).
    pub bidirectional: bool,
    /// Whether the two directions of a bidirectional model share the head (else each has its
    /// own).
    pub shared_head: bool,
    /// Residual connections: every layer above the first adds its input to its output (all
    /// layers above the first have equal widths).
    pub residual: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            cell: CellKind::Lstm,
            embedding_size: 64,
            hidden_size: 512,
            num_layers: 2,
            dropout: 0.0,
            output_dropout: false,
            locked_dropout: false,
            input_dropout: 0.0,
            embedding_dropout: 0.0,
            weight_drop: 0.0,
            forget_bias: 0.0,
            bidirectional: false,
            shared_head: true,
            residual: false,
        }
    }
}

impl ModelConfig {
    /// A freshly initialised model for `vocab_size` tokens on `device`. Seed the device first for reproducibility.
    pub fn init(&self, vocab_size: usize, device: &Device) -> CharModel {
        // The bottom layer reads the embedding, every other layer the one below it.
        let input_sizes = std::iter::once(self.embedding_size)
            .chain(std::iter::repeat(self.hidden_size))
            .take(self.num_layers);
        let stack = || -> Vec<RecurrentLayer> {
            input_sizes
                .clone()
                .map(|input_size| {
                    RecurrentLayer::new(
                        self.cell,
                        input_size,
                        self.hidden_size,
                        self.forget_bias,
                        device,
                    )
                })
                .collect()
        };
        let head = || LinearConfig::new(self.hidden_size, vocab_size).init(device);
        CharModel {
            embedding: EmbeddingConfig::new(vocab_size, self.embedding_size).init(device),
            layers: stack(),
            dropout: DropoutConfig::new(self.dropout).init(),
            output_dropout: self.output_dropout,
            head: head(),
            backward_layers: if self.bidirectional {
                stack()
            } else {
                Vec::new()
            },
            backward_head: (self.bidirectional && !self.shared_head).then(head),
            residual: self.residual,
            regularization: self.regularization(),
        }
    }

    /// What the model drops while training besides `dropout` between layers.
    pub fn regularization(&self) -> Regularization {
        Regularization {
            embedding_dropout: self.embedding_dropout,
            input_dropout: self.input_dropout,
            weight_drop: self.weight_drop,
            locked_dropout: self.locked_dropout,
        }
    }

    /// Gives `model` (loaded from a checkpoint, or another run's weights) this config's
    /// training-time regularisation, which is no part of the weights: every dropout rate and
    /// where it applies.
    pub fn apply_regularization(&self, model: &mut CharModel) {
        model.dropout = DropoutConfig::new(self.dropout).init();
        model.output_dropout = self.output_dropout;
        model.regularization = self.regularization();
    }

    /// The shape a model initialised from this config for `vocab_size` tokens has.
    pub fn shape(&self, vocab_size: usize) -> ModelShape {
        ModelShape {
            vocab_size,
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
