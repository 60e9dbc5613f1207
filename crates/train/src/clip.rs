//! Global gradient-norm clipping, as PyTorch's `clip_grad_norm_`: the norm of all gradients
//! together is measured, and if it exceeds `max_norm` every gradient is scaled by
//! `max_norm / (norm + 1e-6)`. (Burn's own `GradientClipping::Norm` clips each parameter
//! tensor separately, which changes the direction of the update; we do not use it.)
//!
//! The norm is measured on the device; the training step reads it anyway (it is logged), and
//! hands the scale to the optimizer, which folds it into its own pass over the gradients
//! (`optimizer::step_scaled`).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// The global L2 norm of `grads`, a one-element tensor (`None`: no gradients).
pub fn global_norm<M: Module>(model: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    let mut squares = SumOfSquares { grads, total: None };
    model.visit(&mut squares);
    squares.total.map(Tensor::sqrt)
}

/// The factor that brings gradients of global norm `norm` to at most `max_norm`:
/// `max_norm / (norm + 1e-6)` when that is below 1, else `None` (also for `max_norm` 0: no
/// clipping). Computed in f32, as `(1 / (norm + 1e-6)) · max_norm`.
pub fn clip_scale(norm: f32, max_norm: f64) -> Option<f32> {
    if max_norm <= 0.0 {
        return None;
    }
    let scale = (1.0 / (norm + 1e-6)) * max_norm as f32;
    (scale < 1.0).then_some(scale)
}

struct SumOfSquares<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SumOfSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let square = grad.square().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + square,
                None => square,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_norms_over_the_limit_are_clipped() {
        assert_eq!(clip_scale(4.0, 5.0), None);
        assert_eq!(clip_scale(10.0, 0.0), None);
        let scale = clip_scale(10.0, 5.0).unwrap();
        assert!((scale - 0.5).abs() < 1e-6, "{scale}");
        assert!(clip_scale(5.0, 5.0).is_none_or(|scale| scale > 0.999_999));
    }
}
