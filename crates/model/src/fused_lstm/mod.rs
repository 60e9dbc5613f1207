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
//!
//! [`crate::lstm::LstmLayer`]'s `forward_fused` runs the operation; `crate::cpu::fused_op` checks
//! its operands' shapes.

pub(crate) mod kernel;
pub(crate) mod ops;

pub use crate::cpu::{accepts, supports};
