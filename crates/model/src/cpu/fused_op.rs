//! One framework for the fused layers as Burn operations: a cell says what differs (its
//! operands, and through [`CellMath`] its pointwise steps), and this module does the rest once
//! for all cells: moving tensors to host slices and back, the forward pass
//! ([`super::recurrence`]) on the plain backends, and on `Autodiff` over them the node that
//! keeps what the backward pass needs and hands each input its gradient.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::{Device, FloatTensor};
use burn::backend::{Shape, TensorMetadata};

use super::buffers::recycle;
use super::gradients::{Operand, ReadInputs, Wanted};
use super::recurrence::{self, CellMath, Trace};
use super::sequence::Dims;
use super::tensors::{HostBackend, sequence_dims};

/// Implements a fused cell's backend-extension trait (`$ops`, whose one method `$method` takes
/// the operation's `N` tensors named `$arg`) for Flex and NdArray, which run cell `$cell`
/// directly, and for `Autodiff` over them, which also registers its backward pass.
macro_rules! impl_fused_ops {
    ($ops:ident::$method:ident, $cell:ty, $n:literal, [$($arg:ident),+ $(,)?]) => {
        impl $ops for burn::backend::Flex {
            fn $method($($arg: burn::backend::tensor::FloatTensor<Self>),+)
                -> burn::backend::tensor::FloatTensor<Self> {
                $crate::cpu::fused_op::host_forward::<Self, $cell, $n>(&[$($arg),+]).0
            }
        }

        impl $ops for burn::backend::NdArray {
            fn $method($($arg: burn::backend::tensor::FloatTensor<Self>),+)
                -> burn::backend::tensor::FloatTensor<Self> {
                $crate::cpu::fused_op::host_forward::<Self, $cell, $n>(&[$($arg),+]).0
            }
        }

        impl<B, S> $ops for burn::backend::autodiff::Autodiff<B, S>
        where
            B: $crate::cpu::tensors::HostBackend,
            S: burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy,
        {
            fn $method($($arg: burn::backend::tensor::FloatTensor<Self>),+)
                -> burn::backend::tensor::FloatTensor<Self> {
                $crate::cpu::fused_op::autodiff_forward::<B, S, $cell, $n>([$($arg),+])
            }
        }
    };
}
pub(crate) use impl_fused_ops;

/// A recurrent cell whose whole layer runs as one operation over `N` tensors, in the order of
/// [`Self::OPERANDS`]: the input sequence `X` `[T, B, I]`, `W_x` `[I, gates·H]`, `W_h`
/// `[H, gates·H]`, then the cell's biases and initial states. The operation's output is
/// `h_1 … h_T` `[T, B, H]`, then `c_T` for a cell with a cell state.
pub trait FusedCell<const N: usize>: CellMath + Debug + Default + Send + Sync + 'static {
    /// The layer's name in messages (`LSTM`).
    const NAME: &'static str;
    /// What each of the operation's inputs is, in order.
    const OPERANDS: [Operand; N];
}

/// Runs cell `C` on a plain CPU backend: the output tensor and the trace.
pub fn host_forward<B: HostBackend, C: FusedCell<N>, const N: usize>(
    inputs: &[FloatTensor<B>; N],
) -> (FloatTensor<B>, Trace) {
    let hidden = C::OPERANDS
        .iter()
        .position(|operand| *operand == Operand::Hidden)
        .expect("a recurrent cell has an initial hidden state");
    let dims = sequence_dims::<B>(&inputs[0], &inputs[hidden], C::SHAPE.gates);
    check_shapes::<B, C, N>(inputs, dims);
    let host = inputs.each_ref().map(|tensor| B::host_slice(tensor));
    let mut trace = recurrence::forward::<C>(
        dims,
        &C::OPERANDS,
        &host.each_ref().map(|values| &values[..]),
    );
    let shape = trace.output_shape::<C>();
    // The backward pass reads the states it keeps column-major, not these.
    let values = std::mem::take(&mut trace.outputs);
    (B::from_host(values, shape, &inputs[0].device()), trace)
}

/// Checks that each of `inputs` has its operand's shape in a layer of `dims`.
///
/// # Panics
///
/// If one has not, naming the layer and the operand.
fn check_shapes<B: HostBackend, C: FusedCell<N>, const N: usize>(
    inputs: &[FloatTensor<B>; N],
    dims: Dims,
) {
    for (operand, tensor) in C::OPERANDS.iter().zip(inputs) {
        let shape = tensor.shape();
        let expected = operand.shape(dims);
        assert!(
            shape.as_slice() == expected,
            "the fused {}'s {} is {:?}, not {expected:?}",
            C::NAME,
            operand.name(),
            shape.as_slice()
        );
    }
}

