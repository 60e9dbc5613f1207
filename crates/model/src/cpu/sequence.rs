//! Pieces every fused recurrent layer's kernel uses: the sizes of a run, the transposed
//! recurrent weight, the per-step products, whole-sequence weight-gradient products and length
//! checks.

use rayon::prelude::*;

use super::buffers::{recycle, runs_of, scratch};
use super::matmul::{Matrix, Write, matmul, matmul_strided};
use super::{min_rows_per_task, transpose_into};

/// Sizes of one run of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Steps `T`.
    pub seq_len: usize,
    /// Parallel sequences `B`.
    pub batch: usize,
    /// Input width `I`.
    pub input_size: usize,
    /// Hidden (and cell) width `H`.
    pub hidden_size: usize,
    /// Gates stacked in the pre-activations: 4 for an LSTM, 3 for a GRU, 1 for a plain RNN.
    pub gates: usize,
}

impl Dims {
    /// Rows of the all-steps matrices, `T·B`.
    pub fn rows(&self) -> usize {
        self.seq_len * self.batch
    }

    /// Width of the stacked gates, `gates·H`.
    pub fn gate_width(&self) -> usize {
        self.gates * self.hidden_size
    }

    /// Elements of one step's hidden or cell state, `B·H`.
    pub fn state_len(&self) -> usize {
        self.batch * self.hidden_size
    }

    /// Checks the lengths of the input `[T, B, I]`, the input weight `[I, gates·H]` and the
    /// recurrent weight `[H, gates·H]`.
    ///
    /// # Panics
    ///
    /// If one differs.
    pub fn check_input_and_weights(&self, input: &[f32], input_weight: &[f32], recurrent: &[f32]) {
        check_len("input", input, self.rows() * self.input_size);
        check_len(
            "input weight",
            input_weight,
            self.input_size * self.gate_width(),
        );
        check_len(
            "recurrent weight",
            recurrent,
            self.hidden_size * self.gate_width(),
        );
    }
}

/// The recurrent weight `W_h` `[H, gates·H]` (or the fused LSTM's input weight `W_x`
/// `[I, gates·H]`) as the per-step products read it. Over many steps it is stored transposed,
/// so that its columns are contiguous and gemm reads it in place instead of re-packing all of
/// it for every step's short product `h · W_h` (14% of an LSTM training step); for a few
/// steps (sampling steps one at a time) the copy would cost more than it saves, and the
/// weight is read as it is.
pub struct RecurrentWeight<'a> {
    layout: Layout<'a>,
    hidden_size: usize,
    gate_width: usize,
}

enum Layout<'a> {
    AsGiven(&'a [f32]),
    Transposed(Vec<f32>),
}

impl Drop for RecurrentWeight<'_> {
    fn drop(&mut self) {
        if let Layout::Transposed(transposed) = &mut self.layout {
            recycle(std::mem::take(transposed));
        }
    }
}

/// Steps from which transposing `W_h` once pays for itself.
const TRANSPOSE_FROM_STEPS: usize = 8;

impl<'a> RecurrentWeight<'a> {
    /// `weight`, `[H, gate_width]`, for a run of `steps` steps.
    pub fn new(weight: &'a [f32], hidden_size: usize, gate_width: usize, steps: usize) -> Self {
        let layout = if steps < TRANSPOSE_FROM_STEPS {
            Layout::AsGiven(weight)
        } else {
            Layout::Transposed(super::transpose(weight, gate_width))
        };
        Self {
            layout,
            hidden_size,
            gate_width,
        }
    }

    /// `W_h`, `[H, gate_width]`.
    pub fn matrix(&self) -> Matrix<'_> {
        match &self.layout {
            Layout::AsGiven(weight) => Matrix::row_major(weight, self.hidden_size, self.gate_width),
            Layout::Transposed(transposed) => {
                Matrix::row_major(transposed, self.gate_width, self.hidden_size).t()
            }
        }
    }
}

/// Every step's gate pre-activations before the products, `[T, gates·H, B]` (each step
/// column-major): unit `u`'s run of `B` values holds `bias[u]`. Written in parallel.
pub fn biased_steps(bias: &[f32], dims: Dims) -> Vec<f32> {
    let gate_width = dims.gate_width();
    check_len("bias", bias, gate_width);
    runs_of(dims.seq_len * gate_width, dims.batch, |run| {
        bias[run % gate_width]
    })
}

/// `out = bias + lhs · rhs` for one step, column-major `[units, B]`: each of `out`'s rows (a
/// unit's `B` values) starts from its `bias`.
pub fn affine_step(out: &mut [f32], bias: &[f32], batch: usize, lhs: Matrix<'_>, rhs: Matrix<'_>) {
    for (row, &bias) in out.chunks_exact_mut(batch).zip(bias) {
        row.fill(bias);
    }
    accumulate_step(out, batch, lhs, rhs);
}

/// `out += lhs · rhs` for one step, column-major `[units, B]`.
pub fn accumulate_step(out: &mut [f32], batch: usize, lhs: Matrix<'_>, rhs: Matrix<'_>) {
    matmul_strided(out, 1, batch, Write::Accumulate, lhs, rhs);
}

