//! Moving tensors of the CPU backends to and from the f32 slices the fused kernels work on,
//! without copying when the layout allows.

// NdArray is deprecated, but still one of the backends charlstm offers.
#![allow(deprecated)]

use std::borrow::Cow;

use burn::backend::ndarray::NdArrayTensor;
use burn::backend::tensor::{Device, FloatTensor, IntTensor};
use burn::backend::{Backend, Flex, NdArray, Shape, TensorData, TensorMetadata, read_sync};
use burn::tensor::DType;

use super::sequence::Dims;

/// A CPU backend whose float tensors the fused kernel can read in place.
pub trait HostBackend: Backend {
    /// The elements of `tensor` in row-major order: borrowed when it is a contiguous f32
    /// tensor, copied (and converted to f32) otherwise.
    fn host_slice(tensor: &FloatTensor<Self>) -> Cow<'_, [f32]>;

    /// A tensor of `shape` holding `values` (row-major), which it takes over without copying.
    fn from_host(
        values: Vec<f32>,
        shape: impl Into<Shape>,
        device: &Device<Self>,
    ) -> FloatTensor<Self> {
        Self::float_from_data(TensorData::new(values, shape), device)
    }

    /// The buffer of a tensor that nothing else holds, as a vector, when it can be had without
    /// copying (`None` otherwise): for a buffer the caller is done with, to go back to the
    /// work-buffer pool ([`super::buffers::recycle`]) instead of to the system.
    fn take_buffer(tensor: FloatTensor<Self>) -> Option<Vec<f32>> {
        let _ = tensor;
        None
    }
}

impl HostBackend for Flex {
    fn host_slice(tensor: &FloatTensor<Self>) -> Cow<'_, [f32]> {
        match tensor.as_slice::<f32>() {
            Some(values) => Cow::Borrowed(values),
            None => Cow::Owned(copy_to_host::<Self>(tensor)),
        }
    }

    fn take_buffer(tensor: FloatTensor<Self>) -> Option<Vec<f32>> {
        let len = tensor.layout().num_elements();
        let whole = tensor.dtype() == DType::F32
            && tensor.is_unique()
            && tensor.layout().contiguous_offsets() == Some((0, len))
            && tensor.bytes().len() == len * size_of::<f32>();
        // `into_data` moves a unique, whole buffer out without copying; `try_into_vec` keeps it
        // only if it was allocated as f32s.
        whole
            .then(|| tensor.into_data().into_bytes().try_into_vec::<f32>().ok())
            .flatten()
    }
}

impl HostBackend for NdArray {
    fn host_slice(tensor: &FloatTensor<Self>) -> Cow<'_, [f32]> {
        if let NdArrayTensor::F32(storage) = tensor
            && let Some(values) = storage.view().to_slice()
        {
            return Cow::Borrowed(values);
        }
        Cow::Owned(copy_to_host::<Self>(tensor))
    }
}

/// The sizes of a fused layer's run over `input` `[T, B, I]` from `hidden` `[B, H]`.
pub fn sequence_dims<B: Backend>(
    input: &FloatTensor<B>,
    hidden: &FloatTensor<B>,
    gates: usize,
) -> Dims {
    let [seq_len, batch, input_size] = input.shape().dims::<3>();
    let [_, hidden_size] = hidden.shape().dims::<2>();
    Dims {
        seq_len,
        batch,
        input_size,
        hidden_size,
        gates,
    }
}

/// The elements of `tensor` as a vector of its own, row-major: the tensor's buffer itself when
/// nothing else holds it and it is contiguous f32 (on Flex), else a copy.
pub fn into_host_vec<B: Backend>(tensor: FloatTensor<B>) -> Vec<f32> {
    // CPU backends hold their data in memory: reading cannot fail, and the future is ready.
    // The cast is no copy for f32, and the conversion keeps the buffer when it was one of f32s.
    read_sync(B::float_into_data(tensor))
        .expect("reading a CPU tensor")
        .try_into_vec_as::<f32>()
        .expect("float tensors convert to f32")
}

/// The elements of an integer tensor (token ids: few, so always copied), row-major, as `i64`
/// whatever the backend stores (Flex holds `i32`, NdArray `i64`).
pub fn host_ints<B: Backend>(tensor: &IntTensor<B>) -> Vec<i64> {
    // CPU backends hold their data in memory: reading cannot fail, and the future is ready.
    read_sync(B::int_into_data(tensor.clone()))
        .expect("reading a CPU tensor")
        .iter::<i64>()
        .collect()
}

/// The elements of a strided or non-f32 tensor, copied out in row-major order.
fn copy_to_host<B: Backend>(tensor: &FloatTensor<B>) -> Vec<f32> {
    into_host_vec::<B>(tensor.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::BackendTypes;

    /// A buffer that only the tensor holds comes back as it is; a shared one stays put.
    #[test]
    fn a_unique_buffer_is_taken_without_copying_and_a_shared_one_is_left() {
        let device = <Flex as BackendTypes>::Device::default();
        let values: Vec<f32> = (0..1000).map(|value| value as f32).collect();
        let address = values.as_ptr();
        let tensor = Flex::from_host(values, [10, 100], &device);
        let shared = tensor.clone();
        assert!(Flex::take_buffer(shared).is_none());
        let taken = Flex::take_buffer(tensor).expect("the only holder's buffer");
        assert_eq!(taken.as_ptr(), address);
        assert_eq!(taken[999], 999.0);
        let narrowed = Flex::from_host(vec![1.0; 100], [10, 10], &device).narrow(0, 2, 3);
        assert!(
            Flex::take_buffer(narrowed).is_none(),
            "a view of part of a buffer"
        );
    }
}
