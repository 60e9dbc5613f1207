//! The fused Adam step as a Burn backend operation on the Flex and NdArray backends.

// NdArray is deprecated, but still one of the backends charlstm offers; the routing the
// macro generates names it too.
#![allow(deprecated)]

use burn::backend::backend_extension;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, NdArray, TensorMetadata};

use super::kernel::{AdamStep, adam_step};
use crate::cpu::buffers::recycle;
use crate::cpu::tensors::{HostBackend, into_host_vec};

/// Backends that run an Adam step over a tensor in one pass.
#[backend_extension(Flex, NdArray)]
pub trait AdamOps: burn::backend::Backend {
    /// One Adam step (equations in [`super::kernel`]) over flat `[n]` tensors: returns the
    /// new parameter, first moment and second moment.
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Flex and NdArray take the step on host memory alike.
macro_rules! impl_on_host {
    ($($backend:ty),+) => {$(
        impl AdamOps for $backend {
            fn adam_step(
                param: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                moment_1: FloatTensor<Self>,
                moment_2: FloatTensor<Self>,
                step: AdamStep,
            ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
                host_step::<Self>([param, grad, moment_1, moment_2], step)
            }
        }
    )+};
}

impl_on_host!(Flex, NdArray);

/// The step on host memory: the parameter and the moments are updated in their own buffers
/// when nothing else holds them (on Flex), else in copies.
fn host_step<B: HostBackend>(
    [param, grad, moment_1, moment_2]: [FloatTensor<B>; 4],
    step: AdamStep,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let (shape, device) = (param.shape(), param.device());
    let [mut param, mut moment_1, mut moment_2] =
        [param, moment_1, moment_2].map(into_host_vec::<B>);
    adam_step(
        &mut param,
        &B::host_slice(&grad),
        &mut moment_1,
        &mut moment_2,
        step,
    );
    // The gradient is consumed here: its buffer serves the next step's backward pass.
    if let Some(buffer) = B::take_buffer(grad) {
        recycle(buffer);
    }
    let [param, moment_1, moment_2] =
        [param, moment_1, moment_2].map(|values| B::from_host(values, shape.clone(), &device));
    (param, moment_1, moment_2)
}
