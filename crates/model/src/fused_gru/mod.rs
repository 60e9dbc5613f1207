//! A whole GRU layer as one Burn operation on the CPU backends, flex and ndarray, with or
//! without autodiff, and its backpropagation through time written by hand, as
//! [`crate::fused_lstm`] does for the LSTM, through the same loops (the equations are in
//! `kernel.rs`).
//!
//! - `kernel`: the cell's equations and its pointwise step each way, on f32 slices, no Burn
//!   types (the loops over the steps and the products are `crate::cpu::recurrence`'s)
//! - `ops`: the backend operation, with the backward step registered for autodiff

pub(crate) mod kernel;
mod ops;

use burn::backend::Dispatch;
use burn::prelude::*;

use crate::cpu::{check_layer, last_step};
use ops::GruOps;

/// Runs a GRU layer over a time-major sequence in one operation; the equations are those of
/// [`crate::gru`].
///
/// - `input`: `[seq_len, batch, input_size]`
/// - `input_weight`: `W_x`, `[input_size, 3·hidden]`; `recurrent_weight`: `W_h`,
///   `[hidden, 3·hidden]`; `input_bias`, `recurrent_bias`: `[3·hidden]`; gates r, z, n
/// - `hidden`: the state before the first step, `[batch, hidden]`
/// - returns every step's hidden state, `[seq_len, batch, hidden]`, and the last one.
///
/// Gradients flow to all of them.
///
/// # Panics
///
/// Unless [`crate::cpu::accepts`] holds, or if the shapes disagree.
pub fn gru_sequence(
    input: Tensor<3>,
    input_weight: Tensor<2>,
    recurrent_weight: Tensor<2>,
    input_bias: Tensor<1>,
    recurrent_bias: Tensor<1>,
    hidden: Tensor<2>,
) -> (Tensor<3>, Tensor<2>) {
    let [_, batch, _, hidden_size] = check_layer(
        "GRU",
        &input,
        &input_weight,
        &recurrent_weight,
        kernel::GATES,
    );
    let gate_width = kernel::GATES * hidden_size;
    assert_eq!(input_bias.dims(), [gate_width], "input bias");
    assert_eq!(recurrent_bias.dims(), [gate_width], "recurrent bias");
    assert_eq!(hidden.dims(), [batch, hidden_size], "hidden state");

    let outputs = Tensor::<3>::from_dispatch(<Dispatch as GruOps>::gru_sequence(
        input.into_dispatch(),
        input_weight.into_dispatch(),
        recurrent_weight.into_dispatch(),
        input_bias.into_dispatch(),
        recurrent_bias.into_dispatch(),
        hidden.into_dispatch(),
    ));
    let last = last_step(&outputs);
    (outputs, last)
}
