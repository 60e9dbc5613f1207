//! The output head and the cross-entropy as one Burn operation on the CPU backends, flex and
//! ndarray, with or without autodiff, with its backward pass written by hand.
//!
//! Training needs the loss, not the logits: the operation computes `features · W + b`, the
//! softmax and the cross-entropy in one pass, keeps only the probabilities for the backward
//! pass, and returns the loss summed over all predictions. The same computation in Burn
//! operations, over `[B·T, V]`, is a dozen operations each way, with copies between
//! time-major and batch-major order (equations in `kernel.rs`).
//!
//! - `kernel`: forward and backward on f32 slices, no Burn types
//! - `ops`: the backend operation, with the backward step registered for autodiff

mod kernel;
mod ops;

use burn::backend::Dispatch;
use burn::prelude::*;

use ops::HeadLossOps;

/// Whether the fused head can run on `features`: an f32 `[T, B, H]` tensor with at least one
/// step on a CPU backend.
pub fn accepts(features: &Tensor<3>) -> bool {
    crate::cpu::accepts(features)
}

/// The cross-entropy of the head's predictions from `features`, summed over all of them.
///
/// - `features`: the top layer's outputs, `[seq_len, batch, hidden]` (time-major)
/// - `weight`: `[hidden, vocab]`; `bias`: `[vocab]` (`None`: a head without bias)
/// - `targets`: `[batch, seq_len]` token ids, the token after each position
/// - returns `[1]`: `Σ −log softmax(features · weight + bias)[target]`, in nats
///
/// Gradients flow to the features, the weight and the bias.
///
/// # Panics
///
/// Unless [`accepts`] holds, if the shapes disagree, or if a target is not below `vocab`.
pub fn head_cross_entropy(
    features: Tensor<3>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
    targets: Tensor<2, Int>,
) -> Tensor<1> {
    assert!(
        accepts(&features),
        "the fused head runs f32 features on flex or ndarray, not {:?} {:?}",
        features.device(),
        features.dtype()
    );
    let [seq_len, batch, hidden_size] = features.dims();
    let [weight_rows, vocab_size] = weight.dims();
    assert_eq!(weight_rows, hidden_size, "head weight");
    assert_eq!(targets.dims(), [batch, seq_len], "targets");
    let bias = bias.unwrap_or_else(|| Tensor::zeros([vocab_size], &features.device()));
    assert_eq!(bias.dims(), [vocab_size], "head bias");
    Tensor::<1>::from_dispatch(<Dispatch as HeadLossOps>::head_cross_entropy(
        features.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        targets.into_dispatch(),
    ))
}
