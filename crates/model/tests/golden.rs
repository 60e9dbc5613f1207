//! Every LSTM implementation charlstm ships against PyTorch: `nn.LSTM` outputs, final states
//! and gradients (of the input, the initial state and every weight) for the cases in
//! `fixtures/lstm_golden.json`, written in float64 by `scripts/golden.sh`, must be matched
//! within 1e-5 (relative above magnitude 1) in f32. Also a finite-difference check of the
//! layer's gradients.

use std::collections::HashMap;

use burn::module::Param;
use burn::prelude::*;
use charlstm_model::{LayerState, LstmLayer, LstmLayerConfig, SequenceLayer};
use serde::Deserialize;

mod golden_common;

use golden_common::{Flat, assert_matches_pytorch, load_fixtures, read, tensor, wgpu};

#[derive(Deserialize)]
struct Fixtures {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    seq_len: usize,
    batch: usize,
    input_size: usize,
    hidden_size: usize,
    layers: usize,
    weights: HashMap<String, Flat>,
    input: Flat,
    h0: Flat,
    c0: Flat,
    output: Flat,
    hn: Flat,
    cn: Flat,
    r_output: Flat,
    r_hidden: Flat,
    r_cell: Flat,
    gradients: HashMap<String, Flat>,
}

fn fixtures() -> Fixtures {
    load_fixtures("lstm_golden.json")
}

/// Which implementation of the layer runs.
#[derive(Debug, Clone, Copy)]
enum Implementation {
    /// `LstmLayer::forward`: what the model uses on the device.
    Default,
    /// The fused CPU operation with its hand-written backward pass.
    Fused,
    /// Burn tensor operations step by step, autodiff's backward pass.
    Reference,
}

/// The case's layers with PyTorch's weights: `W_x = weight_ihᵀ`, `W_h = weight_hhᵀ`,
/// `b_x = bias_ih`, `b_h = bias_hh`.
fn layers(case: &Case, device: &Device) -> Vec<LstmLayer> {
    (0..case.layers)
        .map(|l| {
            let input_size = if l == 0 {
                case.input_size
            } else {
                case.hidden_size
            };
            let weight = |name: &str| &case.weights[&format!("{name}_l{l}")];
            let mut layer = LstmLayerConfig::new(input_size, case.hidden_size).init(device);
            layer.input_weight =
                Param::from_tensor(tensor::<2>(weight("weight_ih"), device).transpose());
            layer.recurrent_weight =
                Param::from_tensor(tensor::<2>(weight("weight_hh"), device).transpose());
            layer.bias = Param::from_tensor(tensor::<1>(weight("bias_ih"), device));
            layer.recurrent_bias = Some(Param::from_tensor(tensor::<1>(weight("bias_hh"), device)));
            layer
        })
        .collect()
}

/// Runs `case` and returns, by PyTorch's names, the forward results and the gradients.
fn run(case: &Case, device: &Device, implementation: Implementation) -> HashMap<String, Vec<f64>> {
    let layers = layers(case, device);
    let input = tensor::<3>(&case.input, device).require_grad();
    let h0 = tensor::<3>(&case.h0, device).require_grad();
    let c0 = tensor::<3>(&case.c0, device).require_grad();
    let (b, h) = (case.batch, case.hidden_size);

    let mut features = input.clone();
    let mut finals = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        let state = LayerState {
            hidden: h0.clone().narrow(0, l, 1).reshape([b, h]),
            cell: c0.clone().narrow(0, l, 1).reshape([b, h]),
        };
        let (output, last) = match implementation {
            Implementation::Default => layer.forward(features, state),
            Implementation::Fused => layer.forward_fused(features, state),
            Implementation::Reference => layer.forward_reference(features, state),
        };
        features = output;
        finals.push(last);
    }
    let hn = Tensor::stack::<3>(finals.iter().map(|s| s.hidden.clone()).collect(), 0);
    let cn = Tensor::stack::<3>(finals.iter().map(|s| s.cell.clone()).collect(), 0);
    let loss = (features.clone() * tensor::<3>(&case.r_output, device)).sum()
        + (hn.clone() * tensor::<3>(&case.r_hidden, device)).sum()
        + (cn.clone() * tensor::<3>(&case.r_cell, device)).sum();
    let grads = loss.backward();

    let mut results = HashMap::new();
    results.insert("output".to_string(), read(features));
    results.insert("hn".to_string(), read(hn));
    results.insert("cn".to_string(), read(cn));
    results.insert("input".to_string(), read(input.grad(&grads).unwrap()));
    results.insert("h0".to_string(), read(h0.grad(&grads).unwrap()));
    results.insert("c0".to_string(), read(c0.grad(&grads).unwrap()));
    for (l, layer) in layers.iter().enumerate() {
        let grad = |param: &Param<Tensor<2>>| param.val().grad(&grads).unwrap().transpose();
        results.insert(format!("weight_ih_l{l}"), read(grad(&layer.input_weight)));
        results.insert(
            format!("weight_hh_l{l}"),
            read(grad(&layer.recurrent_weight)),
        );
        let bias = |param: &Param<Tensor<1>>| read(param.val().grad(&grads).unwrap());
        results.insert(format!("bias_ih_l{l}"), bias(&layer.bias));
        let recurrent_bias = layer.recurrent_bias.as_ref().expect("set above");
        results.insert(format!("bias_hh_l{l}"), bias(recurrent_bias));
    }
    results
}

