//! The fused LSTM on host memory: the forward pass over a whole sequence and backpropagation
//! through time, on row-major f32 slices, with no Burn types.
//!
//! With `T` steps, batch `B`, input width `I` and hidden width `H`, gates ordered i, f, g, o:
//!
//! ```text
//! forward
//!   P   = X · W_x + b                 X: [T·B, I]   P: [T·B, 4H]    one product, all steps
//!   G_t = P_t + h_{t-1} · W_h         [B, 4H]                        one product per step
//!   i, f, o = σ(G_t[i | f | o])    g = tanh(G_t[g])
//!   c_t = f ⊙ c_{t-1} + i ⊙ g
//!   h_t = o ⊙ tanh(c_t)
//!
//! backward, for t = T-1 … 0, from grad_h = ∂L/∂h_T and grad_c = ∂L/∂c_T
//!   grad_h  += ∂L/∂h_t through the output
//!   grad_c  += grad_h ⊙ o ⊙ (1 − tanh²(c_t))
//!   grad_G_t = [grad_c ⊙ g ⊙ i(1−i) | grad_c ⊙ c_{t-1} ⊙ f(1−f) | grad_c ⊙ i ⊙ (1−g²) | grad_h ⊙ tanh(c_t) ⊙ o(1−o)]
//!   grad_c   = grad_c ⊙ f                                           now ∂L/∂c_{t-1}
//!   grad_h   = grad_G_t · W_hᵀ                                       now ∂L/∂h_{t-1}, one product per step
//! then, over all steps at once (grad_G: [T·B, 4H], H_prev = [h_0 … h_{T-1}]: [T·B, H])
//!   grad_W_x = Xᵀ · grad_G      grad_W_h = H_prevᵀ · grad_G      grad_b = Σ_rows grad_G
//!   grad_X   = grad_G · W_xᵀ    grad_h_0 = grad_h                grad_c_0 = grad_c
//! ```

use rayon::prelude::*;

use crate::cpu::activation::{sigmoid, tanh};
use crate::cpu::matmul::{Matrix, Write, matmul};
use crate::cpu::min_rows_per_task;
pub use crate::cpu::sequence::Dims;
use crate::cpu::sequence::{
    RecurrentWeight, block, check_len, column_sums, product, project_inputs,
};

/// Gates of an LSTM: i, f, g, o.
pub const GATES: usize = 4;

/// The layer's parameters, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Weights<'a> {
    /// `W_x`, `[I, 4H]`.
    pub input_weight: &'a [f32],
    /// `W_h`, `[H, 4H]`.
    pub recurrent_weight: &'a [f32],
    /// `b`, `[4H]`.
    pub bias: &'a [f32],
}

/// What the forward pass computed, kept for the backward pass.
pub struct ForwardTrace {
    /// The sizes it ran with.
    pub dims: Dims,
    /// Gate activations `[i | f | g | o]` of every step, `[T, B, 4H]`.
    pub gates: Vec<f32>,
    /// `h_0 … h_T`, `[T+1, B, H]`.
    pub hidden: Vec<f32>,
    /// `c_0 … c_T`, `[T+1, B, H]`.
    pub cell: Vec<f32>,
    /// `tanh(c_1) … tanh(c_T)`, `[T, B, H]`.
    pub cell_tanh: Vec<f32>,
}

impl std::fmt::Debug for ForwardTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardTrace")
            .field("dims", &self.dims)
            .finish_non_exhaustive()
    }
}

impl ForwardTrace {
    /// Every step's output `h_1 … h_T`, `[T, B, H]`.
    pub fn outputs(&self) -> &[f32] {
        &self.hidden[self.dims.state_len()..]
    }

    /// The last hidden state `h_T`, `[B, H]`.
    #[cfg(test)]
    pub fn last_hidden(&self) -> &[f32] {
        &self.hidden[self.dims.seq_len * self.dims.state_len()..]
    }

    /// The last cell state `c_T`, `[B, H]`.
    pub fn last_cell(&self) -> &[f32] {
        &self.cell[self.dims.seq_len * self.dims.state_len()..]
    }
}

