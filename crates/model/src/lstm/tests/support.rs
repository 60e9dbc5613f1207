use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn flex() -> Device {
    Device::flex()
}

#[allow(deprecated)]
pub fn ndarray() -> Device {
    Device::ndarray()
}

pub use crate::testing::wgpu_or_skip as wgpu;

/// A tensor of `shape` with values drawn uniformly from `[-scale, scale)`.
pub fn random<const D: usize>(
    rng: &mut ChaCha8Rng,
    shape: [usize; D],
    scale: f32,
    device: &Device,
) -> Tensor<D> {
    let values: Vec<f32> = (0..shape.iter().product())
        .map(|_| rng.random_range(-scale..scale))
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub fn read<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.try_into_vec_as().expect("an f32 tensor")
}

/// Within 1e-5, relative above magnitude 1.
pub fn assert_close(what: &str, actual: &[f32], reference: &[f32]) {
    assert_eq!(actual.len(), reference.len(), "{what}: lengths");
    for (index, (x, y)) in actual.iter().zip(reference).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * y.abs().max(1.0),
            "{what}[{index}]: {x}, reference {y}"
        );
    }
}

/// The initial state a test starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    /// Random, and requiring a gradient on autodiff devices.
    Tracked,
    /// Random but detached, as the trainer carries it between chunks.
    Detached,
    /// All zeros, as at the start of a stream.
    Zero,
}

/// Which of the layer's implementations runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    /// [`LstmLayer::forward_fused`] (flex, ndarray).
    Fused,
    /// [`LstmLayer::forward_cell_op`] (wgpu).
    CellOp,
    /// [`LstmLayer::forward_reference`] (anywhere).
    Reference,
}

/// A stack of layers with random weights and biases, a random input and an initial state
/// per layer; the same arguments give the same values on every device.
pub struct Setup {
    layers: Vec<(LstmLayer, LayerState)>,
    input: Tensor<3>,
}

impl Setup {
    /// `depth` layers, the first `input_size → hidden_size`, the others
    /// `hidden_size → hidden_size`.
    pub fn new(
        [seq_len, batch, input_size, hidden_size]: [usize; 4],
        depth: usize,
        initial: InitialState,
        device: &Device,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(
            (seq_len * 1000 + batch * 100 + input_size * 10 + hidden_size) as u64,
        );
        let gates = 4 * hidden_size;
        let mut input = random(&mut rng, [seq_len, batch, input_size], 1.5, device);
        if device.is_autodiff() {
            input = input.require_grad();
        }
        let layers = (0..depth)
            .map(|index| {
                let width = if index == 0 { input_size } else { hidden_size };
                let mut layer = LstmLayerConfig::new(width, hidden_size).init(device);
                layer.input_weight =
                    Param::from_tensor(random(&mut rng, [width, gates], 0.8, device));
                layer.recurrent_weight =
                    Param::from_tensor(random(&mut rng, [hidden_size, gates], 0.8, device));
                layer.bias = Param::from_tensor(random(&mut rng, [gates], 0.5, device));
                layer.recurrent_bias =
                    Some(Param::from_tensor(random(&mut rng, [gates], 0.5, device)));
                let state = LayerState {
                    hidden: random(&mut rng, [batch, hidden_size], 0.9, device),
                    cell: random(&mut rng, [batch, hidden_size], 2.0, device),
                };
                let state = match initial {
                    InitialState::Zero => LayerState::zeros(batch, hidden_size, device),
                    _ if !device.is_autodiff() => state,
                    InitialState::Tracked => LayerState {
                        hidden: state.hidden.require_grad(),
                        cell: state.cell.require_grad(),
                    },
                    // Computed from a tracked tensor, then cut off, as between chunks.
                    InitialState::Detached => LayerState {
                        hidden: state.hidden.require_grad() * 2.0,
                        cell: state.cell.require_grad() * 2.0,
                    }
                    .detach(),
                };
                (layer, state)
            })
            .collect();
        Self { layers, input }
    }

