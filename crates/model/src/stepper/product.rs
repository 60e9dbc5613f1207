//! The matrix products of the sampling steppers: `out = init + W x` for one stream or many.
//!
//! The weights `W` (`[R, K]`: `R` outputs, `K` inputs) are stored in panels of [`PANEL`]
//! outputs ([`Panels`]), each panel input-major (`[K, PANEL]`), the last one padded with zeros.
//! A product walks a panel from its first input to its last, one vector accumulator per 16
//! outputs and stream, and adds `x[k] · W[·, k]` for each `k` in turn:
//!
//! ```text
//! out[n, r] = (…((init[n, r] + x[n, 0] W[r, 0]) + x[n, 1] W[r, 1]) + …) + x[n, K−1] W[r, K−1]
//! ```
//!
//! Every output is this one chain of multiply–adds whether one stream steps or many, on one
//! thread or several, so a batch gives every stream bit for bit what it gets alone. (A panel
//! is walked in blocks of 128 inputs (`INPUT_BLOCK`), so that each block stays in the L1 cache
//! while every tile of streams passes over it; the sums are stored after a block and picked up
//! by the next, which leaves the chain as it is.) With many
//! streams, each row of a panel is loaded once for a tile of streams and each stream's `x[k]`
//! is broadcast once for the panel's four vectors, so the arithmetic sets the pace, not the
//! loads (no horizontal sums either, which dot products along rows would need for every
//! output). At batch 1 the pace is that of streaming the weights through the caches, which the
//! panels do start to end. The widest vector unit the CPU offers is chosen at run time
//! (AVX-512, else AVX2 with FMA, else the portable loop the compiler vectorises for the
//! baseline target).

use std::ops::Range;

pub use crate::cpu::isa::Isa;

/// Outputs per panel: four AVX-512 vectors, eight AVX2 ones.
pub const PANEL: usize = 64;

/// Products with fewer weights than this stay on one thread: below it, handing work to another
/// thread costs more than it saves.
pub(crate) const PARALLEL_MIN_WEIGHTS: usize = 1 << 16;

/// Inputs one pass over a panel adds: 32 KiB of the panel, which stays in the L1 cache while
/// every tile of streams passes over it.
const INPUT_BLOCK: usize = 128;

/// The most streams one tile of any instruction set holds.
const MAX_TILE_STREAMS: usize = 6;

/// The weights of a product, `[R, K]`, in panels of [`PANEL`] outputs, each `[K, PANEL]`.
#[derive(Debug, Clone)]
pub struct Panels {
    outputs: usize,
    inputs: usize,
    /// `[panels, K, PANEL]`.
    values: Vec<f32>,
}

impl Panels {
    /// The weights from input-major blocks (Burn's `[d_input, d_output]` layout): each part is
    /// `[K_i, R]`, row `k` the weights of input `k` for every output, and the parts' inputs
    /// follow one another (the first part's, then the second's, …).
    ///
    /// # Panics
    ///
    /// If `outputs` is 0 or a part is not a whole number of rows of `outputs` weights.
    pub fn from_input_major(parts: &[&[f32]], outputs: usize) -> Self {
        assert!(outputs > 0, "a product has at least one output");
        for part in parts {
            assert_eq!(part.len() % outputs, 0, "parts are [inputs, {outputs}]");
        }
        let inputs = parts.iter().map(|part| part.len() / outputs).sum();
        let count = outputs.div_ceil(PANEL);
        let mut values = vec![0.0; count * inputs * PANEL];
        let rows = parts.iter().flat_map(|part| part.chunks_exact(outputs));
        for (k, row) in rows.enumerate() {
            for (panel, chunk) in row.chunks(PANEL).enumerate() {
                let start = (panel * inputs + k) * PANEL;
                values[start..start + chunk.len()].copy_from_slice(chunk);
            }
        }
        Self {
            outputs,
            inputs,
            values,
        }
    }

    /// `R`.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `K`.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Number of panels, `⌈R / PANEL⌉`.
    pub fn count(&self) -> usize {
        self.outputs.div_ceil(PANEL)
    }

    /// Panel `index`, `[K, PANEL]`.
    fn panel(&self, index: usize) -> &[f32] {
        let len = self.inputs * PANEL;
        &self.values[index * len..(index + 1) * len]
    }
}

/// Computes products over [`Panels`] with one instruction set.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    isa: Isa,
}

impl Product {
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

