use super::*;

use crate::cpu::parity::ndarray_device as device;

#[test]
fn both_biases_start_as_pytorchs_plus_the_forget_bias_and_both_train() {
    let device = device().autodiff();
    let hidden = 64;
    let bound = 1.0 / (hidden as f32).sqrt();
    let layer = LstmLayerConfig::new(3, hidden)
        .with_forget_bias(1.0)
        .init(&device);
    let bias: Vec<f32> = layer.bias.val().try_into_vec_as().unwrap();
    let recurrent: Vec<f32> = layer
        .recurrent_bias
        .as_ref()
        .expect("a new layer has a recurrent bias")
        .val()
        .try_into_vec_as()
        .unwrap();
    let within = |values: &[f32], centre: f32| {
        values.iter().all(|&b| (b - centre).abs() <= bound)
            && values.iter().any(|&b| (b - centre).abs() > bound / 4.0)
    };
    assert!(within(&bias[..hidden], 0.0), "input gate: {:?}", &bias[..8]);
    assert!(within(&bias[hidden..2 * hidden], 1.0), "forget gate");
    assert!(
        within(&bias[2 * hidden..], 0.0),
        "candidate and output gates"
    );
    assert!(within(&recurrent, 0.0), "recurrent bias");
    assert_ne!(
        bias[2 * hidden..],
        recurrent[2 * hidden..],
        "drawn independently"
    );

    let input = Tensor::<3>::ones([2, 1, 3], &device);
    let (output, _) = layer.forward(input, LayerState::zeros(1, hidden, &device));
    let grads = output.sum().backward();
    let grad_of = |param: &Param<Tensor<1>>| -> Vec<f32> {
        param
            .val()
            .grad(&grads)
            .expect("every bias receives a gradient")
            .try_into_vec_as()
            .unwrap()
    };
    // PyTorch's two biases each get the whole gradient of their sum.
    let input_grad = grad_of(&layer.bias);
    assert!(input_grad.iter().any(|&g| g != 0.0));
    assert_eq!(input_grad, grad_of(layer.recurrent_bias.as_ref().unwrap()));
}

#[test]
fn a_layer_without_recurrent_bias_uses_its_bias_alone() {
    let device = device();
    let layer = LstmLayerConfig::new(3, 4).init(&device);
    let bias: Vec<f32> = layer.bias.val().try_into_vec_as().unwrap();
    let sum: Vec<f32> = layer.gate_bias().try_into_vec_as().unwrap();
    assert_ne!(sum, bias);
    let old = layer.without_recurrent_bias();
    let alone: Vec<f32> = old.gate_bias().try_into_vec_as().unwrap();
    assert_eq!(alone, bias);
}

/// One step by hand for a 1-unit LSTM whose weights are all 0.5 and biases 0.25 and
/// -0.25: gates = 0.5·x + 0.5·h + 0 = 0.5 for x = 1, h = 0; c = σ(.5)·0 + σ(.5)·tanh(.5);
/// h = σ(.5)·tanh(c).
#[test]
fn one_step_matches_the_equations() {
    let device = device();
    let mut layer = LstmLayerConfig::new(1, 1).init(&device);
    let constant = |value: f32, shape: &[usize]| {
        let len = shape.iter().product();
        TensorData::new(vec![value; len], shape.to_vec())
    };
    layer.input_weight = Param::from_data(constant(0.5, &[1, 4]), &device);
    layer.recurrent_weight = Param::from_data(constant(0.5, &[1, 4]), &device);
    layer.bias = Param::from_data(constant(0.25, &[4]), &device);
    layer.recurrent_bias = Some(Param::from_data(constant(-0.25, &[4]), &device));
    let (output, state) = layer.forward(
        Tensor::ones([1, 1, 1], &device),
        LayerState::zeros(1, 1, &device),
    );
    let s = 1.0 / (1.0 + (-0.5f32).exp());
    let c = s * 0.5f32.tanh();
    let h = s * c.tanh();
    let got_c: f32 = state.cell.into_scalar();
    let got_h: f32 = output.into_scalar();
    assert!((got_c - c).abs() < 1e-6, "{got_c} vs {c}");
    assert!((got_h - h).abs() < 1e-6, "{got_h} vs {h}");
}

/// What the tests of the layer's paths share: random setups, their results, comparison.
mod support;

mod fused_against_reference;

/// The wgpu cell operation against the reference on the same device, and against ndarray.
/// Tiny shapes: lavapipe compiles every kernel on first use, slowly.
mod cell_op_against_reference;
