//! Bidirectional models end to end: both directions learn, blanks are filled from both sides,
//! and the backends agree on both stacks (exact resume: crates/charlstm/tests/interruptions.rs).

use std::path::Path;

use burn::prelude::*;
use charlstm_data::CorpusLocator;
use charlstm_model::{CharModel, Direction, FillChoice};
use charlstm_train::fill::{FillTest, fill_accuracy, fill_text};
use charlstm_train::{
    BackendKind, Checkpoint, RunConfig, TrainEvent, TrainObserver, TrainOptions, train,
};

/// Per-direction losses as the loop reports them.
#[derive(Default)]
struct Losses {
    steps: Vec<(f32, Option<f32>)>,
    validations: Vec<(f32, Option<f32>)>,
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

/// configs/tiny.toml (the alphabet corpus), bidirectional, with `overrides`.
fn bidirectional_config(overrides: &[&str]) -> RunConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/tiny.toml");
    let mut all = vec!["model.bidirectional=true".to_string()];
    all.extend(overrides.iter().map(|s| s.to_string()));
    RunConfig::load(Some(&path), &all).unwrap()
}

fn run(run_dir: &Path, config: &RunConfig, resume: bool) -> Losses {
    // The backend's random numbers (initialisation, dropout) are one stream per process:
    // runs one at a time keep each run's draws its own, so every test trains the same model
    // each time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut losses = Losses::default();
    train(
        config,
        TrainOptions {
            run_dir: run_dir.to_path_buf(),
            resume,
            locator: CorpusLocator::default(),
            observer: &mut losses,
            stop: None,
        },
    )
    .unwrap();
    losses
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
    assert_eq!(on_cpu.len(), on_other.len());
    for (a, b) in on_cpu.iter().zip(&on_other) {
        assert!(
            (a - b).abs() <= 1e-4,
            "{cell}: ndarray {a} vs other backend {b}"
        );
    }
}

#[test]
fn flex_agrees_with_ndarray_on_both_stacks() {
    assert_backends_agree(&BackendKind::Flex.device().unwrap());
}

#[test]
fn wgpu_agrees_with_ndarray_on_both_stacks() {
    match BackendKind::Wgpu.device() {
        Ok(device) => assert_backends_agree(&device),
        Err(e) if std::env::var_os("CHARLSTM_REQUIRE_WGPU").is_some() => {
            panic!("CHARLSTM_REQUIRE_WGPU is set but wgpu is unusable: {e}")
        }
        Err(e) => eprintln!("skipping: {e}"),
    }
}
