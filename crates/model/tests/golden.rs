//! Every recurrent layer charlstm ships against PyTorch: `nn.LSTM`, `nn.GRU` and `nn.RNN`
//! (tanh) outputs, final states and gradients (of the input, the initial state and every
//! weight and bias) for the cases in `fixtures/lstm_golden.json` and
//! `fixtures/gru_rnn_golden.json`, written in float64 by `scripts/golden.sh`, must be matched
//! within 1e-5 (relative above magnitude 1) in f32, by the fused layer, the step-by-step
//! reference and what the model uses on the device. Also a finite-difference check of the
//! LSTM's gradients.

use std::collections::HashMap;

use burn::module::Param;
use burn::prelude::*;
use charlstm_model::{GruLayerConfig, LayerState, LstmLayerConfig, RecurrentLayer, RnnLayerConfig};
use serde::Deserialize;

mod golden_common;

use golden_common::{Flat, assert_matches_pytorch, load_fixtures, read, tensor, wgpu};

#[derive(Deserialize)]
struct Fixtures {
    cases: Vec<Case>,
}

#[derive(Clone, Deserialize)]
struct Case {
    /// `lstm`, `gru` or `rnn`.
    cell: String,
    name: String,
    seq_len: usize,
    batch: usize,
    input_size: usize,
    hidden_size: usize,
    layers: usize,
    /// PyTorch's `named_parameters`: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
    /// `bias_hh_l{k}`.
    weights: HashMap<String, Flat>,
    /// `[seq_len, batch, input_size]`
    input: Flat,
    /// `[layers, batch, hidden_size]`, and the same for the LSTM's `c0`, `hn` and `cn`.
    h0: Flat,
    c0: Option<Flat>,
    /// `[seq_len, batch, hidden_size]`
    output: Flat,
    hn: Flat,
    cn: Option<Flat>,
    r_output: Flat,
    r_hidden: Flat,
    r_cell: Option<Flat>,
    /// Of `Σ output ⊙ r_output + Σ hn ⊙ r_hidden (+ Σ cn ⊙ r_cell)`, by PyTorch's names and
    /// `input`, `h0` (and `c0`).
    gradients: HashMap<String, Flat>,
}

/// The LSTM cases, then the GRU and RNN ones.
fn cases() -> Vec<Case> {
    let lstm: Fixtures = load_fixtures("lstm_golden.json");
    let others: Fixtures = load_fixtures("gru_rnn_golden.json");
    lstm.cases.into_iter().chain(others.cases).collect()
}

/// Which implementation of the layer runs.
#[derive(Debug, Clone, Copy)]
enum Implementation {
    /// `SequenceLayer::forward`: what the model uses on the device.
    Default,
    /// The fused CPU operation with its hand-written backward pass.
    Fused,
    /// Burn tensor operations step by step, autodiff's backward pass.
    Reference,
}

const CPU_IMPLEMENTATIONS: [Implementation; 3] = [
    Implementation::Default,
    Implementation::Fused,
    Implementation::Reference,
];

/// The case's layers with PyTorch's weights: `W_x = weight_ihᵀ`, `W_h = weight_hhᵀ`; the LSTM
/// and GRU take both biases as they are, the RNN their sum.
fn layers(case: &Case, device: &Device) -> Vec<RecurrentLayer> {
    (0..case.layers)
        .map(|l| {
            let input_size = if l == 0 {
                case.input_size
            } else {
                case.hidden_size
            };
            let flat = |name: &str| &case.weights[&format!("{name}_l{l}")];
            let transposed = |name: &str| Param::from_tensor(tensor::<2>(flat(name), device).t());
            let vector = |name: &str| tensor::<1>(flat(name), device);
            let bias = |name: &str| Param::from_tensor(vector(name));
            match case.cell.as_str() {
                "lstm" => {
                    let mut layer = LstmLayerConfig::new(input_size, case.hidden_size).init(device);
                    layer.input_weight = transposed("weight_ih");
                    layer.recurrent_weight = transposed("weight_hh");
                    layer.bias = bias("bias_ih");
                    layer.recurrent_bias = Some(bias("bias_hh"));
                    RecurrentLayer::Lstm(layer)
                }
                "gru" => {
                    let mut layer = GruLayerConfig::new(input_size, case.hidden_size).init(device);
                    layer.input_weight = transposed("weight_ih");
                    layer.recurrent_weight = transposed("weight_hh");
                    layer.input_bias = bias("bias_ih");
                    layer.recurrent_bias = bias("bias_hh");
                    RecurrentLayer::Gru(layer)
                }
                "rnn" => {
                    let mut layer = RnnLayerConfig::new(input_size, case.hidden_size).init(device);
                    layer.input_weight = transposed("weight_ih");
                    layer.recurrent_weight = transposed("weight_hh");
                    layer.bias = Param::from_tensor(vector("bias_ih") + vector("bias_hh"));
                    RecurrentLayer::Rnn(layer)
                }
                other => panic!("unknown cell {other}"),
            }
        })
        .collect()
}

