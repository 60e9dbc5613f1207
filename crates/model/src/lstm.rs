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
//! hand-written backward pass ([`crate::fused_lstm`]). Elsewhere (wgpu) each step costs a
//! `[B, I] × [I, 4H]` and a `[B, H] × [H, 4H]` product plus the pointwise update, all as
//! ordinary Burn tensor operations, so the layer runs on every backend and autodiff derives its
//! backward pass ([`LstmLayer::forward_reference`]). PyTorch keeps the transposes,
//! `weight_ih = W_xᵀ` and `weight_hh = W_hᵀ`, and splits `b` into two biases.

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::fused_lstm;
use crate::state::LayerState;

/// Configuration of an [`LstmLayer`].
#[derive(Config, Debug)]
pub struct LstmLayerConfig {
    /// Width of the input at each step.
    pub input_size: usize,
    /// Width of the hidden and cell state.
    pub hidden_size: usize,
    /// Initial value of the forget-gate bias. 1.0 keeps the cell's memory open early in
    /// training (Gers et al., 2000; Jozefowicz et al., 2015).
    #[config(default = 1.0)]
    pub forget_bias: f64,
}

/// A single-direction LSTM layer with the four gates fused into one weight matrix.
#[derive(Module, Debug)]
pub struct LstmLayer {
    /// Input-to-gates weights `W_x`, `[input_size, 4·hidden_size]`, gates ordered i, f, g, o.
    pub input_weight: Param<Tensor<2>>,
    /// State-to-gates weights `W_h`, `[hidden_size, 4·hidden_size]`, gates ordered i, f, g, o.
    pub recurrent_weight: Param<Tensor<2>>,
    /// Gate bias `b`, `[4·hidden_size]`.
    pub bias: Param<Tensor<1>>,
    hidden_size: usize,
}

impl LstmLayerConfig {
    /// A new layer with PyTorch's initialisation, `U(-1/√H, 1/√H)`, except the forget-gate
    /// bias, which starts at `forget_bias`.
    pub fn init(&self, device: &Device) -> LstmLayer {
        let hidden = self.hidden_size;
        let bound = 1.0 / (hidden as f64).sqrt();
        let uniform = Initializer::Uniform {
            min: -bound,
            max: bound,
        };
        // The bias is built whole, not patched with slice_assign, so it stays one trainable
        // leaf.
        let mut bias = vec![0.0f32; 4 * hidden];
        bias[hidden..2 * hidden].fill(self.forget_bias as f32);
        LstmLayer {
            input_weight: uniform.init([self.input_size, 4 * hidden], device),
            recurrent_weight: uniform.init([hidden, 4 * hidden], device),
            bias: Param::from_data(TensorData::new(bias, [4 * hidden]), device),
            hidden_size: hidden,
        }
    }
}

impl LstmLayer {
    /// Width of the hidden and cell state.
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// Runs the layer over a time-major sequence: fused ([`Self::forward_fused`]) where
    /// [`fused_lstm::accepts`] the input, step by step ([`Self::forward_reference`]) elsewhere.
    ///
    /// - `input`: `[seq_len, batch, input_size]`
    /// - `state`: hidden and cell state before the first step, each `[batch, hidden_size]`
    /// - returns every step's hidden state, `[seq_len, batch, hidden_size]`, and the final state.
    pub fn forward(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        if fused_lstm::accepts(&input) {
            self.forward_fused(input, state)
        } else {
            self.forward_reference(input, state)
        }
    }

    /// [`Self::forward`] as one fused operation with a hand-written backward pass.
    ///
    /// # Panics
    ///
    /// Unless [`fused_lstm::accepts`] the input: flex or ndarray, f32, at least one step.
    pub fn forward_fused(&self, input: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        fused_lstm::lstm_sequence(
            input,
            self.input_weight.val(),
            self.recurrent_weight.val(),
            self.bias.val(),
            state,
        )
    }

