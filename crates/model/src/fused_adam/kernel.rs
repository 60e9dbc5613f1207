//! One Adam step over a parameter tensor on host memory, in one pass: the gradient's scale
//! (global-norm clipping), both moments, the bias corrections and the update, element by
//! element, with the arithmetic of Burn's `Adam` (after a multiplication of the gradient by
//! the scale) in the same order, so that the two agree bit for bit.
//!
//! ```text
//! g  = grad · scale
//! m  = m · β₁ + g · (1 − β₁)
//! v  = v · β₂ + g² · (1 − β₂)
//! p  = p · d − (m · c) / (√v + ε · √(1 − β₂ᵗ)) · lr      c = √(1 − β₂ᵗ) / (1 − β₁ᵗ)
//! ```
//!
//! `d = 1 − lr · λ` is decoupled weight decay (AdamW, Loshchilov & Hutter, 2019, as PyTorch's
//! `AdamW` takes it); with `λ = 0`, `p · 1` is `p` and the step is Adam's bit for bit.
//!
//! A parameter seen for the first time starts from zero moments (Burn's first step,
//! `m = g · (1 − β₁)`, is the same numbers: `0 · β₁ + x` is `x`).

use rayon::prelude::*;

use crate::cpu::isa::best_isa;

/// Elements one thread updates at least.
const MIN_ELEMENTS_PER_TASK: usize = 1 << 14;

/// What one Adam step needs besides the tensors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// The learning rate.
    pub learning_rate: f32,
    /// Decay of the first moment, `β₁`.
    pub beta_1: f32,
    /// Decay of the second moment, `β₂`.
    pub beta_2: f32,
    /// `ε`, added to `√v` (before the bias correction).
    pub epsilon: f32,
    /// The step's number, counted from 1: the bias corrections' `t`.
    pub time: usize,
    /// The factor the gradient is multiplied by first (1: as it is).
    pub grad_scale: f32,
    /// Decoupled weight decay `λ`: the parameter shrinks by `lr · λ` of itself (0: Adam).
    pub weight_decay: f32,
}

impl AdamStep {
    /// `(c, ε · √(1 − β₂ᵗ))`, computed as Burn's `Adam` computes them.
    fn factors(&self) -> (f32, f32) {
        let time = i32::try_from(self.time).unwrap_or(i32::MAX);
        let bias_correction_2_sqrt = (1.0 - self.beta_2.powi(time)).sqrt();
        let combined = bias_correction_2_sqrt / (1.0 - self.beta_1.powi(time));
        (combined, self.epsilon * bias_correction_2_sqrt)
    }
}

/// Updates `param`, `moment_1` and `moment_2` in place from `grad`; the elements in parallel.
///
/// # Panics
///
/// If the four slices differ in length.
pub fn adam_step(
    param: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    step: AdamStep,
) {
    let len = param.len();
    assert!(
        grad.len() == len && moment_1.len() == len && moment_2.len() == len,
        "fused Adam: parameter {len}, gradient {}, moments {} and {} elements",
        grad.len(),
        moment_1.len(),
        moment_2.len()
    );
    let (combined, epsilon) = step.factors();
    let scalars = [
        step.grad_scale,
        step.beta_1,
        1.0 - step.beta_1,
        step.beta_2,
        1.0 - step.beta_2,
        combined,
        epsilon,
        step.learning_rate,
        1.0 - step.learning_rate * step.weight_decay,
    ];
    param
        .par_chunks_mut(MIN_ELEMENTS_PER_TASK)
        .zip(grad.par_chunks(MIN_ELEMENTS_PER_TASK))
        .zip(moment_1.par_chunks_mut(MIN_ELEMENTS_PER_TASK))
        .zip(moment_2.par_chunks_mut(MIN_ELEMENTS_PER_TASK))
        .for_each(|(((param, grad), moment_1), moment_2)| {
            update(param, grad, moment_1, moment_2, scalars);
        });
}

best_isa! {
    /// [`adam_step`] on a run of elements.
    fn update(
        param: &mut [f32],
        grad: &[f32],
        moment_1: &mut [f32],
        moment_2: &mut [f32],
        scalars: [f32; 9],
    ) {
        let [scale, beta_1, keep_1, beta_2, keep_2, combined, epsilon, learning_rate, decay] =
            scalars;
        let moments = moment_1.iter_mut().zip(moment_2.iter_mut());
        for ((param, &grad), (m, v)) in param.iter_mut().zip(grad).zip(moments) {
            let g = grad * scale;
            *m = *m * beta_1 + g * keep_1;
            *v = *v * beta_2 + g * g * keep_2;
            *param = *param * decay - *m * combined / (v.sqrt() + epsilon) * learning_rate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three steps against the textbook update (Kingma and Ba's algorithm 1) in f64, without and
    /// with decoupled weight decay (Loshchilov and Hutter's AdamW: `p ← p − lr · λ · p` first).
    #[test]
    fn steps_match_the_textbook_update() {
        for weight_decay in [0.0, 0.1] {
            textbook_steps(weight_decay);
        }
    }

    fn textbook_steps(weight_decay: f64) {
        let (beta_1, beta_2, epsilon, learning_rate) = (0.9f64, 0.99f64, 1e-8f64, 0.01f64);
        let len = 40_000; // several tasks
        let mut param: Vec<f32> = (0..len).map(|i| ((i % 17) as f32 - 8.0) * 0.1).collect();
        let (mut m, mut v) = (vec![0.0f32; len], vec![0.0f32; len]);
        let mut expected: Vec<f64> = param.iter().map(|&p| f64::from(p)).collect();
        let (mut m64, mut v64) = (vec![0.0f64; len], vec![0.0f64; len]);
        for time in 1..=3usize {
            let scale = if time == 2 { 0.5f32 } else { 1.0 };
            let grad: Vec<f32> = (0..len)
                .map(|i| ((i * 7 + time) % 23) as f32 * 0.05 - 0.5)
                .collect();
            adam_step(
                &mut param,
                &grad,
                &mut m,
                &mut v,
                AdamStep {
                    learning_rate: learning_rate as f32,
                    beta_1: beta_1 as f32,
                    beta_2: beta_2 as f32,
                    epsilon: epsilon as f32,
                    time,
                    grad_scale: scale,
                    weight_decay: weight_decay as f32,
                },
            );
            for i in 0..len {
                let g = f64::from(grad[i]) * f64::from(scale);
                m64[i] = beta_1 * m64[i] + (1.0 - beta_1) * g;
                v64[i] = beta_2 * v64[i] + (1.0 - beta_2) * g * g;
                let m_hat = m64[i] / (1.0 - beta_1.powi(time as i32));
                let v_hat = v64[i] / (1.0 - beta_2.powi(time as i32));
                expected[i] -= learning_rate * weight_decay * expected[i];
                expected[i] -= learning_rate * m_hat / (v_hat.sqrt() + epsilon);
            }
        }
        for (i, (&got, &want)) in param.iter().zip(&expected).enumerate() {
            assert!(
                (f64::from(got) - want).abs() < 1e-5,
                "element {i}: {got} vs {want}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "fused Adam")]
    fn slices_of_different_lengths_are_refused() {
        adam_step(
            &mut [0.0; 3],
            &[0.0; 2],
            &mut [0.0; 3],
            &mut [0.0; 3],
            AdamStep {
                learning_rate: 0.1,
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-8,
                time: 1,
                grad_scale: 1.0,
                weight_decay: 0.0,
            },
        );
    }
}
