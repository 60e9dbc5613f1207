use super::*;
use crate::config::ModelConfig;
use crate::recurrent::CellKind;

use crate::cpu::parity::ndarray_device as device;

fn tiny_model(device: &Device) -> CharModel {
    device.seed(7);
    ModelConfig {
        embedding_size: 5,
        hidden_size: 8,
        num_layers: 2,
        ..ModelConfig::default()
    }
    .init(11, device)
}

fn tokens(ids: &[i64], batch: usize, device: &Device) -> Tensor<2, Int> {
    let seq = ids.len() / batch;
    Tensor::from_data(TensorData::new(ids.to_vec(), [batch, seq]), device)
}

fn assert_close(a: Tensor<3>, b: Tensor<3>, tolerance: f32) {
    assert_eq!(a.dims(), b.dims());
    let a: Vec<f32> = a.try_into_vec_as().unwrap();
    let b: Vec<f32> = b.try_into_vec_as().unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= tolerance, "{x} vs {y}");
    }
}

#[test]
fn shapes() {
    let device = device();
    let model = tiny_model(&device);
    let (logits, state) = model.forward(tokens(&[1, 2, 3, 4, 5, 6], 2, &device), None);
    assert_eq!(logits.dims(), [2, 3, 11]);
    assert_eq!(state.layers.len(), 2);
    assert_eq!(state.layers[1].hidden.dims(), [2, 8]);
    assert_eq!(model.vocab_size(), 11);
}

/// Truncated BPTT relies on this: two chunks with the state carried between them give the
/// same outputs as the whole sequence in one go.
#[test]
fn carried_state_continues_a_sequence_exactly() {
    let device = device();
    let model = tiny_model(&device);
    let ids = [
        1, 4, 2, 9, 3, 0, 10, 5, /* stream 2 */ 7, 7, 1, 2, 8, 6, 5, 4,
    ];
    let whole = tokens(&ids, 2, &device);
    let (full, full_state) = model.forward(whole.clone(), None);

    let first = whole.clone().narrow(1, 0, 5);
    let second = whole.narrow(1, 5, 3);
    let (logits_a, state) = model.forward(first, None);
    let (logits_b, state) = model.forward(second, Some(state));
    assert_close(Tensor::cat(vec![logits_a, logits_b], 1), full, 1e-5);
    for (a, b) in state.layers.iter().zip(&full_state.layers) {
        assert_close(
            a.cell.clone().unsqueeze_dim(0),
            b.cell.clone().unsqueeze_dim(0),
            1e-5,
        );
    }
}

#[test]
fn stepping_matches_the_sequence_forward() {
    let device = device();
    let model = tiny_model(&device);
    let ids = [3i64, 1, 4, 1, 5];
    let (full, _) = model.forward(tokens(&ids, 1, &device), None);
    let mut state = None;
    let mut steps = Vec::new();
    for &id in &ids {
        let (logits, next) = model.step(
            Tensor::from_data(TensorData::new(vec![id], [1]), &device),
            state,
        );
        steps.push(logits.unsqueeze_dim(1));
        state = Some(next);
    }
    assert_close(Tensor::cat(steps, 1), full, 1e-5);
}

/// `output_dropout` is the only dropout a one-layer model has: while training it changes
/// the logits from one forward to the next; without it, or at inference, nothing does.
#[test]
fn output_dropout_drops_the_top_layer_only_while_training() {
    let host = device();
    let device = host.clone().autodiff();
    let one_layer = |output_dropout| {
        device.seed(3);
        ModelConfig {
            embedding_size: 5,
            hidden_size: 16,
            num_layers: 1,
            dropout: 0.5,
            output_dropout,
            ..ModelConfig::default()
        }
        .init(11, &device)
    };
    let ids = tokens(&[1, 2, 3, 4, 5, 6, 7, 8], 2, &device);
    let twice = |model: &CharModel| {
        let (a, _) = model.forward(ids.clone(), None);
        let (b, _) = model.forward(ids.clone(), None);
        let a: Vec<f32> = a.try_into_vec_as().unwrap();
        let b: Vec<f32> = b.try_into_vec_as().unwrap();
        (a, b)
    };

    let (a, b) = twice(&one_layer(false));
    assert_eq!(a, b, "one layer, no output dropout: nothing is dropped");
    let dropped = one_layer(true);
    let (a, b) = twice(&dropped);
    assert_ne!(a, b, "output dropout draws a new mask each forward");

    let mut plain = dropped.clone();
    plain.output_dropout = false;
    let (inference, plain) = (dropped.valid(), plain.valid());
    let inference_ids = tokens(&[1, 2, 3, 4, 5, 6, 7, 8], 2, &host);
    let (x, _) = inference.forward(inference_ids.clone(), None);
    let (y, _) = plain.forward(inference_ids, None);
    assert_close(x, y, 0.0);
}

