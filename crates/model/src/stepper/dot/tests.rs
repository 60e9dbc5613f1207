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

/// A batch gives each input bit for bit what it gets alone, whatever the batch size (whole
/// tiles and leftovers), the block of rows and the instruction set.
#[test]
fn a_batch_matches_one_input_at_a_time_exactly() {
    for isa in [Isa::Portable, Isa::Avx2Fma, Isa::Avx512] {
        let dot = RowDot::with_isa(isa);
        for (outputs, inputs) in [(1, 1), (7, 33), (40, 100), (64, 517), (5, 0)] {
            for batch in [1, 3, 4, 9] {
                let rows = values(outputs * inputs, 0.01);
                let xs = values(batch * inputs + 5, 0.1)[5..].to_vec();
                let init = values(batch * outputs + 2, 1.0)[2..].to_vec();
                let first_row = outputs / 3;
                let block_rows = outputs - first_row;
                let mut out = vec![f32::NAN; block_rows * batch];
                dot.apply_batch(
                    &mut out,
                    first_row,
                    &init,
                    &rows[first_row * inputs..],
                    &xs,
                    batch,
                );
                for n in 0..batch {
                    let mut alone = vec![f32::NAN; outputs];
                    dot.apply(
                        &mut alone,
                        &init[n * outputs..(n + 1) * outputs],
                        &rows,
                        &xs[n * inputs..(n + 1) * inputs],
                    );
                    for j in 0..block_rows {
                        assert_eq!(
                            out[j * batch + n].to_bits(),
                            alone[first_row + j].to_bits(),
                            "{isa:?} [{outputs}, {inputs}] batch {batch}: input {n}, row {}",
                            first_row + j
                        );
                    }
                }
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
