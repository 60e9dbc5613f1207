//! The fused GRU as a Burn backend operation: the forward pass on the Flex and NdArray
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

impl GruOps for Flex {
    fn gru_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        input_bias: FloatTensor<Self>,
        recurrent_bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let inputs = [
            input,
            input_weight,
            recurrent_weight,
            input_bias,
            recurrent_bias,
            hidden,
        ];
        run_forward::<Self>(&inputs).0
    }
}

impl GruOps for NdArray {
    fn gru_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        input_bias: FloatTensor<Self>,
        recurrent_bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let inputs = [
            input,
            input_weight,
            recurrent_weight,
            input_bias,
            recurrent_bias,
            hidden,
        ];
        run_forward::<Self>(&inputs).0
    }
}

impl<B: HostBackend, C: CheckpointStrategy> GruOps for Autodiff<B, C> {
    fn gru_sequence(
        input: FloatTensor<Self>,
        input_weight: FloatTensor<Self>,
        recurrent_weight: FloatTensor<Self>,
        input_bias: FloatTensor<Self>,
        recurrent_bias: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let inputs = [
            input,
            input_weight,
            recurrent_weight,
            input_bias,
            recurrent_bias,
            hidden,
        ];
        let nodes = inputs.each_ref().map(|tensor| tensor.node());
        let inner = inputs.map(|tensor| tensor.into_primitive());
        // Compute bound: the backward pass uses what the forward pass saved, and never reruns it.
        match GruBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (output, trace) = run_forward::<B>(&inner);
                prep.finish(Saved::new(trace, inner), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(run_forward::<B>(&inner).0),
        }
    }
}

/// Runs the kernel on `[input, input_weight, recurrent_weight, input_bias, recurrent_bias,
/// hidden]` and returns the outputs `[T, B, H]` with the trace for the backward pass.
fn run_forward<B: HostBackend>(inputs: &[FloatTensor<B>; 6]) -> (FloatTensor<B>, ForwardTrace) {
    let [
        input,
        input_weight,
        recurrent_weight,
        input_bias,
        recurrent_bias,
        hidden,
    ] = inputs;
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
            input_bias: &B::host_slice(input_bias),
            recurrent_bias: &B::host_slice(recurrent_bias),
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

/// The backward step of [`GruOps::gru_sequence`] in the autodiff graph.
#[derive(Debug)]
struct GruBackward;

impl<B: HostBackend> Backward<B, 6> for GruBackward {
    type State = Saved<B, ForwardTrace>;

    fn backward(
        self,
        ops: Ops<Self::State, 6>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        // Parents that need no gradient (constants, detached state) are None.
        let parents: [Option<NodeId>; 6] = ops.parents.map(|parent| parent.map(|node| node.id));
        let [
            input,
            input_weight,
            recurrent_weight,
            input_bias,
            recurrent_bias,
            hidden,
        ] = parents;
        let wanted = Wanted {
            input: input.is_some(),
            input_weight: input_weight.is_some(),
            recurrent_weight: recurrent_weight.is_some(),
            input_bias: input_bias.is_some(),
            recurrent_bias: recurrent_bias.is_some(),
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
                input_bias: &[],
                recurrent_bias: &[],
            },
            &B::host_slice(&grad_outputs),
            wanted,
        );

        let (gate_width, hidden_size) = (dims.gate_width(), dims.hidden_size);
        let mut registrar = Registrar::<B> { grads, device };
        let mut register = |node, grad, shape: &[usize]| registrar.register(node, grad, shape);
        register(
            input,
            result.input,
            &[dims.seq_len, dims.batch, dims.input_size],
        );
        register(
            input_weight,
            result.input_weight,
            &[dims.input_size, gate_width],
        );
        register(
            recurrent_weight,
            result.recurrent_weight,
            &[hidden_size, gate_width],
        );
        register(input_bias, result.input_bias, &[gate_width]);
        register(recurrent_bias, result.recurrent_bias, &[gate_width]);
        register(hidden, result.hidden, &[dims.batch, hidden_size]);
    }
}
