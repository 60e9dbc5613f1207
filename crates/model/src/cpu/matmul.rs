//! Matrix products on f32 slices, through the `gemm` crate (what Burn's Flex backend uses).
//!
//! Transposes cost nothing: a [`Matrix`] is a slice plus strides, and [`Matrix::t`] swaps them.

use gemm::Parallelism;
use rayon::prelude::*;

/// A read-only `[rows, cols]` matrix over a slice: element `(r, c)` is
/// `data[r · row_stride + c · col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Matrix<'a> {
    /// The first `rows · cols` elements of `data`, row after row.
    ///
    /// # Panics
    ///
    /// If `data` is shorter than `rows · cols`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(
            data.len() >= rows * cols,
            "a [{rows}, {cols}] matrix needs {} elements, the slice has {}",
            rows * cols,
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// `[rows, cols]` over `data` with element `(r, c)` at `r · row_stride + c · col_stride`.
    ///
    /// # Panics
    ///
    /// If the last element lies beyond `data`.
    pub fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        check_extent("matrix", data.len(), rows, cols, row_stride, col_stride);
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// `[rows, cols]` stored column after column, `leading` elements apart: element `(r, c)`
    /// is `data[c · leading + r]`.
    ///
    /// # Panics
    ///
    /// If the last element lies beyond `data`.
    pub fn col_major(data: &'a [f32], rows: usize, cols: usize, leading: usize) -> Self {
        Self::strided(data, rows, cols, 1, leading)
    }

    /// The transpose, `[cols, rows]`, over the same elements.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// Whether a product replaces what the destination holds or adds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `dst = lhs · rhs`
    Overwrite,
    /// `dst += lhs · rhs`
    Accumulate,
}

/// `dst (=|+=) lhs · rhs` with `lhs` `[m, k]`, `rhs` `[k, n]` and `dst` the row-major `[m, n]`
/// matrix in the first `m · n` elements of the slice. Large products use every Rayon thread.
///
/// # Panics
///
/// If the inner dimensions differ or `dst` is too short.
pub fn matmul(dst: &mut [f32], write: Write, lhs: Matrix<'_>, rhs: Matrix<'_>) {
    matmul_strided(dst, rhs.cols, 1, write, lhs, rhs);
}

/// [`matmul`] into a `dst` that need not be row-major: element `(r, c)` of the `[m, n]`
/// result is `dst[r · row_stride + c · col_stride]`, the layout either row-major (`col_stride`
/// 1, `row_stride >= n`) or column-major (`row_stride` 1, `col_stride >= m`), so no two
/// elements share a place.
///
/// # Panics
///
/// If the inner dimensions differ, the layout is neither, or `dst` is too short.
pub fn matmul_strided(
    dst: &mut [f32],
    row_stride: usize,
    col_stride: usize,
    write: Write,
    lhs: Matrix<'_>,
    rhs: Matrix<'_>,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "matmul: [{m}, {k}] · [{}, {n}]", rhs.rows);
    assert!(
        (col_stride == 1 && row_stride >= n) || (row_stride == 1 && col_stride >= m),
        "matmul: a [{m}, {n}] result with strides ({row_stride}, {col_stride}) overlaps itself"
    );
    if m == 0 || n == 0 {
        return;
    }
    check_extent("result", dst.len(), m, n, row_stride, col_stride);
    if k == 0 {
        if write == Write::Overwrite {
            for row in 0..m {
                for col in 0..n {
                    dst[row * row_stride + col * col_stride] = 0.0;
                }
            }
        }
        return;
    }
    let threads = rayon::current_num_threads();
    if threads > 1 && m <= SHORT_ROWS && n >= WIDE_COLUMNS {
        // Short and wide (a recurrent step's `h · W_h`, m = batch): gemm's own threading
        // reaches ~100 GFLOP/s here, one single-threaded product per block of columns ~145
        // (64 × 512 × 2048 on 2 cores).
        let per_thread = n.div_ceil(threads).next_multiple_of(16);
        let dst = SharedDst(dst.as_mut_ptr());
        (0..n.div_ceil(per_thread))
            .into_par_iter()
            .for_each(|block| {
                let first = block * per_thread;
                let width = per_thread.min(n - first);
                let dst = &dst;
                // SAFETY: as below; every block writes its own columns of `dst`, which the
                // layout check keeps apart, and `first + width <= n` keeps them inside `dst`.
                unsafe {
                    gemm_raw(
                        m,
                        width,
                        k,
                        dst.0.add(first * col_stride),
                        row_stride,
                        col_stride,
                        write,
                        lhs,
                        rhs.data.as_ptr().add(first * rhs.col_stride),
                        rhs.row_stride,
                        rhs.col_stride,
                        Parallelism::None,
                    );
                }
            });
        return;
    }
    // SAFETY: `Matrix::row_major` and `Matrix::strided` checked that every element (r, c) of
    // `lhs` and `rhs`, r < rows and c < cols, lies inside its slice (transposing swaps rows
    // with cols and their strides together, so that still holds), and `check_extent` does the
    // same for `dst`, which is exclusively borrowed and so cannot overlap the inputs. The
    // strides fit in isize because they index into allocated slices.
    unsafe {
        gemm_raw(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            row_stride,
            col_stride,
            write,
            lhs,
            rhs.data.as_ptr(),
            rhs.row_stride,
            rhs.col_stride,
            // gemm keeps products below its threading threshold on one thread.
            Parallelism::Rayon(0),
        );
    }
}

/// Checks that element `(rows - 1, cols - 1)` of a strided `what` lies inside `len` elements.
///
/// # Panics
///
/// If it does not.
fn check_extent(
    what: &str,
    len: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = (rows - 1) * row_stride + (cols - 1) * col_stride;
    assert!(
        last < len,
        "matmul: a [{rows}, {cols}] {what} with strides ({row_stride}, {col_stride}) needs {} elements, the slice has {len}",
        last + 1
    );
}

