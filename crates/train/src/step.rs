//! One optimisation step of truncated backpropagation through time, shared by the training
//! loop and the benchmark so both measure the same work.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use charlstm_model::{CharModel, Direction, RecurrentState, cpu};

use crate::clip::{clip_scale, global_norm};
use crate::optimizer::step_scaled;

/// One direction's chunk: token ids in that direction's reading order, on the training
/// (autodiff) device, and the state to start from.
pub struct Chunk {
    /// `[batch, seq_len]` token ids.
    pub inputs: Tensor<2, Int>,
    /// `[batch, seq_len]`: the token after each input, in reading order.
    pub targets: Tensor<2, Int>,
    /// The state carried from the previous chunk (`None`: zeros).
    pub state: Option<RecurrentState>,
}

/// What one step produced.
pub struct StepOutcome {
    /// The model after the optimizer's update, or unchanged when the step was not applied.
    pub model: CharModel,
    /// Mean cross-entropy of the forward chunk, nats/char.
    pub loss: f32,
    /// Mean cross-entropy of the backward chunk (bidirectional models).
    pub backward_loss: Option<f32>,
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f32,
    /// Whether the update was applied: `false` when a loss or the gradient norm is not
    /// finite, in which case the optimizer and the model are left as they were.
    pub applied: bool,
    /// The forward state after the chunk, detached: the start of the next chunk.
    pub state: RecurrentState,
    /// The backward state after its chunk, detached (bidirectional models).
    pub backward_state: Option<RecurrentState>,
}

/// Forward over a chunk (and, for a bidirectional model, the backward stack over its own
/// chunk of the reversed text), cross-entropy, backward, global gradient-norm clipping to
/// `grad_clip` (0: none), and, if the losses and the gradient norm are finite, one optimizer
/// step at `learning_rate`. A bidirectional model minimises the sum of the two directions'
/// losses, so each direction gets the gradient it would get alone.
///
/// Reading the losses and the norm makes the step wait for the device; the next step depends
/// on this one's weights anyway.
pub fn train_step(
    model: CharModel,
    optimizer: &mut ModuleOptimizer,
    forward: Chunk,
    backward: Option<Chunk>,
    learning_rate: f64,
    grad_clip: f64,
) -> StepOutcome {
    // The whole step on one of Rayon's threads: one hand-off to the pool per step instead of
    // one per parallel loop (10% of a step on two CPU threads).
    cpu::on_rayon_thread(|| {
        let (forward_loss, next_state) = mean_loss(&model, Direction::Forward, forward);
        let (objective, backward_loss, backward_state) = match backward {
            Some(chunk) => {
                let (loss, next) = mean_loss(&model, Direction::Backward, chunk);
                (forward_loss.clone() + loss.clone(), Some(loss), Some(next))
            }
            None => (forward_loss.clone(), None, None),
        };
        let grads = GradientsParams::from_grads(objective.backward(), &model);
        let norm = global_norm(&model, &grads);
        // One read for all, so the step waits for the device once.
        let forward_loss = forward_loss.inner();
        let norm = norm.unwrap_or_else(|| forward_loss.zeros_like());
        let mut scalars = vec![forward_loss, norm];
        scalars.extend(backward_loss.map(|loss| loss.inner()));
        let read: Vec<f32> = Tensor::cat(scalars, 0)
            .try_into_vec_as()
            .expect("the losses and the gradient norm are f32 scalars on a working device");
        let (loss, grad_norm, backward_loss) = (read[0], read[1], read.get(2).copied());
        let applied =
            loss.is_finite() && grad_norm.is_finite() && backward_loss.is_none_or(f32::is_finite);
        let model = if applied {
            let scale = clip_scale(grad_norm, grad_clip).unwrap_or(1.0);
            step_scaled(optimizer, learning_rate, model, grads, scale)
        } else {
            model
        };
        StepOutcome {
            model,
            loss,
            backward_loss,
            grad_norm,
            applied,
            state: next_state.detach(),
            backward_state: backward_state.map(RecurrentState::detach),
        }
    })
}

/// The mean cross-entropy of the stack reading in `direction` over `chunk`, nats per token,
/// and the state after it.
fn mean_loss(model: &CharModel, direction: Direction, chunk: Chunk) -> (Tensor<1>, RecurrentState) {
    let predictions = chunk.targets.shape().num_elements();
    let (loss, state) = model.summed_loss_in(direction, chunk.inputs, chunk.targets, chunk.state);
    (loss.div_scalar(predictions as f64), state)
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
