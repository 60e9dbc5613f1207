//! What the PyTorch golden tests share: the fixtures' flat tensors, turning them into Burn
//! tensors and back, the tolerance, and the wgpu device where one works.

use std::collections::HashMap;

use burn::prelude::*;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Largest difference allowed between charlstm and PyTorch (float32 against float64).
pub const TOLERANCE: f64 = 1e-5;

/// A tensor as the fixtures store it: its shape and its values, row-major.
#[derive(Clone, Deserialize)]
pub struct Flat {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// The fixture file `name` in `tests/fixtures/` (written by `scripts/golden.sh`).
pub fn load_fixtures<T: DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `flat` as an f32 tensor on `device`.
pub fn tensor<const D: usize>(flat: &Flat, device: &Device) -> Tensor<D> {
    let values: Vec<f32> = flat.values.iter().map(|&v| v as f32).collect();
    let shape: [usize; D] = flat.shape.clone().try_into().expect("rank");
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The values of `tensor`, widened for comparison with the fixtures.
pub fn read<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    let values: Vec<f32> = tensor.try_into_vec_as().unwrap();
    values.into_iter().map(f64::from).collect()
}

/// Checks that `got` holds exactly the results named in `expected`, each within
/// [`TOLERANCE`] (relative above 1) of PyTorch's; `context` names the case and the run.
pub fn assert_matches_pytorch(
    got: &HashMap<String, Vec<f64>>,
    expected: &[(&str, &Flat)],
    context: &str,
) {
    assert_eq!(
        got.len(),
        expected.len(),
        "{context}: every result is checked"
    );
    for (name, golden) in expected {
        let ours = &got[*name];
        assert_eq!(ours.len(), golden.values.len(), "{context}: {name}");
        for (i, (o, g)) in ours.iter().zip(&golden.values).enumerate() {
            assert!(
                (o - g).abs() <= TOLERANCE * g.abs().max(1.0),
                "{context}: {name}[{i}] = {o}, PyTorch {g}"
            );
        }
    }
}

/// The wgpu device where one works (see [`charlstm_model::testing::wgpu_or_skip`]).
// The train crate's golden tests include this module and need no wgpu device.
#[allow(unused_imports)]
pub use charlstm_model::testing::wgpu_or_skip as wgpu;
