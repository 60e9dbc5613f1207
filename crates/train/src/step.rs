//! One optimisation step of truncated backpropagation through time, shared by the training
//! loop and the benchmark so both measure the same work.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use charlstm_model::{CharModel, RecurrentState};

use crate::clip::clip_global_norm;
use crate::loss::cross_entropy;

/// What one step produced.
pub struct StepOutcome {
    /// The model after the optimizer's update, or unchanged when the step was not applied.
    pub model: CharModel,
    /// Mean cross-entropy of the chunk, nats/char.
    pub loss: f32,
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f32,
    /// Whether the update was applied: `false` when the loss or the gradient norm is not
    /// finite, in which case the optimizer and the model are left as they were.
    pub applied: bool,
    /// The state after the chunk, detached: the start of the next chunk.
    pub state: RecurrentState,
}

/// Forward over a chunk from `state`, cross-entropy against `targets`, backward, global
/// gradient-norm clipping to `grad_clip` (0: none), and, if the loss and the gradient norm
/// are finite, one optimizer step at `learning_rate`.
///
/// Reading the loss and the norm makes the step wait for the device; the next step depends on
/// this one's weights anyway.
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
    let (grads, norm) = clip_global_norm(&model, grads, grad_clip);
    // One read for both, so the step waits for the device once.
    let loss = loss.inner();
    let norm = norm.unwrap_or_else(|| loss.zeros_like());
    let read: Vec<f32> = Tensor::cat(vec![loss, norm], 0)
        .try_into_vec_as()
        .expect("the loss and the gradient norm are f32 scalars on a working device");
    let (loss, grad_norm) = (read[0], read[1]);
    let applied = loss.is_finite() && grad_norm.is_finite();
    let model = if applied {
        optimizer.step(learning_rate, model, grads)
    } else {
        model
    };
    StepOutcome {
        model,
        loss,
        grad_norm,
        applied,
        state: next_state.detach(),
    }
}

/// The optimizer every run uses: Adam with PyTorch's epsilon, so the two are comparable.
pub fn adam() -> ModuleOptimizer {
    burn::optim::AdamConfig::new().with_epsilon(1e-8).init()
}

/// The seed of the device's random numbers (dropout masks) for step `step` of a run seeded
/// with `seed`. Reseeding at every step makes the masks a function of the step alone, so a
/// resumed run draws what the uninterrupted run would have.
pub fn step_seed(seed: u64, step: usize) -> u64 {
    // SplitMix64's finaliser: neighbouring steps get unrelated seeds.
    let mut z = seed
        ^ (step as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
