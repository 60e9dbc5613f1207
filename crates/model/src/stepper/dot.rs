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

/// Rows of a batched product that one task computes: enough work to be worth handing to a
/// thread, few enough that a block of weights stays in the core's own caches while every
/// input of the batch passes over it.
pub(crate) const BATCH_BLOCK_ROWS: usize = 16;

impl RowDot {
    /// A block of rows of a product over a batch of inputs, output unit-major:
    /// `out[j·N + n] = init[n·R + first_row + j] + rows[j] · xs[n]` for the `N = batch` inputs
    /// `xs` (`[N, K]`), the block's rows `rows` (`[J, K]`) and per-input initial values `init`
    /// (`[N, R]`, `R` the whole product's rows). Each output is computed with the same
    /// operations in the same order as [`Self::apply`] computes it for one input, so a batch
    /// gives every input bit for bit the result it gets alone.
    ///
    /// # Panics
    ///
    /// If the lengths disagree.
    pub fn apply_batch(
        &self,
        out: &mut [f32],
        first_row: usize,
        init: &[f32],
        rows: &[f32],
        xs: &[f32],
        batch: usize,
    ) {
        assert!(batch > 0, "a batch has at least one input");
        assert_eq!(out.len() % batch, 0, "out is [rows, batch]");
        let block_rows = out.len() / batch;
        let k = xs.len() / batch;
        assert_eq!(xs.len(), batch * k, "xs is [batch, inputs]");
        assert_eq!(rows.len(), block_rows * k, "rows are [block rows, inputs]");
        assert_eq!(init.len() % batch, 0, "init is [batch, rows]");
        assert!(
            first_row + block_rows <= init.len() / batch,
            "the block lies inside the product's rows"
        );
        if k == 0 {
            for (j, out_row) in out.chunks_exact_mut(batch).enumerate() {
                for (n, out) in out_row.iter_mut().enumerate() {
                    *out = init[n * (init.len() / batch) + first_row + j];
                }
            }
            return;
        }
        let block = BatchBlock {
            first_row,
            total_rows: init.len() / batch,
            init,
            rows,
            xs,
            batch,
            k,
        };
        match self.isa {
            // SAFETY: `with_isa` keeps a SIMD variant only when the running CPU supports it.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { batch_avx512(out, &block) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { batch_avx2(out, &block) },
            _ => batch_lanes::<16, 2, 2, false>(out, &block),
        }
    }
}

/// The operands of [`RowDot::apply_batch`].
struct BatchBlock<'a> {
    first_row: usize,
    total_rows: usize,
    init: &'a [f32],
    rows: &'a [f32],
    xs: &'a [f32],
    batch: usize,
    k: usize,
}

/// [`RowDot::apply_batch`] with `LANES` accumulators per output, `ROWS` weight rows and `TILE`
/// inputs at a time: each chunk of a row is loaded once for `TILE` inputs and each chunk of an
/// input once for `ROWS` rows, which keeps the loads per multiply–add low. Rows and inputs left
/// over after the last whole block go one at a time.
#[inline(always)]
fn batch_lanes<const LANES: usize, const ROWS: usize, const TILE: usize, const FUSED: bool>(
    out: &mut [f32],
    block: &BatchBlock<'_>,
) {
    let (n_all, k) = (block.batch, block.k);
    let r_all = block.rows.len() / k;
    let whole_rows = r_all - r_all % ROWS;
    let whole_inputs = n_all - n_all % TILE;
    // A few rows at a time (they stay in the L1 cache) against every input, tile by tile, so
    // each input is read from the L2 cache once per group of rows, not once per row. Plain
    // loops, no closures: a closure would be compiled without the caller's target features,
    // and its multiply–adds would become library calls.
    const GROUP_ROWS: usize = 8;
    for group in (0..r_all).step_by(GROUP_ROWS) {
        let group_end = (group + GROUP_ROWS).min(r_all);
        let mut first = 0;
        while first < n_all {
            let single = first >= whole_inputs;
            let mut first_row = group;
            while first_row < group_end {
                let one_row = first_row >= whole_rows || first_row + ROWS > group_end;
                match (one_row, single) {
                    (false, false) => {
                        blocked_dots::<LANES, ROWS, TILE, FUSED>(block, first_row, first, out)
                    }
                    (false, true) => {
                        blocked_dots::<LANES, ROWS, 1, FUSED>(block, first_row, first, out)
                    }
                    (true, false) => {
                        blocked_dots::<LANES, 1, TILE, FUSED>(block, first_row, first, out)
                    }
                    (true, true) => {
                        blocked_dots::<LANES, 1, 1, FUSED>(block, first_row, first, out)
                    }
                }
                first_row += if one_row { 1 } else { ROWS };
            }
            first += if single { 1 } else { TILE };
        }
    }
}

/// `out[(j + u)·N + first + t] = init + rows[j + u] · xs[first + t]` for `u < ROWS`, `t < TILE`,
/// each with `LANES` accumulators summed as [`block_lanes`] sums them (`j` counts from the
/// block's first row).
#[inline(always)]
fn blocked_dots<const LANES: usize, const ROWS: usize, const TILE: usize, const FUSED: bool>(
    block: &BatchBlock<'_>,
    j: usize,
    first: usize,
    out: &mut [f32],
) {
    let k = block.k;
    let body = k - k % LANES;
    let rows: [&[f32]; ROWS] = std::array::from_fn(|u| &block.rows[(j + u) * k..(j + u + 1) * k]);
    let inputs: [&[f32]; TILE] =
        std::array::from_fn(|t| &block.xs[(first + t) * k..(first + t + 1) * k]);
    let mut acc = [[[0.0f32; LANES]; TILE]; ROWS];
    for offset in (0..body).step_by(LANES) {
        let ws: [&[f32; LANES]; ROWS] = std::array::from_fn(|u| {
            rows[u][offset..offset + LANES]
                .try_into()
                .expect("LANES long")
        });
        for t in 0..TILE {
            let x: &[f32; LANES] = inputs[t][offset..offset + LANES]
                .try_into()
                .expect("LANES long");
            for u in 0..ROWS {
                acc[u][t] = lanes_multiply_add::<LANES, FUSED>(x, ws[u], acc[u][t]);
            }
        }
    }
    for u in 0..ROWS {
        let r = block.first_row + j + u;
        for t in 0..TILE {
            let n = first + t;
            let mut sum = block.init[n * block.total_rows + r] + acc[u][t].iter().sum::<f32>();
            for (x, w) in inputs[t][body..].iter().zip(&rows[u][body..]) {
                sum = multiply_add::<FUSED>(*x, *w, sum);
            }
            out[(j + u) * block.batch + n] = sum;
        }
    }
}

/// `acc[lane] += x[lane] · w[lane]` for every lane, by value so the lanes stay in registers.
#[inline(always)]
fn lanes_multiply_add<const LANES: usize, const FUSED: bool>(
    x: &[f32; LANES],
    w: &[f32; LANES],
    mut acc: [f32; LANES],
) -> [f32; LANES] {
    for lane in 0..LANES {
        acc[lane] = multiply_add::<FUSED>(x[lane], w[lane], acc[lane]);
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn batch_avx512(out: &mut [f32], block: &BatchBlock<'_>) {
    batch_lanes::<32, 2, 2, true>(out, block)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn batch_avx2(out: &mut [f32], block: &BatchBlock<'_>) {
    batch_lanes::<16, 2, 2, true>(out, block)
}

#[cfg(test)]
mod tests;
