//! An LSTM layer with fused gates.
//!
//! With `x_t` the input, `h` and `c` the hidden and cell state, and the gates in PyTorch's
//! order (input `i`, forget `f`, candidate `g`, output `o`) stacked along the last axis:
//!
//! ```text
//! [i | f | g | o] = x_t · W_x + h_{t-1} · W_h + b        (W_x: [I, 4H], W_h: [H, 4H], b: [4H])
//! i, f, o = σ(·)      g = tanh(·)
//! c_t = f ⊙ c_{t-1} + i ⊙ g
//! h_t = o ⊙ tanh(c_t)
//! ```
//!
//! On the CPU backends (flex, ndarray) the layer runs as one fused operation with a
//! hand-written backward pass ([`crate::fused_lstm`]). On wgpu it runs step by step: a
//! `[B, I] × [I, 4H]` and a `[B, H] × [H, 4H]` product and the bias as Burn tensor operations,
//! then the pointwise update as one GPU kernel with a hand-written backward kernel
//! ([`crate::gpu_lstm`], [`LstmLayer::forward_cell_op`]). [`LstmLayer::forward_reference`] is
//! the same computation in ordinary Burn tensor operations only, on every backend, with the
//! backward pass derived by autodiff: the reference the other paths are tested against, and the
//! path for anything they do not accept. PyTorch keeps the transposes, `weight_ih = W_xᵀ` and
//! `weight_hh = W_hᵀ`.
//!
//! Like PyTorch's, the layer has two biases, `b = b_x + b_h` (`bias_ih` and `bias_hh`), each
//! initialised on its own and each receiving the full gradient of `b`. That is not a detail:
//! under Adam two parameters with one gradient move `b` twice as fast as one would, and their
//! sum starts spread twice as wide. A layer saved before it had `b_h` has its whole `b` in
//! `b_x` and no `b_h` ([`LstmLayer::without_recurrent_bias`]).

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::sigmoid;

use crate::recurrent::{SequenceLayer, pytorch_bound, pytorch_uniform};
use crate::state::LayerState;
use crate::{fused_lstm, gpu_lstm};

/// Configuration of an [`LstmLayer`].
#[derive(Config, Debug)]
pub struct LstmLayerConfig {
    /// Width of the input at each step.
    pub input_size: usize,
    /// Width of the hidden and cell state.
    pub hidden_size: usize,
    /// Added to the forget gate's input bias at initialisation (0: PyTorch's initialisation).
    /// 1.0 keeps the cell's memory open early in training (Gers et al., 2000; Jozefowicz et
    /// al., 2015), though at a character model's usual budgets we measured it slower.
    #[config(default = 0.0)]
    pub forget_bias: f64,
}

/// A single-direction LSTM layer with the four gates fused into one weight matrix.
#[derive(Module, Debug)]
pub struct LstmLayer {
    /// Input-to-gates weights `W_x`, `[input_size, 4·hidden_size]`, gates ordered i, f, g, o.
    pub input_weight: Param<Tensor<2>>,
    /// State-to-gates weights `W_h`, `[hidden_size, 4·hidden_size]`, gates ordered i, f, g, o.
    pub recurrent_weight: Param<Tensor<2>>,
    /// Input bias `b_x` (PyTorch's `bias_ih`), `[4·hidden_size]`.
    pub bias: Param<Tensor<1>>,
    /// Recurrent bias `b_h` (PyTorch's `bias_hh`), `[4·hidden_size]`; `None` in a layer saved
    /// before layers had one, whose `bias` is then the whole gate bias.
    pub recurrent_bias: Option<Param<Tensor<1>>>,
    hidden_size: usize,
}

