//! The optimizer every run uses: Adam with PyTorch's epsilon and the run's decay rates, and
//! decoupled weight decay on the weight matrices (AdamW, `train.weight_decay`). On the
//! CPU backends each parameter tensor takes its step in one fused pass
//! ([`charlstm_model::fused_adam`]), the clipping scale included; elsewhere Burn's `Adam` takes
//! it. Both keep Burn's `AdamState`, so a checkpoint's optimizer record is the same whichever
//! took the steps, and the two compute the same numbers bit for bit.

use std::cell::Cell;

use burn::module::Module;
use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, GradientsParams, LearningRate,
    ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource,
};
use burn::prelude::*;
use charlstm_model::fused_adam::{self, AdamStep};

use crate::config::TrainConfig;

thread_local! {
    /// The factor every gradient of the step under way is multiplied by, set by
    /// [`step_scaled`] for one `ModuleOptimizer::step`, which visits the parameters on the
    /// calling thread.
    static GRAD_SCALE: Cell<f32> = const { Cell::new(1.0) };
}

/// `optimizer.step(learning_rate, model, grads)` with every gradient multiplied by
/// `grad_scale` first (global-norm clipping): inside the fused loop on the CPU backends, so the
/// scale costs no pass of its own; by one multiplication per gradient elsewhere.
pub fn step_scaled<M: Module>(
    optimizer: &mut ModuleOptimizer,
    learning_rate: LearningRate,
    model: M,
    grads: GradientsParams,
    grad_scale: f32,
) -> M {
    /// Puts the scale back to 1 however the step ends.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            GRAD_SCALE.set(1.0);
        }
    }
    GRAD_SCALE.set(grad_scale);
    let _reset = Reset;
    optimizer.step(learning_rate, model, grads)
}

/// PyTorch's default epsilon, so that the two are comparable (Burn's default is 1e-5).
const EPSILON: f32 = 1e-8;

/// The run's optimizer over the whole model (`train.adam_beta1`, `train.adam_beta2`,
/// `train.weight_decay`).
pub fn adam(train: &TrainConfig) -> ModuleOptimizer {
    let config = AdamConfig::new()
        .with_epsilon(EPSILON)
        .with_beta_1(train.adam_beta1 as f32)
        .with_beta_2(train.adam_beta2 as f32);
    ModuleOptimizer::from(FusedAdam {
        beta_1: train.adam_beta1 as f32,
        beta_2: train.adam_beta2 as f32,
        epsilon: EPSILON,
        weight_decay: train.weight_decay as f32,
        elsewhere: config.build(),
    })
}

/// Adam that takes its step in one pass on the CPU backends.
#[derive(Clone)]
struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// Decoupled weight decay of the weight matrices and the embedding (tensors of two or
    /// more dimensions); biases are not decayed, as is usual for AdamW.
    weight_decay: f32,
    /// The same Adam, for devices the fused step does not run on.
    elsewhere: Adam,
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = HostLoaded<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let grad_scale = GRAD_SCALE.get();
        let state = state.map(|HostLoaded(state)| state);
        let weight_decay = if D >= 2 { self.weight_decay } else { 0.0 };
        if !fused_adam::supports(&tensor.device()) {
            let grad = if grad_scale == 1.0 {
                grad
            } else {
                grad.mul_scalar(grad_scale)
            };
            // AdamW: the decay first, then Adam's step, as PyTorch's `AdamW` takes them.
            let tensor = if weight_decay == 0.0 {
                tensor
            } else {
                tensor.mul_scalar(1.0 - lr as f32 * weight_decay)
            };
            let (tensor, state) = self.elsewhere.step(lr, tensor, grad, state);
            return (tensor, state.map(HostLoaded));
        }
        let (time, moments) = match state {
            Some(AdamState { momentum }) => (
                momentum.time + 1,
                Some((momentum.moment_1, momentum.moment_2)),
            ),
            None => (1, None),
        };
        let step = AdamStep {
            learning_rate: lr as f32,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            time,
            grad_scale,
            weight_decay,
        };
        let (tensor, moment_1, moment_2) = fused_adam::adam_step(tensor, grad, moments, step);
        let momentum = AdaptiveMomentumState::new(time, moment_1, moment_2);
        (tensor, Some(HostLoaded(AdamState::new(momentum))))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        HostLoaded(<Adam as Optimizer>::to_device(state.0, device))
    }
}

/// Burn's `AdamState`, recorded as Burn records it, but read back onto the host.
///
/// Burn's `ModuleOptimizer::load_record` rebuilds the state on `Device::default()`, which
/// prefers a GPU (and fails where there is none) unless the process environment says
/// otherwise. Read onto the flex device instead, the state moves to its parameter's device at
/// its first step, as Burn moves any state: the values are copied unchanged, so resuming stays
/// exact on every backend.
#[derive(Clone)]
pub struct HostLoaded<const D: usize>(AdamState<D>);

