//! Matrix products on f32 slices, through the `gemm` crate (what Burn's Flex backend uses).
//!
//! Transposes cost nothing: a [`Matrix`] is a slice plus strides, and [`Matrix::t`] swaps them.

use gemm::Parallelism;

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
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "matmul: [{m}, {k}] · [{}, {n}]", rhs.rows);
    assert!(
        dst.len() >= m * n,
        "matmul: a [{m}, {n}] result needs {} elements, the slice has {}",
        m * n,
        dst.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if write == Write::Overwrite {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: `Matrix::row_major` checked that every element (r, c) of `lhs` and `rhs`, r < rows
    // and c < cols, lies inside its slice (transposing swaps rows with cols and their strides
    // together, so that still holds), and the assert above does the same for `dst`, which is
    // exclusively borrowed and so cannot overlap the inputs. The strides fit in isize because
    // they index into allocated slices.
    unsafe {
        // gemm computes dst = alpha·dst + beta·lhs·rhs (alpha is ignored when read_dst is false),
        // and takes each matrix's column stride before its row stride.
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            write == Write::Accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            // gemm keeps products below its threading threshold on one thread.
            Parallelism::Rayon(0),
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
            let expected = naive(lhs, rhs);
            let mut got = vec![f32::NAN; expected.len()];
            matmul(&mut got, Write::Overwrite, lhs, rhs);
            assert_eq!(got, expected);

            let mut accumulated = vec![1.0; expected.len()];
            matmul(&mut accumulated, Write::Accumulate, lhs, rhs);
            for (x, y) in accumulated.iter().zip(&expected) {
                assert!((x - (y + 1.0)).abs() < 1e-6, "{x} vs {y} + 1");
            }
        }
    }
}
