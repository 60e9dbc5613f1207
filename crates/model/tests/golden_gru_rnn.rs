//! The GRU and RNN layers against PyTorch: `nn.GRU` and `nn.RNN` (tanh) outputs, final hidden
//! states and gradients (of the input, the initial state and every weight and bias) for the
//! cases in `fixtures/gru_rnn_golden.json`, written in float64 by `scripts/golden.sh`, must be
//! matched within 1e-5 (relative above magnitude 1) in f32 on flex and ndarray; on wgpu the
//! outputs and final states of a few cases.

use std::collections::HashMap;

use burn::module::Param;
use burn::prelude::*;
use charlstm_model::{GruLayerConfig, LayerState, RecurrentLayer, RnnLayer, RnnLayerConfig};
use serde::Deserialize;

mod golden_common;

use golden_common::{Flat, assert_matches_pytorch, load_fixtures, read, tensor, wgpu};

#[derive(Deserialize)]
struct Fixtures {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    /// `gru` or `rnn`.
    cell: String,
    name: String,
    batch: usize,
    input_size: usize,
    hidden_size: usize,
    layers: usize,
    /// PyTorch's `named_parameters`: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
    /// `bias_hh_l{k}`.
    weights: HashMap<String, Flat>,
    /// `[seq_len, batch, input_size]`
    input: Flat,
    /// `[layers, batch, hidden_size]`
    h0: Flat,
    /// `[seq_len, batch, hidden_size]`
    output: Flat,
    /// `[layers, batch, hidden_size]`
    hn: Flat,
    r_output: Flat,
    r_hidden: Flat,
    /// Of `Σ output ⊙ r_output + Σ hn ⊙ r_hidden`, by PyTorch's names and `input`, `h0`.
    gradients: HashMap<String, Flat>,
}

fn fixtures() -> Fixtures {
    load_fixtures("gru_rnn_golden.json")
}

/// The case's layers with PyTorch's weights: `W_x = weight_ihᵀ`, `W_h = weight_hhᵀ`; the GRU
/// takes both biases as they are, the RNN their sum.
fn layers(case: &Case, device: &Device) -> Vec<RecurrentLayer> {
    (0..case.layers)
        .map(|l| {
            let input_size = if l == 0 {
                case.input_size
            } else {
                case.hidden_size
            };
            let weight = |name: &str| &case.weights[&format!("{name}_l{l}")];
            let transposed =
                |name: &str| Param::from_tensor(tensor::<2>(weight(name), device).transpose());
            let bias = |name: &str| Param::from_tensor(tensor::<1>(weight(name), device));
            match case.cell.as_str() {
                "gru" => {
                    let mut layer = GruLayerConfig::new(input_size, case.hidden_size).init(device);
                    layer.input_weight = transposed("weight_ih");
                    layer.recurrent_weight = transposed("weight_hh");
                    layer.input_bias = bias("bias_ih");
                    layer.recurrent_bias = bias("bias_hh");
                    RecurrentLayer::Gru(layer)
                }
                "rnn" => {
                    let mut layer: RnnLayer =
                        RnnLayerConfig::new(input_size, case.hidden_size).init(device);
                    layer.input_weight = transposed("weight_ih");
                    layer.recurrent_weight = transposed("weight_hh");
                    layer.bias = Param::from_tensor(
                        tensor::<1>(weight("bias_ih"), device)
                            + tensor::<1>(weight("bias_hh"), device),
                    );
                    RecurrentLayer::Rnn(layer)
                }
                other => panic!("unknown cell {other}"),
            }
        })
        .collect()
}

