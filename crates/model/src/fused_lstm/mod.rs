//! A whole LSTM layer as one Burn operation on the CPU backends, flex and ndarray, with or
//! without autodiff, and its backpropagation through time written by hand.
//!
//! Built from Burn tensor operations, a layer is a few dozen small operations per step, each
//! recorded in the autodiff graph and each with its own backward step. Here the forward pass is
//! two products (input and recurrent) and one fused pointwise loop per step; the backward pass
//! is one product and one pointwise loop per step, then three products over all steps (the
//! equations are in `kernel.rs`).
//!
//! - `kernel`: the cell's equations and its pointwise step each way, on f32 slices, no Burn
//!   types (the loops over the steps and the products are `crate::cpu::recurrence`'s)
//! - `ops`: the backend operation, with the backward step registered for autodiff

pub(crate) mod kernel;
mod ops;

use burn::backend::Dispatch;
use burn::prelude::*;

pub use crate::cpu::{accepts, supports};
use crate::cpu::{check_layer, last_step};

use crate::state::LayerState;
use ops::LstmOps;

/// Runs an LSTM layer over a time-major sequence in one operation; the equations are those of
/// [`crate::lstm`].
///
/// - `input`: `[seq_len, batch, input_size]`
/// - `input_weight`: `W_x`, `[input_size, 4·hidden]`; `recurrent_weight`: `W_h`,
///   `[hidden, 4·hidden]`; `bias`: `[4·hidden]`; gates ordered i, f, g, o
/// - `state`: hidden and cell state before the first step, each `[batch, hidden]`
/// - returns every step's hidden state, `[seq_len, batch, hidden]`, and the final state.
///
/// Gradients flow to all of them.
///
/// # Panics
///
/// Unless [`accepts`] holds, or if the shapes disagree.
pub fn lstm_sequence(
    input: Tensor<3>,
    input_weight: Tensor<2>,
    recurrent_weight: Tensor<2>,
    bias: Tensor<1>,
    state: LayerState,
) -> (Tensor<3>, LayerState) {
    let [seq_len, batch, _, hidden_size] = check_layer(
        "LSTM",
        &input,
        &input_weight,
        &recurrent_weight,
        kernel::GATES,
    );
    let gate_width = kernel::GATES * hidden_size;
    assert_eq!(bias.dims(), [gate_width], "bias");
    assert_eq!(state.hidden.dims(), [batch, hidden_size], "hidden state");
    assert_eq!(state.cell.dims(), [batch, hidden_size], "cell state");

    // [T+1, B, H]: h_1 … h_T, then c_T.
    let packed = Tensor::<3>::from_dispatch(<Dispatch as LstmOps>::lstm_sequence(
        input.into_dispatch(),
        input_weight.into_dispatch(),
        recurrent_weight.into_dispatch(),
        bias.into_dispatch(),
        state.hidden.into_dispatch(),
        state.cell.into_dispatch(),
    ));
    let outputs = packed.clone().narrow(0, 0, seq_len);
    let hidden = last_step(&outputs);
    let cell = packed.narrow(0, seq_len, 1).reshape([batch, hidden_size]);
    (outputs, LayerState { hidden, cell })
}
