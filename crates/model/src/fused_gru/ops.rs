//! The fused GRU as a Burn backend operation: the forward pass on the Flex and NdArray
//! backends, and on `Autodiff` over them with the hand-written backward pass registered in the
//! graph. Its one output is every step's hidden state, `[T, B, H]`; the final state is the
//! last block, so its gradient arrives through the output's.

// NdArray is deprecated, but still one of the backends charlstm offers; the routing the
// macro generates names it too.
#![allow(deprecated)]

use burn::backend::backend_extension;
use burn::backend::tensor::FloatTensor;

use super::kernel::{self, GruCell};
use crate::cpu::fused_op::{FusedCell, impl_fused_ops};
use crate::cpu::gradients::Operand;

/// Backends that run a whole GRU layer as one operation.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait GruOps: burn::backend::Backend {
    /// Runs a GRU layer over a sequence (equations in [`kernel`]).
    ///
    /// - `input`: `[T, B, I]`
    /// - `input_weight`: `W_x`, `[I, 3H]`; `recurrent_weight`: `W_h`, `[H, 3H]`;
    ///   `input_bias`: `b_x`, `[3H]`; `recurrent_bias`: `b_h`, `[3H]`; gates ordered r, z, n
    /// - `hidden`: the state before the first step, `[B, H]`
    /// - returns `h_1 … h_T`, `[T, B, H]`
    fn gru_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        input_bias: FloatTensor<Self>,
        recurrent_bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl_fused_ops!(
    GruOps::gru_sequence,
    GruCell,
    6,
    [
        input,
        input_weight,
        recurrent_weight,
        input_bias,
        recurrent_bias,
        hidden
    ]
);

impl FusedCell<6> for GruCell {
    const NAME: &'static str = "GRU";
    const OPERANDS: [Operand; 6] = kernel::OPERANDS;
}
