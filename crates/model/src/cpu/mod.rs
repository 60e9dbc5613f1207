//! What the fused recurrent layers of the CPU backends share: matrix products on f32 slices,
//! vectorisable gate nonlinearities, moving tensors to and from slices, and which devices and
//! inputs they run on.
//!
//! - `matmul`: products through the `gemm` crate, transposes for free
//! - `activation`: σ and tanh that inline into pointwise loops
//! - `tensors`: tensors of the CPU backends to and from slices

pub(crate) mod activation;
pub(crate) mod matmul;
#[cfg(test)]
pub(crate) mod parity;
pub(crate) mod saved;
pub(crate) mod sequence;
pub(crate) mod tensors;

use burn::backend::DispatchDevice;
use burn::prelude::*;
use burn::tensor::DType;

/// Whether the fused layers can run on `device`: the flex and ndarray backends, with or
/// without autodiff.
pub fn supports(device: &Device) -> bool {
    let device = match device.as_dispatch() {
        DispatchDevice::Autodiff(inner) => &**inner,
        other => other,
    };
    matches!(device, DispatchDevice::Flex(_) | DispatchDevice::NdArray(_))
}

/// Whether the fused layers can run on `input`: an f32 sequence of at least one step on a
/// supported device.
pub fn accepts(input: &Tensor<3>) -> bool {
    supports(&input.device()) && input.dims()[0] > 0 && input.dtype() == DType::F32
}

/// Rows of a pointwise pass handed to one thread at least: splitting finer than a few
/// thousand units costs more in scheduling than it saves.
pub(crate) fn min_rows_per_task(width: usize) -> usize {
    (4096 / width.max(1)).max(1)
}
