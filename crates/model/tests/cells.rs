//! The whole model built from each cell (`lstm`, `gru`, `rnn`): shapes, the state carried from
//! one chunk to the next continues a sequence exactly, stepping one token at a time gives the
//! logits of the whole sequence, and every parameter is trained.

use burn::prelude::*;
use charlstm_model::{CellKind, CharModel, ModelConfig, RecurrentLayer};

const CELLS: [CellKind; 3] = [CellKind::Lstm, CellKind::Gru, CellKind::Rnn];

#[allow(deprecated)]
fn devices() -> [Device; 3] {
    [Device::ndarray(), Device::flex(), Device::flex().autodiff()]
}

fn tiny_model(cell: CellKind, device: &Device) -> CharModel {
    device.seed(7);
    ModelConfig {
        embedding_size: 5,
        hidden_size: 8,
        num_layers: 2,
        cell,
        ..ModelConfig::default()
    }
    .init(11, device)
}

/// `[batch, ids.len() / batch]` token ids, one stream per row.
fn tokens(ids: &[i64], batch: usize, device: &Device) -> Tensor<2, Int> {
    let seq = ids.len() / batch;
    Tensor::from_data(TensorData::new(ids.to_vec(), [batch, seq]), device)
}

fn assert_close<const D: usize>(what: &str, a: Tensor<D>, b: Tensor<D>) {
    assert_eq!(a.dims(), b.dims(), "{what}");
    let a: Vec<f32> = a.try_into_vec_as().unwrap();
    let b: Vec<f32> = b.try_into_vec_as().unwrap();
    for (index, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= 1e-5, "{what}[{index}]: {x} vs {y}");
    }
}

#[test]
fn layers_and_shapes_for_every_cell() {
    for cell in CELLS {
        let device = Device::flex();
        let model = tiny_model(cell, &device);
        assert_eq!(model.layers.len(), 2);
        for layer in &model.layers {
            assert_eq!(layer.cell(), cell);
            assert_eq!(layer.hidden_size(), 8);
        }
        let (logits, state) = model.forward(tokens(&[1, 2, 3, 4, 5, 6], 2, &device), None);
        assert_eq!(logits.dims(), [2, 3, 11], "{cell:?}");
        assert_eq!(state.layers.len(), 2);
        for layer in &state.layers {
            assert_eq!(layer.hidden.dims(), [2, 8], "{cell:?}");
            assert_eq!(layer.cell.dims(), [2, 8], "{cell:?}");
        }
        assert_eq!(state.batch_size(), 2);
    }
}

/// The cells have their own parameter counts: 4, 3 and 1 gate blocks of `(I + H + 1)·H`, and
/// the LSTM and GRU a second bias, as PyTorch's (the RNN keeps their sum in one).
#[test]
fn parameter_counts_are_pytorchs() {
    let device = Device::flex();
    for (cell, per_layer) in [
        // (5 + 8 + 2)·32 and (8 + 8 + 2)·32
        (CellKind::Lstm, [15 * 32, 18 * 32]),
        // (5 + 8 + 2)·24 and (8 + 8 + 2)·24
        (CellKind::Gru, [15 * 24, 18 * 24]),
        (CellKind::Rnn, [14 * 8, 17 * 8]),
    ] {
        let model = tiny_model(cell, &device);
        let counts: Vec<usize> = model
            .layers
            .iter()
            .map(RecurrentLayer::num_params)
            .collect();
        assert_eq!(counts, per_layer, "{cell:?}");
    }
}

/// Truncated BPTT relies on this: two chunks with the state carried between them give the
/// same logits and final state as the whole sequence in one go.
#[test]
fn carried_state_continues_a_sequence_exactly() {
    let ids = [
        1, 4, 2, 9, 3, 0, 10, 5, /* stream 2 */ 7, 7, 1, 2, 8, 6, 5, 4,
    ];
    for device in devices() {
        for cell in CELLS {
            let model = tiny_model(cell, &device);
            let whole = tokens(&ids, 2, &device);
            let (full, full_state) = model.forward(whole.clone(), None);

            let (logits_a, state) = model.forward(whole.clone().narrow(1, 0, 5), None);
            let (logits_b, state) = model.forward(whole.narrow(1, 5, 3), Some(state.detach()));
            let what = format!("{cell:?} on {device:?}");
            assert_close(&what, Tensor::cat(vec![logits_a, logits_b], 1), full);
            for (a, b) in state.layers.into_iter().zip(full_state.layers) {
                assert_close(&what, a.hidden, b.hidden);
                assert_close(&what, a.cell, b.cell);
            }
        }
    }
}

#[test]
fn stepping_matches_the_sequence_forward() {
    let ids = [3i64, 1, 4, 1, 5];
    for device in devices() {
        for cell in [CellKind::Gru, CellKind::Rnn] {
            let model = tiny_model(cell, &device);
            let (full, _) = model.forward(tokens(&ids, 1, &device), None);
            let mut state = None;
            let mut steps = Vec::new();
            for &id in &ids {
                let input = Tensor::from_data(TensorData::new(vec![id], [1]), &device);
                let (logits, next) = model.step(input, state);
                steps.push(logits.unsqueeze_dim(1));
                state = Some(next);
            }
            assert_close(&format!("{cell:?}"), Tensor::cat(steps, 1), full);
        }
    }
}

/// A loss on the logits reaches every parameter of a GRU and an RNN model.
#[test]
fn every_parameter_gets_a_gradient() {
    let device = Device::flex().autodiff();
    for cell in [CellKind::Gru, CellKind::Rnn] {
        let model = tiny_model(cell, &device);
        let (logits, _) = model.forward(tokens(&[1, 2, 3, 4, 5, 6], 2, &device), None);
        let grads = logits.powi_scalar(2).sum().backward();
        let mut missing = Vec::new();
        for layer in &model.layers {
            let has = |param: Tensor<1>| param.grad(&grads).is_some();
            let flat = |param: Tensor<2>| param.grad(&grads).is_some();
            let ok = match layer {
                RecurrentLayer::Gru(gru) => {
                    flat(gru.input_weight.val())
                        && flat(gru.recurrent_weight.val())
                        && has(gru.input_bias.val())
                        && has(gru.recurrent_bias.val())
                }
                RecurrentLayer::Rnn(rnn) => {
                    flat(rnn.input_weight.val())
                        && flat(rnn.recurrent_weight.val())
                        && has(rnn.bias.val())
                }
                RecurrentLayer::Lstm(_) => false,
            };
            if !ok {
                missing.push(format!("{cell:?}"));
            }
        }
        assert!(missing.is_empty(), "layers without gradients: {missing:?}");
    }
}
