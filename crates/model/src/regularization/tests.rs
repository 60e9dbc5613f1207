use burn::module::Module;
use burn::tensor::Distribution;

use super::*;
use crate::CharModel;
use crate::config::ModelConfig;
use crate::cpu::parity::{ndarray_device, parameter_grads};
use crate::recurrent::CellKind;
use crate::state::LayerState;

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.try_into_vec_as().unwrap()
}

/// Embedding dropout drops whole rows: each row is all zeros or all scaled by `1/(1 − p)`, about
/// `p` of them dropped; nothing changes off the training device.
#[test]
fn embedding_dropout_drops_whole_rows_only_while_training() {
    let device = ndarray_device().autodiff();
    device.seed(11);
    let (rows, columns, prob) = (400, 3, 0.25);
    let table = Tensor::<2>::random([rows, columns], Distribution::Uniform(0.5, 1.0), &device);
    let dropped = values(drop_rows(table.clone(), prob));
    let original = values(table.clone());
    let mut dropped_rows = 0;
    for row in 0..rows {
        let span = row * columns..(row + 1) * columns;
        let got = &dropped[span.clone()];
        if got.iter().all(|&v| v == 0.0) {
            dropped_rows += 1;
            continue;
        }
        for (g, o) in got.iter().zip(&original[span]) {
            assert!((g - o / 0.75).abs() < 1e-6, "row {row}: {g} vs {o}/0.75");
        }
    }
    assert!(
        (60..140).contains(&dropped_rows),
        "{dropped_rows} of 400 rows dropped"
    );
    assert_eq!(values(drop_rows(table.clone().inner(), prob)), original);
    assert_eq!(values(drop_rows(table, 0.0)), original);
}

/// Locked dropout draws one mask per stream and feature: every step of a chunk loses the same
/// entries; the kept ones are scaled by `1/(1 − p)`; nothing changes off the training device.
#[test]
fn locked_dropout_keeps_one_mask_over_the_steps() {
    let device = ndarray_device().autodiff();
    device.seed(5);
    let (steps, batch, width, prob) = (6, 3, 50, 0.4);
    let features = Tensor::<3>::ones([steps, batch, width], &device);
    let dropped = values(locked_dropout(features.clone(), prob));
    let first = &dropped[..batch * width];
    assert!(first.contains(&0.0) && first.iter().any(|&v| v != 0.0));
    for value in first {
        assert!(*value == 0.0 || (value - 1.0 / 0.6).abs() < 1e-6, "{value}");
    }
    for step in dropped.chunks(batch * width) {
        assert_eq!(step, first, "every step has the first step's mask");
    }
    let inference = features.inner();
    assert_eq!(
        values(locked_dropout(inference.clone(), prob)),
        values(inference)
    );
}

/// Weight drop is DropConnect on the recurrent weight: the layer runs with `W_h ⊙ M / (1 − p)`,
/// for the mask `M` the generator draws, and the gradient the layer's own `W_h` receives is
/// the masked weight's gradient times the same mask; for every cell.
#[test]
fn weight_drop_runs_the_masked_weight_and_masks_its_gradient() {
    let device = ndarray_device().autodiff();
    let prob = 0.3;
    let recurrent = |layer: &RecurrentLayer| layer.recurrent_weight().val();
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        device.seed(2);
        let layer = RecurrentLayer::new(cell, 3, 6, 0.0, &device);
        let input = Tensor::<3>::random([4, 2, 3], Distribution::Uniform(-1.0, 1.0), &device);
        let output_weights =
            Tensor::<3>::random([4, 2, 6], Distribution::Uniform(-1.0, 1.0), &device);
        // The output and a loss that weighs every output differently.
        let run = |layer: &RecurrentLayer| {
            let (output, _) = layer.forward(input.clone(), LayerState::zeros(2, 6, &device));
            (output.clone(), (output * output_weights.clone()).sum())
        };

        let dropped = drop_recurrent_weight(&layer, prob).expect("a training device drops");
        let (output, loss) = run(&dropped);
        let weight_grad = values(
            recurrent(&layer)
                .grad(&loss.backward())
                .expect("W_h trains"),
        );

        // The mask the copy was made with, read back from it (every entry of the copy is 0 or
        // W_h's entry over 1 − p), applied by hand to a copy of W_h that is a parameter of
        // its own.
        let weight = recurrent(&layer).inner();
        let original = values(weight.clone());
        let mask: Vec<f32> = values(recurrent(&dropped))
            .iter()
            .zip(&original)
            .map(|(&kept, &w)| {
                if kept == 0.0 {
                    0.0
                } else {
                    assert!((kept - w / 0.7).abs() < 1e-6, "{cell:?}: {kept} vs {w}/0.7");
                    1.0 / 0.7
                }
            })
            .collect();
        let dropped_share = mask.iter().filter(|&&m| m == 0.0).count() as f64 / mask.len() as f64;
        assert!(
            (0.1..0.5).contains(&dropped_share),
            "{cell:?}: {dropped_share}"
        );
        let mask_tensor = Tensor::from_data(
            TensorData::new(mask.clone(), weight.dims()),
            &weight.device(),
        );
        let by_hand = Param::from_tensor(Tensor::from_inner(weight * mask_tensor).require_grad());
        let mut reference = layer.clone();
        *reference.recurrent_weight_mut() = by_hand;
        let (expected_output, expected_loss) = run(&reference);
        assert_eq!(values(output), values(expected_output), "{cell:?}");
        let grads = expected_loss.backward();
        let masked_grad = values(recurrent(&reference).grad(&grads).unwrap());
        for ((got, masked), m) in weight_grad.iter().zip(&masked_grad).zip(&mask) {
            assert!(
                (got - masked * m).abs() < 1e-5,
                "{cell:?}: {got} vs {masked} · {m}"
            );
        }
        assert!(drop_recurrent_weight(&layer.valid(), prob).is_none());
        assert!(drop_recurrent_weight(&layer, 0.0).is_none());
    }
}

fn regularized_model(device: &Device) -> CharModel {
    device.seed(4);
    ModelConfig {
        embedding_size: 6,
        hidden_size: 10,
        num_layers: 2,
        dropout: 0.3,
        output_dropout: true,
        locked_dropout: true,
        input_dropout: 0.2,
        embedding_dropout: 0.1,
        weight_drop: 0.3,
        ..ModelConfig::default()
    }
    .init(9, device)
}

/// With every technique on, a training forward draws new masks each time and every parameter
/// still receives a gradient; at inference the model computes exactly what the same weights
/// without any regularisation compute.
#[test]
fn a_regularised_model_drops_only_while_training() {
    let device = ndarray_device().autodiff();
    let model = regularized_model(&device);
    let ids: Vec<i64> = (0..24).map(|i| (i * 5 % 9) as i64).collect();
    let tokens =
        |device: &Device| Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [3, 8]), device);
    let (a, _) = model.forward(tokens(&device), None);
    let (b, _) = model.forward(tokens(&device), None);
    assert_ne!(values(a.clone()), values(b), "new masks each forward");
    let grads = a.sum().backward();
    let all = parameter_grads(&model, &grads);
    assert!(
        all.iter().all(Option::is_some),
        "every parameter trains: {all:?}"
    );

    let mut plain = model.clone();
    plain.regularization = Regularization::default();
    plain.dropout = burn::nn::DropoutConfig::new(0.0).init();
    let host = ndarray_device();
    let (x, _) = model.valid().forward(tokens(&host), None);
    let (y, _) = plain.valid().forward(tokens(&host), None);
    assert_eq!(values(x), values(y));
}
