//! Matrix–vector products for batch-1 stepping, with each output a dot product of one
//! contiguous weight row and the input vector.
//!
//! At batch 1 a step reads every weight once and does two flops per weight read, so the speed
//! is the speed of streaming the weights through the caches. Row-major rows let each thread
//! stream its own block of rows start to end; the widest vector unit the CPU offers is chosen
//! at run time (AVX-512, else AVX2 with FMA, else the portable loop the compiler vectorises
//! for the baseline target).

/// Products with fewer weights than this stay on one thread: below it, handing work to another
/// thread costs more than it saves.
pub(crate) const PARALLEL_MIN_WEIGHTS: usize = 1 << 16;

pub use crate::cpu::isa::Isa;

/// `out[r] = init[r] + rows[r] · x` for the row-major `[out.len(), x.len()]` matrix `rows`.
#[derive(Debug, Clone, Copy)]
pub struct RowDot {
    isa: Isa,
}

impl RowDot {
    /// Products with the best instructions the running CPU supports.
    pub fn new() -> Self {
        Self::with_isa(Isa::detect())
    }

    /// Products with `isa`, which the running CPU must support (falls back to
    /// [`Isa::Portable`] if it does not).
    pub fn with_isa(isa: Isa) -> Self {
        let supported = match isa {
            Isa::Portable => true,
            _ => isa == Isa::detect() || (isa == Isa::Avx2Fma && Isa::detect() == Isa::Avx512),
        };
        Self {
            isa: if supported { isa } else { Isa::Portable },
        }
    }

    /// The instructions in use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// `out[r] = init[r] + Σ_k rows[r·K + k] · x[k]` with `K = x.len()`, on the calling thread
    /// ([`super::team::Team`] shares a product between threads).
    ///
    /// # Panics
    ///
    /// If `rows` is not `out.len() · x.len()` long or `init` is not `out.len()` long.
    pub fn apply(&self, out: &mut [f32], init: &[f32], rows: &[f32], x: &[f32]) {
        assert_eq!(
            rows.len(),
            out.len() * x.len(),
            "weights are [outputs, inputs]"
        );
        assert_eq!(init.len(), out.len(), "one initial value per output");
        if x.is_empty() {
            out.copy_from_slice(init);
        } else {
            self.block(out, init, rows, x);
        }
    }

    fn block(&self, out: &mut [f32], init: &[f32], rows: &[f32], x: &[f32]) {
        match self.isa {
            // SAFETY: `with_isa` keeps a SIMD variant only when the running CPU supports it.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { block_avx512(out, init, rows, x) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { block_avx2(out, init, rows, x) },
            _ => block_portable(out, init, rows, x),
        }
    }
}

impl Default for RowDot {
    fn default() -> Self {
        Self::new()
    }
}

/// `a · b + c`, fused where the instruction set has it (without a hardware FMA, `mul_add`
/// would be a libm call).
#[inline(always)]
fn multiply_add<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

/// The dot products with `LANES` independent accumulators, which the compiler maps onto
/// vector registers.
#[inline(always)]
fn block_lanes<const LANES: usize, const FUSED: bool>(
    out: &mut [f32],
    init: &[f32],
    rows: &[f32],
    x: &[f32],
) {
    let k = x.len();
    let body = k - k % LANES;
    for ((out, &init), row) in out.iter_mut().zip(init).zip(rows.chunks_exact(k)) {
        let mut acc = [0.0f32; LANES];
        for (xs, ws) in x[..body]
            .chunks_exact(LANES)
            .zip(row[..body].chunks_exact(LANES))
        {
            for lane in 0..LANES {
                acc[lane] = multiply_add::<FUSED>(xs[lane], ws[lane], acc[lane]);
            }
        }
        let mut sum = init + acc.iter().sum::<f32>();
        for (x, w) in x[body..].iter().zip(&row[body..]) {
            sum = multiply_add::<FUSED>(*x, *w, sum);
        }
        *out = sum;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(out: &mut [f32], init: &[f32], rows: &[f32], x: &[f32]) {
    block_lanes::<32, true>(out, init, rows, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2(out: &mut [f32], init: &[f32], rows: &[f32], x: &[f32]) {
    block_lanes::<16, true>(out, init, rows, x)
}

fn block_portable(out: &mut [f32], init: &[f32], rows: &[f32], x: &[f32]) {
    block_lanes::<16, false>(out, init, rows, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, scale: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) * scale)
            .collect()
    }

    /// Every instruction set the machine has, and sizes with and without a remainder, against
    /// a double-precision loop.
    #[test]
    fn every_variant_matches_a_double_precision_loop() {
        for isa in [Isa::Portable, Isa::Avx2Fma, Isa::Avx512] {
            let dot = RowDot::with_isa(isa);
            for (outputs, inputs) in [(1, 1), (3, 5), (7, 33), (40, 100), (2048, 64), (300, 517)] {
                let rows = values(outputs * inputs, 0.01);
                let x = values(inputs + 3, 0.1)[3..].to_vec();
                let init = values(outputs, 1.0);
                let mut out = vec![f32::NAN; outputs];
                dot.apply(&mut out, &init, &rows, &x);
                for (r, &got) in out.iter().enumerate() {
                    let expected: f64 = init[r] as f64
                        + (0..inputs)
                            .map(|k| rows[r * inputs + k] as f64 * x[k] as f64)
                            .sum::<f64>();
                    assert!(
                        (got as f64 - expected).abs() <= 1e-4 * expected.abs().max(1.0),
                        "{isa:?} [{outputs}, {inputs}] row {r}: {got} vs {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_unsupported_request_falls_back_to_the_portable_loop() {
        let dot = RowDot::with_isa(Isa::Avx512);
        assert!(dot.isa() == Isa::Avx512 || dot.isa() == Isa::Portable);
        assert_eq!(Isa::detect() == Isa::Avx512, dot.isa() == Isa::Avx512);
    }
}
