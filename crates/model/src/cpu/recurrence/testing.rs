//! What the cells' tests share: a run of a cell on a [`LayerCase`], a driver that checks a
//! forward pass against a cell's equations, and the gradient checks every cell gets.

use super::{CellMath, Trace, backward, forward, operand};
use crate::cpu::gradients::{LayerCase, Operand, Wanted, random_values, weighted_sum};
use crate::cpu::sequence::Dims;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Cell `C` over `case`'s operands.
pub fn run<C: CellMath, const N: usize>(case: &LayerCase<N>) -> Trace {
    forward::<C>(case.dims, &case.operands, &case.values())
}

/// `Σ_k row[k] · weight[k, column]` for a row-major weight `width` wide: one column of a
/// product, the plain way.
pub fn dot_column(row: &[f32], weight: &[f32], width: usize, column: usize) -> f32 {
    row.iter()
        .enumerate()
        .map(|(k, value)| value * weight[k * width + column])
        .sum()
}

/// Runs cell `C` over `case` and checks every step's output (and the final cell state)
/// against `equations`, which maps one sequence's input row `x_t` and states `h_{t-1}` and
/// `c_{t-1}` (`[H]` each; `c` empty for a cell without one) to `h_t` and `c_t`.
pub fn assert_forward_follows<C: CellMath, const N: usize>(
    case: &LayerCase<N>,
    equations: impl Fn(&[f32], &[f32], &[f32]) -> (Vec<f32>, Vec<f32>),
) {
    let trace = run::<C, N>(case);
    let Dims {
        seq_len,
        batch,
        input_size,
        hidden_size,
        ..
    } = case.dims;
    let values = case.values();
    let of = |which| operand(&case.operands, &values, which);
    let (input, hidden_0) = (of(Operand::Input), of(Operand::Hidden));
    let mut hidden = hidden_0.unwrap().to_vec();
    let mut cell = of(Operand::Cell).unwrap_or_default().to_vec();
    for t in 0..seq_len {
        let (mut next_hidden, mut next_cell) = (Vec::new(), Vec::new());
        for b in 0..batch {
            let row = &input.unwrap()[(t * batch + b) * input_size..][..input_size];
            let states = b * hidden_size..(b + 1) * hidden_size;
            let cell_before = cell.get(states.clone()).unwrap_or_default();
            let (h, c) = equations(row, &hidden[states], cell_before);
            next_hidden.extend(h);
            next_cell.extend(c);
        }
        (hidden, cell) = (next_hidden, next_cell);
        let got = &trace.outputs()[t * batch * hidden_size..][..batch * hidden_size];
        assert_close(got, &hidden, &format!("step {t}"));
    }
    if C::SHAPE.cell_state {
        assert_close(trace.last_cell(), &cell, "final cell");
    }
}

fn assert_close(got: &[f32], expected: &[f32], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (got, expected) in got.iter().zip(expected) {
        assert!((got - expected).abs() < 1e-5, "{what}: {got} vs {expected}");
    }
}

/// Every gradient of cell `C` against central differences of
/// `L = Σ output ⊙ R` over the operation's whole output (every `h_t`, and `c_T`).
fn assert_backward_matches_finite_differences<C: CellMath, const N: usize>(operands: [Operand; N]) {
    let case = LayerCase::new(17, [4, 2, 3, 2], C::SHAPE.gates, operands);
    let trace = run::<C, N>(&case);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let weight = random_values(&mut rng, trace.outputs.len());
    let grads = backward::<C>(&trace, case.read(), &weight, Wanted::ALL);
    case.assert_matches_finite_differences(grads, |case| {
        weighted_sum(&run::<C, N>(case).outputs, &weight)
    });
}

/// Only the wanted gradients of cell `C` are computed: here the two weights'.
fn assert_unwanted_gradients_are_skipped<C: CellMath, const N: usize>(operands: [Operand; N]) {
    let case = LayerCase::new(3, [2, 1, 2, 3], C::SHAPE.gates, operands);
    let trace = run::<C, N>(&case);
    let grad_output = vec![1.0; trace.outputs.len()];
    let wanted = Wanted {
        input_weight: true,
        recurrent_weight: true,
        ..Wanted::default()
    };
    let grads = backward::<C>(&trace, case.read(), &grad_output, wanted);
    assert!(grads.input_weight.is_some() && grads.recurrent_weight.is_some());
    assert!(grads.input.is_none() && grads.bias.is_none() && grads.recurrent_bias.is_none());
    assert!(grads.hidden.is_none() && grads.cell.is_none());
}

/// Every cell's gradients against finite differences, and only the wanted ones computed.
#[test]
fn every_cells_backward_matches_finite_differences_and_skips_the_unwanted() {
    use crate::fused_gru::kernel::{self as gru, GruCell};
    use crate::fused_lstm::kernel::{self as lstm, LstmCell};
    use crate::fused_rnn::kernel::{self as rnn, RnnCell};
    assert_backward_matches_finite_differences::<LstmCell, 6>(lstm::OPERANDS);
    assert_backward_matches_finite_differences::<GruCell, 6>(gru::OPERANDS);
    assert_backward_matches_finite_differences::<RnnCell, 5>(rnn::OPERANDS);
    assert_unwanted_gradients_are_skipped::<LstmCell, 6>(lstm::OPERANDS);
    assert_unwanted_gradients_are_skipped::<GruCell, 6>(gru::OPERANDS);
    assert_unwanted_gradients_are_skipped::<RnnCell, 5>(rnn::OPERANDS);
}
