//! Adam as one pass over each parameter tensor on the CPU backends, flex and ndarray.
//!
//! Burn's `Adam` is about ten tensor operations per parameter tensor, each a pass over memory
//! with a new buffer; here one loop reads the parameter, its gradient and both moments once and
//! writes them once, in place where nothing else holds them, with the global-norm clipping
//! scale folded in. The arithmetic is Burn's, in Burn's order (equations in `kernel.rs`), and
//! the moments are kept in Burn's `AdamState`, so checkpoints and exact resume do not change.
//!
//! - `kernel`: the update on f32 slices
//! - `ops`: the backend operation

mod kernel;
mod ops;

use burn::backend::Dispatch;
use burn::prelude::*;

pub use crate::cpu::supports;
pub use kernel::AdamStep;
use ops::AdamOps;

/// One Adam step over `param` from `grad`, starting from `moments` (first, second; `None`: a
/// parameter's first step, from zero moments). Returns the new parameter and moments, each of
/// `param`'s shape.
///
/// # Panics
///
/// Unless [`supports`] holds for the tensors' device (a plain CPU device, not autodiff), or if
/// the shapes differ.
pub fn adam_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<(Tensor<D>, Tensor<D>)>,
    step: AdamStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let device = param.device();
    assert!(
        supports(&device) && !device.is_autodiff(),
        "the fused Adam step runs on flex or ndarray without autodiff, not {device:?}"
    );
    let shape = param.shape();
    let len = shape.num_elements();
    assert_eq!(grad.shape(), shape, "fused Adam: gradient shape");
    let (moment_1, moment_2) = moments.unwrap_or_else(|| {
        (
            Tensor::zeros(shape.clone(), &device),
            Tensor::zeros(shape.clone(), &device),
        )
    });
    assert_eq!(moment_1.shape(), shape, "fused Adam: first moment shape");
    assert_eq!(moment_2.shape(), shape, "fused Adam: second moment shape");
    let flat = |tensor: Tensor<D>| tensor.reshape([len]).into_dispatch();
    let (param, moment_1, moment_2) = <Dispatch as AdamOps>::adam_step(
        flat(param),
        flat(grad),
        flat(moment_1),
        flat(moment_2),
        step,
    );
    let shaped = |tensor| Tensor::<1>::from_dispatch(tensor).reshape(shape.clone());
    (shaped(param), shaped(moment_1), shaped(moment_2))
}