    /// Panels `range` of the product for the `N = inits.len()` streams, panel after panel:
    /// `out[(p − range.start)·N·PANEL + n·PANEL + j]` is output `r = p·PANEL + j` of stream
    /// `n`, `inits[n][r] + Σ_k W[r, k] · xs[n·K + k]` summed as the module doc says (zero for
    /// the padding outputs `r ≥ R`). Each of `inits` is `[R]` (streams may share one, e.g. a
    /// bias), `xs` is `[N, K]`.
    ///
    /// # Panics
    ///
    /// If the lengths disagree or the range lies outside the panels.
    pub fn panels(
        &self,
        weights: &Panels,
        range: Range<usize>,
        inits: &[&[f32]],
        xs: &[f32],
        out: &mut [f32],
    ) {
        let (inputs, batch) = (weights.inputs, inits.len());
        assert!(batch > 0, "a batch has at least one stream");
        assert!(
            inits.iter().all(|init| init.len() == weights.outputs),
            "each init is [outputs]"
        );
        assert_eq!(xs.len(), batch * inputs, "xs is [batch, inputs]");
        assert!(range.end <= weights.count(), "the panels exist");
        assert_eq!(
            out.len(),
            range.len() * batch * PANEL,
            "out is [panels, batch, PANEL]"
        );
        // Tiles as even as they can be (32 streams: 6, 6, 5, 5, 5, 5 rather than 6 × 5 + 2):
        // a small tile loads the panel for few multiply–adds.
        let tiles = batch.div_ceil(self.tile_streams());
        let tile_streams = |tile: usize| batch / tiles + usize::from(tile < batch % tiles);
        let mut padded = [0.0f32; MAX_TILE_STREAMS * PANEL];
        // At least one block of inputs, which copies `init` when there are none.
        let input_blocks = inputs.div_ceil(INPUT_BLOCK).max(1);
        for (index, out_panel) in range.zip(out.chunks_exact_mut(batch * PANEL)) {
            for block in 0..input_blocks {
                let resume = block > 0;
                let mut first = 0;
                for tile in 0..tiles {
                    let streams = tile_streams(tile);
                    let starts = match resume {
                        true => [&[][..]; MAX_TILE_STREAMS],
                        false => initial_values(
                            &inits[first..first + streams],
                            index * PANEL,
                            &mut padded,
                        ),
                    };
                    let tile = Tile {
                        panel: weights.panel(index),
                        xs: &xs[first * inputs..(first + streams) * inputs],
                        inputs,
                        starts,
                        block_inputs: block * INPUT_BLOCK..((block + 1) * INPUT_BLOCK).min(inputs),
                        resume,
                        out: &mut out_panel[first * PANEL..(first + streams) * PANEL],
                    };
                    self.tile(streams, tile);
                    first += streams;
                }
            }
        }
    }

    /// The whole product on the calling thread: `out[n·R + r] = inits[n][r] + W[r] · xs[n]`,
    /// with `blocks` as room for the panels' outputs.
    ///
    /// # Panics
    ///
    /// If the lengths disagree.
    pub fn apply(
        &self,
        weights: &Panels,
        inits: &[&[f32]],
        xs: &[f32],
        out: &mut [f32],
        blocks: &mut Vec<f32>,
    ) {
        let count = weights.count();
        blocks.resize(count * inits.len() * PANEL, 0.0);
        self.panels(weights, 0..count, inits, xs, blocks);
        scatter(blocks, 0, inits.len(), out);
    }

    /// Streams one tile takes: as many as keep every accumulator in a register.
    fn tile_streams(&self) -> usize {
        match self.isa {
            Isa::Avx512 => 6,
            Isa::Avx2Fma => 6,
            Isa::Portable => 2,
        }
    }

    fn tile(&self, streams: usize, tile: Tile<'_>) {
        tile.check(streams);
        match self.isa {
            // SAFETY: `with_isa` keeps a SIMD variant only when the running CPU supports it,
            // and `check` made sure every read and write stays inside the tile's slices.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe {
                match streams {
                    1 => tile_avx512::<1>(tile),
                    2 => tile_avx512::<2>(tile),
                    3 => tile_avx512::<3>(tile),
                    4 => tile_avx512::<4>(tile),
                    5 => tile_avx512::<5>(tile),
                    _ => tile_avx512::<6>(tile),
                }
            },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe {
                match streams {
                    1 => tile_avx2::<1, 4>(tile),
                    2 => tile_avx2::<2, 4>(tile),
                    3 => tile_avx2::<3, 2>(tile),
                    4 => tile_avx2::<4, 2>(tile),
                    5 => tile_avx2::<5, 2>(tile),
                    _ => tile_avx2::<6, 2>(tile),
                }
            },
            _ => match streams {
                1 => tile_portable::<1>(tile),
                _ => tile_portable::<2>(tile),
            },
        }
    }
}

