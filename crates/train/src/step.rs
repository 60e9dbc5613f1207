//! One optimisation step of truncated backpropagation through time, shared by the training
//! loop and the benchmark so both measure the same work.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use charlstm_model::{CharModel, RecurrentState};

use crate::clip::clip_global_norm;
use crate::loss::cross_entropy;

/// What one step produced.
pub struct StepOutcome {
    /// The model after the optimizer's update.
    pub model: CharModel,
    /// Mean cross-entropy of the chunk in nats, a one-element tensor not yet read from the
    /// device (reading it would make every step wait for the device).
    pub loss: Tensor<1>,
    /// The state after the chunk, detached: the start of the next chunk.
    pub state: RecurrentState,
}

/// Forward over a chunk from `state`, cross-entropy against `targets`, backward, global
/// gradient-norm clipping to `grad_clip` (0: none), and one optimizer step at
/// `learning_rate`.
///
/// - `inputs`, `targets`: `[batch, seq_len]` token ids on the training (autodiff) device
pub fn train_step(
    model: CharModel,
    optimizer: &mut ModuleOptimizer,
    inputs: Tensor<2, Int>,
    targets: Tensor<2, Int>,
    state: Option<RecurrentState>,
    learning_rate: f64,
    grad_clip: f64,
) -> StepOutcome {
    let (logits, next_state) = model.forward(inputs, state);
    let loss = cross_entropy(logits, targets);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let (grads, _norm) = clip_global_norm(&model, grads, grad_clip);
    StepOutcome {
        model: optimizer.step(learning_rate, model, grads),
        loss: loss.inner(),
        state: next_state.detach(),
    }
}

/// The optimizer every run uses: Adam with PyTorch's epsilon, so the two are comparable.
pub fn adam() -> ModuleOptimizer {
    burn::optim::AdamConfig::new().with_epsilon(1e-8).init()
}