fn bidirectional_model(residual: bool, shared_head: bool, device: &Device) -> CharModel {
    bidirectional_model_of(CellKind::Lstm, residual, shared_head, device)
}

fn bidirectional_model_of(
    cell: CellKind,
    residual: bool,
    shared_head: bool,
    device: &Device,
) -> CharModel {
    device.seed(9);
    ModelConfig {
        cell,
        embedding_size: 5,
        hidden_size: 8,
        num_layers: 3,
        residual,
        bidirectional: true,
        shared_head,
        ..ModelConfig::default()
    }
    .init(11, device)
}

/// Logits of one token, if the stack has read anything before it.
type Prediction = Option<Vec<f32>>;

/// For every position t of `ids`, the forward stack's logits for the token at t (from the
/// tokens before it) and the backward stack's (from the tokens after it); `None` at the
/// ends, where a stack has read nothing yet.
fn predictions_of_each_token(
    model: &CharModel,
    ids: &[i64],
    device: &Device,
) -> Vec<(Prediction, Prediction)> {
    let length = ids.len();
    let rows = |logits: Tensor<3>| -> Vec<Vec<f32>> {
        let vocab = logits.dims()[2];
        let values: Vec<f32> = logits.try_into_vec_as().unwrap();
        values.chunks(vocab).map(<[f32]>::to_vec).collect()
    };
    let (forward, _) = model.forward(tokens(ids, 1, device), None);
    let reversed: Vec<i64> = ids.iter().rev().copied().collect();
    let (backward, _) = model.forward_in(Direction::Backward, tokens(&reversed, 1, device), None);
    let (forward, backward) = (rows(forward), rows(backward));
    (0..length)
        .map(|t| {
            // forward[t - 1] read tokens ..= t - 1; backward[u] read reversed tokens ..= u,
            // i.e. tokens length - 1 - u ..; the one after it in reading order is t when
            // u = length - 2 - t.
            let from_before = (t > 0).then(|| forward[t - 1].clone());
            let from_after = (t + 1 < length).then(|| backward[length - 2 - t].clone());
            (from_before, from_after)
        })
        .collect()
}

/// The bidirectional model cannot cheat: changing the character at t changes neither
/// direction's prediction of the character at t (nor the forward predictions before t or
/// the backward ones after it), while it does change the predictions that may see it. For
/// every cell, with and without residual connections and a shared head.
#[test]
fn neither_direction_sees_the_character_it_predicts() {
    let device = device();
    let variants = [
        (CellKind::Lstm, false, true),
        (CellKind::Lstm, true, false),
        (CellKind::Gru, true, true),
        (CellKind::Rnn, false, false),
    ];
    for (cell, residual, shared_head) in variants {
        let model = bidirectional_model_of(cell, residual, shared_head, &device);
        let ids = [3i64, 1, 4, 1, 5, 9, 2, 6, 5, 3];
        let original = predictions_of_each_token(&model, &ids, &device);
        for t in 0..ids.len() {
            let mut changed = ids;
            changed[t] = (ids[t] + 4) % 11;
            let after = predictions_of_each_token(&model, &changed, &device);
            // Unchanged: everything that read only the other side of t, t itself included.
            for s in 0..=t {
                assert_eq!(
                    after[s].0, original[s].0,
                    "forward prediction of {s} changed"
                );
            }
            for s in t..ids.len() {
                assert_eq!(
                    after[s].1, original[s].1,
                    "backward prediction of {s} changed"
                );
            }
            // Changed: the predictions that read t (so the test can tell a leak).
            if t + 1 < ids.len() {
                assert_ne!(after[t + 1].0, original[t + 1].0, "forward after {t}");
            }
            if t > 0 {
                assert_ne!(after[t - 1].1, original[t - 1].1, "backward before {t}");
            }
        }
    }
}

/// The backward stack carries its state across chunks of the reversed text as the
/// forward stack does, with and without residual connections.
#[test]
fn both_directions_carry_state_across_chunks() {
    let device = device();
    let ids = [
        1, 4, 2, 9, 3, 0, 10, 5, /* stream 2 */ 7, 7, 1, 2, 8, 6, 5, 4,
    ];
    for residual in [false, true] {
        let model = bidirectional_model(residual, true, &device);
        for direction in [Direction::Forward, Direction::Backward] {
            let whole = tokens(&ids, 2, &device);
            let (full, _) = model.forward_in(direction, whole.clone(), None);
            let (a, state) = model.forward_in(direction, whole.clone().narrow(1, 0, 3), None);
            let (b, _) = model.forward_in(direction, whole.narrow(1, 3, 5), Some(state));
            assert_close(Tensor::cat(vec![a, b], 1), full, 1e-5);
        }
    }
}

