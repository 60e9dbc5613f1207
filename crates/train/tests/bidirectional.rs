//! Bidirectional models end to end: both directions learn, blanks are filled from both sides,
//! and the backends agree on both stacks (exact resume: crates/charlstm/tests/interruptions.rs).

use std::path::Path;

use burn::prelude::*;
use charlstm_model::{CharModel, Direction, FillChoice};
use charlstm_train::fill::{FillTest, fill_accuracy, fill_text};
use charlstm_train::{BackendKind, Checkpoint, RunConfig};

mod common;

use common::*;

/// configs/tiny.toml (the alphabet corpus), bidirectional, with `overrides`.
fn bidirectional_config(overrides: &[&str]) -> RunConfig {
    let mut all = vec!["model.bidirectional=true"];
    all.extend(overrides);
    tiny_config(&all)
}

fn run(run_dir: &Path, config: &RunConfig, resume: bool) -> Losses {
    // The backend's random numbers (initialisation, dropout) are one stream per process:
    // runs one at a time keep each run's draws its own, so every test trains the same model
    // each time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    train_run(run_dir, config, resume).1
}

#[test]
fn both_directions_learn_and_fill_blanks_better_together() {
    let dir = tempfile::tempdir().unwrap();
    let config = bidirectional_config(&["train.max_steps=150"]);
    let losses = run(dir.path(), &config, false);
    let (forward, backward) = *losses.validations.last().unwrap();
    let backward = backward.expect("a bidirectional run reports the backward loss");
    assert!(forward < 0.1 && backward < 0.1, "{forward} / {backward}");
    assert!(losses.steps.iter().all(|(_, b)| b.is_some()));

    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let device = BackendKind::Ndarray.device().unwrap();
    let model = checkpoint.load_model(&device).unwrap().valid();
    let tokenizer = &checkpoint.tokenizer;
    let filled = fill_text(
        &model,
        tokenizer,
        "abcdef_hijkl__opqrstuvwxy_\na_c",
        '_',
        FillChoice::Combined,
        &device,
    )
    .unwrap();
    assert_eq!(filled, "abcdefghijklmnopqrstuvwxyz\nabc");

    // A blank at the very start has nothing before it: only the backward stack can know it
    // (from a whole cycle after it: the model learnt from long streams with carried state).
    let alphabet = "abcdefghijklmnopqrstuvwxyz";
    let blank_first = format!("_{}", &alphabet[1..]);
    let first = |choice| fill_text(&model, tokenizer, &blank_first, '_', choice, &device).unwrap();
    assert_eq!(first(FillChoice::Backward), alphabet);
    assert_eq!(first(FillChoice::Combined), alphabet);

    let vocab = tokenizer.characters().unwrap();
    let text = "abcdefghijklmnopqrstuvwxyz\n".repeat(20);
    let tokens = vocab.encode(&text).unwrap();
    let test = FillTest {
        windows: 30,
        window_len: 40,
        blank_rate: 0.2,
        seed: 4,
    };
    let accuracy = fill_accuracy(&model, tokenizer, (&tokens).into(), test, &device).unwrap();
    assert!(accuracy.blanks >= 30, "{accuracy:?}");
    assert!(accuracy.combined >= 0.95, "{accuracy:?}");
    assert!(
        accuracy.combined >= accuracy.forward.max(accuracy.backward),
        "{accuracy:?}"
    );
}

fn both_directions_logits(model: &CharModel, ids: &[i64], device: &Device) -> Vec<f32> {
    let tokens =
        || Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device);
    let mut values: Vec<f32> = model.forward(tokens(), None).0.try_into_vec_as().unwrap();
    let backward: Vec<f32> = model
        .forward_in(Direction::Backward, tokens(), None)
        .0
        .try_into_vec_as()
        .unwrap();
    values.extend(backward);
    values
}

/// A tiny bidirectional model of every cell, trained on ndarray, computes the same logits in
/// both directions from its checkpoint on `other`.
fn assert_backends_agree(other: &Device) {
    for cell in ["lstm", "gru", "rnn"] {
        assert_backends_agree_for(cell, other);
    }
}

fn assert_backends_agree_for(cell: &str, other: &Device) {
    let dir = tempfile::tempdir().unwrap();
    let cell = format!("model.cell={cell}");
    let config = bidirectional_config(&[
        "train.max_steps=10",
        "model.num_layers=2",
        "model.residual=true",
        "model.shared_head=false",
        &cell,
    ]);
    run(dir.path(), &config, false);
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let cpu = BackendKind::Ndarray.device().unwrap();
    let ids: Vec<i64> = (0..20).map(|i| (i * 7 % 27) as i64).collect();
    let on_cpu = both_directions_logits(&checkpoint.load_model(&cpu).unwrap(), &ids, &cpu);
    let on_other = both_directions_logits(&checkpoint.load_model(other).unwrap(), &ids, other);
    assert_logits_agree(&cell, &on_cpu, &on_other);
}

#[test]
fn flex_agrees_with_ndarray_on_both_stacks() {
    assert_backends_agree(&BackendKind::Flex.device().unwrap());
}

#[test]
fn wgpu_agrees_with_ndarray_on_both_stacks() {
    if let Some(device) = wgpu_device() {
        assert_backends_agree(&device);
    }
}