/// Runs cell `C` on `Autodiff` over a CPU backend, registering its backward pass in the graph.
pub fn autodiff_forward<B, S, C, const N: usize>(
    inputs: [FloatTensor<Autodiff<B, S>>; N],
) -> FloatTensor<Autodiff<B, S>>
where
    B: HostBackend,
    S: CheckpointStrategy,
    C: FusedCell<N>,
{
    let nodes = inputs.each_ref().map(|tensor| tensor.node());
    let inner = inputs.map(|tensor| tensor.into_primitive());
    // Compute bound: the backward pass uses what the forward pass saved, and never reruns it.
    let node = FusedBackward::<C, N>(PhantomData);
    match node.prepare::<S>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (output, trace) = host_forward::<B, C, N>(&inner);
            prep.finish(Saved::new(trace, inner), output)
        }
        OpsKind::UnTracked(prep) => prep.finish(host_forward::<B, C, N>(&inner).0),
    }
}

/// The backward step of cell `C`'s operation in the autodiff graph.
#[derive(Debug)]
struct FusedBackward<C, const N: usize>(PhantomData<C>);

impl<B: HostBackend, C: FusedCell<N>, const N: usize> Backward<B, N> for FusedBackward<C, N> {
    type State = Saved<B>;

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        // Parents that need no gradient (constants, detached state) are None.
        let parents: [Option<NodeId>; N] = ops.parents.map(|parent| parent.map(|node| node.id));
        let saved = ops.state;
        let grad_output = grads.consume::<B>(&ops.node);
        let device = grad_output.device();
        let read = [&saved.input, &saved.input_weight, &saved.recurrent_weight]
            .map(|tensor| B::host_slice(tensor));
        let wanted = Wanted::of(&C::OPERANDS, parents.map(|parent| parent.is_some()));
        let result = recurrence::backward::<C>(
            &saved.trace,
            ReadInputs {
                input: &read[0],
                input_weight: &read[1],
                recurrent_weight: &read[2],
            },
            &B::host_slice(&grad_output),
            wanted,
        )
        .into_operands(&C::OPERANDS);
        // The gradient of the output is consumed here: its buffer serves the next step.
        if let Some(buffer) = B::take_buffer(grad_output) {
            recycle(buffer);
        }
        register_grads::<B, N>(grads, parents, result, &saved.shapes[..], &device);
    }
}

/// Registers each computed gradient with its parent's node, as a tensor of the parent's shape
/// on `device`. A parent that wants no gradient (`None`) gets none, whatever was computed.
pub(crate) fn register_grads<B: HostBackend, const N: usize>(
    grads: &mut Gradients,
    parents: [Option<NodeId>; N],
    computed: [Option<Vec<f32>>; N],
    shapes: &[Shape],
    device: &Device<B>,
) {
    for ((node, grad), shape) in parents.into_iter().zip(computed).zip(shapes) {
        if let (Some(node), Some(grad)) = (node, grad) {
            grads.register::<B>(node, B::from_host(grad, shape.clone(), device));
        }
    }
}

/// What the backward pass keeps from the forward pass: the kernel's trace, the three tensors
/// it reads (held, not copied; biases and initial states are not needed) and every input's
/// shape, which is its gradient's.
#[derive(Clone)]
struct Saved<B: HostBackend> {
    trace: Arc<Trace>,
    input: FloatTensor<B>,
    input_weight: FloatTensor<B>,
    recurrent_weight: FloatTensor<B>,
    shapes: Arc<Vec<Shape>>,
}

impl<B: HostBackend> Saved<B> {
    fn new<const N: usize>(trace: Trace, inputs: [FloatTensor<B>; N]) -> Self {
        let shapes = inputs.iter().map(|tensor| tensor.shape()).collect();
        let mut inputs = inputs.into_iter();
        let mut next = || {
            inputs
                .next()
                .expect("a fused layer has its input and two weights")
        };
        Self {
            trace: Arc::new(trace),
            input: next(),
            input_weight: next(),
            recurrent_weight: next(),
            shapes: Arc::new(shapes),
        }
    }
}

impl<B: HostBackend> Debug for Saved<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saved")
            .field("trace", &self.trace)
            .finish_non_exhaustive()
    }
}
