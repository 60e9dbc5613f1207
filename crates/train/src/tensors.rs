//! Turning the data crate's plain token ids into tensors.

use burn::prelude::*;
use charlstm_data::Batch;

/// Token ids `ids` as a `[rows, columns]` int tensor.
pub fn token_tensor(ids: &[u32], rows: usize, columns: usize, device: &Device) -> Tensor<2, Int> {
    let data: Vec<i64> = ids.iter().map(|&id| i64::from(id)).collect();
    Tensor::from_data(TensorData::new(data, [rows, columns]), device)
}

/// A batch's inputs and targets, each `[batch_size, seq_len]`.
pub fn batch_tensors(batch: &Batch, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    (
        token_tensor(&batch.inputs, batch.batch_size, batch.seq_len, device),
        token_tensor(&batch.targets, batch.batch_size, batch.seq_len, device),
    )
}
