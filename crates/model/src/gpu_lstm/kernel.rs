//! The pointwise part of one LSTM step as two CubeCL kernels, forward and backward, and their
//! launches on cubecl tensors.
//!
//! With the gate pre-activations `z = [z_i | z_f | z_g | z_o]` (`[B, 4H]`) and the cell state
//! `c` (`[B, H]`), each thread handles one `(row, unit)` pair of the `B·H` state elements:
//!
//! ```text
//! i = σ(z_i)   f = σ(z_f)   g = tanh(z_g)   o = σ(z_o)
//! c' = f·c + i·g          h' = o·tanh(c')
//! ```
//!
//! The backward kernel recomputes these from `z` and `c` (cheaper than keeping four
//! activations per step alive until the backward pass) and, with `t = tanh(c')` and the
//! upstream gradients `dh'`, `dc'`:
//!
//! ```text
//! dc = dc' + dh'·o·(1 − t²)
//! dz_i = dc·g·i(1 − i)    dz_f = dc·c·f(1 − f)    dz_g = dc·i·(1 − g²)    dz_o = dh'·t·o(1 − o)
//! d(c) = dc·f
//! ```
//!
//! Inputs are read through their strides, so views (a narrowed or transposed tensor) need no
//! copy; outputs are new contiguous tensors.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::{Shape, TensorMetadata};
use burn_cubecl::kernel::untile;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;
use cubecl::{CubeDim, calculate_cube_count_elemwise};

/// The logistic function `1 / (1 + e^(−x))`.
#[cube]
fn sigmoid<F: Float>(x: F) -> F {
    F::new(1.0) / (F::new(1.0) + F::exp(-x))
}

/// The four gate pre-activations and the cell state of one `(row, unit)` pair.
#[derive(CubeType)]
struct CellInputs<F: Float> {
    input: F,
    forget: F,
    candidate: F,
    output: F,
    cell: F,
}

/// Reads the gates of `unit` in `row` from `gates` (`[B, 4H]`) and its state from `cell`
/// (`[B, H]`), both through their strides.
#[cube]
fn read_inputs<F: Float>(
    gates: &Tensor<F>,
    cell: &Tensor<F>,
    row: usize,
    unit: usize,
    hidden_size: usize,
) -> CellInputs<F> {
    let gate_row = row * gates.stride(0);
    let gate_column = gates.stride(1);
    CellInputs::<F> {
        input: gates[gate_row + unit * gate_column],
        forget: gates[gate_row + (hidden_size + unit) * gate_column],
        candidate: gates[gate_row + (2 * hidden_size + unit) * gate_column],
        output: gates[gate_row + (3 * hidden_size + unit) * gate_column],
        cell: cell[row * cell.stride(0) + unit * cell.stride(1)],
    }
}

/// The gate activations and the new cell state of one `(row, unit)` pair.
#[derive(CubeType)]
struct CellActivations<F: Float> {
    input: F,
    forget: F,
    candidate: F,
    output: F,
    next_cell: F,
}

/// `i, f, g, o` and `c' = f·c + i·g` from the pre-activations and the cell state.
#[cube]
fn activate<F: Float>(z: &CellInputs<F>) -> CellActivations<F> {
    let input = sigmoid::<F>(z.input);
    let forget = sigmoid::<F>(z.forget);
    let candidate = F::tanh(z.candidate);
    CellActivations::<F> {
        input,
        forget,
        candidate,
        output: sigmoid::<F>(z.output),
        next_cell: forget * z.cell + input * candidate,
    }
}

/// Forward: `packed[0] = h'`, `packed[1] = c'`, each `[B, H]`.
#[cube(launch)]
fn cell_forward_kernel<F: Float>(
    gates: &Tensor<F>,
    cell: &Tensor<F>,
    packed: &mut Tensor<F>,
    units: usize,
    hidden_size: usize,
    #[define(F)] _dtype: ElemType,
) {
    if ABSOLUTE_POS >= units {
        terminate!();
    }
    let row = ABSOLUTE_POS / hidden_size;
    let unit = ABSOLUTE_POS % hidden_size;
    let z = read_inputs::<F>(gates, cell, row, unit, hidden_size);
    let a = activate::<F>(&z);

    let block = packed.stride(0);
    let out = row * packed.stride(1) + unit * packed.stride(2);
    packed[out] = a.output * F::tanh(a.next_cell);
    packed[block + out] = a.next_cell;
}