/// Runs the layer over `input` `[T, B, I]` from `hidden` and `cell` `[B, H]`.
///
/// # Panics
///
/// If a slice's length does not match `dims`.
pub fn forward(
    dims: Dims,
    input: &[f32],
    weights: Weights<'_>,
    hidden: &[f32],
    cell: &[f32],
) -> ForwardTrace {
    let (rows, gate_width, state_len) = (dims.rows(), dims.gate_width(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        hidden_size,
        ..
    } = dims;
    dims.check_input_and_weights(input, weights.input_weight, weights.recurrent_weight);
    check_len("hidden state", hidden, state_len);
    check_len("cell state", cell, state_len);

    // P = X · W_x + b, written where the gates of every step will be.
    let gates = project_inputs(dims, input, weights.input_weight, weights.bias);
    let mut trace = ForwardTrace {
        dims,
        gates,
        hidden: vec![0.0; (seq_len + 1) * state_len],
        cell: vec![0.0; (seq_len + 1) * state_len],
        cell_tanh: vec![0.0; rows * hidden_size],
    };
    trace.hidden[..state_len].copy_from_slice(hidden);
    trace.cell[..state_len].copy_from_slice(cell);
    let recurrent =
        RecurrentWeight::new(weights.recurrent_weight, hidden_size, gate_width, seq_len);
    let recurrent_weight = recurrent.matrix();
    for step in 0..seq_len {
        let (hidden_before, hidden_after) = trace.hidden.split_at_mut((step + 1) * state_len);
        let (cell_before, cell_after) = trace.cell.split_at_mut((step + 1) * state_len);
        let gates = &mut trace.gates[step * batch * gate_width..][..batch * gate_width];
        // G_t = P_t + h_{t-1} · W_h
        matmul(
            gates,
            Write::Accumulate,
            Matrix::row_major(&hidden_before[step * state_len..], batch, hidden_size),
            recurrent_weight,
        );
        cell_step(
            hidden_size,
            gates,
            &cell_before[step * state_len..],
            &mut cell_after[..state_len],
            &mut hidden_after[..state_len],
            &mut trace.cell_tanh[step * state_len..][..state_len],
        );
    }
    trace
}

/// The pointwise part of a forward step: gate pre-activations `[B, 4H]` (replaced by the
/// activations) and `c_{t-1}` to `c_t`, `h_t` and `tanh(c_t)`, all `[B, H]`.
fn cell_step(
    hidden_size: usize,
    gates: &mut [f32],
    cell_before: &[f32],
    cell: &mut [f32],
    hidden: &mut [f32],
    cell_tanh: &mut [f32],
) {
    gates
        .par_chunks_exact_mut(4 * hidden_size)
        .zip(cell_before.par_chunks_exact(hidden_size))
        .zip(cell.par_chunks_exact_mut(hidden_size))
        .zip(hidden.par_chunks_exact_mut(hidden_size))
        .zip(cell_tanh.par_chunks_exact_mut(hidden_size))
        .with_min_len(min_rows_per_task(hidden_size))
        .for_each(|((((gates, cell_before), cell), hidden), cell_tanh)| {
            let (input_gate, rest) = gates.split_at_mut(hidden_size);
            let (forget_gate, rest) = rest.split_at_mut(hidden_size);
            let (candidate, output_gate) = rest.split_at_mut(hidden_size);
            for unit in 0..hidden_size {
                let i = sigmoid(input_gate[unit]);
                let f = sigmoid(forget_gate[unit]);
                let g = tanh(candidate[unit]);
                let o = sigmoid(output_gate[unit]);
                let c = f * cell_before[unit] + i * g;
                let tc = tanh(c);
                (input_gate[unit], forget_gate[unit]) = (i, f);
                (candidate[unit], output_gate[unit]) = (g, o);
                (cell[unit], cell_tanh[unit], hidden[unit]) = (c, tc, o * tc);
            }
        });
}

/// Which gradients the caller wants; the others are not computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// `∂L/∂X`.
    pub input: bool,
    /// `∂L/∂W_x`.
    pub input_weight: bool,
    /// `∂L/∂W_h`.
    pub recurrent_weight: bool,
    /// `∂L/∂b`.
    pub bias: bool,
    /// `∂L/∂h_0`.
    pub hidden: bool,
    /// `∂L/∂c_0`.
    pub cell: bool,
}

#[cfg(test)]
impl Wanted {
    /// Every gradient.
    pub const ALL: Self = Self {
        input: true,
        input_weight: true,
        recurrent_weight: true,
        bias: true,
        hidden: true,
        cell: true,
    };
}

/// Gradients of the loss with respect to the layer's inputs; `None` where not [`Wanted`].
#[derive(Debug, Clone, Default)]
pub struct LstmGrads {
    /// `∂L/∂X`, `[T, B, I]`.
    pub input: Option<Vec<f32>>,
    /// `∂L/∂W_x`, `[I, 4H]`.
    pub input_weight: Option<Vec<f32>>,
    /// `∂L/∂W_h`, `[H, 4H]`.
    pub recurrent_weight: Option<Vec<f32>>,
    /// `∂L/∂b`, `[4H]`.
    pub bias: Option<Vec<f32>>,
    /// `∂L/∂h_0`, `[B, H]`.
    pub hidden: Option<Vec<f32>>,
    /// `∂L/∂c_0`, `[B, H]`.
    pub cell: Option<Vec<f32>>,
}

