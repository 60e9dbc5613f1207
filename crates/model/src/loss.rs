//! Cross-entropy of next-token predictions from logits, in Burn operations on any backend.
//! Training and evaluation on the CPU backends go through the fused head instead
//! ([`crate::fused_head`], chosen by [`crate::CharModel::summed_loss_in`]); this is the path
//! everywhere else, and the reference the fused one is tested against.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Summed cross-entropy in nats of `logits` `[batch, seq_len, vocab]` against `targets`
/// `[batch, seq_len]`: `-Σ log softmax(logits)[target]` (callers divide by the number of
/// predictions, or sum over chunks of different lengths first). Returns a one-element tensor.
pub fn sum_cross_entropy(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<1> {
    let [batch, seq_len, vocab] = logits.dims();
    let rows = batch * seq_len;
    let log_probs = log_softmax(logits.reshape([rows, vocab]), 1);
    log_probs.gather(1, targets.reshape([rows, 1])).sum().neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_cost_log_vocab() {
        #[allow(deprecated)]
        let device = Device::ndarray();
        let logits = Tensor::<3>::zeros([2, 3, 5], &device);
        let targets = Tensor::<2, Int>::from_data(
            TensorData::new(vec![0i64, 1, 2, 3, 4, 0], [2, 3]),
            &device,
        );
        let loss = sum_cross_entropy(logits, targets).into_scalar::<f32>() / 6.0;
        assert!((loss - 5f32.ln()).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn a_confident_right_answer_costs_little() {
        #[allow(deprecated)]
        let device = Device::ndarray();
        let logits =
            Tensor::<3>::from_data(TensorData::new(vec![10.0f32, 0.0, 0.0], [1, 1, 3]), &device);
        let targets = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64], [1, 1]), &device);
        let loss: f32 = sum_cross_entropy(logits, targets).into_scalar();
        let expected = -(10f32.exp() / (10f32.exp() + 2.0)).ln();
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }
}
