//! A whole plain (tanh) RNN layer as one Burn operation on the CPU backends, flex and ndarray,
//! with or without autodiff, and its backpropagation through time written by hand, as
//! [`crate::fused_lstm`] does for the LSTM (the equations are in `kernel.rs`).
//!
//! - `kernel`: the cell's equations and its pointwise step each way, on f32 slices, no Burn
//!   types (the loops over the steps and the products are `crate::cpu::recurrence`'s)
//! - `ops`: the backend operation, with the backward step registered for autodiff

pub(crate) mod kernel;
mod ops;

use burn::backend::Dispatch;
use burn::prelude::*;

use crate::cpu::{check_layer, last_step};
use ops::RnnOps;

/// Runs a tanh RNN layer over a time-major sequence in one operation; the equation is that of
/// [`crate::rnn`].
///
/// - `input`: `[seq_len, batch, input_size]`
/// - `input_weight`: `W_x`, `[input_size, hidden]`; `recurrent_weight`: `W_h`,
///   `[hidden, hidden]`; `bias`: `[hidden]`
/// - `hidden`: the state before the first step, `[batch, hidden]`
/// - returns every step's hidden state, `[seq_len, batch, hidden]`, and the last one.
///
/// Gradients flow to all of them.
///
/// # Panics
///
/// Unless [`crate::cpu::accepts`] holds, or if the shapes disagree.
pub fn rnn_sequence(
    input: Tensor<3>,
    input_weight: Tensor<2>,
    recurrent_weight: Tensor<2>,
    bias: Tensor<1>,
    hidden: Tensor<2>,
) -> (Tensor<3>, Tensor<2>) {
    let [_, batch, _, hidden_size] = check_layer(
        "RNN",
        &input,
        &input_weight,
        &recurrent_weight,
        kernel::GATES,
    );
    assert_eq!(bias.dims(), [hidden_size], "bias");
    assert_eq!(hidden.dims(), [batch, hidden_size], "hidden state");

    let outputs = Tensor::<3>::from_dispatch(<Dispatch as RnnOps>::rnn_sequence(
        input.into_dispatch(),
        input_weight.into_dispatch(),
        recurrent_weight.into_dispatch(),
        bias.into_dispatch(),
        hidden.into_dispatch(),
    ));
    let last = last_step(&outputs);
    (outputs, last)
}
