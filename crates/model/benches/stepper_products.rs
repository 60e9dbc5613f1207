//! GFLOP/s of the sampling steppers' products on every instruction set this CPU has, at batch 1
//! (bound by how fast the weights stream through the caches) and with many streams at once
//! (bound by the arithmetic), for the 2 × 512 LSTM's gate products. One thread.
//!
//! `cargo bench --workspace --bench stepper_products [-- --streams 32 --seconds 2]`

use std::time::{Duration, Instant};

use charlstm_model::stepper::product::{Isa, PANEL, Panels, Product};

/// `[outputs, inputs]` of the products timed: a 512-unit LSTM layer above another (its input
/// and hidden state together), and the bottom layer (hidden state only).
const SHAPES: [(usize, usize); 2] = [(2048, 1024), (2048, 512)];

fn main() {
    let mut streams = 32;
    let mut seconds = 1.0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--streams" => streams = args.next().and_then(|v| v.parse().ok()).unwrap_or(32),
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(1.0),
            _ => {} // cargo bench passes --bench
        }
    }
    let budget = Duration::from_secs_f64(seconds);
    println!("instruction sets: {:?} detected", Isa::detect());
    println!("| product | streams | instructions | GFLOP/s |");
    println!("|---|---:|---|---:|");
    for (outputs, inputs) in SHAPES {
        let weights: Vec<f32> = (0..inputs * outputs)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.01)
            .collect();
        let panels = Panels::from_input_major(&[&weights], outputs);
        for batch in [1, streams] {
            let xs: Vec<f32> = (0..batch * inputs).map(|i| (i % 5) as f32 * 0.1).collect();
            let init = vec![0.5; outputs];
            let inits = vec![&init[..]; batch];
            let mut out = vec![0.0; panels.count() * batch * PANEL];
            for isa in [Isa::Avx512, Isa::Avx2Fma, Isa::Portable] {
                let product = Product::with_isa(isa);
                if product.isa() != isa {
                    continue;
                }
                let run = |out: &mut Vec<f32>| {
                    product.panels(&panels, 0..panels.count(), &inits, &xs, out)
                };
                run(&mut out);
                let (mut reps, start) = (0u64, Instant::now());
                while start.elapsed() < budget {
                    run(&mut out);
                    reps += 1;
                }
                let flops = 2.0 * (outputs * inputs * batch) as f64 * reps as f64;
                let gflops = flops / start.elapsed().as_secs_f64() / 1e9;
                println!("| [{outputs}, {inputs}] | {batch} | {isa:?} | {gflops:.1} |");
            }
        }
    }
}
