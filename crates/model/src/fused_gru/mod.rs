//! A whole GRU layer as one Burn operation on the CPU backends, flex and ndarray, with or
//! without autodiff, and its backpropagation through time written by hand, as
//! [`crate::fused_lstm`] does for the LSTM, through the same loops (the equations are in
//! `kernel.rs`).
//!
//! - `kernel`: the cell's equations and its pointwise step each way, on f32 slices, no Burn
//!   types (the loops over the steps and the products are `crate::cpu::recurrence`'s)
//! - `ops`: the backend operation, with the backward step registered for autodiff
//!
//! [`crate::gru::GruLayer`]'s `forward_fused` runs the operation; `crate::cpu::fused_op` checks
//! its operands' shapes.

pub(crate) mod kernel;
pub(crate) mod ops;
