//! The pointwise part of an LSTM step as one GPU kernel on the wgpu backend, with or without
//! autodiff, and its backward pass as one more kernel.
//!
//! Built from Burn tensor operations, the step after the gate products is a dozen pointwise
//! operations (slices, three sigmoids, two tanh, products, a sum), each its own autodiff node
//! with its own backward operations. Here it is one operation: one kernel forward, one kernel
//! backward (equations in `kernel.rs`). The matrix products and the bias stay Burn operations.
//!
//! - `kernel`: the CubeCL kernels and their launches on cubecl tensors
//! - `ops`: the backend operations, with the backward step registered for autodiff

mod kernel;
mod ops;

use burn::backend::{Dispatch, DispatchDevice};
use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::CubeDevice;

use ops::LstmCellOps;

/// Whether [`lstm_cell`] can run on `device`: the wgpu backend, with or without autodiff.
pub fn supports(device: &Device) -> bool {
    let device = match device.as_dispatch() {
        DispatchDevice::Autodiff(inner) => &**inner,
        other => other,
    };
    matches!(device, DispatchDevice::Cube(CubeDevice::Wgpu(_)))
}

/// Whether [`lstm_cell`] can run on `input`: an f32 tensor on a supported device.
pub fn accepts<const D: usize>(input: &Tensor<D>) -> bool {
    supports(&input.device()) && input.dtype() == DType::F32
}

/// One LSTM step's nonlinearities and state update (the equations of [`crate::lstm`]) as one
/// operation: gate pre-activations `gates`, `[batch, 4·hidden]` ordered i, f, g, o, and the cell
/// state `cell`, `[batch, hidden]`, to the new hidden and cell state, each `[batch, hidden]`.
///
/// Gradients flow to both inputs.
///
/// # Panics
///
/// Unless [`accepts`] holds for both inputs, or if the shapes disagree.
pub fn lstm_cell(gates: Tensor<2>, cell: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    assert!(
        accepts(&gates) && accepts(&cell),
        "the GPU LSTM cell runs f32 tensors on wgpu, not {:?} {:?}",
        gates.device(),
        gates.dtype()
    );
    let [batch, hidden_size] = cell.dims();
    assert_eq!(
        gates.dims(),
        [batch, 4 * hidden_size],
        "gates must be [batch, 4·hidden] for a [batch, hidden] cell state"
    );

    // [2, B, H]: h', then c'.
    let packed = Tensor::<3>::from_dispatch(<Dispatch as LstmCellOps>::lstm_cell(
        gates.into_dispatch(),
        cell.into_dispatch(),
    ));
    let hidden = packed.clone().narrow(0, 0, 1).reshape([batch, hidden_size]);
    let cell = packed.narrow(0, 1, 1).reshape([batch, hidden_size]);
    (hidden, cell)
}