impl LstmLayerConfig {
    /// A new layer with PyTorch's initialisation: every weight and both biases
    /// `U(-1/√H, 1/√H)`, plus `forget_bias` on the forget gate's input bias.
    pub fn init(&self, device: &Device) -> LstmLayer {
        let hidden = self.hidden_size;
        let bound = pytorch_bound(hidden);
        let uniform = pytorch_uniform(hidden);
        // The forget-gate offset is added before the tensor becomes a parameter (not patched
        // in with slice_assign afterwards), so the bias stays one trainable leaf.
        let mut forget_offset = vec![0.0f32; 4 * hidden];
        forget_offset[hidden..2 * hidden].fill(self.forget_bias as f32);
        let input_bias =
            Tensor::<1>::random([4 * hidden], Distribution::Uniform(-bound, bound), device)
                + Tensor::from_data(TensorData::new(forget_offset, [4 * hidden]), device);
        LstmLayer {
            input_weight: uniform.init([self.input_size, 4 * hidden], device),
            recurrent_weight: uniform.init([hidden, 4 * hidden], device),
            bias: Param::from_tensor(input_bias),
            recurrent_bias: Some(uniform.init([4 * hidden], device)),
            hidden_size: hidden,
        }
    }
}

impl LstmLayer {
    /// The gate bias `b = b_x + b_h`, `[4·hidden_size]`.
    pub fn gate_bias(&self) -> Tensor<1> {
        match &self.recurrent_bias {
            Some(recurrent) => self.bias.val() + recurrent.val(),
            None => self.bias.val(),
        }
    }

    /// The layer without its recurrent bias, as layers were saved before they had one (their
    /// `bias` holds the whole gate bias).
    pub fn without_recurrent_bias(mut self) -> Self {
        self.recurrent_bias = None;
        self
    }

    /// [`SequenceLayer::forward`] step by step: the gate products and bias in Burn tensor
    /// operations, the rest of each step as one operation with a hand-written backward pass
    /// ([`gpu_lstm::lstm_cell`]).
    ///
    /// # Panics
    ///
    /// Unless [`gpu_lstm::accepts`] the input: wgpu, f32.
    pub fn forward_cell_op(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        self.step_by_step(input, state, gpu_lstm::lstm_cell)
    }

    /// [`SequenceLayer::forward`] step by step in Burn tensor operations, on any backend;
    /// autodiff derives the backward pass.
    pub fn forward_reference(
        &self,
        input: Tensor<3>,
        state: LayerState,
    ) -> (Tensor<3>, LayerState) {
        self.step_by_step(input, state, |gates, cell| self.cell_update(gates, cell))
    }

    /// The step loop of [`Self::forward_reference`] and [`Self::forward_cell_op`]: the gate
    /// products and bias in Burn tensor operations, then `cell_update` (gates `[B, 4H]`,
    /// `c_{t-1}` → `(h_t, c_t)`).
    fn step_by_step(
        &self,
        input: Tensor<3>,
        state: LayerState,
        cell_update: impl Fn(Tensor<2>, Tensor<2>) -> (Tensor<2>, Tensor<2>),
    ) -> (Tensor<3>, LayerState) {
        let [seq_len, batch, input_size] = input.dims();
        let gate_width = 4 * self.hidden_size;
        let input_weight = self.input_weight.val();
        let recurrent_weight = self.recurrent_weight.val();
        let bias = self.gate_bias().unsqueeze_dim(0);

        let LayerState {
            mut hidden,
            mut cell,
        } = state;
        let mut outputs = Vec::with_capacity(seq_len);
        for step in 0..seq_len {
            // The input is projected step by step rather than for all steps at once and then
            // sliced: the gradient of a slice is a zero tensor of the whole source with the
            // slice written in, so slicing a [seq_len · batch, 4H] projection would cost a
            // full-size zero fill per step on the way back. The input is 4× narrower.
            let x = input
                .clone()
                .narrow(0, step, 1)
                .reshape([batch, input_size]);
            let gates = x.matmul(input_weight.clone())
                + hidden.matmul(recurrent_weight.clone())
                + bias.clone();
            debug_assert_eq!(gates.dims(), [batch, gate_width]);
            (hidden, cell) = cell_update(gates, cell);
            outputs.push(hidden.clone());
        }
        (Tensor::stack(outputs, 0), LayerState { hidden, cell })
    }