fn compare(case: &Case, device: &Device, implementation: Implementation) {
    let got = run(case, device, implementation);
    let mut expected: Vec<(&str, &Flat)> =
        vec![("output", &case.output), ("hn", &case.hn), ("cn", &case.cn)];
    expected.extend(case.gradients.iter().map(|(k, v)| (k.as_str(), v)));
    let context = format!("{} on {device:?} ({implementation:?})", case.name);
    assert_matches_pytorch(&got, &expected, &context);
}

fn check(device: &Device, implementations: &[Implementation]) {
    let fixtures = fixtures();
    assert!(fixtures.cases.len() >= 5);
    assert!(
        fixtures
            .cases
            .iter()
            .any(|c| c.layers == 2 && c.seq_len > 1)
    );
    for case in &fixtures.cases {
        for &implementation in implementations {
            compare(case, device, implementation);
        }
    }
}

const CPU_IMPLEMENTATIONS: [Implementation; 3] = [
    Implementation::Default,
    Implementation::Fused,
    Implementation::Reference,
];

#[test]
fn flex_matches_pytorch() {
    check(&Device::flex().autodiff(), &CPU_IMPLEMENTATIONS);
}

#[test]
#[allow(deprecated)]
fn ndarray_matches_pytorch() {
    check(&Device::ndarray().autodiff(), &CPU_IMPLEMENTATIONS);
}

/// A wgpu device, or `None` (test skipped) where there is none, unless CI demands one.
#[test]
fn wgpu_matches_pytorch() {
    if let Some(device) = wgpu() {
        check(
            &device.autodiff(),
            &[Implementation::Default, Implementation::Reference],
        );
    }
}

/// Central differences of the loss against the gradients of the fused layer and the reference,
/// for a few entries of every input (f32, so a coarse step and tolerance).
#[test]
fn gradients_match_finite_differences() {
    let fixtures = fixtures();
    let case = fixtures
        .cases
        .iter()
        .find(|c| c.name == "input_wider_than_hidden")
        .unwrap();
    let device = Device::flex();
    let loss_with = |name: &str, index: usize, delta: f64| -> f64 {
        // Rebuild the case with one value moved, and evaluate the loss without gradients.
        let mut weights: HashMap<String, Flat> = HashMap::new();
        for (k, v) in &case.weights {
            let mut values = v.values.clone();
            if k == name {
                values[index] += delta;
            }
            weights.insert(
                k.clone(),
                Flat {
                    shape: v.shape.clone(),
                    values,
                },
            );
        }
        let nudge = |flat: &Flat, which: &str| {
            let mut values = flat.values.clone();
            if which == name {
                values[index] += delta;
            }
            Flat {
                shape: flat.shape.clone(),
                values,
            }
        };
        let moved = Case {
            name: case.name.clone(),
            weights,
            input: nudge(&case.input, "input"),
            h0: nudge(&case.h0, "h0"),
            c0: nudge(&case.c0, "c0"),
            output: nudge(&case.output, ""),
            hn: nudge(&case.hn, ""),
            cn: nudge(&case.cn, ""),
            r_output: nudge(&case.r_output, ""),
            r_hidden: nudge(&case.r_hidden, ""),
            r_cell: nudge(&case.r_cell, ""),
            gradients: HashMap::new(),
            ..*case
        };
        let layer = &layers(&moved, &device)[0];
        let (b, h) = (case.batch, case.hidden_size);
        let state = LayerState {
            hidden: tensor::<3>(&moved.h0, &device).reshape([b, h]),
            cell: tensor::<3>(&moved.c0, &device).reshape([b, h]),
        };
        let (output, last) = layer.forward_reference(tensor::<3>(&moved.input, &device), state);
        let loss = (output * tensor::<3>(&case.r_output, &device)).sum()
            + (last.hidden.unsqueeze::<3>() * tensor::<3>(&case.r_hidden, &device)).sum()
            + (last.cell.unsqueeze::<3>() * tensor::<3>(&case.r_cell, &device)).sum();
        f64::from(loss.into_scalar::<f32>())
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
