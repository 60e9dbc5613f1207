//! The fused head and cross-entropy as a Burn backend operation: the forward pass on the Flex
//! and NdArray backends, and on `Autodiff` over them with the hand-written backward pass
//! registered in the graph. Its output is the summed loss, a one-element tensor.

// NdArray is deprecated, but still one of the backends charlstm offers; the routing the
// macro generates names it too.
#![allow(deprecated)]

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::backend_extension;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Flex, NdArray, Shape, TensorMetadata};

use super::kernel::{self, HeadDims, HeadTrace, HeadWanted};
use crate::cpu::fused_op::register_grads;
use crate::cpu::tensors::{HostBackend, host_ints};

/// Backends that run the output head and the cross-entropy as one operation.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait HeadLossOps: burn::backend::Backend {
    /// The summed cross-entropy of `features · weight + bias` against `targets` (equations in
    /// [`kernel`]).
    ///
    /// - `features`: `[T, B, H]`, time-major
    /// - `weight`: `[H, V]`; `bias`: `[V]`
    /// - `targets`: `[B, T]` token ids, batch-major
    /// - returns `[1]`: the loss summed over all `T·B` predictions, in nats
    fn head_cross_entropy(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Flex and NdArray run the operation on host memory alike.
macro_rules! impl_on_host {
    ($($backend:ty),+) => {$(
        impl HeadLossOps for $backend {
            fn head_cross_entropy(
                features: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                targets: IntTensor<Self>,
            ) -> FloatTensor<Self> {
                host_forward::<Self>(&features, &weight, &bias, &targets).0
            }
        }
    )+};
}

impl_on_host!(Flex, NdArray);

impl<B: HostBackend, S: CheckpointStrategy> HeadLossOps for Autodiff<B, S> {
    fn head_cross_entropy(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [features.node(), weight.node(), bias.node()];
        let [features, weight, bias] = [features, weight, bias].map(|t| t.into_primitive());
        match HeadBackward.prepare::<S>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (loss, trace) = host_forward::<B>(&features, &weight, &bias, &targets);
                let saved = Saved {
                    trace: Arc::new(trace),
                    shapes: Arc::new([features.shape(), weight.shape(), bias.shape()]),
                    features,
                    weight,
                };
                prep.finish(saved, loss)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(host_forward::<B>(&features, &weight, &bias, &targets).0)
            }
        }
    }
}

/// Runs the head on a plain CPU backend: the `[1]` summed loss and the trace.
fn host_forward<B: HostBackend>(
    features: &FloatTensor<B>,
    weight: &FloatTensor<B>,
    bias: &FloatTensor<B>,
    targets: &IntTensor<B>,
) -> (FloatTensor<B>, HeadTrace) {
    let [seq_len, batch, hidden_size] = features.shape().dims::<3>();
    let [_, vocab_size] = weight.shape().dims::<2>();
    let dims = HeadDims {
        seq_len,
        batch,
        hidden_size,
        vocab_size,
    };
    let (loss, trace) = kernel::forward(
        dims,
        &B::host_slice(features),
        &B::host_slice(weight),
        &B::host_slice(bias),
        &host_ints::<B>(targets),
    );
    let loss = B::from_host(vec![loss as f32], [1], &features.device());
    (loss, trace)
}

/// The backward step of the operation in the autodiff graph.
#[derive(Debug)]
struct HeadBackward;

impl<B: HostBackend> Backward<B, 3> for HeadBackward {
    type State = Saved<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        // Parents that need no gradient (a constant bias, say) are None.
        let parents: [Option<NodeId>; 3] = ops.parents.map(|parent| parent.map(|node| node.id));
        let saved = ops.state;
        let grad_output = grads.consume::<B>(&ops.node);
        let device = grad_output.device();
        let grad_loss = B::host_slice(&grad_output)[0];
        let wanted = HeadWanted {
            features: parents[0].is_some(),
            weight: parents[1].is_some(),
            bias: parents[2].is_some(),
        };
        let result = kernel::backward(
            &saved.trace,
            &B::host_slice(&saved.features),
            &B::host_slice(&saved.weight),
            grad_loss,
            wanted,
        );
        let computed = [result.features, result.weight, result.bias];
        register_grads::<B, 3>(grads, parents, computed, &saved.shapes[..], &device);
    }
}

/// What the backward pass keeps: the trace, the two tensors it reads (held, not copied), and
/// the shapes of the three inputs, which are their gradients'.
#[derive(Clone)]
struct Saved<B: HostBackend> {
    trace: Arc<HeadTrace>,
    features: FloatTensor<B>,
    weight: FloatTensor<B>,
    shapes: Arc<[Shape; 3]>,
}

impl<B: HostBackend> std::fmt::Debug for Saved<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saved")
            .field("trace", &self.trace)
            .finish_non_exhaustive()
    }
}