    /// [`Self::forward`] step by step in Burn tensor operations, on any backend; autodiff
    /// derives the backward pass.
    pub fn forward_reference(
        &self,
        input: Tensor<3>,
        state: LayerState,
    ) -> (Tensor<3>, LayerState) {
        let [seq_len, batch, input_size] = input.dims();
        let gate_width = 4 * self.hidden_size;
        let input_weight = self.input_weight.val();
        let recurrent_weight = self.recurrent_weight.val();
        let bias = self.bias.val().unsqueeze_dim(0);

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
            (hidden, cell) = self.cell_update(gates, cell);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        #[allow(deprecated)]
        Device::ndarray()
    }

    #[test]
    fn forget_bias_is_set_and_trainable() {
        let device = device().autodiff();
        let layer = LstmLayerConfig::new(3, 4)
            .with_forget_bias(1.0)
            .init(&device);
        let bias: Vec<f32> = layer.bias.val().try_into_vec_as().unwrap();
        assert_eq!(&bias[4..8], &[1.0; 4]);
        assert!(bias[..4].iter().chain(&bias[8..]).all(|&b| b == 0.0));

        let input = Tensor::<3>::ones([2, 1, 3], &device);
        let (output, _) = layer.forward(input, LayerState::zeros(1, 4, &device));
        let grads = output.sum().backward();
        assert!(
            layer.bias.val().grad(&grads).is_some(),
            "bias must receive a gradient"
        );
    }

    /// One step by hand for a 1-unit LSTM whose weights are all 0.5 and bias 0:
    /// gates = 0.5·x + 0.5·h = 0.5 for x = 1, h = 0; c = σ(.5)·0 + σ(.5)·tanh(.5);
    /// h = σ(.5)·tanh(c).
    #[test]
    fn one_step_matches_the_equations() {
        let device = device();
        let mut layer = LstmLayerConfig::new(1, 1)
            .with_forget_bias(0.0)
            .init(&device);
        layer.input_weight = Param::from_data(TensorData::new(vec![0.5f32; 4], [1, 4]), &device);
        layer.recurrent_weight =
            Param::from_data(TensorData::new(vec![0.5f32; 4], [1, 4]), &device);
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

    mod fused_against_reference {
        use super::*;
        use rand::{Rng, SeedableRng};
        use rand_chacha::ChaCha8Rng;

        fn flex() -> Device {
            Device::flex()
        }

        #[allow(deprecated)]
        fn ndarray() -> Device {
            Device::ndarray()
        }

        /// A tensor of `shape` with values drawn uniformly from `[-scale, scale)`.
        fn random<const D: usize>(
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

        fn read<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
            tensor.try_into_vec_as().expect("an f32 tensor")
        }

        fn assert_close(what: &str, fused: &[f32], reference: &[f32]) {
            assert_eq!(fused.len(), reference.len(), "{what}: lengths");
            for (index, (x, y)) in fused.iter().zip(reference).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-5 * y.abs().max(1.0),
                    "{what}[{index}]: fused {x}, reference {y}"
                );
            }
        }

