//! What every fused layer's backward kernel is asked for, reads and returns: one set of types
//! for the LSTM, the GRU and the plain RNN, which differ only in which biases and states they
//! have.

use super::matmul::Matrix;
use super::sequence::{Dims, check_len, product};

/// One of the tensors a fused layer's operation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// The input sequence `X`, `[T, B, I]`.
    Input,
    /// `W_x`, `[I, gates·H]`.
    InputWeight,
    /// `W_h`, `[H, gates·H]`.
    RecurrentWeight,
    /// The bias `b` (the GRU's `b_x`), `[gates·H]`.
    Bias,
    /// The GRU's recurrent bias `b_h`, `[gates·H]`.
    RecurrentBias,
    /// The initial hidden state `h_0`, `[B, H]`.
    Hidden,
    /// The LSTM's initial cell state `c_0`, `[B, H]`.
    Cell,
}

impl Operand {
    /// The input and the two weights: the first operands of every cell's operation, before
    /// the cell's own biases and initial states.
    const WEIGHTED_INPUT: [Self; 3] = [Self::Input, Self::InputWeight, Self::RecurrentWeight];

    /// A cell's operands: [`Self::WEIGHTED_INPUT`], then the cell's own `rest` (`N` is three
    /// more than `M`).
    pub const fn after_weights<const N: usize, const M: usize>(rest: [Self; M]) -> [Self; N] {
        assert!(
            N == M + 3,
            "a cell's operands are the input, two weights and the rest"
        );
        let mut operands = [Self::Input; N];
        let mut index = 0;
        while index < N {
            operands[index] = if index < 3 {
                Self::WEIGHTED_INPUT[index]
            } else {
                rest[index - 3]
            };
            index += 1;
        }
        operands
    }

    /// The operand's name, as a Rust field (`input_weight`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::InputWeight => "input_weight",
            Self::RecurrentWeight => "recurrent_weight",
            Self::Bias => "bias",
            Self::RecurrentBias => "recurrent_bias",
            Self::Hidden => "hidden",
            Self::Cell => "cell",
        }
    }

    /// Its shape in a layer of size `dims`.
    pub fn shape(self, dims: Dims) -> Vec<usize> {
        match self {
            Self::Input => vec![dims.seq_len, dims.batch, dims.input_size],
            Self::InputWeight => vec![dims.input_size, dims.gate_width()],
            Self::RecurrentWeight => vec![dims.hidden_size, dims.gate_width()],
            Self::Bias | Self::RecurrentBias => vec![dims.gate_width()],
            Self::Hidden | Self::Cell => vec![dims.batch, dims.hidden_size],
        }
    }

    /// Its number of elements in a layer of size `dims`.
    #[cfg(test)]
    pub fn len(self, dims: Dims) -> usize {
        self.shape(dims).iter().product()
    }
}

/// Which gradients the caller wants; the others are not computed. A cell without one of
/// these operands ignores its flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    /// `∂L/∂X`.
    pub input: bool,
    /// `∂L/∂W_x`.
    pub input_weight: bool,
    /// `∂L/∂W_h`.
    pub recurrent_weight: bool,
    /// `∂L/∂b` (the GRU's `∂L/∂b_x`).
    pub bias: bool,
    /// The GRU's `∂L/∂b_h`.
    pub recurrent_bias: bool,
    /// `∂L/∂h_0`.
    pub hidden: bool,
    /// The LSTM's `∂L/∂c_0`.
    pub cell: bool,
}

impl Wanted {
    /// Every gradient.
    #[cfg(test)]
    pub const ALL: Self = Self {
        input: true,
        input_weight: true,
        recurrent_weight: true,
        bias: true,
        recurrent_bias: true,
        hidden: true,
        cell: true,
    };

    /// The flags of an operation whose inputs are `operands`, in order.
    pub fn of<const N: usize>(operands: &[Operand; N], flags: [bool; N]) -> Self {
        let mut wanted = Self::default();
        for (operand, flag) in operands.iter().zip(flags) {
            *wanted.flag(*operand) = flag;
        }
        wanted
    }