impl<const D: usize> RecordState for HostLoaded<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        self.0.state_flatten(prefix, out);
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, _default: &Device) -> Option<Self> {
        AdamState::state_unflatten(prefix, src, &Device::flex()).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::GradientsParams;
    use charlstm_model::ModelConfig;
    use charlstm_model::parameters::parameter_values as values;

    /// Four Adam steps on a small model from its squared outputs' gradients, with `optimizer`;
    /// between steps 2 and 3 the optimizer's state goes through its record into `reloaded`, as
    /// a checkpoint and a resumed run would take it. Step 2's gradients are halved (as clipping
    /// scales them): by [`step_scaled`] when `scale_in_optimizer`, else by halving the loss,
    /// which halves every gradient exactly.
    fn train(
        device: &Device,
        optimizer: ModuleOptimizer,
        reloaded: ModuleOptimizer,
        scale_in_optimizer: bool,
    ) -> Vec<Vec<f32>> {
        device.seed(3);
        let mut model = ModelConfig {
            embedding_size: 4,
            hidden_size: 8,
            ..ModelConfig::default()
        }
        .init(7, device);
        let tokens = Tensor::<2, Int>::from_data(
            TensorData::new(vec![1i64, 2, 3, 4, 5, 6, 0, 1], [2, 4]),
            device,
        );
        let mut optimizer = optimizer;
        for step in 0..4 {
            if step == 2 {
                optimizer = reloaded.clone().load_record(optimizer.to_record());
            }
            let (logits, _) = model.forward(tokens.clone(), None);
            let scale = if step == 1 { 0.5 } else { 1.0 };
            let loss = logits.square().sum();
            let loss = if scale_in_optimizer {
                loss
            } else {
                loss.mul_scalar(scale)
            };
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = if scale_in_optimizer {
                step_scaled(&mut optimizer, 1e-2, model, grads, scale)
            } else {
                optimizer.step(1e-2, model, grads)
            };
        }
        values(&model)
    }

    /// The fused step, the clipping scale folded in, gives Burn's `Adam`'s numbers on scaled
    /// gradients bit for bit, and its records load into Burn's `Adam` and back: checkpoints of
    /// either kind resume with the other.
    #[test]
    fn the_fused_step_is_burns_adam_bit_for_bit() {
        let _generator = charlstm_model::testing::generator_lock();
        let train_config = TrainConfig::default();
        let burns = || {
            AdamConfig::new()
                .with_epsilon(EPSILON)
                .with_beta_1(train_config.adam_beta1 as f32)
                .with_beta_2(train_config.adam_beta2 as f32)
                .init()
        };
        #[allow(deprecated)]
        for device in [Device::flex().autodiff(), Device::ndarray().autodiff()] {
            let reference = train(&device, burns(), burns(), false);
            let fused = train(&device, adam(&train_config), adam(&train_config), true);
            assert_eq!(fused, reference, "{device:?}");
            let unscaled = train(&device, adam(&train_config), adam(&train_config), false);
            assert_eq!(unscaled, reference, "{device:?}: halving the loss");
            assert_eq!(
                train(&device, adam(&train_config), burns(), false),
                reference
            );
            assert_eq!(
                train(&device, burns(), adam(&train_config), false),
                reference
            );
            let initial = {
                device.seed(3);
                values(
                    &ModelConfig {
                        embedding_size: 4,
                        hidden_size: 8,
                        ..ModelConfig::default()
                    }
                    .init(7, &device),
                )
            };
            assert_ne!(fused, initial, "the steps moved the parameters");
        }
    }

    /// Decoupled weight decay shrinks every weight matrix and the embedding by `lr · λ` of
    /// itself and leaves the biases alone: with zero gradients Adam's own step is zero, so
    /// that is all one step does.
    #[test]
    fn weight_decay_shrinks_the_weights_not_the_biases() {
        let _generator = charlstm_model::testing::generator_lock();
        #[allow(deprecated)]
        for device in [Device::flex().autodiff(), Device::ndarray().autodiff()] {
            device.seed(5);
            let model = ModelConfig {
                embedding_size: 4,
                hidden_size: 8,
                ..ModelConfig::default()
            }
            .init(7, &device);
            let before = ranked_values(&model);
            let tokens =
                Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 4], [2, 2]), &device);
            let (logits, _) = model.forward(tokens, None);
            let grads =
                GradientsParams::from_grads(logits.sum().mul_scalar(0.0).backward(), &model);
            let train = TrainConfig {
                weight_decay: 0.5,
                ..TrainConfig::default()
            };
            let (learning_rate, mut optimizer) = (0.1, adam(&train));
            let after = ranked_values(&optimizer.step(learning_rate, model, grads));
            assert_eq!(before.len(), after.len());
            let mut decayed = 0;
            for ((rank, old), (_, new)) in before.iter().zip(&after) {
                let factor = if *rank >= 2 { 1.0 - 0.1 * 0.5 } else { 1.0 };
                decayed += usize::from(*rank >= 2);
                for (o, n) in old.iter().zip(new) {
                    assert!(
                        (o * factor - n).abs() < 1e-6,
                        "rank {rank}: {o} · {factor} vs {n}"
                    );
                }
            }
            assert!(
                decayed >= 4,
                "the embedding, two layers' weights and the head"
            );
        }
    }

    /// Every float parameter's rank and values, in visiting order.
    fn ranked_values(model: &impl Module) -> Vec<(usize, Vec<f32>)> {
        use burn::module::{ModuleVisitor, Param};
        struct Collect(Vec<(usize, Vec<f32>)>);
        impl ModuleVisitor for Collect {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0.push((D, param.val().try_into_vec_as().unwrap()));
            }
        }
        let mut collect = Collect(Vec::new());
        model.visit(&mut collect);
        collect.0
    }
}
