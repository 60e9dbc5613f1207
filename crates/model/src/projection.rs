//! The input projection of a recurrent layer, for all steps of a sequence at once.

use burn::prelude::*;

/// The input part of every step's pre-activations, `x_t · W + b`, for the step loops of the
/// GRU and RNN layers.
///
/// - `input`: `[seq_len, batch, input_size]`
/// - `weight`: `[input_size, width]`; `bias`: `[width]`
/// - returns `seq_len` tensors `[batch, width]`, first step first.
///
/// Without autodiff this is one `[seq_len · batch, input_size] × [input_size, width]` product,
/// sliced per step. With autodiff each step multiplies its own slice of the input instead: the
/// gradient of a slice is a zero tensor the size of its source with the slice written in, so
/// slicing the projection would cost a zero fill of `[seq_len · batch, width]` per step on the
/// way back (quadratic in `seq_len`); slicing the input costs the same at `input_size`, which
/// is narrower than the gates.
pub(crate) fn project_steps(
    input: Tensor<3>,
    weight: Tensor<2>,
    bias: Tensor<1>,
) -> Vec<Tensor<2>> {
    let [seq_len, batch, input_size] = input.dims();
    let bias = bias.unsqueeze_dim(0);
    if input.device().is_autodiff() {
        (0..seq_len)
            .map(|step| {
                let x = input
                    .clone()
                    .narrow(0, step, 1)
                    .reshape([batch, input_size]);
                x.matmul(weight.clone()) + bias.clone()
            })
            .collect()
    } else {
        let all = input.reshape([seq_len * batch, input_size]).matmul(weight) + bias;
        (0..seq_len)
            .map(|step| all.clone().narrow(0, step * batch, batch))
            .collect()
    }
}