impl Default for Product {
    fn default() -> Self {
        Self::new()
    }
}

/// Each stream's initial values for the panel whose first output is `first_output`: slices of
/// `inits`, or padded copies in `padded` when the panel runs past the last output.
fn initial_values<'a>(
    inits: &[&'a [f32]],
    first_output: usize,
    padded: &'a mut [f32; MAX_TILE_STREAMS * PANEL],
) -> [&'a [f32]; MAX_TILE_STREAMS] {
    let mut starts = [&[][..]; MAX_TILE_STREAMS];
    let valid = PANEL.min(inits[0].len() - first_output);
    if valid == PANEL {
        for (start, init) in starts.iter_mut().zip(inits) {
            *start = &init[first_output..];
        }
    } else {
        padded.fill(0.0);
        for (copy, init) in padded.chunks_exact_mut(PANEL).zip(inits) {
            copy[..valid].copy_from_slice(&init[first_output..]);
        }
        for (start, copy) in starts.iter_mut().zip(padded.chunks_exact(PANEL)) {
            *start = copy;
        }
    }
    starts
}

/// Copies panels of outputs (`[panels, N, PANEL]`, as [`Product::panels`] writes them, the
/// first being panel `first_panel`) into their places in `out` (`[N, R]`), padding left out.
pub fn scatter(blocks: &[f32], first_panel: usize, batch: usize, out: &mut [f32]) {
    let outputs = out.len() / batch;
    for (n, stream) in out.chunks_exact_mut(outputs).enumerate() {
        scatter_stream(blocks, first_panel, batch, n, stream);
    }
}

/// [`scatter`] for stream `n` alone, `out` its `[R]` outputs.
pub fn scatter_stream(blocks: &[f32], first_panel: usize, batch: usize, n: usize, out: &mut [f32]) {
    for (offset, panel) in blocks.chunks_exact(batch * PANEL).enumerate() {
        let first_output = (first_panel + offset) * PANEL;
        if first_output >= out.len() {
            break;
        }
        let valid = PANEL.min(out.len() - first_output);
        out[first_output..first_output + valid]
            .copy_from_slice(&panel[n * PANEL..n * PANEL + valid]);
    }
}

/// One panel against a tile of streams.
struct Tile<'a> {
    /// `[K, PANEL]`.
    panel: &'a [f32],
    /// `[streams, K]`.
    xs: &'a [f32],
    inputs: usize,
    /// Stream `t`'s initial values for the panel's outputs, `starts[t][..PANEL]` (unused when
    /// resuming).
    starts: [&'a [f32]; MAX_TILE_STREAMS],
    /// The inputs this pass adds.
    block_inputs: Range<usize>,
    /// Whether the sums start from `out` (an earlier block's) instead of `init`.
    resume: bool,
    /// `[streams, PANEL]`.
    out: &'a mut [f32],
}

impl Tile<'_> {
    /// The bounds the unchecked kernels rely on.
    fn check(&self, streams: usize) {
        assert!((1..=MAX_TILE_STREAMS).contains(&streams));
        assert_eq!(self.panel.len(), self.inputs * PANEL);
        assert_eq!(self.xs.len(), streams * self.inputs);
        let starts = &self.starts[..streams];
        assert!(self.resume || starts.iter().all(|start| start.len() >= PANEL));
        assert_eq!(self.out.len(), streams * PANEL);
        assert!(self.block_inputs.end <= self.inputs);
    }

    /// Where each stream's sums start, and where its outputs go (both pointers into `out` when
    /// resuming, so that neither invalidates the other).
    #[cfg(target_arch = "x86_64")]
    fn pointers<const STREAMS: usize>(&mut self) -> ([*const f32; STREAMS], *mut f32) {
        let out = self.out.as_mut_ptr();
        let starts = std::array::from_fn(|t| {
            if self.resume {
                // SAFETY: `check` makes `out` `STREAMS · PANEL` long.
                unsafe { out.add(t * PANEL).cast_const() }
            } else {
                self.starts[t].as_ptr()
            }
        });
        (starts, out)
    }
}

