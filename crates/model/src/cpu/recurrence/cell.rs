//! What a cell gives the loops: its shape, and its pointwise step each way on the slices the
//! loops hand it.

/// The most gates a cell has (the LSTM's four).
pub const MAX_GATES: usize = 4;

/// What the loops need to know of a cell besides its pointwise steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellShape {
    /// Gate blocks per unit (4 for the LSTM, 3 for the GRU, 1 for the plain RNN).
    pub gates: usize,
    /// Whether the cell carries a cell state `c` beside `h` (the LSTM).
    pub cell_state: bool,
    /// Whether `U_t = b_h + h_{t-1} · W_h` stays apart from the gates (the GRU, whose reset
    /// gate scales part of it) instead of being added to them.
    pub separate_recurrent: bool,
    /// Whether the cell keeps one more `H`-wide array per step for the backward pass.
    pub keeps: bool,
    /// Whether the backward step writes a direct part of `∂L/∂h_{t-1}` into `grad_hidden` (the
    /// GRU's `grad_h ⊙ z`), which the product with `W_hᵀ` then adds to; otherwise that product
    /// overwrites it.
    pub direct_hidden_grad: bool,
}

impl CellShape {
    /// A cell of `gates` gates with none of the rest: `h_t` from the gates alone.
    pub const fn gates(gates: usize) -> Self {
        Self {
            gates,
            cell_state: false,
            separate_recurrent: false,
            keeps: false,
            direct_hidden_grad: false,
        }
    }

    /// With a cell state.
    pub const fn with_cell_state(self) -> Self {
        Self {
            cell_state: true,
            ..self
        }
    }

    /// With `U_t` apart from the gates.
    pub const fn with_separate_recurrent(self) -> Self {
        Self {
            separate_recurrent: true,
            ..self
        }
    }

    /// Keeping one more array per step.
    pub const fn keeping_one_array(self) -> Self {
        Self {
            keeps: true,
            ..self
        }
    }

    /// With a direct part of `∂L/∂h_{t-1}`.
    pub const fn with_direct_hidden_grad(self) -> Self {
        Self {
            direct_hidden_grad: true,
            ..self
        }
    }
}

/// What differs between the fused cells: their shape and their pointwise step each way.
pub trait CellMath {
    /// The cell's shape.
    const SHAPE: CellShape;

    /// The pointwise forward step on a run of elements of the step's `[units, B]` arrays.
    fn forward_run(run: ForwardRun<'_>);

    /// The pointwise backward step for one unit of every sequence.
    fn backward_unit(unit: BackwardUnit<'_>);
}

/// A run of a forward step's arrays, all the same length; what a cell does not have is empty.
pub struct ForwardRun<'a> {
    /// Gate pre-activations `A_t`, one run per gate, to be replaced by the activations.
    pub gates: [&'a mut [f32]; MAX_GATES],
    /// `U_t = b_h + h_{t-1} · W_h`, one run per gate, for a cell that keeps it apart.
    pub from_state: [&'a [f32]; MAX_GATES],
    /// `h_{t-1}`.
    pub hidden_before: &'a [f32],
    /// `c_{t-1}`.
    pub cell_before: &'a [f32],
    /// `h_t`, to be written.
    pub hidden: &'a mut [f32],
    /// `c_t`, to be written.
    pub cell: &'a mut [f32],
    /// What the cell keeps for the backward pass, to be written.
    pub kept: &'a mut [f32],
}

/// One unit's `B` values of a backward step's arrays; what a cell does not have is empty.
pub struct BackwardUnit<'a> {
    /// The gate activations of the step.
    pub gates: [&'a [f32]; MAX_GATES],
    /// `h_{t-1}`.
    pub hidden_before: &'a [f32],
    /// `c_{t-1}`.
    pub cell_before: &'a [f32],
    /// What the forward step kept.
    pub kept: &'a [f32],
    /// `∂L/∂h_t` through the step's output.
    pub grad_output: &'a [f32],
    /// `∂L/∂h_t` from later steps; a cell with [`CellShape::direct_hidden_grad`] replaces it
    /// with the direct part of `∂L/∂h_{t-1}`.
    pub grad_hidden: &'a mut [f32],
    /// `∂L/∂c_t` from later steps, to be replaced with `∂L/∂c_{t-1}`.
    pub grad_cell: &'a mut [f32],
    /// `∂L/∂A_t`, one run per gate, to be written.
    pub grad_gates: [&'a mut [f32]; MAX_GATES],
    /// `∂L/∂U_t`, one run per gate, to be written by a cell that keeps `U_t` apart.
    pub grad_from_state: [&'a mut [f32]; MAX_GATES],
}
