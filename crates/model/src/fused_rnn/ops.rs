//! The fused plain RNN as a Burn backend operation: the forward pass on the Flex and NdArray
//! backends, and on `Autodiff` over them with the hand-written backward pass registered in the
//! graph. Its one output is every step's hidden state, `[T, B, H]`; the final state is the
//! last block, so its gradient arrives through the output's.

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

use super::kernel::{self, Dims, ForwardTrace, Wanted, Weights};
use crate::cpu::saved::{Registrar, Saved};
use crate::cpu::tensors::{HostBackend, sequence_dims};

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

impl RnnOps for Flex {
    fn rnn_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        run_forward::<Self>(&[input, input_weight, recurrent_weight, bias, hidden]).0
    }
}

impl RnnOps for NdArray {
    fn rnn_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        run_forward::<Self>(&[input, input_weight, recurrent_weight, bias, hidden]).0
    }
}

impl<B: HostBackend, C: CheckpointStrategy> RnnOps for Autodiff<B, C> {
    fn rnn_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let inputs = [input, input_weight, recurrent_weight, bias, hidden];
        let nodes = inputs.each_ref().map(|tensor| tensor.node());
        let inner = inputs.map(|tensor| tensor.into_primitive());
        // Compute bound: the backward pass uses what the forward pass saved, and never reruns it.
        match RnnBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (output, trace) = run_forward::<B>(&inner);
                prep.finish(Saved::new(trace, inner), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(run_forward::<B>(&inner).0),
        }
    }
}

/// Runs the kernel on `[input, input_weight, recurrent_weight, bias, hidden]` and returns the
/// outputs `[T, B, H]` with the trace for the backward pass.
fn run_forward<B: HostBackend>(inputs: &[FloatTensor<B>; 5]) -> (FloatTensor<B>, ForwardTrace) {
    let [input, input_weight, recurrent_weight, bias, hidden] = inputs;
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
    );
    let output = B::from_host(
        trace.outputs().to_vec(),
        [seq_len, batch, hidden_size],
        &input.device(),
    );
    (output, trace)
}

/// The backward step of [`RnnOps::rnn_sequence`] in the autodiff graph.
#[derive(Debug)]
struct RnnBackward;

impl<B: HostBackend> Backward<B, 5> for RnnBackward {
    type State = Saved<B, ForwardTrace>;

    fn backward(
        self,
        ops: Ops<Self::State, 5>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        // Parents that need no gradient (constants, detached state) are None.
        let parents: [Option<NodeId>; 5] = ops.parents.map(|parent| parent.map(|node| node.id));
        let [input, input_weight, recurrent_weight, bias, hidden] = parents;
        let wanted = Wanted {
            input: input.is_some(),
            input_weight: input_weight.is_some(),
            recurrent_weight: recurrent_weight.is_some(),
            bias: bias.is_some(),
            hidden: hidden.is_some(),
        };

        let saved = ops.state;
        let dims = saved.trace.dims;
        let grad_outputs = grads.consume::<B>(&ops.node);
        let device = grad_outputs.device();
        let result = kernel::backward(
            &saved.trace,
            &B::host_slice(&saved.input),
            Weights {
                input_weight: &B::host_slice(&saved.input_weight),
                recurrent_weight: &B::host_slice(&saved.recurrent_weight),
                bias: &[],
            },
            &B::host_slice(&grad_outputs),
            wanted,
        );

        let (batch, hidden_size) = (dims.batch, dims.hidden_size);
        let mut registrar = Registrar::<B> { grads, device };
        let mut register = |node, grad, shape: &[usize]| registrar.register(node, grad, shape);
        register(input, result.input, &[dims.seq_len, batch, dims.input_size]);
        register(
            input_weight,
            result.input_weight,
            &[dims.input_size, hidden_size],
        );
        register(
            recurrent_weight,
            result.recurrent_weight,
            &[hidden_size, hidden_size],
        );
        register(bias, result.bias, &[hidden_size]);
        register(hidden, result.hidden, &[batch, hidden_size]);
    }
}
