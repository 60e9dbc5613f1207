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

use super::kernel::{self, ForwardTrace, UpstreamGrads};
use crate::cpu::fused_op::{FusedCell, Grads, Operand, ReadInputs, Wanted, impl_fused_ops};
use crate::cpu::sequence::Dims;

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

/// The LSTM for the fused-operation framework: inputs `[X, W_x, W_h, b, h_0, c_0]`, output
/// `[T+1, B, H]` (`h_1 … h_T`, then `c_T`).
#[derive(Debug, Default)]
struct LstmCell;

impl FusedCell<6> for LstmCell {
    type Trace = ForwardTrace;
    const GATES: usize = kernel::GATES;
    const OPERANDS: [Operand; 6] = kernel::OPERANDS;

    fn forward(dims: Dims, inputs: [&[f32]; 6]) -> (Vec<f32>, [usize; 3], ForwardTrace) {
        let mut trace = kernel::forward_operands(dims, inputs);
        // The backward pass reads the states it keeps column-major, not these.
        let packed = std::mem::take(&mut trace.outputs);
        (
            packed,
            [dims.seq_len + 1, dims.batch, dims.hidden_size],
            trace,
        )
    }

    fn backward(
        trace: &ForwardTrace,
        read: ReadInputs<'_>,
        grad_packed: &[f32],
        wanted: Wanted,
    ) -> Grads {
        let state_len = trace.dims.state_len();
        // The final hidden state is a slice of the outputs, so its gradient is already in the
        // last output block.
        let (grad_outputs, grad_last_cell) = grad_packed.split_at(trace.dims.seq_len * state_len);
        let upstream = UpstreamGrads {
            outputs: grad_outputs,
            last_hidden: &vec![0.0; state_len],
            last_cell: grad_last_cell,
        };
        kernel::backward(trace, read, upstream, wanted)
    }
}
