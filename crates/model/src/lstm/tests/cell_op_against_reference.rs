use super::support::*;
use super::*;

/// One step of one row, then five steps of three rows with input width ≠ hidden width.
const SHAPES: [[usize; 4]; 2] = [[1, 1, 1, 1], [5, 3, 2, 4]];

#[test]
fn without_autodiff() {
    let Some(wgpu) = wgpu() else { return };
    for shape in SHAPES {
        compare(
            shape,
            1,
            InitialState::Detached,
            Implementation::CellOp,
            &wgpu,
        );
        compare(shape, 1, InitialState::Zero, Implementation::CellOp, &wgpu);
    }
}

#[test]
fn gradients_with_tracked_and_detached_state() {
    let Some(wgpu) = wgpu() else { return };
    let wgpu = wgpu.autodiff();
    for shape in SHAPES {
        for initial in [InitialState::Tracked, InitialState::Detached] {
            compare(shape, 1, initial, Implementation::CellOp, &wgpu);
        }
    }
}

#[test]
fn gradients_with_gradient_checkpointing() {
    let Some(wgpu) = wgpu() else { return };
    let wgpu = wgpu.autodiff().gradient_checkpointing();
    compare(
        SHAPES[1],
        1,
        InitialState::Tracked,
        Implementation::CellOp,
        &wgpu,
    );
}

#[test]
fn gradients_through_two_stacked_layers() {
    let Some(wgpu) = wgpu() else { return };
    let wgpu = wgpu.autodiff();
    compare(
        [4, 2, 3, 5],
        2,
        InitialState::Tracked,
        Implementation::CellOp,
        &wgpu,
    );
    compare(
        [4, 2, 3, 5],
        2,
        InitialState::Zero,
        Implementation::CellOp,
        &wgpu,
    );
}

#[test]
fn accepts_inputs_on_wgpu_only() {
    let Some(wgpu) = wgpu() else { return };
    let input = Tensor::<3>::zeros([1, 1, 1], &wgpu);
    assert!(crate::gpu_lstm::accepts(&input));
    assert!(!crate::gpu_lstm::accepts(&Tensor::<3>::zeros(
        [1, 1, 1],
        &flex()
    )));
}

#[test]
fn agrees_with_ndarray() {
    let Some(wgpu) = wgpu() else { return };
    let (wgpu, ndarray) = (wgpu.autodiff(), ndarray().autodiff());
    let shape = [3, 2, 3, 4];
    for initial in [InitialState::Tracked, InitialState::Detached] {
        let on_wgpu = Setup::new(shape, 2, initial, &wgpu).run(Implementation::CellOp);
        let on_ndarray = Setup::new(shape, 2, initial, &ndarray).run(Implementation::Reference);
        assert_agree(on_wgpu, on_ndarray, initial);
    }
}
