//! A training step of charlstm is a training step of PyTorch: starting from the same weights, a
//! few steps of truncated BPTT with carried state, mean cross-entropy, global gradient-norm
//! clipping and Adam give the losses, gradient norms and final weights that PyTorch computed
//! (`tests/fixtures/training_golden.json`, written by `scripts/golden.sh`).

// The model crate's golden-test helpers; this test uses only some of them.
#[allow(dead_code)]
#[path = "../../model/tests/golden_common/mod.rs"]
mod golden_common;

use std::collections::HashMap;

use burn::module::Param;
use burn::prelude::*;
use charlstm_model::{CharModel, ModelConfig, RecurrentLayer};
use charlstm_train::optimizer::adam;
use charlstm_train::step::{Chunk, train_step};
use golden_common::{Flat, load_fixtures, read, tensor};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    vocab_size: usize,
    embedding_size: usize,
    hidden_size: usize,
    num_layers: usize,
    batch_size: usize,
    seq_len: usize,
    learning_rate: f64,
    grad_clip: f64,
    initial: HashMap<String, Flat>,
    steps: Vec<Step>,
    #[serde(rename = "final")]
    after: HashMap<String, Flat>,
}

#[derive(Deserialize)]
struct Step {
    inputs: Vec<i64>,
    targets: Vec<i64>,
    loss: f64,
    grad_norm: f64,
}

/// Adam's first step moves every weight by about the learning rate whatever the gradient's
/// size, so float32 against float64 differs by more than in a forward pass.
const WEIGHT_TOLERANCE: f64 = 1e-4;

/// The model with PyTorch's weights: `W_x = weight_ihᵀ`, `W_h = weight_hhᵀ`, the head's
/// weight transposed (Burn's `Linear` stores `[in, out]`).
fn model_with(fixture: &Fixture, device: &Device) -> CharModel {
    let mut model = ModelConfig {
        embedding_size: fixture.embedding_size,
        hidden_size: fixture.hidden_size,
        num_layers: fixture.num_layers,
        ..ModelConfig::default()
    }
    .init(fixture.vocab_size, device);
    let weight = |name: &str| &fixture.initial[name];
    model.embedding.weight = Param::from_tensor(tensor::<2>(weight("embedding.weight"), device));
    for (l, layer) in model.layers.iter_mut().enumerate() {
        let RecurrentLayer::Lstm(lstm) = layer else {
            panic!("an LSTM model")
        };
        let name = |kind: &str| format!("lstm.{kind}_l{l}");
        lstm.input_weight =
            Param::from_tensor(tensor::<2>(weight(&name("weight_ih")), device).transpose());
        lstm.recurrent_weight =
            Param::from_tensor(tensor::<2>(weight(&name("weight_hh")), device).transpose());
        lstm.bias = Param::from_tensor(tensor::<1>(weight(&name("bias_ih")), device));
        lstm.recurrent_bias = Some(Param::from_tensor(tensor::<1>(
            weight(&name("bias_hh")),
            device,
        )));
    }
    model.head.weight = Param::from_tensor(tensor::<2>(weight("head.weight"), device).transpose());
    model.head.bias = Some(Param::from_tensor(tensor::<1>(weight("head.bias"), device)));
    model
}

/// The model's weights under PyTorch's names, as PyTorch lays them out.
fn weights_of(model: &CharModel) -> HashMap<String, Vec<f64>> {
    let mut weights = HashMap::new();
    weights.insert(
        "embedding.weight".into(),
        read(model.embedding.weight.val()),
    );
    for (l, layer) in model.layers.iter().enumerate() {
        let RecurrentLayer::Lstm(lstm) = layer else {
            panic!("an LSTM model")
        };
        let recurrent_bias = lstm.recurrent_bias.as_ref().expect("set from the fixture");
        for (kind, values) in [
            ("weight_ih", read(lstm.input_weight.val().transpose())),
            ("weight_hh", read(lstm.recurrent_weight.val().transpose())),
            ("bias_ih", read(lstm.bias.val())),
            ("bias_hh", read(recurrent_bias.val())),
        ] {
            weights.insert(format!("lstm.{kind}_l{l}"), values);
        }
    }
    weights.insert(
        "head.weight".into(),
        read(model.head.weight.val().transpose()),
    );
    let head_bias = model.head.bias.as_ref().expect("the head has a bias");
    weights.insert("head.bias".into(), read(head_bias.val()));
    weights
}

fn ids(values: &[i64], fixture: &Fixture, device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), [fixture.batch_size, fixture.seq_len]),
        device,
    )
}

fn steps_match_pytorch(device: Device) {
    let fixture: Fixture = load_fixtures("training_golden.json");
    let mut model = model_with(&fixture, &device);
    let mut optimizer = adam(&charlstm_train::config::TrainConfig::default());
    let mut state = None;
    for (k, step) in fixture.steps.iter().enumerate() {
        let chunk = Chunk {
            inputs: ids(&step.inputs, &fixture, &device),
            targets: ids(&step.targets, &fixture, &device),
            state: state.take(),
        };
        let outcome = train_step(
            model,
            &mut optimizer,
            chunk,
            None,
            fixture.learning_rate,
            fixture.grad_clip,
        );
        assert!(outcome.applied);
        for (what, got, expected) in [
            ("loss", outcome.loss, step.loss),
            ("gradient norm", outcome.grad_norm, step.grad_norm),
        ] {
            let error = (f64::from(got) - expected).abs();
            assert!(error < 1e-5, "step {k}: {what} {got} vs {expected}");
        }
        model = outcome.model;
        state = Some(outcome.state);
    }
    let got = weights_of(&model);
    assert_eq!(got.len(), fixture.after.len());
    for (name, expected) in &fixture.after {
        let worst = got[name]
            .iter()
            .zip(&expected.values)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < WEIGHT_TOLERANCE,
            "{name} after {} steps: off by {worst}",
            fixture.steps.len()
        );
    }
}

#[test]
fn training_steps_match_pytorch_on_flex() {
    steps_match_pytorch(Device::flex().autodiff());
}

#[test]
fn training_steps_match_pytorch_on_ndarray() {
    #[allow(deprecated)]
    steps_match_pytorch(Device::ndarray().autodiff());
}
