//! Regularisation that only exists while training, in the manner of AWD-LSTM (Merity et al.,
//! 2018), for runs long enough to overfit a small corpus:
//!
//! - **embedding dropout**: whole rows of the embedding dropped, so a character vanishes
//!   from every position of a chunk at once (its other rows scaled by `1/(1 − p)`);
//! - **locked (variational) dropout**: one mask per stream and feature, the same at every
//!   time step of a chunk (Gal & Ghahramani, 2016), on the embedding's output and, when
//!   asked, between layers;
//! - **weight drop**: DropConnect on each layer's recurrent weight matrix, one mask per step
//!   (a chunk), applied as one masked copy of the matrix before the layer runs, so the fused
//!   kernels run unchanged and autodiff sends the gradient through the mask.
//!
//! Masks are drawn from the device's generator, which the training loop seeds with the step
//! number, so a resumed run draws what the uninterrupted one would have. Nothing here applies
//! on a device without autodiff (validation, sampling): there every mask is the identity.

use burn::module::{Param, ParamId};
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::recurrent::RecurrentLayer;

/// What a model drops while training, besides the plain dropout between layers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Regularization {
    /// Probability of dropping a token's whole embedding row for one step.
    pub embedding_dropout: f64,
    /// Probability of locked dropout on the embedding's output (the bottom layer's input).
    pub input_dropout: f64,
    /// Probability of DropConnect on every recurrent weight.
    pub weight_drop: f64,
    /// Whether the dropout between layers (and before the head) keeps one mask per stream
    /// over a chunk's steps instead of drawing one per step.
    pub locked_dropout: bool,
}

/// `values` with each row dropped with probability `prob` and the kept rows scaled by
/// `1/(1 − prob)`: `[rows, columns]`. The identity when `prob` is 0 or off the training device.
pub fn drop_rows(values: Tensor<2>, prob: f64) -> Tensor<2> {
    if !drops(&values.device(), prob) {
        return values;
    }
    let [rows, _] = values.dims();
    let mask = scaled_mask([rows, 1], prob, &values.device());
    values * mask
}

/// Locked dropout on time-major features `[seq_len, batch, features]`: one mask per stream
/// and feature, shared by every step. The identity when `prob` is 0 or off the training device.
pub fn locked_dropout(features: Tensor<3>, prob: f64) -> Tensor<3> {
    if !drops(&features.device(), prob) {
        return features;
    }
    let [_, batch, width] = features.dims();
    let mask = scaled_mask([1, batch, width], prob, &features.device());
    features * mask
}

/// `layer` with its recurrent weight DropConnect-ed: each weight dropped with probability
/// `prob`, the kept ones scaled by `1/(1 − prob)`. The copy's weight is computed from the
/// layer's, so the gradient reaches the layer's own parameter (through the mask). `None`
/// when nothing is dropped (`prob` 0 or off the training device): use `layer` itself.
pub fn drop_recurrent_weight(layer: &RecurrentLayer, prob: f64) -> Option<RecurrentLayer> {
    let weight = layer.recurrent_weight();
    let device = weight.lazy_device();
    if !drops(&device, prob) {
        return None;
    }
    let weight = weight.val();
    let mask = scaled_mask(weight.dims(), prob, &device);
    // A fresh id: the copy is never a parameter the optimizer sees, only the model's is.
    let dropped = Param::initialized(ParamId::new(), weight * mask);
    let mut layer = layer.clone();
    *layer.recurrent_weight_mut() = dropped;
    Some(layer)
}

/// Whether a mask of probability `prob` drops anything on `device`: only while training.
fn drops(device: &Device, prob: f64) -> bool {
    prob > 0.0 && device.is_autodiff()
}

/// A mask of `shape` whose entries are 0 with probability `prob` and `1/(1 − prob)` otherwise.
fn scaled_mask<const D: usize>(shape: [usize; D], prob: f64, device: &Device) -> Tensor<D> {
    let keep = 1.0 - prob;
    Tensor::<D>::random(shape, Distribution::Bernoulli(keep), device).mul_scalar(1.0 / keep)
}

#[cfg(test)]
mod tests;
