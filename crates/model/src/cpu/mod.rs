//! What the fused recurrent layers of the CPU backends share: matrix products on f32 slices,
//! vectorisable gate nonlinearities, moving tensors to and from slices, and which devices and
//! inputs they run on.
//!
//! - `matmul`: products through the `gemm` crate, transposes for free
//! - `activation`: σ and tanh that inline into pointwise loops
//! - `buffers`: large work buffers written by every thread at once
//! - `isa`: pointwise loops compiled for the machine's widest instruction set
//! - `tensors`: tensors of the CPU backends to and from slices
//! - `fused_op`: a fused layer as a Burn operation, forward and backward, for any cell
//! - `recurrence`: a fused layer's forward pass and backpropagation through time, for any cell
//! - `gradients`: what every backward kernel is asked for, reads and returns
//! - `sequence`: the sizes of a run and the products every kernel shares

pub(crate) mod activation;
pub(crate) mod buffers;
pub(crate) mod fused_op;
pub(crate) mod gradients;
pub mod isa;
pub(crate) mod matmul;
#[cfg(test)]
pub(crate) mod parity;
pub(crate) mod recurrence;
pub(crate) mod sequence;
pub(crate) mod tensors;

use burn::backend::DispatchDevice;
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

/// Runs `work` on one of Rayon's threads and waits for it (at once, when called from one).
///
/// The CPU backends hand hundreds of parallel loops and products to Rayon in a training step,
/// a forward pass or a batched sampling step. Called from a thread outside Rayon's pool (the
/// main thread), each of them is handed over through the pool's queue, and the caller sleeps
/// until it is done, a wake-up through the kernel every time: 10% of an LSTM training step on
/// two threads, 8% on one (BENCHMARKS.md, 2026-12-01). On one of the pool's threads they are
/// split among the workers directly. Results do not change: every parallel loop here divides
/// its work the same way on any thread.
pub fn on_rayon_thread<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

/// Whether the fused layers can run on `device`: the flex and ndarray backends, with or
/// without autodiff.
pub fn supports(device: &Device) -> bool {
    let device = match device.as_dispatch() {
        DispatchDevice::Autodiff(inner) => &**inner,
        other => other,
    };
    matches!(device, DispatchDevice::Flex(_) | DispatchDevice::NdArray(_))
}

/// Whether the fused layers can run on `input`: an f32 sequence of at least one step on a
/// supported device.
pub fn accepts(input: &Tensor<3>) -> bool {
    supports(&input.device()) && input.dims()[0] > 0 && input.dtype() == DType::F32
}

/// Checks that a fused `layer` can run on `input` ([`accepts`]); the operation checks the
/// other operands' shapes.
///
/// # Panics
///
/// If it cannot, naming the `layer`.
pub(crate) fn assert_accepts(layer: &str, input: &Tensor<3>) {
    assert!(
        accepts(input),
        "the fused {layer} runs f32 sequences of at least one step on flex or ndarray, not {:?} {:?} of shape {:?}",
        input.device(),
        input.dtype(),
        input.dims()
    );
}

/// The last step of `[T, B, H]` outputs, `[B, H]`: a fused layer's final hidden state.
pub(crate) fn last_step(outputs: &Tensor<3>) -> Tensor<2> {
    let [seq_len, batch, hidden_size] = outputs.dims();
    outputs
        .clone()
        .narrow(0, seq_len - 1, 1)
        .reshape([batch, hidden_size])
}

/// The transpose of the row-major matrix `values`, `columns` wide: `[columns, rows]`, each
/// column of `values` now a contiguous row. An empty matrix stays empty. A large matrix is
/// transposed by every thread of the pool, a band of columns each.
pub(crate) fn transpose(values: &[f32], columns: usize) -> Vec<f32> {
    let columns = columns.max(1);
    let rows = values.len() / columns;
    let mut transposed = buffers::scratch(rows * columns);
    if transposed.len() < PARALLEL_TRANSPOSE_FROM {
        transpose_into(values, columns, &mut transposed);
    } else {
        transposed
            .par_chunks_mut(TILE * rows)
            .enumerate()
            .for_each(|(band, out)| transpose_columns(values, columns, band * TILE, out));
    }
    transposed
}

/// Elements from which [`transpose`] shares the work between threads.
const PARALLEL_TRANSPOSE_FROM: usize = 1 << 17;

/// Side of the square tiles a transpose goes by, so that both sides stay in cache.
const TILE: usize = 32;

/// [`transpose`] into `transposed`, which must hold as many elements as the matrix, on the
/// calling thread.
///
/// # Panics
///
/// If `transposed` is shorter than the matrix.
pub(crate) fn transpose_into(values: &[f32], columns: usize, transposed: &mut [f32]) {
    let columns = columns.max(1);
    let len = values.len() / columns * columns;
    assert!(
        transposed.len() >= len,
        "a transpose of {len} elements into {}",
        transposed.len()
    );
    transpose_columns(values, columns, 0, &mut transposed[..len]);
}

/// Columns `first_col ..` of the row-major matrix `values`, `columns` wide, as the rows of
/// `out`: as many columns as `out` holds rows of the matrix's length, tile by tile.
fn transpose_columns(values: &[f32], columns: usize, first_col: usize, out: &mut [f32]) {
    let rows = values.len() / columns;
    if rows == 0 {
        return;
    }
    let end_col = (first_col + out.len() / rows).min(columns);
    for tile_row in (0..rows).step_by(TILE) {
        let end_row = (tile_row + TILE).min(rows);
        for tile_col in (first_col..end_col).step_by(TILE) {
            let tile_end_col = (tile_col + TILE).min(end_col);
            for row in tile_row..end_row {
                let source = &values[row * columns..][tile_col..tile_end_col];
                for (col, &value) in (tile_col..tile_end_col).zip(source) {
                    out[(col - first_col) * rows + row] = value;
                }
            }
        }
    }
}

/// Rows of a pointwise pass handed to one thread at least: splitting finer than a few
/// thousand units costs more in scheduling than it saves.
pub(crate) fn min_rows_per_task(width: usize) -> usize {
    (4096 / width.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_index(values: &[f32], columns: usize) -> Vec<f32> {
        let rows = values.len() / columns;
        (0..columns * rows)
            .map(|index| values[(index % rows) * columns + index / rows])
            .collect()
    }

    /// Small matrices go on one thread, large ones in bands of columns; odd sizes leave
    /// partial tiles and a partial last band.
    #[test]
    fn transposes_match_the_definition_on_one_thread_and_many() {
        for (rows, columns) in [(0, 3), (1, 1), (3, 5), (33, 65), (517, 2049), (2048, 512)] {
            let values: Vec<f32> = (0..rows * columns).map(|value| value as f32).collect();
            let expected = by_index(&values, columns);
            assert_eq!(transpose(&values, columns), expected, "[{rows}, {columns}]");
            let mut into = vec![-1.0; values.len()];
            transpose_into(&values, columns, &mut into);
            assert_eq!(into, expected, "[{rows}, {columns}] into");
        }
    }
}
