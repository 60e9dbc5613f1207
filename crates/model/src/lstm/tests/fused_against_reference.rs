use super::support::*;
use super::*;

/// [seq_len, batch, input_size, hidden_size]
const SHAPES: [[usize; 4]; 6] = [
    [1, 1, 1, 1],
    [1, 3, 2, 4],
    [5, 1, 3, 2],
    [7, 3, 5, 4],
    [7, 3, 4, 6],
    [3, 2, 8, 8],
];

fn check_device(device: &Device) {
    for shape in SHAPES {
        for initial in [
            InitialState::Tracked,
            InitialState::Detached,
            InitialState::Zero,
        ] {
            compare(shape, 1, initial, Implementation::Fused, device);
        }
    }
}

#[test]
fn on_flex() {
    check_device(&flex());
}

#[test]
fn on_ndarray() {
    check_device(&ndarray());
}

#[test]
fn on_flex_with_autodiff() {
    check_device(&flex().autodiff());
}

#[test]
fn on_ndarray_with_autodiff() {
    check_device(&ndarray().autodiff());
}

#[test]
fn with_gradient_checkpointing() {
    check_device(&flex().autodiff().gradient_checkpointing());
    check_device(&ndarray().autodiff().gradient_checkpointing());
}

#[test]
fn the_cpu_backends_take_the_fused_path_and_wgpu_the_cell_op() {
    for device in [flex(), ndarray(), flex().autodiff(), ndarray().autodiff()] {
        assert!(crate::fused_lstm::supports(&device), "{device:?}");
        assert!(!crate::gpu_lstm::supports(&device), "{device:?}");
    }
    let wgpu = Device::wgpu(DeviceKind::DefaultDevice);
    for device in [wgpu.clone(), wgpu.autodiff()] {
        assert!(!crate::fused_lstm::supports(&device), "{device:?}");
        assert!(crate::gpu_lstm::supports(&device), "{device:?}");
    }
}
