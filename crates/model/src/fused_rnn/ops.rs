//! The fused plain RNN as a Burn backend operation: the forward pass on the Flex and NdArray
//! backends, and on `Autodiff` over them with the hand-written backward pass registered in the
//! graph. Its one output is every step's hidden state, `[T, B, H]`; the final state is the
//! last block, so its gradient arrives through the output's.

// NdArray is deprecated, but still one of the backends charlstm offers; the routing the
// macro generates names it too.
#![allow(deprecated)]

use burn::backend::backend_extension;
use burn::backend::tensor::FloatTensor;

use super::kernel::{self, RnnCell};
use crate::cpu::fused_op::{FusedCell, impl_fused_ops};
use crate::cpu::gradients::Operand;

/// Backends that run a whole plain RNN layer as one operation.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait RnnOps: burn::backend::Backend {
    /// Runs a tanh RNN layer over a sequence (equations in [`kernel`]).
    ///
    /// - `input`: `[T, B, I]`
    /// - `input_weight`: `W_x`, `[I, H]`; `recurrent_weight`: `W_h`, `[H, H]`; `bias`: `[H]`
    /// - `hidden`: the state before the first step, `[B, H]`
    /// - returns `h_1 … h_T`, `[T, B, H]`
    fn rnn_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl_fused_ops!(
    RnnOps::rnn_sequence,
    RnnCell,
    5,
    [input, input_weight, recurrent_weight, bias, hidden]
);

impl FusedCell<5> for RnnCell {
    const NAME: &'static str = "RNN";
    const OPERANDS: [Operand; 5] = kernel::OPERANDS;
}
