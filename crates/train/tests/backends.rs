//! A checkpoint trained on ndarray computes the same logits and samples the same text on flex
//! and wgpu, for every cell.

use burn::prelude::*;
use charlstm_model::SamplingOptions;
use charlstm_train::generate::{GenerateOptions, generate};
use charlstm_train::{BackendKind, Checkpoint};

mod common;

use common::*;

/// Trains a tiny model on ndarray, then checks that `other` computes the same logits from its
/// checkpoint (within 1e-4) and samples the same text from it.
fn assert_agrees_with_ndarray(other: &Device) {
    assert_cell_agrees_with_ndarray("lstm", other);
}

/// [`assert_agrees_with_ndarray`] for a model of `cell`.
fn assert_cell_agrees_with_ndarray(cell: &str, other: &Device) {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(&[
        "train.max_steps=10",
        "train.eval_interval=10",
        "model.num_layers=2",
        &format!("model.cell={cell}"),
    ]);
    train_tiny(dir.path(), &config);
    let checkpoint = Checkpoint::open(dir.path()).unwrap();

    let cpu = ndarray();
    let ids: Vec<i64> = (0..20).map(|i| (i * 7 % 27) as i64).collect();
    let on_cpu = logits(&checkpoint.load_model(&cpu).unwrap(), &ids, &cpu);
    let on_other = logits(&checkpoint.load_model(other).unwrap(), &ids, other);
    assert_logits_agree(cell, &on_cpu, &on_other);

    // The same checkpoint samples on both; sampling draws on the CPU from the logits, so with
    // logits this close the texts agree.
    let options = GenerateOptions {
        prime: "a".into(),
        length: 40,
        sampling: SamplingOptions::default(),
        seed: 9,
        stop: Default::default(),
    };
    let sample = |device: &Device| {
        let model = checkpoint.load_model(device).unwrap();
        generate(&model, &checkpoint.tokenizer, &options, device, |_| true).unwrap()
    };
    let text_cpu = sample(&cpu);
    assert_eq!(text_cpu.chars().count(), 40);
    assert_eq!(text_cpu, sample(other), "{cell}");
}

#[test]
fn ndarray_and_wgpu_agree_and_checkpoints_cross_backends() {
    let Some(wgpu) = wgpu_device() else { return };
    assert_agrees_with_ndarray(&wgpu);
}

#[test]
fn ndarray_and_flex_agree_and_checkpoints_cross_backends() {
    assert_agrees_with_ndarray(&BackendKind::Flex.device().unwrap());
}

#[test]
fn gru_and_rnn_agree_on_ndarray_and_flex() {
    let flex = BackendKind::Flex.device().unwrap();
    for cell in ["gru", "rnn"] {
        assert_cell_agrees_with_ndarray(cell, &flex);
    }
}

#[test]
fn gru_and_rnn_agree_on_ndarray_and_wgpu() {
    let Some(wgpu) = wgpu_device() else { return };
    for cell in ["gru", "rnn"] {
        assert_cell_agrees_with_ndarray(cell, &wgpu);
    }
}
