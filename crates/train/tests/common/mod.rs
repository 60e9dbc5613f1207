//! What the training library's end-to-end tests share: the tiny config, a training run that
//! records its losses, the devices, and a model's logits.

// Each test binary uses some of these.
#![allow(dead_code)]

use std::path::Path;

use burn::prelude::*;
use charlstm_data::CorpusLocator;
use charlstm_model::CharModel;
use charlstm_train::{
    BackendKind, RunConfig, TrainEvent, TrainObserver, TrainOptions, TrainSummary, train,
};

/// The losses the loop reports, forward and (bidirectional models) backward.
#[derive(Default)]
pub struct Losses {
    /// `(train_loss, backward_train_loss)` of every logged step.
    pub steps: Vec<(f32, Option<f32>)>,
    /// `(loss, backward_loss)` of every validation.
    pub validations: Vec<(f32, Option<f32>)>,
}

impl TrainObserver for Losses {
    fn on_event(&mut self, event: &TrainEvent<'_>) {
        match *event {
            TrainEvent::Step {
                train_loss,
                backward_train_loss,
                ..
            } => self.steps.push((train_loss, backward_train_loss)),
            TrainEvent::Validation {
                loss,
                backward_loss,
                ..
            } => self.validations.push((loss, backward_loss)),
            _ => {}
        }
    }
}

/// `configs/tiny.toml` (the alphabet corpus) with `overrides`.
pub fn tiny_config(overrides: &[&str]) -> RunConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/tiny.toml");
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    RunConfig::load(Some(&path), &overrides).unwrap()
}

/// Trains `config` into `run_dir` (resuming it if `resume`), never downloading.
pub fn train_run(run_dir: &Path, config: &RunConfig, resume: bool) -> (TrainSummary, Losses) {
    let mut losses = Losses::default();
    let summary = train(
        config,
        TrainOptions {
            run_dir: run_dir.to_path_buf(),
            resume,
            init_from: None,
            locator: CorpusLocator::default(),
            observer: &mut losses,
            stop: None,
        },
    )
    .unwrap();
    (summary, losses)
}

/// A new training run of `config` into `run_dir`.
pub fn train_tiny(run_dir: &Path, config: &RunConfig) -> (TrainSummary, Losses) {
    train_run(run_dir, config, false)
}

/// Whether a wgpu adapter is usable here. CI installs Mesa's software Vulkan driver and sets
/// CHARLSTM_REQUIRE_WGPU=1, so there a missing adapter fails the test instead of skipping it.
pub fn wgpu_device() -> Option<Device> {
    match BackendKind::Wgpu.device() {
        Ok(device) => Some(device),
        Err(e) if std::env::var_os("CHARLSTM_REQUIRE_WGPU").is_some() => {
            panic!("CHARLSTM_REQUIRE_WGPU is set but wgpu is unusable: {e}")
        }
        Err(e) => {
            eprintln!("skipping the wgpu part: {e}");
            None
        }
    }
}

pub fn ndarray() -> Device {
    BackendKind::Ndarray.device().unwrap()
}

/// The model's logits for one sequence of token ids, `[len, V]` flattened.
pub fn logits(model: &CharModel, ids: &[i64], device: &Device) -> Vec<f32> {
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device);
    model.forward(tokens, None).0.try_into_vec_as().unwrap()
}

/// Asserts that logits computed on ndarray and on another backend agree within 1e-4.
pub fn assert_logits_agree(context: &str, on_cpu: &[f32], on_other: &[f32]) {
    assert_eq!(on_cpu.len(), on_other.len(), "{context}");
    for (a, b) in on_cpu.iter().zip(on_other) {
        assert!(
            (a - b).abs() <= 1e-4,
            "{context}: ndarray {a} vs other backend {b}"
        );
    }
}

/// Asserts that the error message `err` names `expected`, in one line.
pub fn assert_one_line(err: &str, expected: &str) {
    assert!(err.contains(expected), "expected '{expected}' in: {err}");
    assert!(!err.contains('\n'), "one line: {err}");
}