/// Runs `case` and returns, by PyTorch's names, the forward results and, on autodiff devices,
/// the gradients.
fn run(case: &Case, device: &Device) -> HashMap<String, Vec<f64>> {
    let layers = layers(case, device);
    let mut input = tensor::<3>(&case.input, device);
    let mut h0 = tensor::<3>(&case.h0, device);
    if device.is_autodiff() {
        input = input.require_grad();
        h0 = h0.require_grad();
    }
    let (b, h) = (case.batch, case.hidden_size);

    let mut features = input.clone();
    let mut finals = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        let state = LayerState {
            hidden: h0.clone().narrow(0, l, 1).reshape([b, h]),
            cell: Tensor::zeros([b, h], device),
        };
        let (output, last) = layer.forward(features, state);
        let cell: Vec<f32> = last.cell.clone().try_into_vec_as().unwrap();
        assert!(
            cell.iter().all(|&c| c == 0.0),
            "{}: the cell passes through",
            case.name
        );
        features = output;
        finals.push(last);
    }
    let hn = Tensor::stack::<3>(finals.iter().map(|s| s.hidden.clone()).collect(), 0);

    let mut results = HashMap::new();
    results.insert("output".to_string(), read(features.clone()));
    results.insert("hn".to_string(), read(hn.clone()));
    if !device.is_autodiff() {
        return results;
    }
    let loss = (features * tensor::<3>(&case.r_output, device)).sum()
        + (hn * tensor::<3>(&case.r_hidden, device)).sum();
    let grads = loss.backward();
    results.insert("input".to_string(), read(input.grad(&grads).unwrap()));
    results.insert("h0".to_string(), read(h0.grad(&grads).unwrap()));
    let matrix = |param: &Param<Tensor<2>>| read(param.val().grad(&grads).unwrap().transpose());
    let vector = |param: &Param<Tensor<1>>| read(param.val().grad(&grads).unwrap());
    for (l, layer) in layers.iter().enumerate() {
        let (weight_ih, weight_hh, bias_ih, bias_hh) = match layer {
            RecurrentLayer::Gru(gru) => (
                matrix(&gru.input_weight),
                matrix(&gru.recurrent_weight),
                vector(&gru.input_bias),
                vector(&gru.recurrent_bias),
            ),
            // PyTorch's two biases both receive the gradient of their sum.
            RecurrentLayer::Rnn(rnn) => (
                matrix(&rnn.input_weight),
                matrix(&rnn.recurrent_weight),
                vector(&rnn.bias),
                vector(&rnn.bias),
            ),
            RecurrentLayer::Lstm(_) => unreachable!("the fixtures hold GRU and RNN cases"),
        };
        results.insert(format!("weight_ih_l{l}"), weight_ih);
        results.insert(format!("weight_hh_l{l}"), weight_hh);
        results.insert(format!("bias_ih_l{l}"), bias_ih);
        results.insert(format!("bias_hh_l{l}"), bias_hh);
    }
    results
}

fn compare(case: &Case, device: &Device) {
    let got = run(case, device);
    let mut expected: Vec<(&str, &Flat)> = vec![("output", &case.output), ("hn", &case.hn)];
    if device.is_autodiff() {
        expected.extend(case.gradients.iter().map(|(k, v)| (k.as_str(), v)));
    }
    assert_matches_pytorch(&got, &expected, &format!("{} on {device:?}", case.name));
}

/// Every case on `device`, after checking the fixture covers what it should: both cells, one
/// and two layers, batch 1 and more, input width ≠ hidden width.
fn check(device: &Device) {
    let fixtures = fixtures();
    for cell in ["gru", "rnn"] {
        let cases: Vec<&Case> = fixtures.cases.iter().filter(|c| c.cell == cell).collect();
        assert!(cases.iter().any(|c| c.layers == 1), "{cell}");
        assert!(cases.iter().any(|c| c.layers == 2), "{cell}");
        assert!(cases.iter().any(|c| c.batch == 1), "{cell}");
        assert!(cases.iter().any(|c| c.batch > 1), "{cell}");
        assert!(
            cases.iter().any(|c| c.input_size != c.hidden_size),
            "{cell}"
        );
    }
    for case in &fixtures.cases {
        compare(case, device);
    }
}

#[test]
fn flex_matches_pytorch() {
    check(&Device::flex().autodiff());
}

#[test]
#[allow(deprecated)]
fn ndarray_matches_pytorch() {
    check(&Device::ndarray().autodiff());
}

#[test]
fn flex_without_autodiff_matches_pytorch() {
    // The inference path projects the input of all steps in one product.
    check(&Device::flex());
}

/// A wgpu device, or `None` (test skipped) where there is none, unless CI demands one.
/// Outputs and final states of the two-layer cases (lavapipe compiles every kernel on first
/// use, slowly).
#[test]
fn wgpu_matches_pytorch() {
    let Some(device) = wgpu() else { return };
    let fixtures = fixtures();
    for case in fixtures
        .cases
        .iter()
        .filter(|c| c.name.ends_with("_two_layers"))
    {
        compare(case, &device);
    }
}
