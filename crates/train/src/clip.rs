//! Global gradient-norm clipping, as PyTorch's `clip_grad_norm_`: the norm of all gradients
//! together is measured, and if it exceeds `max_norm` every gradient is scaled by
//! `max_norm / (norm + 1e-6)`. (Burn's own `GradientClipping::Norm` clips each parameter
//! tensor separately, which changes the direction of the update; we do not use it.)
//!
//! The scale stays a tensor, so clipping never waits for the device.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Scales `grads` so their global L2 norm is at most `max_norm`. Returns the clipped gradients
/// and the norm before clipping (a one-element tensor).
pub fn clip_global_norm<M: Module>(
    model: &M,
    mut grads: GradientsParams,
    max_norm: f64,
) -> (GradientsParams, Option<Tensor<1>>) {
    let mut squares = SumOfSquares {
        grads: &grads,
        total: None,
    };
    model.visit(&mut squares);
    let Some(total) = squares.total else {
        return (grads, None);
    };
    let norm = total.sqrt();
    if max_norm > 0.0 {
        // min(1, max_norm / (norm + eps)), computed on the device.
        let scale = norm
            .clone()
            .add_scalar(1e-6)
            .recip()
            .mul_scalar(max_norm)
            .clamp_max(1.0);
        model.visit(&mut Rescale {
            grads: &mut grads,
            scale,
        });
    }
    (grads, Some(norm))
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

struct Rescale<'a> {
    grads: &'a mut GradientsParams,
    scale: Tensor<1>,
}

impl ModuleVisitor for Rescale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id: ParamId = param.id;
        if let Some(grad) = self.grads.remove::<D>(id) {
            let scale = self.scale.clone().reshape([1; D]);
            self.grads.register::<D>(id, grad * scale);
        }
    }
}