/// The portable kernel: plain multiply and add (the baseline target has no fused
/// multiply–add, and `mul_add` would be a library call).
fn tile_portable<const STREAMS: usize>(tile: Tile<'_>) {
    let mut acc = [[0.0f32; PANEL]; STREAMS];
    for (t, acc) in acc.iter_mut().enumerate() {
        if tile.resume {
            acc.copy_from_slice(&tile.out[t * PANEL..(t + 1) * PANEL]);
        } else {
            acc.copy_from_slice(&tile.starts[t][..PANEL]);
        }
    }
    let rows = tile.panel.chunks_exact(PANEL).enumerate();
    for (k, row) in rows
        .skip(tile.block_inputs.start)
        .take(tile.block_inputs.len())
    {
        for (t, acc) in acc.iter_mut().enumerate() {
            let x = tile.xs[t * tile.inputs + k];
            for (acc, &w) in acc.iter_mut().zip(row) {
                *acc += x * w;
            }
        }
    }
    for (out, acc) in tile.out.chunks_exact_mut(PANEL).zip(&acc) {
        out.copy_from_slice(acc);
    }
}

/// The AVX-512 kernel: four vectors per stream, every panel row loaded once for the tile.
///
/// # Safety
///
/// The CPU supports AVX-512F, and [`Tile::check`] holds for `STREAMS`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512<const STREAMS: usize>(mut tile: Tile<'_>) {
    use std::arch::x86_64::*;
    const VECTORS: usize = PANEL / 16;
    let (panel, xs) = (tile.panel.as_ptr(), tile.xs.as_ptr());
    let (starts, out) = tile.pointers::<STREAMS>();
    // SAFETY (every pointer below): `check` bounds the panel to `K · PANEL` values, the inputs
    // to `STREAMS · K`, each stream's initial values to at least `PANEL` and the outputs
    // to `STREAMS · PANEL`, and each offset stays below its bound.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); VECTORS]; STREAMS];
        for (t, acc) in acc.iter_mut().enumerate() {
            for (v, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_loadu_ps(starts[t].add(v * 16));
            }
        }
        for k in tile.block_inputs.clone() {
            let row = panel.add(k * PANEL);
            // A loop, not a closure: a closure would not get this function's target features.
            let mut w = [_mm512_setzero_ps(); VECTORS];
            for (v, w) in w.iter_mut().enumerate() {
                *w = _mm512_loadu_ps(row.add(v * 16));
            }
            for (t, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*xs.add(t * tile.inputs + k));
                for (acc, &w) in acc.iter_mut().zip(&w) {
                    *acc = _mm512_fmadd_ps(x, w, *acc);
                }
            }
        }
        for (t, acc) in acc.iter().enumerate() {
            for (v, &acc) in acc.iter().enumerate() {
                _mm512_storeu_ps(out.add(t * PANEL + v * 16), acc);
            }
        }
    }
}

/// The AVX2 kernel: the panel in passes of `VECTORS` vectors, each against the tile's streams,
/// so that the accumulators (`STREAMS · VECTORS`), one panel row's vectors and a broadcast input
/// fit in the sixteen registers; a spilled accumulator would put a store and a load into its
/// chain of multiply–adds. Six streams take two vectors at a time (twelve accumulators, as
/// many multiply–adds per input as the two FMA units can start while the loads keep up); one or
/// two streams take four.
///
/// # Safety
///
/// The CPU supports AVX2 and FMA, and [`Tile::check`] holds for `STREAMS`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<const STREAMS: usize, const VECTORS: usize>(mut tile: Tile<'_>) {
    use std::arch::x86_64::*;
    const { assert!(STREAMS * VECTORS + VECTORS < 16 && PANEL.is_multiple_of(VECTORS * 8)) };
    let (panel, xs) = (tile.panel.as_ptr(), tile.xs.as_ptr());
    let (starts, out) = tile.pointers::<STREAMS>();
    // SAFETY: as in `tile_avx512`; each pass reads and writes within its panel's outputs.
    unsafe {
        for pass in (0..PANEL).step_by(VECTORS * 8) {
            let mut acc = [[_mm256_setzero_ps(); VECTORS]; STREAMS];
            for (t, acc) in acc.iter_mut().enumerate() {
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_loadu_ps(starts[t].add(pass + v * 8));
                }
            }
            for k in tile.block_inputs.clone() {
                let row = panel.add(k * PANEL + pass);
                let mut w = [_mm256_setzero_ps(); VECTORS];
                for (v, w) in w.iter_mut().enumerate() {
                    *w = _mm256_loadu_ps(row.add(v * 8));
                }
                for (t, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_set1_ps(*xs.add(t * tile.inputs + k));
                    for (acc, &w) in acc.iter_mut().zip(&w) {
                        *acc = _mm256_fmadd_ps(x, w, *acc);
                    }
                }
            }
            for (t, acc) in acc.iter().enumerate() {
                for (v, &acc) in acc.iter().enumerate() {
                    _mm256_storeu_ps(out.add(t * PANEL + pass + v * 8), acc);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
