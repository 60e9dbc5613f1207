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

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, NdArray, TensorMetadata, backend_extension};

use super::kernel::{self, Dims, ForwardTrace, UpstreamGrads, Wanted, Weights};
use crate::cpu::saved::{Registrar, Saved};
use crate::cpu::tensors::{HostBackend, sequence_dims};

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

impl LstmOps for Flex {
    fn lstm_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        cell: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let inputs = [input, input_weight, recurrent_weight, bias, hidden, cell];
        run_forward::<Self>(&inputs).0
    }
}

impl LstmOps for NdArray {
    fn lstm_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        cell: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let inputs = [input, input_weight, recurrent_weight, bias, hidden, cell];
        run_forward::<Self>(&inputs).0
    }
}

impl<B: HostBackend, C: CheckpointStrategy> LstmOps for Autodiff<B, C> {
    fn lstm_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        cell: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let inputs = [input, input_weight, recurrent_weight, bias, hidden, cell];
        let nodes = inputs.each_ref().map(|tensor| tensor.node());
        let inner = inputs.map(|tensor| tensor.into_primitive());
        // Compute bound: the backward pass uses what the forward pass saved, and never reruns it.
        match LstmBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (output, trace) = run_forward::<B>(&inner);
                prep.finish(Saved::new(trace, inner), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(run_forward::<B>(&inner).0),
        }
    }
}

/// Runs the kernel on `[input, input_weight, recurrent_weight, bias, hidden, cell]` and
/// returns the packed `[T+1, B, H]` result with the trace for the backward pass.
fn run_forward<B: HostBackend>(inputs: &[FloatTensor<B>; 6]) -> (FloatTensor<B>, ForwardTrace) {
    let [input, input_weight, recurrent_weight, bias, hidden, cell] = inputs;
    let dims = sequence_dims::<B>(input, hidden, kernel::GATES);
    let Dims {
        seq_len,
        batch,
        hidden_size,
        ..
    } = dims;
    let trace = kernel::forward(
        dims,
        &B::host_slice(input),
        Weights {
            input_weight: &B::host_slice(input_weight),
            recurrent_weight: &B::host_slice(recurrent_weight),
            bias: &B::host_slice(bias),
        },
        &B::host_slice(hidden),
        &B::host_slice(cell),
    );
    let mut packed = Vec::with_capacity((seq_len + 1) * batch * hidden_size);
    packed.extend_from_slice(trace.outputs());
    packed.extend_from_slice(trace.last_cell());
    let output = B::from_host(packed, [seq_len + 1, batch, hidden_size], &input.device());
    (output, trace)
}

/// The backward step of [`LstmOps::lstm_sequence`] in the autodiff graph.
#[derive(Debug)]
struct LstmBackward;

impl<B: HostBackend> Backward<B, 6> for LstmBackward {
    type State = Saved<B, ForwardTrace>;

    fn backward(
        self,
        ops: Ops<Self::State, 6>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        // Parents that need no gradient (constants, detached state) are None.
        let parents: [Option<NodeId>; 6] = ops.parents.map(|parent| parent.map(|node| node.id));
        let [input, input_weight, recurrent_weight, bias, hidden, cell] = parents;
        let wanted = Wanted {
            input: input.is_some(),
            input_weight: input_weight.is_some(),
            recurrent_weight: recurrent_weight.is_some(),
            bias: bias.is_some(),
            hidden: hidden.is_some(),
            cell: cell.is_some(),
        };

        let saved = ops.state;
        let dims = saved.trace.dims;
        let state_len = dims.batch * dims.hidden_size;
        let grad_packed = grads.consume::<B>(&ops.node);
        let device = grad_packed.device();
        let grad_packed = B::host_slice(&grad_packed);
        // The final hidden state is a slice of the outputs, so its gradient is already in
        // `grad_packed`'s last output block.
        let (grad_outputs, grad_last_cell) = grad_packed.split_at(dims.seq_len * state_len);
        let no_grad = vec![0.0; state_len];
        let result = kernel::backward(
            &saved.trace,
            &B::host_slice(&saved.input),
            Weights {
                input_weight: &B::host_slice(&saved.input_weight),
                recurrent_weight: &B::host_slice(&saved.recurrent_weight),
                bias: &[],
            },
            UpstreamGrads {
                outputs: grad_outputs,
                last_hidden: &no_grad,
                last_cell: grad_last_cell,
            },
            wanted,
        );

        let Dims {
            seq_len,
            batch,
            input_size,
            hidden_size,
            ..
        } = dims;
        let gate_width = dims.gate_width();
        let mut registrar = Registrar::<B> { grads, device };
        let mut register = |node, grad, shape: &[usize]| registrar.register(node, grad, shape);
        register(input, result.input, &[seq_len, batch, input_size]);
        register(input_weight, result.input_weight, &[input_size, gate_width]);
        register(
            recurrent_weight,
            result.recurrent_weight,
            &[hidden_size, gate_width],
        );
        register(bias, result.bias, &[gate_width]);
        register(hidden, result.hidden, &[batch, hidden_size]);
        register(cell, result.cell, &[batch, hidden_size]);
    }
}
