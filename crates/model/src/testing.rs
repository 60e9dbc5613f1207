//! Support for tests of this crate and the crates built on it.

use burn::prelude::*;

/// The wgpu device, checked with one tiny computation (wgpu reports a missing adapter by
/// panicking on first use); `None`, for the caller to skip its wgpu part, if this machine has
/// no usable adapter.
///
/// # Panics
///
/// If wgpu is unusable while the environment variable `CHARLSTM_REQUIRE_WGPU` is set (CI),
/// where a skipped wgpu test would hide a failure.
pub fn wgpu_or_skip() -> Option<Device> {
    let device = Device::wgpu(DeviceKind::DefaultDevice);
    let probe = device.clone();
    let works = std::panic::catch_unwind(move || {
        Tensor::<1>::from_floats([1.0, 2.0], &probe)
            .sum()
            .try_into_scalar::<f32>()
            .is_ok_and(|sum| sum == 3.0)
    })
    .unwrap_or(false);
    match works {
        true => Some(device),
        false if std::env::var_os("CHARLSTM_REQUIRE_WGPU").is_some() => {
            panic!("CHARLSTM_REQUIRE_WGPU is set but wgpu is unusable")
        }
        false => {
            eprintln!("skipping the wgpu part: no usable wgpu adapter");
            None
        }
    }
}

/// Held by the tests of a test binary that seed a CPU device's generator and need its draws
/// to be theirs alone: the CPU backends keep one generator per process, and tests run on
/// threads side by side, so a test drawing in between would change another's numbers.
pub fn generator_lock() -> std::sync::MutexGuard<'static, ()> {
    static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
