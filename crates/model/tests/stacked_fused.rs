//! The fused CPU layer against the step-by-step reference in the setting training uses: two
//! stacked layers, run over two chunks with the state carried from the first into the second
//! (still tracked, so gradients flow back across the chunk boundary), with outputs, final
//! states and the gradient of every parameter, of the input and of the initial state compared.

use burn::module::Param;
use burn::prelude::*;
use charlstm_model::{LayerState, LstmLayer, LstmLayerConfig, SequenceLayer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOLERANCE: f32 = 1e-5;

fn random<const D: usize>(rng: &mut ChaCha8Rng, shape: [usize; D], device: &Device) -> Tensor<D> {
    let values: Vec<f32> = (0..shape.iter().product())
        .map(|_| rng.random_range(-0.9..0.9))
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn read<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.try_into_vec_as().expect("an f32 tensor")
}

fn assert_close(what: &str, fused: &[f32], reference: &[f32]) {
    assert_eq!(fused.len(), reference.len(), "{what}: lengths");
    for (index, (x, y)) in fused.iter().zip(reference).enumerate() {
        assert!(
            (x - y).abs() <= TOLERANCE * y.abs().max(1.0),
            "{what}[{index}]: fused {x}, reference {y}"
        );
    }
}

/// Two layers (input 3 → hidden 5 → hidden 5), an input of two chunks and tracked initial
/// states; the same seed gives the same values.
struct Stack {
    layers: [LstmLayer; 2],
    chunks: [Tensor<3>; 2],
    initial: [LayerState; 2],
}

impl Stack {
    fn new(device: &Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (batch, input_size, hidden) = (2, 3, 5);
        let mut layer = |input_size: usize| {
            let mut layer = LstmLayerConfig::new(input_size, hidden).init(device);
            layer.input_weight =
                Param::from_tensor(random(&mut rng, [input_size, 4 * hidden], device));
            layer.recurrent_weight =
                Param::from_tensor(random(&mut rng, [hidden, 4 * hidden], device));
            layer.bias = Param::from_tensor(random(&mut rng, [4 * hidden], device));
            layer.recurrent_bias = Some(Param::from_tensor(random(&mut rng, [4 * hidden], device)));
            layer
        };
        let layers = [layer(input_size), layer(hidden)];
        let chunks = [
            random(&mut rng, [4, batch, input_size], device).require_grad(),
            random(&mut rng, [3, batch, input_size], device).require_grad(),
        ];
        let mut state = || LayerState {
            hidden: random(&mut rng, [batch, hidden], device).require_grad(),
            cell: random(&mut rng, [batch, hidden], device).require_grad(),
        };
        let initial = [state(), state()];
        Self {
            layers,
            chunks,
            initial,
        }
    }

    /// Both chunks through both layers; returns the top layer's outputs of each chunk and the
    /// final states.
    fn forward(&self, fused: bool) -> (Vec<Tensor<3>>, Vec<LayerState>) {
        let mut states = self.initial.to_vec();
        let mut outputs = Vec::new();
        for chunk in &self.chunks {
            let mut features = chunk.clone();
            for (layer, state) in self.layers.iter().zip(states.iter_mut()) {
                let (output, next) = if fused {
                    layer.forward_fused(features, state.clone())
                } else {
                    layer.forward_reference(features, state.clone())
                };
                *state = next;
                features = output;
            }
            outputs.push(features);
        }
        (outputs, states)
    }

    /// Every gradient of a fixed random weighting of the outputs and final states, by name.
    fn gradients(&self, fused: bool) -> Vec<(String, Vec<f32>)> {
        let device = self.chunks[0].device();
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let (outputs, states) = self.forward(fused);
        let mut loss = Tensor::<1>::zeros([1], &device);
        for output in outputs {
            let weights = random(&mut rng, output.dims(), &device);
            loss = loss + (output * weights).sum();
        }
        for state in states {
            let weights = random(&mut rng, state.cell.dims(), &device);
            loss = loss + (state.cell * weights).sum();
        }
        let grads = loss.backward();
        let mut named = Vec::new();
        let mut add = |name: String, grad: Option<Tensor<3>>| {
            named.push((
                name.clone(),
                read(grad.unwrap_or_else(|| panic!("no gradient for {name}"))),
            ));
        };
        for (index, chunk) in self.chunks.iter().enumerate() {
            add(format!("input chunk {index}"), chunk.grad(&grads));
        }
        for (index, layer) in self.layers.iter().enumerate() {
            add(
                format!("W_x {index}"),
                layer.input_weight.val().grad(&grads).map(|g| g.unsqueeze()),
            );
            add(
                format!("W_h {index}"),
                layer
                    .recurrent_weight
                    .val()
                    .grad(&grads)
                    .map(|g| g.unsqueeze()),
            );
            add(
                format!("bias {index}"),
                layer.bias.val().grad(&grads).map(|g| g.unsqueeze()),
            );
            add(
                format!("recurrent bias {index}"),
                layer
                    .recurrent_bias
                    .as_ref()
                    .and_then(|b| b.val().grad(&grads))
                    .map(|g| g.unsqueeze()),
            );
            let state = &self.initial[index];
            add(
                format!("h0 {index}"),
                state.hidden.grad(&grads).map(|g| g.unsqueeze()),
            );
            add(
                format!("c0 {index}"),
                state.cell.grad(&grads).map(|g| g.unsqueeze()),
            );
        }
        named
    }
}

fn check(device: &Device) {
    let stack = Stack::new(device);
    let (fused, fused_states) = stack.forward(true);
    let (reference, reference_states) = stack.forward(false);
    for (index, (f, r)) in fused.into_iter().zip(reference).enumerate() {
        assert_close(&format!("outputs of chunk {index}"), &read(f), &read(r));
    }
    for (index, (f, r)) in fused_states.into_iter().zip(reference_states).enumerate() {
        assert_close(
            &format!("final hidden {index}"),
            &read(f.hidden),
            &read(r.hidden),
        );
        assert_close(&format!("final cell {index}"), &read(f.cell), &read(r.cell));
    }
    let fused = Stack::new(device).gradients(true);
    let reference = Stack::new(device).gradients(false);
    assert_eq!(fused.len(), 14);
    for ((name, f), (_, r)) in fused.iter().zip(&reference) {
        assert!(
            r.iter().any(|&g| g != 0.0),
            "the reference gradient of {name} is all zero"
        );
        assert_close(&format!("grad {name}"), f, r);
    }
}

#[test]
fn two_stacked_layers_over_two_carried_chunks_on_flex() {
    check(&Device::flex().autodiff());
}

#[test]
#[allow(deprecated)]
fn two_stacked_layers_over_two_carried_chunks_on_ndarray() {
    check(&Device::ndarray().autodiff());
}
