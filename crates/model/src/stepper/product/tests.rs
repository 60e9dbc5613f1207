use super::*;

fn values(len: usize, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) * scale)
        .collect()
}

/// Stream `n`'s row of the `[N, R]` matrix `init`.
fn rows_of(init: &[f32], outputs: usize) -> Vec<&[f32]> {
    init.chunks_exact(outputs).collect()
}

/// `[K, R]` input-major weights as panels, with the same weights row-major `[R, K]` for the
/// reference loops.
fn weights(outputs: usize, inputs: usize) -> (Panels, Vec<f32>) {
    let input_major = values(inputs * outputs, 0.01);
    let panels = Panels::from_input_major(&[&input_major], outputs);
    let rows = (0..outputs * inputs)
        .map(|i| input_major[(i % inputs) * outputs + i / inputs])
        .collect();
    (panels, rows)
}

const SHAPES: [(usize, usize); 7] = [
    (1, 1),
    (3, 5),
    (7, 33),
    (64, 100),
    (130, 77),
    (2048, 64),
    (300, 0),
];

/// Calls `check` with every instruction set (one the machine lacks falls back to the portable
/// loop), its product, and each of [`SHAPES`] with its weights.
fn for_every_isa_and_shape(mut check: impl FnMut(Isa, Product, [usize; 2], (Panels, Vec<f32>))) {
    for isa in [Isa::Portable, Isa::Avx2Fma, Isa::Avx512] {
        for (outputs, inputs) in SHAPES {
            let product = Product::with_isa(isa);
            check(isa, product, [outputs, inputs], weights(outputs, inputs));
        }
    }
}

/// Every instruction set the machine has, whole and partial panels, one stream and many,
/// against a double-precision loop.
#[test]
fn every_variant_matches_a_double_precision_loop() {
    for_every_isa_and_shape(|isa, product, [outputs, inputs], (panels, rows)| {
        for batch in [1, 7] {
            let xs = values(batch * inputs + 3, 0.1)[3..].to_vec();
            let init = values(batch * outputs, 1.0);
            let mut out = vec![f32::NAN; batch * outputs];
            let inits = rows_of(&init, outputs);
            product.apply(&panels, &inits, &xs, &mut out, &mut Vec::new());
            for (index, &got) in out.iter().enumerate() {
                let (n, r) = (index / outputs, index % outputs);
                let expected: f64 = init[index] as f64
                    + (0..inputs)
                        .map(|k| rows[r * inputs + k] as f64 * xs[n * inputs + k] as f64)
                        .sum::<f64>();
                assert!(
                    (got as f64 - expected).abs() <= 1e-4 * expected.abs().max(1.0),
                    "{isa:?} [{outputs}, {inputs}] batch {batch}, stream {n}, output {r}: \
                     {got} vs {expected}"
                );
            }
        }
    });
}

/// A batch gives each stream bit for bit what it gets alone, whatever the batch size (whole
/// tiles and leftovers for every instruction set), the panels asked for and the instruction
/// set; and the panels' padding stays zero.
#[test]
fn a_batch_matches_one_stream_at_a_time_exactly() {
    for_every_isa_and_shape(|isa, product, [outputs, inputs], (panels, _)| {
        for batch in [1, 2, 3, 4, 5, 6, 7, 13] {
            let xs = values(batch * inputs + 5, 0.1)[5..].to_vec();
            let init = values(batch * outputs + 2, 1.0)[2..].to_vec();
            let range = panels.count() / 2..panels.count();
            let mut out = vec![f32::NAN; range.len() * batch * PANEL];
            let inits = rows_of(&init, outputs);
            product.panels(&panels, range.clone(), &inits, &xs, &mut out);
            for n in 0..batch {
                let mut alone = vec![f32::NAN; outputs];
                product.apply(
                    &panels,
                    &[inits[n]],
                    &xs[n * inputs..(n + 1) * inputs],
                    &mut alone,
                    &mut Vec::new(),
                );
                for (offset, p) in range.clone().enumerate() {
                    for j in 0..PANEL {
                        let got = out[(offset * batch + n) * PANEL + j];
                        let r = p * PANEL + j;
                        let expected = alone.get(r).copied().unwrap_or(0.0);
                        assert_eq!(
                            got.to_bits(),
                            expected.to_bits(),
                            "{isa:?} [{outputs}, {inputs}] batch {batch}: stream {n}, \
                             output {r}"
                        );
                    }
                }
            }
        }
    });
}

/// AVX2 and AVX-512 both fuse each multiply–add and sum in the same order, so they agree bit
/// for bit (where the machine has both).
#[test]
fn the_vector_instruction_sets_agree_exactly() {
    let (panels, _) = weights(200, 150);
    let xs = values(5 * 150, 0.1);
    let init = values(5 * 200, 1.0);
    let run = |isa| {
        let mut out = vec![f32::NAN; 5 * 200];
        let inits = rows_of(&init, 200);
        Product::with_isa(isa).apply(&panels, &inits, &xs, &mut out, &mut Vec::new());
        out
    };
    let wide = run(Isa::Avx512);
    let narrow = run(Isa::Avx2Fma);
    if Isa::detect() == Isa::Avx512 {
        assert_eq!(wide, narrow);
    }
}

#[test]
fn panels_stack_their_parts_input_after_input() {
    // Two inputs from the first part, one from the second, three outputs.
    let first = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let second = [7.0, 8.0, 9.0];
    let panels = Panels::from_input_major(&[&first, &second], 3);
    assert_eq!(
        (panels.outputs(), panels.inputs(), panels.count()),
        (3, 3, 1)
    );
    let panel = panels.panel(0);
    assert_eq!(&panel[..3], &[1.0, 2.0, 3.0]);
    assert_eq!(&panel[PANEL..PANEL + 3], &[4.0, 5.0, 6.0]);
    assert_eq!(&panel[2 * PANEL..2 * PANEL + 3], &[7.0, 8.0, 9.0]);
    assert!(panel[3..PANEL].iter().all(|&w| w == 0.0), "padding is zero");
}

#[test]
fn an_unsupported_request_falls_back_to_the_portable_loop() {
    let product = Product::with_isa(Isa::Avx512);
    assert!(product.isa() == Isa::Avx512 || product.isa() == Isa::Portable);
    assert_eq!(Isa::detect() == Isa::Avx512, product.isa() == Isa::Avx512);
}