/// Gradients flowing into the layer from above.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamGrads<'a> {
    /// `∂L/∂h_t` through every step's output, `[T, B, H]`.
    pub outputs: &'a [f32],
    /// `∂L/∂h_T` through the final state, `[B, H]`.
    pub last_hidden: &'a [f32],
    /// `∂L/∂c_T` through the final state, `[B, H]`.
    pub last_cell: &'a [f32],
}

/// Backpropagation through time for the run recorded in `trace`, which read `input`
/// `[T, B, I]` and `weights` (the bias is not needed).
///
/// # Panics
///
/// If a slice's length does not match `trace.dims`.
pub fn backward(
    trace: &ForwardTrace,
    input: &[f32],
    weights: Weights<'_>,
    upstream: UpstreamGrads<'_>,
    wanted: Wanted,
) -> LstmGrads {
    let dims = trace.dims;
    let (rows, gate_width, state_len) = (dims.rows(), dims.gate_width(), dims.state_len());
    let Dims {
        seq_len,
        batch,
        input_size,
        hidden_size,
        ..
    } = dims;
    dims.check_input_and_weights(input, weights.input_weight, weights.recurrent_weight);
    check_len("output gradient", upstream.outputs, rows * hidden_size);
    check_len("final hidden gradient", upstream.last_hidden, state_len);
    check_len("final cell gradient", upstream.last_cell, state_len);

    let recurrent_weight = Matrix::row_major(weights.recurrent_weight, hidden_size, gate_width);
    let mut grad_gates = vec![0.0; rows * gate_width];
    let mut grad_h = upstream.last_hidden.to_vec();
    let mut grad_c = upstream.last_cell.to_vec();
    for step in (0..seq_len).rev() {
        let grad_gates_step = &mut grad_gates[step * batch * gate_width..][..batch * gate_width];
        gate_grads_step(
            hidden_size,
            StepTrace {
                gates: &trace.gates[step * batch * gate_width..][..batch * gate_width],
                cell_before: block(&trace.cell, step, state_len),
                cell_tanh: block(&trace.cell_tanh, step, state_len),
            },
            block(upstream.outputs, step, state_len),
            &grad_h,
            &mut grad_c,
            grad_gates_step,
        );
        // ∂L/∂h_{t-1} = grad_G_t · W_hᵀ; for t = 0 only if h_0's gradient is wanted.
        if step > 0 || wanted.hidden {
            matmul(
                &mut grad_h,
                Write::Overwrite,
                Matrix::row_major(grad_gates_step, batch, gate_width),
                recurrent_weight.t(),
            );
        }
    }

    let grad_gates_all = Matrix::row_major(&grad_gates, rows, gate_width);
    LstmGrads {
        input: product(
            wanted.input,
            rows * input_size,
            grad_gates_all,
            Matrix::row_major(weights.input_weight, input_size, gate_width).t(),
        ),
        input_weight: product(
            wanted.input_weight,
            input_size * gate_width,
            Matrix::row_major(input, rows, input_size).t(),
            grad_gates_all,
        ),
        recurrent_weight: product(
            wanted.recurrent_weight,
            hidden_size * gate_width,
            Matrix::row_major(&trace.hidden[..rows * hidden_size], rows, hidden_size).t(),
            grad_gates_all,
        ),
        bias: column_sums(wanted.bias, &grad_gates, gate_width),
        hidden: wanted.hidden.then_some(grad_h),
        cell: wanted.cell.then_some(grad_c),
    }
}

/// One step's slices of a [`ForwardTrace`].
struct StepTrace<'a> {
    /// Activations `[i | f | g | o]`, `[B, 4H]`.
    gates: &'a [f32],
    /// `c_{t-1}`, `[B, H]`.
    cell_before: &'a [f32],
    /// `tanh(c_t)`, `[B, H]`.
    cell_tanh: &'a [f32],
}

