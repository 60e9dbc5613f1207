use super::super::product::Isa;
use super::*;
use crate::char_model::CharModel;
use crate::stepper::tests::small_model;
use burn::prelude::*;

fn model(cell: CellKind, layers: usize, residual: bool, device: &Device) -> CharModel {
    small_model(cell, [layers, 24], residual, device)
}

/// After a reorder, a stream continues from its parent's state: bit for bit what a lone
/// stepper that read the parent's tokens gives, for each cell.
#[test]
fn a_reordered_stream_continues_from_its_parent() {
    let device = Device::flex();
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        let model = model(cell, 2, true, &device);
        let stepper = || {
            HostStepper::new(&model)
                .unwrap()
                .with_product(Product::new(), 1)
        };
        let mut batch = stepper().fork(3);
        batch.step(&[1, 2, 3]);
        batch.reorder(&[2, 0, 2]);
        let after = batch.step(&[4, 4, 4]).to_vec();
        let alone = |first: usize| {
            let mut lone = stepper();
            lone.step(first);
            lone.step(4).to_vec()
        };
        let expected = [alone(3), alone(1), alone(3)].concat();
        assert_eq!(after, expected, "{cell:?}");
    }
}

/// Every stream of a batch gets bit for bit the logits a stepper of its own gets, token
/// after token, after a shared prime: each cell, one to three layers, with and without
/// residual connections, hidden sizes that fill whole panels (whose LSTM and RNN updates
/// read the products where they are) and that do not, batches that fill whole tiles and
/// leave some over, every instruction set.
#[test]
fn each_stream_steps_exactly_as_it_would_alone() {
    let device = Device::flex();
    let prime = [3usize, 1, 4];
    let shapes = [
        (1, false, 24),
        (2, false, 24),
        (3, true, 24),
        (2, true, 128),
    ];
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        for (layers, residual, hidden) in shapes {
            let model = small_model(cell, [layers, hidden], residual, &device);
            for isa in [Isa::Portable, Isa::Avx2Fma, Isa::Avx512] {
                let mut primed = HostStepper::new(&model)
                    .unwrap()
                    .with_product(Product::with_isa(isa), 1);
                for &token in &prime {
                    primed.step(token);
                }
                for batch in [1, 5, 13] {
                    let mut batched = primed.fork(batch);
                    let mut alone: Vec<HostStepper> = (0..batch)
                        .map(|_| {
                            let mut stepper = HostStepper::new(&model)
                                .unwrap()
                                .with_product(Product::with_isa(isa), 2);
                            for &token in &prime {
                                stepper.step(token);
                            }
                            stepper
                        })
                        .collect();
                    for step in 0..4 {
                        let tokens: Vec<usize> =
                            (0..batch).map(|n| (n * 3 + step * 5) % 11).collect();
                        let logits = batched.step(&tokens).to_vec();
                        for (n, stepper) in alone.iter_mut().enumerate() {
                            let expected = stepper.step(tokens[n]);
                            let vocab = model.vocab_size();
                            let got = &logits[n * vocab..(n + 1) * vocab];
                            let same = got
                                .iter()
                                .zip(expected)
                                .all(|(g, e)| g.to_bits() == e.to_bits());
                            assert!(
                                same,
                                "{cell:?}, {layers} layers (residual {residual}), {isa:?}, \
                                 batch {batch}, step {step}, stream {n}: {got:?} vs {expected:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn streams_given_different_tokens_diverge() {
    let device = Device::flex();
    let model = model(CellKind::Lstm, 2, false, &device);
    let mut batched = HostStepper::new(&model).unwrap().fork(2);
    let vocab = model.vocab_size();
    let first = batched.step(&[1, 1]).to_vec();
    assert_eq!(
        first[..vocab],
        first[vocab..],
        "the same token, the same logits"
    );
    let second = batched.step(&[2, 7]).to_vec();
    assert_ne!(
        second[..vocab],
        second[vocab..],
        "different tokens, different logits"
    );
}