        /// The initial state a test starts from.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum InitialState {
            /// Random, and requiring a gradient on autodiff devices.
            Tracked,
            /// Random but detached, as the trainer carries it between chunks.
            Detached,
            /// All zeros, as at the start of a stream.
            Zero,
        }

        /// A layer with random weights and bias, a random input and an initial state; the same
        /// arguments give the same values.
        struct Setup {
            layer: LstmLayer,
            input: Tensor<3>,
            state: LayerState,
        }

        impl Setup {
            fn new(
                [seq_len, batch, input_size, hidden_size]: [usize; 4],
                initial: InitialState,
                device: &Device,
            ) -> Self {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    (seq_len * 1000 + batch * 100 + input_size * 10 + hidden_size) as u64,
                );
                let gates = 4 * hidden_size;
                let mut layer = LstmLayerConfig::new(input_size, hidden_size).init(device);
                layer.input_weight =
                    Param::from_tensor(random(&mut rng, [input_size, gates], 0.8, device));
                layer.recurrent_weight =
                    Param::from_tensor(random(&mut rng, [hidden_size, gates], 0.8, device));
                layer.bias = Param::from_tensor(random(&mut rng, [gates], 0.5, device));
                let mut input = random(&mut rng, [seq_len, batch, input_size], 1.5, device);
                let mut state = LayerState {
                    hidden: random(&mut rng, [batch, hidden_size], 0.9, device),
                    cell: random(&mut rng, [batch, hidden_size], 2.0, device),
                };
                if device.is_autodiff() {
                    input = input.require_grad();
                    state = match initial {
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
                        InitialState::Zero => LayerState::zeros(batch, hidden_size, device),
                    };
                } else if initial == InitialState::Zero {
                    state = LayerState::zeros(batch, hidden_size, device);
                }
                Self {
                    layer,
                    input,
                    state,
                }
            }

            fn forward(&self, fused: bool) -> (Tensor<3>, LayerState) {
                let (input, state) = (self.input.clone(), self.state.clone());
                if fused {
                    self.layer.forward_fused(input, state)
                } else {
                    self.layer.forward_reference(input, state)
                }
            }

            /// Gradients of `L = Σ outputs ⊙ R_1 + Σ h_T ⊙ R_2 + Σ c_T ⊙ R_3` with fixed random
            /// `R_i` for the input, `W_x`, `W_h`, the bias, `h_0` and `c_0` (`None`: no
            /// gradient).
            fn gradients(&self, fused: bool) -> [(&'static str, Option<Vec<f32>>); 6] {
                let device = self.input.device();
                let mut rng = ChaCha8Rng::seed_from_u64(99);
                let [seq_len, batch, _] = self.input.dims();
                let hidden_size = self.layer.hidden_size();
                let (outputs, state) = self.forward(fused);
                let loss = (outputs
                    * random(&mut rng, [seq_len, batch, hidden_size], 1.0, &device))
                .sum()
                    + (state.hidden * random(&mut rng, [batch, hidden_size], 1.0, &device)).sum()
                    + (state.cell * random(&mut rng, [batch, hidden_size], 1.0, &device)).sum();
                let grads = loss.backward();
                [
                    ("input", self.input.grad(&grads).map(read)),
                    ("W_x", self.layer.input_weight.val().grad(&grads).map(read)),
                    (
                        "W_h",
                        self.layer.recurrent_weight.val().grad(&grads).map(read),
                    ),
                    ("bias", self.layer.bias.val().grad(&grads).map(read)),
                    ("h0", self.state.hidden.grad(&grads).map(read)),
                    ("c0", self.state.cell.grad(&grads).map(read)),
                ]
            }
        }

        /// Both paths from the same setup: outputs, final hidden and cell state, and on
        /// autodiff devices every gradient agree.
        fn compare(shape: [usize; 4], initial: InitialState, device: &Device) {
            let setup = Setup::new(shape, initial, device);
            let (fused, fused_state) = setup.forward(true);
            let (reference, reference_state) = setup.forward(false);
            assert_close("outputs", &read(fused), &read(reference));
            assert_close(
                "final hidden",
                &read(fused_state.hidden),
                &read(reference_state.hidden),
            );
            assert_close(
                "final cell",
                &read(fused_state.cell),
                &read(reference_state.cell),
            );
            if !device.is_autodiff() {
                return;
            }

            // A fresh setup per path, so that neither backward pass sees the other's graph.
            let fused = Setup::new(shape, initial, device).gradients(true);
            let reference = Setup::new(shape, initial, device).gradients(false);
            for ((name, fused), (_, reference)) in fused.into_iter().zip(reference) {
                let expected = initial == InitialState::Tracked || !matches!(name, "h0" | "c0");
                assert_eq!(reference.is_some(), expected, "reference grad {name}");
                assert_eq!(fused.is_some(), expected, "fused grad {name}");
                if let (Some(fused), Some(reference)) = (fused, reference) {
                    assert_close(&format!("grad {name}"), &fused, &reference);
                }
            }
        }

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
                    compare(shape, initial, device);
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
        fn the_cpu_backends_take_the_fused_path_and_wgpu_does_not() {
            for device in [flex(), ndarray(), flex().autodiff(), ndarray().autodiff()] {
                assert!(crate::fused_lstm::supports(&device), "{device:?}");
            }
            let wgpu = Device::wgpu(DeviceKind::DefaultDevice);
            assert!(!crate::fused_lstm::supports(&wgpu));
            assert!(!crate::fused_lstm::supports(&wgpu.autodiff()));
        }
    }
}
