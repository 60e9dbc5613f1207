//! The charlstm network as Burn modules: token embedding → N stacked recurrent layers (LSTM,
//! GRU or plain RNN; dropout between them) → linear head over the vocabulary, with the
//! recurrent state passed in and out explicitly so training can carry it across chunks and
//! sampling can step one character at a time. Also the pure sampling rule that turns logits
//! into a character.

pub mod char_model;
pub mod config;
pub mod cpu;
pub mod fill;
pub mod fused_adam;
pub mod fused_gru;
pub mod fused_head;
pub mod fused_lstm;
pub mod fused_rnn;
pub mod gpu_lstm;
pub mod gru;
pub mod inspect;
pub mod loss;
pub mod lstm;
pub mod parameters;
mod projection;
pub mod recurrent;
pub mod regularization;
pub mod rnn;
pub mod sampling;
pub mod sequence_layer;
pub mod shape;
pub mod state;
pub mod stepper;
pub mod testing;

pub use char_model::{CharModel, Direction};
pub use config::ModelConfig;
pub use fill::{FillChoice, fill_blanks};
pub use gru::{GruLayer, GruLayerConfig};
pub use lstm::{LstmLayer, LstmLayerConfig};
pub use recurrent::{CellKind, RecurrentLayer};
pub use regularization::Regularization;
pub use rnn::{RnnLayer, RnnLayerConfig};
pub use sampling::{Sampler, SamplingOptions, sample_index};
pub use sequence_layer::SequenceLayer;
pub use shape::ModelShape;
pub use state::{LayerState, RecurrentState};
pub use stepper::{BatchStepper, HostStepper, StepperError};
