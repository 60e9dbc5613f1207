//! An exponential moving average of the weights (`train.ema_decay`): a second copy of the
//! model that follows the trained one slowly, averaging away the noise of the last steps. It is
//! what validation measures, what `best/` keeps and what sampling reads; the trained weights
//! go on being optimised underneath and are kept in `latest/` to resume.
//!
//! The first update copies the weights; after that, the `n`-th update (counting the copy as
//! the 0th) is
//!
//! ```text
//! a ← a · d + w · (1 − d)        d = min(decay, (1 + n) / (10 + n))
//! ```
//!
//! so it starts at the weights of the first step (not before it: a parameter is drawn on
//! first read, so reading the untrained weights early would change a seeded run's initial
//! weights; the average changes what is measured, never what is trained), stays close to the
//! weights, and only reaches `decay`'s long memory once there are enough steps to average (the warm-up TensorFlow's `ExponentialMovingAverage` takes with
//! `num_updates`). The update count is part of the run's progress, so a resumed run averages
//! exactly as the uninterrupted one.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use charlstm_model::CharModel;

/// The averaged weights and how many updates they hold.
#[derive(Debug, Clone)]
pub struct WeightAverage {
    decay: f64,
    updates: usize,
    /// `None` until the first update.
    model: Option<CharModel>,
}

impl WeightAverage {
    /// An empty average: the first update copies the weights.
    pub fn new(decay: f64) -> Self {
        Self {
            decay,
            updates: 0,
            model: None,
        }
    }

    /// An average that goes on from `model`'s weights (a checkpoint's), with `updates`
    /// updates behind it.
    pub fn resumed(model: &CharModel, decay: f64, updates: usize) -> Self {
        Self {
            decay,
            updates,
            model: Some(without_autodiff(model)),
        }
    }

    /// Folds `model`'s weights into the average.
    pub fn update(&mut self, model: &CharModel) {
        let weights = without_autodiff(model);
        let Some(average) = self.model.take() else {
            self.model = Some(weights);
            self.updates += 1;
            return;
        };
        let mut flat = Flatten(Vec::new());
        weights.visit(&mut flat);
        let mut blend = Blend {
            weights: flat.0.into_iter(),
            keep: decay_at(self.decay, self.updates),
        };
        self.model = Some(average.map(&mut blend));
        assert!(
            blend.weights.next().is_none(),
            "the average and the model have the same parameters"
        );
        self.updates += 1;
    }

    /// The averaged model, on the inference device (`None` before the first update).
    pub fn model(&self) -> Option<&CharModel> {
        self.model.as_ref()
    }

    /// Updates folded in so far.
    pub fn updates(&self) -> usize {
        self.updates
    }
}

/// The share of the old average kept at update `updates`: `decay`, or less while few updates
/// have been averaged.
pub fn decay_at(decay: f64, updates: usize) -> f64 {
    let warm_up = (1.0 + updates as f64) / (10.0 + updates as f64);
    decay.min(warm_up)
}

/// `model` on its device without autodiff (the same tensors, no copy, where it has none).
fn without_autodiff(model: &CharModel) -> CharModel {
    let device = model.embedding.weight.lazy_device();
    if device.is_autodiff() {
        model.valid()
    } else {
        model.clone()
    }
}

/// Every float parameter, flattened, in visiting order.
struct Flatten(Vec<Tensor<1>>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let len = tensor.shape().num_elements();
        self.0.push(tensor.reshape([len]));
    }
}

/// Blends each parameter of the average with the model's, in the same visiting order.
struct Blend {
    weights: std::vec::IntoIter<Tensor<1>>,
    keep: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let weight = self
            .weights
            .next()
            .expect("the model has a weight for every parameter of the average");
        let keep = self.keep;
        param.map(|average| {
            let shape = average.shape();
            let weight = weight.reshape(shape).to_device(&average.device());
            average.mul_scalar(keep) + weight.mul_scalar(1.0 - keep)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charlstm_model::ModelConfig;
    use charlstm_model::parameters::parameter_values;

    fn model(seed: u64, device: &Device) -> CharModel {
        device.seed(seed);
        ModelConfig {
            embedding_size: 3,
            hidden_size: 4,
            ..ModelConfig::default()
        }
        .init(5, device)
    }

    /// The average follows the equations in f64: a copy first, then `a ← a·d + w·(1 − d)` with
    /// the warm-up decay, for every parameter, over several updates with different weights.
    #[test]
    fn the_average_follows_its_equations() {
        let _generator = charlstm_model::testing::generator_lock();
        #[allow(deprecated)]
        let device = Device::ndarray().autodiff();
        let start = model(1, &device);
        let mut average = WeightAverage::new(0.5);
        assert!(average.model().is_none());
        average.update(&start);
        let mut expected: Vec<Vec<f64>> = parameter_values(&start)
            .into_iter()
            .map(|p| p.into_iter().map(f64::from).collect())
            .collect();
        for (update, seed) in [2u64, 3, 4, 5].into_iter().enumerate() {
            let weights = model(seed, &device);
            average.update(&weights);
            let keep = decay_at(0.5, update + 1);
            for (e, w) in expected.iter_mut().zip(parameter_values(&weights)) {
                for (e, w) in e.iter_mut().zip(w) {
                    *e = *e * keep + f64::from(w) * (1.0 - keep);
                }
            }
        }
        assert_eq!(average.updates(), 5);
        let averaged = average.model().unwrap();
        for (got, want) in parameter_values(averaged).iter().zip(&expected) {
            for (g, w) in got.iter().zip(want) {
                assert!((f64::from(*g) - w).abs() < 1e-6, "{g} vs {w}");
            }
        }
        assert!(!averaged.embedding.weight.lazy_device().is_autodiff());
    }

    /// The warm-up: the first update keeps a tenth of the old average, and the decay is
    /// reached once there are enough updates for it.
    #[test]
    fn the_decay_warms_up() {
        assert_eq!(decay_at(0.999, 0), 0.1);
        assert!((decay_at(0.999, 90) - 0.91).abs() < 1e-12);
        assert_eq!(decay_at(0.9, 1000), 0.9);
    }
}