/// Backward: from the upstream gradient `grad_packed` (`[2, B, H]`: `dh'`, then `dc'`), the
/// gradients of the gate pre-activations (`[B, 4H]`) and of the previous cell state (`[B, H]`).
#[cube(launch)]
fn cell_backward_kernel<F: Float>(
    gates: &Tensor<F>,
    cell: &Tensor<F>,
    grad_packed: &Tensor<F>,
    grad_gates: &mut Tensor<F>,
    grad_cell: &mut Tensor<F>,
    units: usize,
    hidden_size: usize,
    #[define(F)] _dtype: ElemType,
) {
    if ABSOLUTE_POS >= units {
        terminate!();
    }
    let row = ABSOLUTE_POS / hidden_size;
    let unit = ABSOLUTE_POS % hidden_size;
    let z = read_inputs::<F>(gates, cell, row, unit, hidden_size);

    let one = F::new(1.0);
    let a = activate::<F>(&z);
    let (input, forget, candidate, output) = (a.input, a.forget, a.candidate, a.output);
    let tanh_cell = F::tanh(a.next_cell);

    let upstream = row * grad_packed.stride(1) + unit * grad_packed.stride(2);
    let grad_hidden = grad_packed[upstream];
    let grad_next_cell = grad_packed[grad_packed.stride(0) + upstream];
    let grad_cell_total = grad_next_cell + grad_hidden * output * (one - tanh_cell * tanh_cell);

    let gate_row = row * grad_gates.stride(0);
    let gate_column = grad_gates.stride(1);
    grad_gates[gate_row + unit * gate_column] = grad_cell_total * candidate * input * (one - input);
    grad_gates[gate_row + (hidden_size + unit) * gate_column] =
        grad_cell_total * z.cell * forget * (one - forget);
    grad_gates[gate_row + (2 * hidden_size + unit) * gate_column] =
        grad_cell_total * input * (one - candidate * candidate);
    grad_gates[gate_row + (3 * hidden_size + unit) * gate_column] =
        grad_hidden * tanh_cell * output * (one - output);
    let cell_index = row * grad_cell.stride(0) + unit * grad_cell.stride(1);
    grad_cell[cell_index] = grad_cell_total * forget;
}

/// The `[batch, hidden]` sizes of a step, checked against both tensors.
///
/// # Panics
///
/// Unless `gates` is `[B, 4H]` for the `[B, H]` of `cell`, of the same dtype.
fn step_dims(gates: &CubeTensor, cell: &CubeTensor) -> [usize; 2] {
    let [batch, hidden_size] = cell.shape().dims::<2>();
    assert_eq!(
        gates.shape(),
        Shape::new([batch, 4 * hidden_size]),
        "LSTM cell: gates must be [batch, 4·hidden] for a [batch, hidden] cell state"
    );
    assert_eq!(gates.dtype, cell.dtype, "LSTM cell: gates and cell dtypes");
    [batch, hidden_size]
}

/// One LSTM step's pointwise update in one kernel launch: gate pre-activations `[B, 4H]` and
/// cell state `[B, H]` to `[2, B, H]` holding `h'` then `c'`.
///
/// # Panics
///
/// If the shapes or dtypes disagree.
pub fn cell_forward(gates: CubeTensor, cell: CubeTensor) -> CubeTensor {
    let (gates, cell) = (untile(gates), untile(cell));
    let [batch, hidden_size] = step_dims(&gates, &cell);
    let packed = empty_device_contiguous_dtype(
        gates.client.clone(),
        gates.device.clone(),
        Shape::new([2, batch, hidden_size]),
        gates.dtype,
    );
    let units = batch * hidden_size;
    if units == 0 {
        return packed;
    }
    let client = gates.client.clone();
    let cube_dim = CubeDim::new(&client, units);
    let cube_count = calculate_cube_count_elemwise(&client, units, cube_dim);
    let dtype = dtype_to_storage_type(gates.dtype);
    cell_forward_kernel::launch(
        &client,
        cube_count,
        cube_dim,
        gates.into_tensor_arg(),
        cell.into_tensor_arg(),
        packed.clone().into_tensor_arg(),
        units,
        hidden_size,
        dtype,
    );
    packed
}

/// The backward pass of [`cell_forward`] in one kernel launch: from its inputs and the gradient
/// of its packed output (`[2, B, H]`), the gradients of `gates` (`[B, 4H]`) and of `cell`
/// (`[B, H]`).
///
/// # Panics
///
/// If the shapes or dtypes disagree.
pub fn cell_backward(
    gates: CubeTensor,
    cell: CubeTensor,
    grad_packed: CubeTensor,
) -> (CubeTensor, CubeTensor) {
    let (gates, cell, grad_packed) = (untile(gates), untile(cell), untile(grad_packed));
    let [batch, hidden_size] = step_dims(&gates, &cell);
    assert_eq!(
        grad_packed.shape(),
        Shape::new([2, batch, hidden_size]),
        "LSTM cell: the output gradient must be [2, batch, hidden]"
    );
    assert_eq!(grad_packed.dtype, gates.dtype, "LSTM cell: gradient dtype");
    let empty = |shape: [usize; 2]| {
        empty_device_contiguous_dtype(
            gates.client.clone(),
            gates.device.clone(),
            Shape::new(shape),
            gates.dtype,
        )
    };
    let grad_gates = empty([batch, 4 * hidden_size]);
    let grad_cell = empty([batch, hidden_size]);
    let units = batch * hidden_size;
    if units == 0 {
        return (grad_gates, grad_cell);
    }
    let client = gates.client.clone();
    let cube_dim = CubeDim::new(&client, units);
    let cube_count = calculate_cube_count_elemwise(&client, units, cube_dim);
    let dtype = dtype_to_storage_type(gates.dtype);
    cell_backward_kernel::launch(
        &client,
        cube_count,
        cube_dim,
        gates.into_tensor_arg(),
        cell.into_tensor_arg(),
        grad_packed.into_tensor_arg(),
        grad_gates.clone().into_tensor_arg(),
        grad_cell.clone().into_tensor_arg(),
        units,
        hidden_size,
        dtype,
    );
    (grad_gates, grad_cell)
}
