//! A step's pointwise work on every thread: the step's arrays cut into runs (forward) or runs
//! of units (backward), each handed to the cell.

use rayon::prelude::*;

use super::{BackwardUnit, CellMath, ForwardRun, MAX_GATES, Trace};
use crate::cpu::min_rows_per_task;
use crate::cpu::sequence::Dims;

/// The pointwise part of a forward step, `step` holding the whole step's arrays: in runs of
/// elements on every thread, each through [`CellMath::forward_run`].
pub(super) fn forward_step<C: CellMath>(step: ForwardRun<'_>) {
    let run = min_rows_per_task(1);
    let ForwardRun {
        gates,
        from_state,
        hidden_before,
        cell_before,
        hidden,
        cell,
        kept,
    } = step;
    let mut gate_runs = gates.map(|gate| gate.chunks_mut(run));
    let mut from_state_runs = from_state.map(|gate| gate.chunks(run));
    let runs: Vec<ForwardRun<'_>> = hidden_before
        .chunks(run)
        .zip(chunks_or_empty_read(cell_before, run))
        .zip(hidden.chunks_mut(run))
        .zip(chunks_or_empty(cell, run))
        .zip(chunks_or_empty(kept, run))
        .map(
            |((((hidden_before, cell_before), hidden), cell), kept)| ForwardRun {
                gates: gate_runs
                    .each_mut()
                    .map(|gate| gate.next().unwrap_or_default()),
                from_state: from_state_runs
                    .each_mut()
                    .map(|gate| gate.next().unwrap_or_default()),
                hidden_before,
                cell_before,
                hidden,
                cell,
                kept,
            },
        )
        .collect();
    runs.into_par_iter().for_each(C::forward_run);
}

/// The pointwise part of backward step `step`, in runs of units on every thread, each unit
/// through [`CellMath::backward_unit`]: writes the step's columns of `grad_gates` (and
/// `grad_from_state`) `[G·H, T·B]`.
pub(super) fn backward_step<C: CellMath>(
    trace: &Trace,
    step: usize,
    grad_output: &[f32],
    grad_hidden: &mut [f32],
    grad_cell: &mut [f32],
    grad_gates: &mut [f32],
    grad_from_state: &mut [f32],
) {
    let dims = trace.dims;
    let (rows, state_len) = (dims.rows(), dims.state_len());
    let Dims {
        batch, hidden_size, ..
    } = dims;
    let units_per_run = min_rows_per_task(batch);
    let run = units_per_run * batch;
    let now = step * state_len..(step + 1) * state_len;
    let gates = &trace.gates[step * C::SHAPE.gates * state_len..][..C::SHAPE.gates * state_len];
    let mut gate_runs = PlaneRunsRead::new(gates, state_len, run);
    let (plane_len, grad_run) = (hidden_size * rows, units_per_run * rows);
    let mut grad_gate_runs = PlaneRuns::new(grad_gates, plane_len, grad_run);
    let mut grad_state_runs = PlaneRuns::new(grad_from_state, plane_len, grad_run);
    let runs: Vec<BackwardRun<'_>> = part(&trace.hidden, now.clone())
        .chunks(run)
        .zip(chunks_or_empty_read(part(&trace.cell, now.clone()), run))
        .zip(chunks_or_empty_read(part(&trace.kept, now), run))
        .zip(grad_output.chunks(run))
        .zip(grad_hidden.chunks_mut(run))
        .zip(chunks_or_empty(grad_cell, run))
        .map(
            |(((((hidden_before, cell_before), kept), grad_output), grad_hidden), grad_cell)| {
                BackwardRun {
                    gates: gate_runs.next(),
                    hidden_before,
                    cell_before,
                    kept,
                    grad_output,
                    grad_hidden,
                    grad_cell,
                    grad_gates: grad_gate_runs.next(),
                    grad_from_state: grad_state_runs.next(),
                }
            },
        )
        .collect();
    runs.into_par_iter().for_each(|run| {
        let [g0, g1, g2, g3] = run.gates;
        let [a0, a1, a2, a3] = run.grad_gates;
        let [u0, u1, u2, u3] = run.grad_from_state;
        for unit in 0..run.grad_output.len() / batch {
            // The unit's B values of the step's [units, B] arrays, and its columns of this
            // step in the [units, T·B] gradients. (Written out rather than with array maps,
            // which did not inline: 2.5% of a training step.)
            let values = unit * batch..(unit + 1) * batch;
            let now = unit * rows + step * batch..unit * rows + (step + 1) * batch;
            let value = |all| part(all, values.clone());
            let column = |all| part_mut(all, now.clone());
            C::backward_unit(BackwardUnit {
                gates: [value(g0), value(g1), value(g2), value(g3)],
                hidden_before: value(run.hidden_before),
                cell_before: value(run.cell_before),
                kept: value(run.kept),
                grad_output: value(run.grad_output),
                grad_hidden: part_mut(run.grad_hidden, values.clone()),
                grad_cell: part_mut(run.grad_cell, values.clone()),
                grad_gates: [column(a0), column(a1), column(a2), column(a3)],
                grad_from_state: [column(u0), column(u1), column(u2), column(u3)],
            });
        }
    });
}