/// The pointwise part of a backward step: from `∂L/∂h_t` (`grad_output` through the output
/// plus `grad_h` from later steps) and `∂L/∂c_t` from later steps (`grad_c`), writes
/// `grad_G_t` `[B, 4H]` and turns `grad_c` into `∂L/∂c_{t-1}`.
fn gate_grads_step(
    hidden_size: usize,
    trace: StepTrace<'_>,
    grad_output: &[f32],
    grad_h: &[f32],
    grad_c: &mut [f32],
    grad_gates: &mut [f32],
) {
    let rows = trace
        .gates
        .chunks_exact(4 * hidden_size)
        .zip(grad_gates.chunks_exact_mut(4 * hidden_size))
        .zip(trace.cell_before.chunks_exact(hidden_size))
        .zip(trace.cell_tanh.chunks_exact(hidden_size))
        .zip(grad_output.chunks_exact(hidden_size))
        .zip(grad_h.chunks_exact(hidden_size))
        .zip(grad_c.chunks_exact_mut(hidden_size));
    for ((((((gates, grad_gates), cell_before), cell_tanh), grad_output), grad_h), grad_c) in rows {
        let (input_gate, rest) = gates.split_at(hidden_size);
        let (forget_gate, rest) = rest.split_at(hidden_size);
        let (candidate, output_gate) = rest.split_at(hidden_size);
        let (grad_i, rest) = grad_gates.split_at_mut(hidden_size);
        let (grad_f, rest) = rest.split_at_mut(hidden_size);
        let (grad_g, grad_o) = rest.split_at_mut(hidden_size);
        let activations = input_gate
            .iter()
            .zip(forget_gate)
            .zip(candidate)
            .zip(output_gate)
            .zip(cell_before)
            .zip(cell_tanh);
        let grads = grad_i
            .iter_mut()
            .zip(grad_f.iter_mut())
            .zip(grad_g.iter_mut())
            .zip(grad_o.iter_mut())
            .zip(grad_output)
            .zip(grad_h)
            .zip(grad_c.iter_mut());
        for ((((((&i, &f), &g), &o), &c_before), &tc), units) in activations.zip(grads) {
            let ((((((grad_i, grad_f), grad_g), grad_o), grad_output), grad_h_later), grad_c) =
                units;
            let grad_h = grad_output + grad_h_later;
            let grad_c_t = *grad_c + grad_h * o * (1.0 - tc * tc);
            *grad_i = grad_c_t * g * i * (1.0 - i);
            *grad_f = grad_c_t * c_before * f * (1.0 - f);
            *grad_g = grad_c_t * i * (1.0 - g * g);
            *grad_o = grad_h * tc * o * (1.0 - o);
            *grad_c = grad_c_t * f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    struct Case {
        dims: Dims,
        input: Vec<f32>,
        input_weight: Vec<f32>,
        recurrent_weight: Vec<f32>,
        bias: Vec<f32>,
        hidden: Vec<f32>,
        cell: Vec<f32>,
    }

    impl Case {
        fn new(seq_len: usize, batch: usize, input_size: usize, hidden_size: usize) -> Self {
            let mut rng = ChaCha8Rng::seed_from_u64(17);
            let dims = Dims {
                seq_len,
                batch,
                input_size,
                hidden_size,
                gates: GATES,
            };
            Self {
                dims,
                input: random(&mut rng, seq_len * batch * input_size),
                input_weight: random(&mut rng, input_size * 4 * hidden_size),
                recurrent_weight: random(&mut rng, hidden_size * 4 * hidden_size),
                bias: random(&mut rng, 4 * hidden_size),
                hidden: random(&mut rng, batch * hidden_size),
                cell: random(&mut rng, batch * hidden_size),
            }
        }

        fn weights(&self) -> Weights<'_> {
            Weights {
                input_weight: &self.input_weight,
                recurrent_weight: &self.recurrent_weight,
                bias: &self.bias,
            }
        }

        fn forward(&self) -> ForwardTrace {
            forward(
                self.dims,
                &self.input,
                self.weights(),
                &self.hidden,
                &self.cell,
            )
        }

        /// L = Σ_t Σ h_t ⊙ R_h,t + Σ c_T ⊙ R_c, in f64 to keep finite differences clean.
        fn loss(&self, outputs_weight: &[f32], cell_weight: &[f32]) -> f64 {
            let trace = self.forward();
            let dot =
                |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (*x * *y) as f64).sum::<f64>();
            dot(trace.outputs(), outputs_weight) + dot(trace.last_cell(), cell_weight)
        }
    }

    /// The equations in the module doc, one unit at a time with libm's functions.
    #[test]
    fn forward_matches_the_equations_unit_by_unit() {
        let case = Case::new(3, 2, 3, 4);
        let trace = case.forward();
        let Dims {
            seq_len,
            batch,
            input_size,
            hidden_size: h,
            ..
        } = case.dims;
        let sigma = |x: f32| 1.0 / (1.0 + (-x).exp());
        let (mut hidden, mut cell) = (case.hidden.clone(), case.cell.clone());
        for t in 0..seq_len {
            let (mut next_h, mut next_c) = (hidden.clone(), cell.clone());
            for b in 0..batch {
                let pre = |gate: usize, j: usize| {
                    let col = gate * h + j;
                    let x = &case.input[(t * batch + b) * input_size..][..input_size];
                    let from_x: f32 = (0..input_size)
                        .map(|k| x[k] * case.input_weight[k * 4 * h + col])
                        .sum();
                    let from_h: f32 = (0..h)
                        .map(|k| hidden[b * h + k] * case.recurrent_weight[k * 4 * h + col])
                        .sum();
                    from_x + from_h + case.bias[col]
                };
                for j in 0..h {
                    let (i, f, g, o) = (
                        sigma(pre(0, j)),
                        sigma(pre(1, j)),
                        pre(2, j).tanh(),
                        sigma(pre(3, j)),
                    );
                    next_c[b * h + j] = f * cell[b * h + j] + i * g;
                    next_h[b * h + j] = o * next_c[b * h + j].tanh();
                }
            }
            (hidden, cell) = (next_h, next_c);
            let got = &trace.outputs()[t * batch * h..][..batch * h];
            for (x, y) in got.iter().zip(&hidden) {
                assert!((x - y).abs() < 1e-5, "step {t}: {x} vs {y}");
            }
        }
        for (x, y) in trace.last_cell().iter().zip(&cell) {
            assert!((x - y).abs() < 1e-5, "final cell: {x} vs {y}");
        }
        assert_eq!(
            trace.last_hidden(),
            &trace.outputs()[(seq_len - 1) * batch * h..]
        );
    }

    /// Every gradient against central differences of the loss.
    #[test]
    fn backward_matches_finite_differences() {
        let case = Case::new(4, 2, 3, 2);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let state_len = case.dims.batch * case.dims.hidden_size;
        let outputs_weight = random(&mut rng, case.dims.seq_len * state_len);
        let cell_weight = random(&mut rng, state_len);
        let trace = case.forward();
        let grads = backward(
            &trace,
            &case.input,
            case.weights(),
            UpstreamGrads {
                outputs: &outputs_weight,
                last_hidden: &vec![0.0; state_len],
                last_cell: &cell_weight,
            },
            Wanted::ALL,
        );

        type Field = fn(&mut Case) -> &mut Vec<f32>;
        let fields: [(&str, Field, Option<Vec<f32>>); 6] = [
            ("input", |c| &mut c.input, grads.input),
            ("input_weight", |c| &mut c.input_weight, grads.input_weight),
            (
                "recurrent_weight",
                |c| &mut c.recurrent_weight,
                grads.recurrent_weight,
            ),
            ("bias", |c| &mut c.bias, grads.bias),
            ("hidden", |c| &mut c.hidden, grads.hidden),
            ("cell", |c| &mut c.cell, grads.cell),
        ];
        let mut case = case;
        let eps = 1e-2f32;
        for (name, field, grad) in fields {
            let grad = grad.expect("every gradient was wanted");
            assert_eq!(grad.len(), field(&mut case).len(), "{name}");
            for (index, &analytic) in grad.iter().enumerate() {
                let original = field(&mut case)[index];
                field(&mut case)[index] = original + eps;
                let plus = case.loss(&outputs_weight, &cell_weight);
                field(&mut case)[index] = original - eps;
                let minus = case.loss(&outputs_weight, &cell_weight);
                field(&mut case)[index] = original;
                let numeric = ((plus - minus) / (2.0 * eps as f64)) as f32;
                assert!(
                    (numeric - analytic).abs() < 2e-3 * (1.0 + analytic.abs()),
                    "{name}[{index}]: finite differences {numeric}, backward {analytic}"
                );
            }
        }
    }

    #[test]
    fn unwanted_gradients_are_skipped() {
        let case = Case::new(2, 1, 2, 3);
        let trace = case.forward();
        let zeros = vec![0.0; 3];
        let ones = vec![1.0; 2 * 3];
        let grads = backward(
            &trace,
            &case.input,
            case.weights(),
            UpstreamGrads {
                outputs: &ones,
                last_hidden: &zeros,
                last_cell: &zeros,
            },
            Wanted {
                input: false,
                hidden: false,
                cell: false,
                ..Wanted::ALL
            },
        );
        assert!(grads.input.is_none() && grads.hidden.is_none() && grads.cell.is_none());
        assert!(grads.input_weight.is_some() && grads.recurrent_weight.is_some());
        assert!(grads.bias.is_some());
    }
}