    /// The last layer's outputs and every layer's final state.
    fn forward(&self, implementation: Implementation) -> (Tensor<3>, Vec<LayerState>) {
        let mut sequence = self.input.clone();
        let mut states = Vec::with_capacity(self.layers.len());
        for (layer, state) in &self.layers {
            let state = state.clone();
            let (outputs, state) = match implementation {
                Implementation::Fused => layer.forward_fused(sequence, state),
                Implementation::CellOp => layer.forward_cell_op(sequence, state),
                Implementation::Reference => layer.forward_reference(sequence, state),
            };
            sequence = outputs;
            states.push(state);
        }
        (sequence, states)
    }

    /// The values `implementation` computes: the outputs, every final state and, on autodiff
    /// devices, the gradients of `L = Σ outputs ⊙ R_1 + Σ_layers (Σ h_T ⊙ R + Σ c_T ⊙ R')`
    /// with fixed random `R`s for the input and every layer's `W_x`, `W_h`, bias, `h_0`
    /// and `c_0` (`None`: no gradient).
    pub fn run(&self, implementation: Implementation) -> Vec<(String, Option<Vec<f32>>)> {
        let device = self.input.device();
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let (outputs, states) = self.forward(implementation);
        let mut values = vec![("outputs".to_string(), Some(read(outputs.clone())))];
        let mut loss = (outputs.clone() * random(&mut rng, outputs.dims(), 1.0, &device)).sum();
        for (index, state) in states.into_iter().enumerate() {
            values.push((
                format!("layer {index} h_T"),
                Some(read(state.hidden.clone())),
            ));
            values.push((format!("layer {index} c_T"), Some(read(state.cell.clone()))));
            loss = loss
                + (state.hidden.clone() * random(&mut rng, state.hidden.dims(), 1.0, &device))
                    .sum()
                + (state.cell.clone() * random(&mut rng, state.cell.dims(), 1.0, &device)).sum();
        }
        if !device.is_autodiff() {
            return values;
        }

        let grads = loss.backward();
        values.push(("grad input".into(), self.input.grad(&grads).map(read)));
        for (index, (layer, state)) in self.layers.iter().enumerate() {
            let grads = [
                ("W_x", layer.input_weight.val().grad(&grads)),
                ("W_h", layer.recurrent_weight.val().grad(&grads)),
                ("bias", layer.bias.val().grad(&grads).map(|g| g.unsqueeze())),
                (
                    "recurrent bias",
                    layer
                        .recurrent_bias
                        .as_ref()
                        .and_then(|b| b.val().grad(&grads))
                        .map(|g| g.unsqueeze()),
                ),
                ("h0", state.hidden.grad(&grads)),
                ("c0", state.cell.grad(&grads)),
            ];
            for (name, grad) in grads {
                values.push((format!("layer {index} grad {name}"), grad.map(read)));
            }
        }
        values
    }
}

/// Two runs' values agree, and exactly the gradients that should exist do: those of the
/// initial states only when they are tracked.
pub fn assert_agree(
    values: Vec<(String, Option<Vec<f32>>)>,
    reference: Vec<(String, Option<Vec<f32>>)>,
    initial: InitialState,
) {
    assert_eq!(values.len(), reference.len(), "number of values");
    for ((name, value), (_, reference)) in values.into_iter().zip(reference) {
        let expected = initial == InitialState::Tracked
            || !(name.ends_with("grad h0") || name.ends_with("grad c0"));
        assert_eq!(reference.is_some(), expected, "reference {name}");
        assert_eq!(value.is_some(), expected, "{name}");
        if let (Some(value), Some(reference)) = (value, reference) {
            assert_close(&name, &value, &reference);
        }
    }
}

/// `implementation` against [`Implementation::Reference`] on `device`: outputs, final states and on
/// autodiff devices every gradient agree.
pub fn compare(
    shape: [usize; 4],
    depth: usize,
    initial: InitialState,
    implementation: Implementation,
    device: &Device,
) {
    // A fresh setup per path, so that neither backward pass sees the other's graph.
    let values = Setup::new(shape, depth, initial, device).run(implementation);
    let reference = Setup::new(shape, depth, initial, device).run(Implementation::Reference);
    assert_agree(values, reference, initial);
}