/// One layer's run with `implementation`.
fn forward(
    layer: &RecurrentLayer,
    implementation: Implementation,
    input: Tensor<3>,
    state: LayerState,
) -> (Tensor<3>, LayerState) {
    match implementation {
        Implementation::Default => layer.forward(input, state),
        Implementation::Fused => layer.as_layer().forward_fused(input, state),
        Implementation::Reference => layer.forward_reference(input, state),
    }
}

/// The case's inputs on `device`: the sequence, `h0` and `c0` (zeros for cells without one),
/// tracked for gradients on autodiff devices.
fn inputs(case: &Case, device: &Device) -> [Tensor<3>; 3] {
    let [l, b, h] = [case.layers, case.batch, case.hidden_size];
    let mut inputs = [
        tensor::<3>(&case.input, device),
        tensor::<3>(&case.h0, device),
        case.c0
            .as_ref()
            .map_or_else(|| Tensor::zeros([l, b, h], device), |c0| tensor(c0, device)),
    ];
    if device.is_autodiff() {
        inputs = inputs.map(|input| input.require_grad());
    }
    inputs
}

/// The loss the fixtures' gradients are of.
fn loss(
    case: &Case,
    device: &Device,
    output: Tensor<3>,
    hn: Tensor<3>,
    cn: Tensor<3>,
) -> Tensor<1> {
    let mut loss = (output * tensor::<3>(&case.r_output, device)).sum()
        + (hn * tensor::<3>(&case.r_hidden, device)).sum();
    if let Some(r_cell) = &case.r_cell {
        loss = loss + (cn * tensor::<3>(r_cell, device)).sum();
    }
    loss
}

/// Runs `case` and returns, by PyTorch's names, the forward results and, on autodiff devices,
/// the gradients.
fn run(case: &Case, device: &Device, implementation: Implementation) -> HashMap<String, Vec<f64>> {
    let layers = layers(case, device);
    let [input, h0, c0] = inputs(case, device);
    let (b, h) = (case.batch, case.hidden_size);

    let mut features = input.clone();
    let mut finals = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        let state = LayerState {
            hidden: h0.clone().narrow(0, l, 1).reshape([b, h]),
            cell: c0.clone().narrow(0, l, 1).reshape([b, h]),
        };
        let cell_before = read(state.cell.clone());
        let (output, last) = forward(layer, implementation, features, state);
        if case.c0.is_none() {
            let context = format!("{}: the cell passes through", case.name);
            assert_eq!(read(last.cell.clone()), cell_before, "{context}");
        }
        features = output;
        finals.push(last);
    }
    let hn = Tensor::stack::<3>(finals.iter().map(|s| s.hidden.clone()).collect(), 0);
    let cn = Tensor::stack::<3>(finals.iter().map(|s| s.cell.clone()).collect(), 0);

    let mut results = HashMap::new();
    results.insert("output".to_string(), read(features.clone()));
    results.insert("hn".to_string(), read(hn.clone()));
    if case.cn.is_some() {
        results.insert("cn".to_string(), read(cn.clone()));
    }
    if !device.is_autodiff() {
        return results;
    }
    let grads = loss(case, device, features, hn, cn).backward();
    results.insert("input".to_string(), read(input.grad(&grads).unwrap()));
    results.insert("h0".to_string(), read(h0.grad(&grads).unwrap()));
    if case.c0.is_some() {
        results.insert("c0".to_string(), read(c0.grad(&grads).unwrap()));
    }
    let matrix = |param: &Param<Tensor<2>>| read(param.val().grad(&grads).unwrap().transpose());
    let vector = |param: &Param<Tensor<1>>| read(param.val().grad(&grads).unwrap());
    for (l, layer) in layers.iter().enumerate() {
        let (weight_ih, weight_hh, bias_ih, bias_hh) = match layer {
            RecurrentLayer::Lstm(lstm) => (
                matrix(&lstm.input_weight),
                matrix(&lstm.recurrent_weight),
                vector(&lstm.bias),
                vector(lstm.recurrent_bias.as_ref().expect("set above")),
            ),
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
        };
        results.insert(format!("weight_ih_l{l}"), weight_ih);
        results.insert(format!("weight_hh_l{l}"), weight_hh);
        results.insert(format!("bias_ih_l{l}"), bias_ih);
        results.insert(format!("bias_hh_l{l}"), bias_hh);
    }
    results
}