/// Products with at most this many rows and ...
const SHORT_ROWS: usize = 128;
/// ... at least this many columns are split by columns across threads.
const WIDE_COLUMNS: usize = 1024;

/// The destination pointer, shared by the column blocks that each write their own columns.
struct SharedDst(*mut f32);
// SAFETY: the blocks write disjoint columns (see `matmul`).
unsafe impl Send for SharedDst {}
// SAFETY: as above.
unsafe impl Sync for SharedDst {}

/// `dst (=|+=) lhs · rhs` on raw parts: `dst` and `rhs` given by their first element and
/// strides.
///
/// # Safety
///
/// Every element the product reads or writes must lie inside live allocations, and `dst` must
/// not overlap the inputs or be written by anyone else meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_row_stride: usize,
    dst_col_stride: usize,
    write: Write,
    lhs: Matrix<'_>,
    rhs: *const f32,
    rhs_row_stride: usize,
    rhs_col_stride: usize,
    parallelism: Parallelism,
) {
    // SAFETY: the caller's promise.
    unsafe {
        // gemm computes dst = alpha·dst + beta·lhs·rhs (alpha is ignored when read_dst is false),
        // and takes each matrix's column stride before its row stride.
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_col_stride as isize,
            dst_row_stride as isize,
            write == Write::Accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs,
            rhs_col_stride as isize,
            rhs_row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(matrix: &Matrix<'_>, row: usize, col: usize) -> f32 {
        matrix.data[row * matrix.row_stride + col * matrix.col_stride]
    }

    /// The textbook triple loop.
    fn naive(lhs: Matrix<'_>, rhs: Matrix<'_>) -> Vec<f32> {
        let mut out = Vec::with_capacity(lhs.rows * rhs.cols);
        for row in 0..lhs.rows {
            for col in 0..rhs.cols {
                out.push(
                    (0..lhs.cols)
                        .map(|i| at(&lhs, row, i) * at(&rhs, i, col))
                        .sum(),
                );
            }
        }
        out
    }

    fn values(len: usize, scale: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) * scale)
            .collect()
    }

    /// Overwriting gives the triple loop's result exactly; accumulating onto ones gives it plus
    /// one, within `tolerance`.
    fn assert_matches_triple_loop(lhs: Matrix<'_>, rhs: Matrix<'_>, tolerance: f32) {
        let expected = naive(lhs, rhs);
        let mut got = vec![f32::NAN; expected.len()];
        matmul(&mut got, Write::Overwrite, lhs, rhs);
        assert_eq!(got, expected);

        let mut accumulated = vec![1.0; expected.len()];
        matmul(&mut accumulated, Write::Accumulate, lhs, rhs);
        for (x, y) in accumulated.iter().zip(&expected) {
            assert!((x - (y + 1.0)).abs() < tolerance, "{x} vs {y} + 1");
        }
    }

    /// Short, wide products are split by columns across threads; the blocks (the last one
    /// narrower) must tile the result exactly.
    #[test]
    fn column_blocks_of_short_wide_products_match_the_triple_loop() {
        let n = WIDE_COLUMNS + 37;
        let a = values(3 * 5, 0.5);
        let b = values(5 * n, 0.25);
        for rhs in [Matrix::row_major(&b, 5, n), Matrix::row_major(&b, n, 5).t()] {
            assert_matches_triple_loop(Matrix::row_major(&a, 3, 5), rhs, 1e-5);
        }
    }

    /// A column-major destination (a step of the fused LSTM's `[units, B]` arrays, every
    /// column `leading` apart) gets the triple loop's result, on one thread and split by
    /// columns, and the elements between its columns are left alone.
    #[test]
    fn column_major_destinations_match_the_triple_loop() {
        for n in [7, WIDE_COLUMNS + 37] {
            let (m, k, leading) = (3, 5, 4);
            let a = values(m * k, 0.5);
            let b = values(n * k, 0.25);
            let lhs = Matrix::col_major(&a, m, k, m);
            let rhs = Matrix::row_major(&b, n, k).t();
            let expected = naive(lhs, rhs);
            let mut dst = vec![f32::NAN; n * leading];
            matmul_strided(&mut dst, 1, leading, Write::Overwrite, lhs, rhs);
            for row in 0..m {
                for col in 0..n {
                    assert_eq!(dst[col * leading + row], expected[row * n + col]);
                }
            }
            assert!(dst.chunks_exact(leading).all(|column| column[m].is_nan()));
        }
    }

    #[test]
    #[should_panic(expected = "overlaps itself")]
    fn overlapping_destinations_are_refused() {
        let a = values(4, 1.0);
        let mut dst = vec![0.0; 4];
        let square = Matrix::row_major(&a, 2, 2);
        matmul_strided(&mut dst, 1, 1, Write::Overwrite, square, square);
    }

    #[test]
    fn products_of_transposes_match_the_triple_loop() {
        let a = values(3 * 5, 0.5);
        let b = values(5 * 4, 0.25);
        let bt = values(4 * 5, 0.25);
        let cases = [
            (Matrix::row_major(&a, 3, 5), Matrix::row_major(&b, 5, 4)),
            (
                Matrix::row_major(&a, 3, 5),
                Matrix::row_major(&bt, 4, 5).t(),
            ),
            (Matrix::row_major(&a, 5, 3).t(), Matrix::row_major(&b, 5, 4)),
        ];
        for (lhs, rhs) in cases {
            assert_matches_triple_loop(lhs, rhs, 1e-6);
        }
    }
}
