use super::*;
use crate::config::ModelConfig;
use crate::cpu::parity::ndarray_device;

const VOCAB: usize = 7;
const TOKENS: [usize; 9] = [0, 3, 6, 1, 1, 5, 2, 4, 0];

fn model(cell: CellKind, residual: bool, device: &Device) -> CharModel {
    device.seed(3);
    ModelConfig {
        embedding_size: 4,
        hidden_size: 5,
        num_layers: 2,
        residual,
        cell,
        forget_bias: 1.0,
        ..ModelConfig::default()
    }
    .init(VOCAB, device)
}

fn host(tensor: Tensor<1>) -> Vec<f64> {
    let values: Vec<f32> = tensor.try_into_vec_as().unwrap();
    values.into_iter().map(f64::from).collect()
}

fn host2(tensor: Tensor<2>) -> Vec<f64> {
    host(tensor.flatten(0, 1))
}

fn sigma(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `x·W + h·U + b` for one position in f64: `W` `[I, G]`, `U` `[H, G]`, row-major.
fn affine(x: &[f64], w: &[f64], h: &[f64], u: &[f64], b: &[f64]) -> Vec<f64> {
    let width = b.len();
    (0..width)
        .map(|g| {
            b[g] + (0..x.len()).map(|k| x[k] * w[k * width + g]).sum::<f64>()
                + (0..h.len()).map(|k| h[k] * u[k * width + g]).sum::<f64>()
        })
        .collect()
}

/// What one layer computes at each position, in f64 straight from the equations.
struct Expected {
    outputs: Vec<Vec<f64>>,
    cells: Vec<Vec<f64>>,
    /// The gates in the order the trace lists them.
    gates: Vec<Vec<Vec<f64>>>,
}

fn reference_layer(layer: &RecurrentLayer, inputs: &[Vec<f64>]) -> Expected {
    let hidden_size = layer.hidden_size();
    let (mut h, mut c) = (vec![0.0; hidden_size], vec![0.0; hidden_size]);
    let (mut outputs, mut cells, mut gates) = (Vec::new(), Vec::new(), Vec::new());
    for x in inputs {
        let part = |v: &[f64], k: usize| v[k * hidden_size..(k + 1) * hidden_size].to_vec();
        match layer {
            RecurrentLayer::Lstm(lstm) => {
                let z = affine(
                    x,
                    &host2(lstm.input_weight.val()),
                    &h,
                    &host2(lstm.recurrent_weight.val()),
                    &host(lstm.gate_bias()),
                );
                let [i, f, g, o] = [0, 1, 2, 3].map(|k| part(&z, k));
                let (i, f, o): (Vec<f64>, Vec<f64>, Vec<f64>) = (
                    i.iter().map(|&v| sigma(v)).collect(),
                    f.iter().map(|&v| sigma(v)).collect(),
                    o.iter().map(|&v| sigma(v)).collect(),
                );
                c = (0..hidden_size)
                    .map(|u| f[u] * c[u] + i[u] * g[u].tanh())
                    .collect();
                h = (0..hidden_size).map(|u| o[u] * c[u].tanh()).collect();
                gates.push(vec![i, f, o]);
            }
            RecurrentLayer::Gru(gru) => {
                let zero = vec![0.0; x.len()];
                let a = affine(
                    x,
                    &host2(gru.input_weight.val()),
                    &[],
                    &[],
                    &host(gru.input_bias.val()),
                );
                let u = affine(
                    &zero[..0],
                    &[],
                    &h,
                    &host2(gru.recurrent_weight.val()),
                    &host(gru.recurrent_bias.val()),
                );
                let r: Vec<f64> = (0..hidden_size).map(|k| sigma(a[k] + u[k])).collect();
                let z: Vec<f64> = (0..hidden_size)
                    .map(|k| sigma(a[hidden_size + k] + u[hidden_size + k]))
                    .collect();
                let n: Vec<f64> = (0..hidden_size)
                    .map(|k| (a[2 * hidden_size + k] + r[k] * u[2 * hidden_size + k]).tanh())
                    .collect();
                h = (0..hidden_size)
                    .map(|k| (1.0 - z[k]) * n[k] + z[k] * h[k])
                    .collect();
                gates.push(vec![r, z]);
            }
            RecurrentLayer::Rnn(rnn) => {
                let z = affine(
                    x,
                    &host2(rnn.input_weight.val()),
                    &h,
                    &host2(rnn.recurrent_weight.val()),
                    &host(rnn.bias.val()),
                );
                h = z.iter().map(|v| v.tanh()).collect();
                gates.push(Vec::new());
            }
        }
        outputs.push(h.clone());
        cells.push(c.clone());
    }
    Expected {
        outputs,
        cells,
        gates,
    }
}

fn assert_close(what: &str, got: &[f32], expected: impl IntoIterator<Item = f64>) {
    let expected: Vec<f64> = expected.into_iter().collect();
    assert_eq!(got.len(), expected.len(), "{what}: lengths");
    for (index, (&got, expected)) in got.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(got) - expected).abs() <= 1e-5,
            "{what}[{index}]: {got} against {expected}"
        );
    }
}