    /// The pointwise part of a step: gate pre-activations `[batch, 4H]` and `c_{t-1}`
    /// `[batch, H]` to `(h_t, c_t)`.
    fn cell_update(&self, gates: Tensor<2>, cell: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let hidden_size = self.hidden_size;
        let input_forget = sigmoid(gates.clone().narrow(1, 0, 2 * hidden_size));
        let input_gate = input_forget.clone().narrow(1, 0, hidden_size);
        let forget_gate = input_forget.narrow(1, hidden_size, hidden_size);
        let candidate = gates.clone().narrow(1, 2 * hidden_size, hidden_size).tanh();
        let output_gate = sigmoid(gates.narrow(1, 3 * hidden_size, hidden_size));
        let cell = forget_gate * cell + input_gate * candidate;
        let hidden = output_gate * cell.clone().tanh();
        (hidden, cell)
    }
}

impl SequenceLayer for LstmLayer {
    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn forward_fused(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        fused_lstm::lstm_sequence(
            input,
            self.input_weight.val(),
            self.recurrent_weight.val(),
            self.gate_bias(),
            state,
        )
    }

    /// With the GPU cell ([`LstmLayer::forward_cell_op`]) where [`gpu_lstm::accepts`] the
    /// input, else in plain tensor operations ([`LstmLayer::forward_reference`]).
    fn forward_stepwise(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        if gpu_lstm::accepts(&input) {
            self.forward_cell_op(input, state)
        } else {
            self.forward_reference(input, state)
        }
    }
}

#[cfg(test)]
mod tests {
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
    mod support {
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

        /// The wgpu device, checked with one tiny computation; `None` (the wgpu tests skip) if
        /// this machine has no usable adapter, unless `CHARLSTM_REQUIRE_WGPU` is set.
        pub fn wgpu() -> Option<Device> {
            let device = Device::wgpu(DeviceKind::DefaultDevice);
            let probe = device.clone();
            // wgpu reports a missing adapter by panicking on first use.
            let outcome = std::panic::catch_unwind(move || {
                Tensor::<1>::from_floats([1.0, 2.0], &probe)
                    .sum()
                    .into_scalar::<f32>()
            });
            match outcome {
                Ok(3.0) => Some(device),
                _ if std::env::var_os("CHARLSTM_REQUIRE_WGPU").is_some() => {
                    panic!("CHARLSTM_REQUIRE_WGPU is set but wgpu is unusable")
                }
                _ => {
                    eprintln!("skipping the wgpu part: no usable wgpu adapter");
                    None
                }
            }
        }

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
                let mut loss =
                    (outputs.clone() * random(&mut rng, outputs.dims(), 1.0, &device)).sum();
                for (index, state) in states.into_iter().enumerate() {
                    values.push((
                        format!("layer {index} h_T"),
                        Some(read(state.hidden.clone())),
                    ));
                    values.push((format!("layer {index} c_T"), Some(read(state.cell.clone()))));
                    loss = loss
                        + (state.hidden.clone()
                            * random(&mut rng, state.hidden.dims(), 1.0, &device))
                        .sum()
                        + (state.cell.clone() * random(&mut rng, state.cell.dims(), 1.0, &device))
                            .sum();
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
            let reference =
                Setup::new(shape, depth, initial, device).run(Implementation::Reference);
            assert_agree(values, reference, initial);
        }
    }

    mod fused_against_reference {
        use super::support::*;
        use super::*;

        /// [seq_len, batch, input_size, hidden_size]
        const SHAPES: [[usize; 4]; 6] = [
            [1, 1, 1, 1],
            [1, 3, 2, 4],
            [5, 1, 3, 2],
            [7, 3, 5, 4],
            [7, 3, 4, 6],
            [3, 2, 8, 8],
        ];

        fn check_device(device: &Device) {
            for shape in SHAPES {
                for initial in [
                    InitialState::Tracked,
                    InitialState::Detached,
                    InitialState::Zero,
                ] {
                    compare(shape, 1, initial, Implementation::Fused, device);
                }
            }
        }

        #[test]
        fn on_flex() {
            check_device(&flex());
        }

        #[test]
        fn on_ndarray() {
            check_device(&ndarray());
        }