fn compare(case: &Case, device: &Device, implementation: Implementation) {
    let got = run(case, device, implementation);
    let mut expected: Vec<(&str, &Flat)> = vec![("output", &case.output), ("hn", &case.hn)];
    expected.extend(case.cn.iter().map(|cn| ("cn", cn)));
    if device.is_autodiff() {
        expected.extend(case.gradients.iter().map(|(k, v)| (k.as_str(), v)));
    }
    let context = format!(
        "{} {} on {device:?} ({implementation:?})",
        case.cell, case.name
    );
    assert_matches_pytorch(&got, &expected, &context);
}

/// Every case with each of `implementations` on `device`, after checking the fixtures cover
/// what they should: every cell, one and two layers, batch 1 and more, input width ≠ hidden
/// width, more than one step.
fn check(device: &Device, implementations: &[Implementation]) {
    let cases = cases();
    for cell in ["lstm", "gru", "rnn"] {
        let cases: Vec<&Case> = cases.iter().filter(|c| c.cell == cell).collect();
        assert!(cases.iter().any(|c| c.layers == 1), "{cell}");
        assert!(
            cases.iter().any(|c| c.layers == 2 && c.seq_len > 1),
            "{cell}"
        );
        assert!(cases.iter().any(|c| c.batch == 1), "{cell}");
        assert!(cases.iter().any(|c| c.batch > 1), "{cell}");
        assert!(
            cases.iter().any(|c| c.input_size != c.hidden_size),
            "{cell}"
        );
    }
    for case in &cases {
        for &implementation in implementations {
            compare(case, device, implementation);
        }
    }
}

#[test]
fn flex_matches_pytorch() {
    check(&Device::flex().autodiff(), &CPU_IMPLEMENTATIONS);
}

#[test]
#[allow(deprecated)]
fn ndarray_matches_pytorch() {
    check(&Device::ndarray().autodiff(), &CPU_IMPLEMENTATIONS);
}

#[test]
fn flex_without_autodiff_matches_pytorch() {
    // The inference path projects the input of all steps in one product.
    check(&Device::flex(), &[Implementation::Default]);
}

/// A wgpu device, or `None` (test skipped) where there is none, unless CI demands one. Every
/// LSTM case with gradients (the GPU cell and the reference); the outputs and final states of
/// the two-layer GRU and RNN cases (lavapipe compiles every kernel on first use, slowly).
#[test]
fn wgpu_matches_pytorch() {
    let Some(device) = wgpu() else { return };
    for case in cases() {
        if case.cell == "lstm" {
            compare(&case, &device.clone().autodiff(), Implementation::Default);
            compare(&case, &device.clone().autodiff(), Implementation::Reference);
        } else if case.name.ends_with("_two_layers") {
            compare(&case, &device, Implementation::Default);
        }
    }
}

/// The case with `delta` added to value `index` of the input or weight `name`.
fn nudged(case: &Case, name: &str, index: usize, delta: f64) -> Case {
    let mut moved = case.clone();
    let flat = match name {
        "input" => &mut moved.input,
        "h0" => &mut moved.h0,
        "c0" => moved.c0.as_mut().expect("an LSTM case"),
        weight => moved.weights.get_mut(weight).expect("a weight"),
    };
    flat.values[index] += delta;
    moved
}

/// Central differences of the loss against the gradients of the fused layer and the reference,
/// for a few entries of every input (f32, so a coarse step and tolerance).
#[test]
fn gradients_match_finite_differences() {
    let cases = cases();
    let case = cases
        .iter()
        .find(|c| c.name == "lstm_input_wider_than_hidden")
        .unwrap();
    let device = Device::flex();
    let loss_with = |name: &str, index: usize, delta: f64| -> f64 {
        let moved = nudged(case, name, index, delta);
        let layer = &layers(&moved, &device)[0];
        let [input, h0, c0] = inputs(&moved, &device);
        let (b, h) = (case.batch, case.hidden_size);
        let state = LayerState {
            hidden: h0.reshape([b, h]),
            cell: c0.reshape([b, h]),
        };
        let (output, last) = forward(layer, Implementation::Reference, input, state);
        let (hn, cn) = (last.hidden.unsqueeze(), last.cell.unsqueeze());
        f64::from(loss(case, &device, output, hn, cn).into_scalar::<f32>())
    };
    let step = 1e-2;
    for implementation in [Implementation::Fused, Implementation::Reference] {
        let grads = run(case, &device.clone().autodiff(), implementation);
        for name in [
            "input",
            "h0",
            "c0",
            "weight_ih_l0",
            "weight_hh_l0",
            "bias_ih_l0",
        ] {
            let analytic = &grads[name];
            for index in (0..analytic.len()).step_by(analytic.len().div_ceil(5)) {
                let numeric =
                    (loss_with(name, index, step) - loss_with(name, index, -step)) / (2.0 * step);
                assert!(
                    (numeric - analytic[index]).abs() <= 2e-3 * numeric.abs().max(1.0),
                    "{implementation:?} d loss / d {name}[{index}]: analytic {}, numeric {numeric}",
                    analytic[index]
                );
            }
        }
    }
}
