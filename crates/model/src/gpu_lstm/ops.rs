//! The LSTM cell as Burn backend operations: the forward pass on the cubecl backend (behind
//! Burn's fusion layer, as dispatch runs wgpu), and on `Autodiff` over it with the backward pass
//! registered in the graph as one more operation.
//!
//! An operation has one output tensor, so `h'` and `c'` travel packed in one `[2, B, H]`
//! tensor (`h'` first). Slicing it apart is differentiable, so the gradient that comes back is
//! packed the same way. The backward operation returns two tensors, which the extension macro
//! allows for operations that never meet autodiff.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::CubeBackend;
use burn::backend::{Shape, backend_extension};

use super::kernel;

/// Backends that run the pointwise part of an LSTM step as one operation.
#[backend_extension(Cube, Fusion, Autodiff)]
pub trait LstmCellOps: burn::backend::Backend {
    /// One step's nonlinearities and state update (equations in [`kernel`]).
    ///
    /// - `gates`: pre-activations `[B, 4H]`, ordered i, f, g, o
    /// - `cell`: the cell state before the step, `[B, H]`
    /// - returns `[2, B, H]`: `h'`, then `c'`
    #[fusion(dtype = gates, shape = packed_shape(cell))]
    fn lstm_cell(gates: FloatTensor<Self>, cell: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Backends that run the backward pass of [`LstmCellOps::lstm_cell`] as one operation.
#[backend_extension(Cube, Fusion)]
pub trait LstmCellBackwardOps: burn::backend::Backend {
    /// The gradients of `gates` (`[B, 4H]`) and of `cell` (`[B, H]`) given the forward pass's
    /// inputs and the gradient of its packed output, `grad_packed` (`[2, B, H]`).
    #[fusion(meta = |gates, cell, _grad_packed| (gates.clone(), cell.clone()))]
    fn lstm_cell_backward(
        gates: FloatTensor<Self>,
        cell: FloatTensor<Self>,
        grad_packed: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// The shape of the packed output, `[2, B, H]`, for a cell state of shape `[B, H]`.
fn packed_shape(cell: &Shape) -> Shape {
    let mut dims = vec![2];
    dims.extend(cell.iter().copied());
    Shape::from(dims)
}

impl LstmCellOps for CubeBackend {
    fn lstm_cell(gates: FloatTensor<Self>, cell: FloatTensor<Self>) -> FloatTensor<Self> {
        kernel::cell_forward(gates, cell)
    }
}

impl LstmCellBackwardOps for CubeBackend {
    fn lstm_cell_backward(
        gates: FloatTensor<Self>,
        cell: FloatTensor<Self>,
        grad_packed: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        kernel::cell_backward(gates, cell, grad_packed)
    }
}

impl<B, C> LstmCellOps for Autodiff<B, C>
where
    B: LstmCellOps + LstmCellBackwardOps,
    C: CheckpointStrategy,
{
    fn lstm_cell(gates: FloatTensor<Self>, cell: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [gates.node(), cell.node()];
        let (gates, cell) = (gates.into_primitive(), cell.into_primitive());
        // Compute bound: the backward pass recomputes the activations from the saved inputs, which
        // the graph holds anyway, and never reruns the forward operation.
        match CellBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::lstm_cell(gates.clone(), cell.clone());
                prep.finish((gates, cell), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lstm_cell(gates, cell)),
        }
    }
}

/// The backward step of [`LstmCellOps::lstm_cell`] in the autodiff graph; its state is the
/// forward pass's inputs, `(gates, cell)`.
#[derive(Debug)]
struct CellBackward;

impl<B: LstmCellBackwardOps> Backward<B, 2> for CellBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        // Parents that need no gradient (constants, a detached state) are None.
        let [gates_node, cell_node]: [Option<NodeId>; 2] =
            ops.parents.map(|parent| parent.map(|node| node.id));
        let grad_packed = grads.consume::<B>(&ops.node);
        let (gates, cell) = ops.state;
        let (grad_gates, grad_cell) = B::lstm_cell_backward(gates, cell, grad_packed);
        if let Some(node) = gates_node {
            grads.register::<B>(node, grad_gates);
        }
        if let Some(node) = cell_node {
            grads.register::<B>(node, grad_cell);
        }
    }
}
