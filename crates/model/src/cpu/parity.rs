//! Test support: a fused layer against its step-by-step reference, on both CPU backends, and
//! the device unit tests run on.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::{Distribution, Gradients};

use crate::state::LayerState;

/// The ndarray device, which most unit tests run on.
pub fn ndarray_device() -> Device {
    #[allow(deprecated)]
    Device::ndarray()
}

/// One way of running a layer over a chunk from a state.
pub type LayerRun<'a> = &'a dyn Fn(Tensor<3>, LayerState) -> (Tensor<3>, LayerState);

/// Runs a layer (`input_size` → `hidden_size`, made on a device by `make`) both ways over
/// two chunks with the state carried between them, and asserts that outputs, final state and
/// the gradients of input, initial state and every parameter agree to 1e-5, on flex and
/// ndarray with autodiff.
pub fn assert_fused_matches_reference<L: Module>(
    input_size: usize,
    hidden_size: usize,
    make: impl Fn(&Device) -> L,
    fused: impl Fn(&L, Tensor<3>, LayerState) -> (Tensor<3>, LayerState),
    reference: impl Fn(&L, Tensor<3>, LayerState) -> (Tensor<3>, LayerState),
) {
    #[allow(deprecated)]
    for device in [Device::flex().autodiff(), Device::ndarray().autodiff()] {
        let layer = make(&device);
        let uniform = Distribution::Uniform(-1.0, 1.0);
        let (steps, batch) = (4, 2);
        let input =
            Tensor::<3>::random([steps, batch, input_size], uniform, &device).require_grad();
        let hidden = Tensor::<2>::random([batch, hidden_size], uniform, &device).require_grad();
        let weights = Tensor::<3>::random([steps, batch, hidden_size], uniform, &device);
        let run = |path: LayerRun<'_>| {
            let state = LayerState {
                hidden: hidden.clone(),
                cell: Tensor::zeros([batch, hidden_size], &device),
            };
            let (first, state) = path(input.clone().narrow(0, 0, 2), state);
            let (second, state) = path(input.clone().narrow(0, 2, 2), state);
            let outputs = Tensor::cat(vec![first, second], 0);
            let loss = (outputs.clone() * weights.clone()).sum() + state.hidden.clone().sum();
            let grads = loss.backward();
            let mut values = vec![
                outputs.inner().try_into_vec_as::<f32>().unwrap(),
                state.hidden.inner().try_into_vec_as().unwrap(),
                input.grad(&grads).unwrap().try_into_vec_as().unwrap(),
                hidden.grad(&grads).unwrap().try_into_vec_as().unwrap(),
            ];
            let parameters = parameter_grads(&layer, &grads);
            values.extend(parameters.into_iter().map(|g| g.expect("a gradient")));
            values
        };
        let fused = run(&|input, state| fused(&layer, input, state));
        let reference = run(&|input, state| reference(&layer, input, state));
        assert_eq!(fused.len(), reference.len());
        for (which, (fused, reference)) in fused.iter().zip(&reference).enumerate() {
            assert_eq!(fused.len(), reference.len(), "value {which}");
            for (x, y) in fused.iter().zip(reference) {
                assert!((x - y).abs() < 1e-5, "{device:?} value {which}: {x} vs {y}");
            }
        }
    }
}

/// The gradient of every float parameter of `module`, flattened, in the order the module
/// visits them; `None` for a parameter the loss did not reach.
pub fn parameter_grads(module: &impl Module, grads: &Gradients) -> Vec<Option<Vec<f32>>> {
    struct Collect<'a> {
        grads: &'a Gradients,
        found: Vec<Option<Vec<f32>>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let grad = param.val().grad(self.grads);
            self.found
                .push(grad.map(|grad| grad.try_into_vec_as().unwrap()));
        }
    }
    let mut collect = Collect {
        grads,
        found: Vec::new(),
    };
    module.visit(&mut collect);
    collect.found
}