        #[test]
        fn on_flex_with_autodiff() {
            check_device(&flex().autodiff());
        }

        #[test]
        fn on_ndarray_with_autodiff() {
            check_device(&ndarray().autodiff());
        }

        #[test]
        fn with_gradient_checkpointing() {
            check_device(&flex().autodiff().gradient_checkpointing());
            check_device(&ndarray().autodiff().gradient_checkpointing());
        }

        #[test]
        fn the_cpu_backends_take_the_fused_path_and_wgpu_the_cell_op() {
            for device in [flex(), ndarray(), flex().autodiff(), ndarray().autodiff()] {
                assert!(crate::fused_lstm::supports(&device), "{device:?}");
                assert!(!crate::gpu_lstm::supports(&device), "{device:?}");
            }
            let wgpu = Device::wgpu(DeviceKind::DefaultDevice);
            for device in [wgpu.clone(), wgpu.autodiff()] {
                assert!(!crate::fused_lstm::supports(&device), "{device:?}");
                assert!(crate::gpu_lstm::supports(&device), "{device:?}");
            }
        }
    }

    /// The wgpu cell operation against the reference on the same device, and against ndarray.
    /// Tiny shapes: lavapipe compiles every kernel on first use, slowly.
    mod cell_op_against_reference {
        use super::support::*;
        use super::*;

        /// One step of one row, then five steps of three rows with input width ≠ hidden width.
        const SHAPES: [[usize; 4]; 2] = [[1, 1, 1, 1], [5, 3, 2, 4]];

        #[test]
        fn without_autodiff() {
            let Some(wgpu) = wgpu() else { return };
            for shape in SHAPES {
                compare(
                    shape,
                    1,
                    InitialState::Detached,
                    Implementation::CellOp,
                    &wgpu,
                );
                compare(shape, 1, InitialState::Zero, Implementation::CellOp, &wgpu);
            }
        }

        #[test]
        fn gradients_with_tracked_and_detached_state() {
            let Some(wgpu) = wgpu() else { return };
            let wgpu = wgpu.autodiff();
            for shape in SHAPES {
                for initial in [InitialState::Tracked, InitialState::Detached] {
                    compare(shape, 1, initial, Implementation::CellOp, &wgpu);
                }
            }
        }

        #[test]
        fn gradients_with_gradient_checkpointing() {
            let Some(wgpu) = wgpu() else { return };
            let wgpu = wgpu.autodiff().gradient_checkpointing();
            compare(
                SHAPES[1],
                1,
                InitialState::Tracked,
                Implementation::CellOp,
                &wgpu,
            );
        }

        #[test]
        fn gradients_through_two_stacked_layers() {
            let Some(wgpu) = wgpu() else { return };
            let wgpu = wgpu.autodiff();
            compare(
                [4, 2, 3, 5],
                2,
                InitialState::Tracked,
                Implementation::CellOp,
                &wgpu,
            );
            compare(
                [4, 2, 3, 5],
                2,
                InitialState::Zero,
                Implementation::CellOp,
                &wgpu,
            );
        }

        #[test]
        fn accepts_inputs_on_wgpu_only() {
            let Some(wgpu) = wgpu() else { return };
            let input = Tensor::<3>::zeros([1, 1, 1], &wgpu);
            assert!(crate::gpu_lstm::accepts(&input));
            assert!(!crate::gpu_lstm::accepts(&Tensor::<3>::zeros(
                [1, 1, 1],
                &flex()
            )));
        }

        #[test]
        fn agrees_with_ndarray() {
            let Some(wgpu) = wgpu() else { return };
            let (wgpu, ndarray) = (wgpu.autodiff(), ndarray().autodiff());
            let shape = [3, 2, 3, 4];
            for initial in [InitialState::Tracked, InitialState::Detached] {
                let on_wgpu = Setup::new(shape, 2, initial, &wgpu).run(Implementation::CellOp);
                let on_ndarray =
                    Setup::new(shape, 2, initial, &ndarray).run(Implementation::Reference);
                assert_agree(on_wgpu, on_ndarray, initial);
            }
        }
    }
}