/// `lhs · rhs` into a new `len`-element vector, if `wanted`.
pub fn product(wanted: bool, len: usize, lhs: Matrix<'_>, rhs: Matrix<'_>) -> Option<Vec<f32>> {
    wanted.then(|| {
        let mut out = scratch(len);
        matmul(&mut out, Write::Overwrite, lhs, rhs);
        out
    })
}

/// The sum of the rows of a row-major matrix `width` wide (a bias gradient), if `wanted`.
pub fn column_sums(wanted: bool, matrix: &[f32], width: usize) -> Option<Vec<f32>> {
    wanted.then(|| {
        let mut sums = vec![0.0; width];
        for row in matrix.chunks_exact(width) {
            for (sum, value) in sums.iter_mut().zip(row) {
                *sum += value;
            }
        }
        sums
    })
}

/// Step-major states `[T, H, B]` (each step column-major, as the fused layers keep them) as
/// the layer's row-major outputs `[T, B, H]`, into the first `T` blocks of `outputs`; the
/// steps in parallel.
pub fn row_major_steps_into(step_major: &[f32], dims: Dims, outputs: &mut [f32]) {
    transpose_steps(step_major, dims.state_len(), dims.batch, outputs);
}

/// Row-major steps `[T, B, H]` (the gradients arriving at a layer's outputs) step-major,
/// `[T, H, B]`, as the fused LSTM and GRU's backward passes read them; the steps in parallel.
pub fn step_major_steps(row_major: &[f32], dims: Dims) -> Vec<f32> {
    let mut transposed = scratch(row_major.len());
    transpose_steps(
        row_major,
        dims.state_len(),
        dims.hidden_size,
        &mut transposed,
    );
    transposed
}

/// Each block of `block_len` elements of `steps`, a matrix `columns` wide, transposed into the
/// same block of `out`.
fn transpose_steps(steps: &[f32], block_len: usize, columns: usize, out: &mut [f32]) {
    out.par_chunks_exact_mut(block_len.max(1))
        .zip(steps.par_chunks_exact(block_len.max(1)))
        .for_each(|(out, block)| transpose_into(block, columns, out));
}

/// `∂L/∂W_h = H_prevᵀ · grad`, `[H, gate_width]`, with `H_prev = [h_0 … h_{T-1}]` read from
/// the first `T` of step-major states `[T+1, H, B]` and `grad` the `[T·B, gates·H]`
/// gradient of the recurrent products.
pub fn recurrent_weight_grad(hidden: &[f32], dims: Dims, grad: Matrix<'_>) -> Vec<f32> {
    let Dims {
        batch, hidden_size, ..
    } = dims;
    let rows = dims.rows();
    // H_prev unit after unit, [H, T·B], so that the product reads all steps as one matrix.
    let hidden_before = unit_major(&hidden[..rows * hidden_size], hidden_size, batch);
    let mut out = scratch(hidden_size * dims.gate_width());
    matmul(
        &mut out,
        Write::Overwrite,
        Matrix::row_major(&hidden_before, hidden_size, rows),
        grad,
    );
    recycle(hidden_before);
    out
}

/// Step-major arrays `[T, units, B]` (each step column-major) unit after unit, `[units, T·B]`:
/// unit `u`'s row holds its `B` values of step 0, then of step 1, and so on. The units in
/// parallel.
fn unit_major(step_major: &[f32], units: usize, batch: usize) -> Vec<f32> {
    let step_len = units * batch;
    let mut out = scratch(step_major.len());
    if step_len == 0 || step_major.is_empty() {
        return out;
    }
    let row_len = step_major.len() / units;
    out.par_chunks_exact_mut(row_len)
        .enumerate()
        .for_each(|(unit, row)| {
            for (step, values) in row.chunks_exact_mut(batch).enumerate() {
                values.copy_from_slice(&step_major[step * step_len + unit * batch..][..batch]);
            }
        });
    out
}

/// The sum of each row of a row-major matrix `width` wide (a bias gradient from unit-major gate
/// gradients), if `wanted`: the rows in parallel, each summed in [`LANES`] interleaved partial
/// sums, so that the result does not depend on the thread count.
pub fn row_sums(wanted: bool, matrix: &[f32], width: usize) -> Option<Vec<f32>> {
    wanted.then(|| {
        matrix
            .par_chunks_exact(width.max(1))
            .with_min_len(min_rows_per_task(width))
            .map(lane_sum)
            .collect()
    })
}

/// Partial sums a row is summed in: one vector register's worth, so the loop vectorises.
const LANES: usize = 16;

/// The sum of `values`: element `k` goes to partial sum `k mod LANES` (the tail's to their
/// own), and the partial sums are added in order at the end.
fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += value;
        }
    }
    lanes.iter().chain(tail).fold(0.0, |sum, value| sum + value)
}

/// Checks that `slice` has `expected` elements.
///
/// # Panics
///
/// If it has not, naming `what`.
pub fn check_len(what: &str, slice: &[f32], expected: usize) {
    assert_eq!(
        slice.len(),
        expected,
        "fused layer: the {what} has {} elements, expected {expected}",
        slice.len()
    );
}