/// Every layer's outputs, cells and gates, and the next-token distribution, against the
/// cells' equations evaluated in f64 from the same weights, for every cell, with and without
/// residual connections, on a backend with fused layers and on one without.
#[test]
fn the_trace_follows_the_equations_of_every_cell() {
    for device in [Device::flex(), ndarray_device()] {
        for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
            for residual in [false, true] {
                let model = model(cell, residual, &device);
                let inspection = inspect(&model, &TOKENS).unwrap();
                assert_eq!(
                    (inspection.positions, inspection.vocab_size),
                    (TOKENS.len(), VOCAB)
                );
                let embedding = host2(model.embedding.weight.val());
                let width = embedding.len() / VOCAB;
                let mut inputs: Vec<Vec<f64>> = TOKENS
                    .iter()
                    .map(|&id| embedding[id * width..(id + 1) * width].to_vec())
                    .collect();
                for (index, (layer, trace)) in
                    model.layers.iter().zip(&inspection.layers).enumerate()
                {
                    let what = format!("{cell:?} residual {residual} layer {index}");
                    let Expected {
                        outputs,
                        cells,
                        gates,
                    } = reference_layer(layer, &inputs);
                    assert_eq!(trace.cell, cell);
                    assert_close(&format!("{what} h"), &trace.hidden, outputs.concat());
                    match &trace.cell_state {
                        Some(state) => assert_close(&format!("{what} c"), state, cells.concat()),
                        None => assert_ne!(cell, CellKind::Lstm, "{what}: an LSTM has a cell"),
                    }
                    let names: Vec<&str> = trace.gates.iter().map(|g| g.name).collect();
                    let expected_names: &[&str] = match cell {
                        CellKind::Lstm => &["input", "forget", "output"],
                        CellKind::Gru => &["reset", "update"],
                        CellKind::Rnn => &[],
                    };
                    assert_eq!(names, expected_names, "{what}");
                    for (k, gate) in trace.gates.iter().enumerate() {
                        let expected = gates.iter().flat_map(|step| step[k].clone());
                        assert_close(&format!("{what} {}", gate.name), &gate.values, expected);
                    }
                    inputs = if residual && index > 0 {
                        outputs
                            .iter()
                            .zip(&inputs)
                            .map(|(o, x)| o.iter().zip(x).map(|(a, b)| a + b).collect())
                            .collect()
                    } else {
                        outputs
                    };
                }
                let head_weight = host2(model.head.weight.val());
                let head_bias = host(model.head.bias.as_ref().unwrap().val());
                for (t, x) in inputs.iter().enumerate() {
                    let logits = affine(x, &head_weight, &[], &[], &head_bias);
                    let top = logits.iter().cloned().fold(f64::MIN, f64::max);
                    let total: f64 = logits.iter().map(|l| (l - top).exp()).sum();
                    let expected = logits.iter().map(|l| (l - top).exp() / total);
                    assert_close(
                        &format!("{cell:?} p(next | {t})"),
                        inspection.next_token_distribution(t),
                        expected,
                    );
                }
            }
        }
    }
}

/// One token is a whole text: its previous output is the zero state.
#[test]
fn a_single_token_is_inspected() {
    let device = Device::flex();
    let inspection = inspect(&model(CellKind::Lstm, false, &device), &[2]).unwrap();
    assert_eq!(inspection.positions, 1);
    assert_eq!(inspection.layers[0].hidden.len(), 5);
    let total: f32 = inspection.next_token_distribution(0).iter().sum();
    assert!((total - 1.0).abs() < 1e-5, "{total}");
}

#[test]
fn an_empty_text_and_unknown_ids_are_errors() {
    let device = Device::flex();
    let model = model(CellKind::Gru, false, &device);
    assert!(matches!(inspect(&model, &[]), Err(InspectError::Empty)));
    assert!(matches!(
        inspect(&model, &[1, VOCAB]),
        Err(InspectError::UnknownToken {
            id: VOCAB,
            vocab_size: VOCAB
        })
    ));
}
