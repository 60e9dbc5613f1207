//! The fused LSTM as a Burn backend operation: the forward pass on the Flex and NdArray
//! backends, and on `Autodiff` over them with the hand-written backward pass registered in the
//! graph.
//!
//! An operation has one output tensor, so the layer's three results travel packed in one
//! `[T+1, B, H]` tensor: blocks `0..T` are `h_1 … h_T` (the outputs; `h_T` is also the final
//! hidden state) and block `T` is `c_T`. Slicing it apart is differentiable, so the gradient
//! that comes back is packed the same way.

// NdArray is deprecated, but still one of the backends charlstm offers; the routing the
// macro generates names it too.
#![allow(deprecated)]

use burn::backend::backend_extension;
use burn::backend::tensor::FloatTensor;

use super::kernel::{self, LstmCell};
use crate::cpu::fused_op::{FusedCell, impl_fused_ops};
use crate::cpu::gradients::Operand;

/// Backends that run a whole LSTM layer as one operation.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait LstmOps: burn::backend::Backend {
    /// Runs an LSTM layer over a sequence (equations in [`kernel`]).
    ///
    /// - `input`: `[T, B, I]`
    /// - `input_weight`: `W_x`, `[I, 4H]`; `recurrent_weight`: `W_h`, `[H, 4H]`; `bias`: `[4H]`,
    ///   gates ordered i, f, g, o
    /// - `hidden`, `cell`: the state before the first step, `[B, H]`
    /// - returns `[T+1, B, H]`: `h_1 … h_T`, then `c_T`
    fn lstm_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        cell: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl_fused_ops!(
    LstmOps::lstm_sequence,
    LstmCell,
    6,
    [input, input_weight, recurrent_weight, bias, hidden, cell]
);

impl FusedCell<6> for LstmCell {
    const NAME: &'static str = "LSTM";
    const OPERANDS: [Operand; 6] = kernel::OPERANDS;
}