#[test]
fn a_bidirectional_model_has_two_stacks_and_one_or_two_heads() {
    let device = device();
    let shared = bidirectional_model(false, true, &device);
    let separate = bidirectional_model(false, false, &device);
    assert!(shared.is_bidirectional() && shared.backward_head.is_none());
    assert_eq!(shared.backward_layers.len(), 3);
    assert!(separate.backward_head.is_some());
    let head = 8 * 11 + 11;
    assert_eq!(separate.num_params(), shared.num_params() + head);
    let (logits, state) = shared.forward_in(
        Direction::Backward,
        tokens(&[1, 2, 3, 4, 5, 6], 2, &device),
        None,
    );
    assert_eq!(logits.dims(), [2, 3, 11]);
    assert_eq!(state.layers.len(), 3);
    assert!(!tiny_model(&device).is_bidirectional());
}

/// The fused head and loss of the CPU backends against the logits and Burn's cross-entropy:
/// the summed loss and the gradient of every parameter, over two chunks with the state
/// carried, in both directions of a bidirectional model, on flex and ndarray with autodiff;
/// and the loss without autodiff, as evaluation runs it.
#[test]
fn the_fused_loss_matches_logits_and_cross_entropy() {
    use crate::cpu::parity::parameter_grads;
    use crate::loss::sum_cross_entropy;

    #[allow(deprecated)]
    for device in [Device::flex().autodiff(), Device::ndarray().autodiff()] {
        let model = bidirectional_model(false, false, &device);
        let ids = [
            1i64, 4, 2, 9, 3, 0, 10, 5, /* stream 2 */ 7, 7, 1, 2, 8, 6, 5, 4, /* 3 */ 2,
            2, 3, 3, 4, 4, 5, 5,
        ];
        let inputs = tokens(&ids, 3, &device);
        let targets = tokens(&ids.map(|id| (id * 3 + 1) % 11), 3, &device);
        let run = |fused: bool| {
            let mut total = Tensor::<1>::zeros([1], &device);
            for direction in model.directions() {
                let mut state = None;
                for (start, len) in [(0, 5), (5, 3)] {
                    let chunk = inputs.clone().narrow(1, start, len);
                    let wanted = targets.clone().narrow(1, start, len);
                    let (loss, next) = if fused {
                        model.summed_loss_in(direction, chunk, wanted, state)
                    } else {
                        let (logits, next) = model.forward_in(direction, chunk, state);
                        (sum_cross_entropy(logits, wanted), next)
                    };
                    total = total + loss;
                    state = Some(next);
                }
            }
            let grads = total.backward();
            let loss: f32 = total.inner().into_scalar();
            (loss, parameter_grads(&model, &grads))
        };
        let (fused_loss, fused_grads) = run(true);
        let (reference_loss, reference_grads) = run(false);
        assert!(
            (fused_loss - reference_loss).abs() < 1e-5 * reference_loss,
            "{device:?}: {fused_loss} vs {reference_loss}"
        );
        assert_eq!(fused_grads.len(), reference_grads.len());
        for (which, (fused, reference)) in fused_grads.iter().zip(&reference_grads).enumerate() {
            let (fused, reference) = (fused.as_ref().unwrap(), reference.as_ref().unwrap());
            for (x, y) in fused.iter().zip(reference) {
                assert!(
                    (x - y).abs() < 1e-5,
                    "{device:?} parameter {which}: {x} vs {y}"
                );
            }
        }

        let plain = model.valid();
        let inner = device.clone().inner();
        let (inputs, targets) = (
            tokens(&ids, 3, &inner),
            tokens(&ids.map(|id| (id * 3 + 1) % 11), 3, &inner),
        );
        let (fused, _) =
            plain.summed_loss_in(Direction::Forward, inputs.clone(), targets.clone(), None);
        let (logits, _) = plain.forward(inputs, None);
        let (fused, reference): (f32, f32) = (
            fused.into_scalar(),
            sum_cross_entropy(logits, targets).into_scalar(),
        );
        assert!(
            (fused - reference).abs() < 1e-5 * reference,
            "{fused} vs {reference}"
        );
    }
}