    fn flag(&mut self, operand: Operand) -> &mut bool {
        match operand {
            Operand::Input => &mut self.input,
            Operand::InputWeight => &mut self.input_weight,
            Operand::RecurrentWeight => &mut self.recurrent_weight,
            Operand::Bias => &mut self.bias,
            Operand::RecurrentBias => &mut self.recurrent_bias,
            Operand::Hidden => &mut self.hidden,
            Operand::Cell => &mut self.cell,
        }
    }
}

/// Gradients of the loss with respect to a layer's inputs, each shaped like its operand;
/// `None` where not [`Wanted`] or where the cell has no such operand.
#[derive(Debug, Clone, Default)]
pub struct Grads {
    /// `∂L/∂X`, `[T, B, I]`.
    pub input: Option<Vec<f32>>,
    /// `∂L/∂W_x`, `[I, gates·H]`.
    pub input_weight: Option<Vec<f32>>,
    /// `∂L/∂W_h`, `[H, gates·H]`.
    pub recurrent_weight: Option<Vec<f32>>,
    /// `∂L/∂b` (the GRU's `∂L/∂b_x`), `[gates·H]`.
    pub bias: Option<Vec<f32>>,
    /// The GRU's `∂L/∂b_h`, `[gates·H]`.
    pub recurrent_bias: Option<Vec<f32>>,
    /// `∂L/∂h_0`, `[B, H]`.
    pub hidden: Option<Vec<f32>>,
    /// The LSTM's `∂L/∂c_0`, `[B, H]`.
    pub cell: Option<Vec<f32>>,
}

impl Grads {
    /// The gradients of an operation whose inputs are `operands`, in order.
    pub fn into_operands<const N: usize>(
        mut self,
        operands: &[Operand; N],
    ) -> [Option<Vec<f32>>; N] {
        operands.map(|operand| self.take(operand))
    }

    fn take(&mut self, operand: Operand) -> Option<Vec<f32>> {
        match operand {
            Operand::Input => self.input.take(),
            Operand::InputWeight => self.input_weight.take(),
            Operand::RecurrentWeight => self.recurrent_weight.take(),
            Operand::Bias => self.bias.take(),
            Operand::RecurrentBias => self.recurrent_bias.take(),
            Operand::Hidden => self.hidden.take(),
            Operand::Cell => self.cell.take(),
        }
    }
}

/// What a backward kernel reads besides its trace: `X`, `W_x` and `W_h` (no cell needs its
/// biases or initial states again).
#[derive(Debug, Clone, Copy)]
pub struct ReadInputs<'a> {
    /// `X`, `[T, B, I]`.
    pub input: &'a [f32],
    /// `W_x`, `[I, gates·H]`.
    pub input_weight: &'a [f32],
    /// `W_h`, `[H, gates·H]`.
    pub recurrent_weight: &'a [f32],
}

impl ReadInputs<'_> {
    /// Checks these and `grad_outputs`, `∂L/∂h_t` of every step `[T, B, H]`, against `dims`.
    ///
    /// # Panics
    ///
    /// If a length differs.
    pub fn check(&self, dims: Dims, grad_outputs: &[f32]) {
        dims.check_input_and_weights(self.input, self.input_weight, self.recurrent_weight);
        check_len(
            "output gradient",
            grad_outputs,
            dims.rows() * dims.hidden_size,
        );
    }

    /// `∂L/∂X = grad · W_xᵀ` and `∂L/∂W_x = Xᵀ · grad`, where wanted, from `grad`, the
    /// `[T·B, gates·H]` gradient of the input projection `X · W_x`.
    pub fn input_side_grads(
        &self,
        dims: Dims,
        grad: Matrix<'_>,
        wanted: Wanted,
    ) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        let (rows, input_size, gate_width) = (dims.rows(), dims.input_size, dims.gate_width());
        let input = product(
            wanted.input,
            rows * input_size,
            grad,
            Matrix::row_major(self.input_weight, input_size, gate_width).t(),
        );
        let input_weight = product(
            wanted.input_weight,
            input_size * gate_width,
            Matrix::row_major(self.input, rows, input_size).t(),
            grad,
        );
        (input, input_weight)
    }
}

