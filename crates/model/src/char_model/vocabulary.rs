//! Growing a trained model's vocabulary, for fine-tuning on text with new characters: the
//! rows of the existing ids stay bit for bit, the new ids get the rows of a freshly
//! initialised model.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;

use super::CharModel;

impl CharModel {
    /// This model reading and predicting `fresh`'s larger vocabulary: the embedding rows and
    /// head columns (and biases) of the ids this model has stay as they are, those of the new
    /// ids come from `fresh`, a newly initialised model of the same shape. Every other weight
    /// is this model's. The grown tensors are new trainable leaves.
    ///
    /// # Panics
    ///
    /// If `fresh` has fewer tokens than this model, or the two differ in shape otherwise.
    pub fn with_vocabulary_of(mut self, fresh: &CharModel) -> Self {
        let (old, new) = (self.vocab_size(), fresh.vocab_size());
        assert!(
            new >= old,
            "a vocabulary of {old} tokens cannot shrink to {new}"
        );
        if new == old {
            return self;
        }
        self.embedding.weight = grown(self.embedding.weight, &fresh.embedding.weight, 0, old);
        self.head = grown_head(self.head, &fresh.head, old);
        self.backward_head = match (self.backward_head.take(), &fresh.backward_head) {
            (Some(head), Some(fresh_head)) => Some(grown_head(head, fresh_head, old)),
            (None, None) => None,
            _ => panic!("one model has a backward head of its own and the other has not"),
        };
        self
    }
}

/// `head` predicting `fresh`'s tokens: its weight is `[hidden, vocab]`, its bias `[vocab]`.
fn grown_head(head: Linear, fresh: &Linear, old: usize) -> Linear {
    let weight = grown(head.weight, &fresh.weight, 1, old);
    let bias = match (head.bias, &fresh.bias) {
        (Some(bias), Some(fresh_bias)) => Some(grown(bias, fresh_bias, 0, old)),
        (bias, _) => bias,
    };
    Linear { weight, bias }
}

/// `param` with the entries of `fresh` beyond the first `old` along `dim` appended.
fn grown<const D: usize>(
    param: Param<Tensor<D>>,
    fresh: &Param<Tensor<D>>,
    dim: usize,
    old: usize,
) -> Param<Tensor<D>> {
    let fresh = fresh.val();
    let added = fresh.dims()[dim] - old;
    let new_part = fresh.narrow(dim, old, added).detach();
    // A new leaf: concatenation makes a tracked result, which would not train.
    param.map(|tensor| {
        Tensor::cat(vec![tensor.detach(), new_part], dim)
            .detach()
            .require_grad()
    })
}
