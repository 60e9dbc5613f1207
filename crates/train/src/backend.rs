//! Choosing where tensors live at run time: one binary, any backend compiled in.

use std::fmt;
use std::sync::OnceLock;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// A backend the user can ask for by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Burn's ndarray CPU backend (multi-threaded, SIMD).
    Ndarray,
    /// Burn's pure-Rust Flex CPU backend.
    Flex,
    /// Burn's wgpu backend: the default GPU through Vulkan, Metal or DirectX.
    Wgpu,
}

impl BackendKind {
    /// Every backend, in the order help texts list them.
    pub const ALL: [BackendKind; 3] = [Self::Ndarray, Self::Flex, Self::Wgpu];

    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ndarray => "ndarray",
            Self::Flex => "flex",
            Self::Wgpu => "wgpu",
        }
    }

    /// The backend called `name`.
    pub fn from_name(name: &str) -> Result<Self, TrainError> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| {
                TrainError::Config(format!(
                    "unknown backend '{name}' (choose one of: ndarray, flex, wgpu)"
                ))
            })
    }

    /// An inference device of this backend, checked to work: for wgpu this finds an adapter
    /// and runs one tiny computation on it.
    pub fn device(self) -> Result<Device, TrainError> {
        match self {
            #[allow(deprecated)] // our users asked to keep ndarray
            Self::Ndarray => Ok(Device::ndarray()),
            Self::Flex => Ok(Device::flex()),
            Self::Wgpu => probe_wgpu(),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the wgpu probe found; it runs once per process (a wgpu device is set up once).
static WGPU_PROBE: OnceLock<Result<(), String>> = OnceLock::new();

/// The wgpu device, once it has proven it can train: an adapter exists, it is not an OpenGL one
/// (those lack the float atomics Burn's reductions use, and fail mid-step), and it adds up
/// correctly.
fn probe_wgpu() -> Result<Device, TrainError> {
    WGPU_PROBE
        .get_or_init(|| check_adapter().and_then(|()| check_arithmetic()))
        .clone()
        .map_err(TrainError::Backend)?;
    Ok(Device::wgpu(DeviceKind::DefaultDevice))
}

/// Sets the default wgpu device up and refuses adapters training cannot run on.
fn check_adapter() -> Result<(), String> {
    use burn::backend::wgpu::graphics::AutoGraphicsApi;
    use burn::backend::wgpu::{RuntimeOptions, WgpuDevice, try_init_setup, wgpu};
    let setup =
        try_init_setup::<AutoGraphicsApi>(&WgpuDevice::default(), RuntimeOptions::default())
            .map_err(|e| message_or_default(Some(e.to_string())))?;
    let info = setup.adapter.get_info();
    if info.backend == wgpu::Backend::Gl {
        return Err(format!(
            "the only wgpu adapter is an OpenGL one ({}), which lacks the float atomics training needs; install Vulkan drivers (e.g. mesa-vulkan-drivers), or use --backend ndarray",
            info.name
        ));
    }
    Ok(())
}

/// wgpu reports some failures by panicking on first use, so the first use happens here, with
/// the panic caught and its message kept off the terminal.
fn check_arithmetic() -> Result<(), String> {
    let device = Device::wgpu(DeviceKind::DefaultDevice);
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(move || {
        let x = Tensor::<1>::from_floats([1.0, 2.0], &device);
        x.sum().try_into_scalar::<f32>().map_err(|e| e.to_string())
    });
    std::panic::set_hook(previous_hook);
    match outcome {
        Ok(Ok(3.0)) => Ok(()),
        Ok(Ok(sum)) => Err(format!(
            "the wgpu device computed 1 + 2 = {sum} (its driver is broken; use --backend ndarray)"
        )),
        Ok(Err(message)) => Err(message_or_default(Some(message))),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(message_or_default(message))
        }
    }
}

fn message_or_default(detail: Option<String>) -> String {
    let detail = detail
        .map(|d| d.lines().next().unwrap_or_default().to_string())
        .filter(|d| !d.is_empty())
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    format!(
        "no usable wgpu adapter found{detail}; install GPU or Vulkan drivers (e.g. mesa-vulkan-drivers), or use --backend ndarray"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for backend in BackendKind::ALL {
            assert_eq!(BackendKind::from_name(backend.name()).unwrap(), backend);
        }
        let err = BackendKind::from_name("cuda").unwrap_err().to_string();
        assert!(err.contains("ndarray, flex, wgpu"), "{err}");
    }
}