/// A kernel's test case: a run's sizes and its operands, drawn uniformly from `[-1, 1)`.
#[cfg(test)]
#[derive(Clone)]
pub struct LayerCase<const N: usize> {
    /// The run's sizes.
    pub dims: Dims,
    /// What each operand is, in the operation's order.
    pub operands: [Operand; N],
    /// Their values, in the same order.
    pub tensors: [Vec<f32>; N],
}

#[cfg(test)]
impl<const N: usize> LayerCase<N> {
    /// Random `operands` for a run of `[seq_len, batch, input_size, hidden_size]` through a
    /// cell of `gates` gates, from `seed`.
    pub fn new(seed: u64, sizes: [usize; 4], gates: usize, operands: [Operand; N]) -> Self {
        let [seq_len, batch, input_size, hidden_size] = sizes;
        let dims = Dims {
            seq_len,
            batch,
            input_size,
            hidden_size,
            gates,
        };
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let tensors = operands.map(|operand| random_values(&mut rng, operand.len(dims)));
        Self {
            dims,
            operands,
            tensors,
        }
    }

    /// The operands' values as the kernels take them.
    pub fn values(&self) -> [&[f32]; N] {
        self.tensors.each_ref().map(|values| &values[..])
    }

    /// What the backward kernel reads: the first three operands.
    pub fn read(&self) -> ReadInputs<'_> {
        ReadInputs {
            input: &self.tensors[0],
            input_weight: &self.tensors[1],
            recurrent_weight: &self.tensors[2],
        }
    }

    /// Checks every gradient in `grads` against central differences of `loss`.
    pub fn assert_matches_finite_differences(&self, grads: Grads, loss: impl Fn(&Self) -> f64) {
        let analytic = grads.into_operands(&self.operands);
        let mut probe = self.clone();
        let eps = 1e-2f32;
        for (which, grad) in analytic.into_iter().enumerate() {
            let name = self.operands[which].name();
            let grad = grad.unwrap_or_else(|| panic!("the gradient of {name} was wanted"));
            assert_eq!(grad.len(), self.tensors[which].len(), "{name}");
            for (index, &analytic) in grad.iter().enumerate() {
                let original = self.tensors[which][index];
                probe.tensors[which][index] = original + eps;
                let plus = loss(&probe);
                probe.tensors[which][index] = original - eps;
                let minus = loss(&probe);
                probe.tensors[which][index] = original;
                let numeric = ((plus - minus) / (2.0 * eps as f64)) as f32;
                assert!(
                    (numeric - analytic).abs() < 2e-3 * (1.0 + analytic.abs()),
                    "{name}[{index}]: finite differences {numeric}, backward {analytic}"
                );
            }
        }
    }
}

/// `Σ a ⊙ b` in f64, the test losses' weighted sum of outputs.
#[cfg(test)]
pub fn weighted_sum(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x * *y) as f64).sum()
}

/// `len` values drawn uniformly from `[-1, 1)`.
#[cfg(test)]
pub fn random_values(rng: &mut impl rand::Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operands_map_flags_and_gradients_in_the_operation_order() {
        let operands = [Operand::Input, Operand::Bias, Operand::Cell];
        let wanted = Wanted::of(&operands, [true, false, true]);
        assert_eq!(
            wanted,
            Wanted {
                input: true,
                cell: true,
                ..Wanted::default()
            }
        );
        let grads = Grads {
            input: Some(vec![1.0]),
            bias: Some(vec![2.0]),
            hidden: Some(vec![3.0]),
            ..Grads::default()
        };
        assert_eq!(
            grads.into_operands(&operands),
            [Some(vec![1.0]), Some(vec![2.0]), None]
        );
    }
}