/// The elements `range` of `all`, or nothing if `all` is empty (an array the cell lacks).
#[inline(always)]
fn part(all: &[f32], range: std::ops::Range<usize>) -> &[f32] {
    match all.is_empty() {
        true => all,
        false => &all[range],
    }
}

/// [`part`] for writing.
#[inline(always)]
fn part_mut(all: &mut [f32], range: std::ops::Range<usize>) -> &mut [f32] {
    match all.is_empty() {
        true => all,
        false => &mut all[range],
    }
}

/// A run of units of a backward step's arrays (see [`BackwardUnit`]), each array holding the
/// run's units one after another.
struct BackwardRun<'a> {
    gates: [&'a [f32]; MAX_GATES],
    hidden_before: &'a [f32],
    cell_before: &'a [f32],
    kept: &'a [f32],
    grad_output: &'a [f32],
    grad_hidden: &'a mut [f32],
    grad_cell: &'a mut [f32],
    grad_gates: [&'a mut [f32]; MAX_GATES],
    grad_from_state: [&'a mut [f32]; MAX_GATES],
}

/// `all` in chunks of `len`, then empty slices for ever (an array the cell lacks yields only
/// those).
fn chunks_or_empty(all: &mut [f32], len: usize) -> impl Iterator<Item = &mut [f32]> {
    all.chunks_mut(len)
        .chain(std::iter::repeat_with(|| &mut [][..]))
}

/// [`chunks_or_empty`] for reading.
fn chunks_or_empty_read(all: &[f32], len: usize) -> impl Iterator<Item = &[f32]> {
    all.chunks(len).chain(std::iter::repeat(&[][..]))
}

/// Successive runs of each of up to [`MAX_GATES`] planes laid one after another in an array.
pub(super) struct PlaneRuns<'a>([std::slice::ChunksMut<'a, f32>; MAX_GATES]);

impl<'a> PlaneRuns<'a> {
    /// `all` cut into planes of `plane_len`, each read in runs of `run`.
    pub(super) fn new(all: &'a mut [f32], plane_len: usize, run: usize) -> Self {
        let mut planes = all.chunks_mut(plane_len.max(1));
        Self(std::array::from_fn(|_| {
            planes.next().unwrap_or_default().chunks_mut(run.max(1))
        }))
    }

    /// The next run of every plane (empty where there is no such plane).
    pub(super) fn next(&mut self) -> [&'a mut [f32]; MAX_GATES] {
        self.0
            .each_mut()
            .map(|plane| plane.next().unwrap_or_default())
    }
}

/// [`PlaneRuns`] for reading.
pub(super) struct PlaneRunsRead<'a>([std::slice::Chunks<'a, f32>; MAX_GATES]);

impl<'a> PlaneRunsRead<'a> {
    /// `all` cut into planes of `plane_len`, each read in runs of `run`.
    pub(super) fn new(all: &'a [f32], plane_len: usize, run: usize) -> Self {
        let mut planes = all.chunks(plane_len.max(1));
        Self(std::array::from_fn(|_| {
            planes.next().unwrap_or_default().chunks(run.max(1))
        }))
    }

    /// The next run of every plane (empty where there is no such plane).
    pub(super) fn next(&mut self) -> [&'a [f32]; MAX_GATES] {
        self.0
            .each_mut()
            .map(|plane| plane.next().unwrap_or_default())
    }
}
