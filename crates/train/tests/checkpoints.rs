//! Checkpoints load exactly: the same logits (and state) as the model that was saved, for
//! every cell and for checkpoints of older formats; a checkpoint whose config does not
//! describe its weights is never written.

use std::path::Path;

use burn::prelude::*;
use charlstm_data::{Tokenizer, Vocabulary};
use charlstm_model::{CharModel, RecurrentLayer};
use charlstm_train::checkpoint::{self, CheckpointContents};
use charlstm_train::progress::FORMAT_VERSION;
use charlstm_train::{Checkpoint, Progress, RunConfig};

mod common;

use common::*;

/// A temporary directory, a two-layer tiny config, and a small vocabulary as its tokenizer.
fn two_layers_and_a_vocabulary() -> (tempfile::TempDir, RunConfig, Vocabulary, Tokenizer) {
    let vocab = Vocabulary::from_text("hello, wörld!\n");
    let tokenizer = Tokenizer::Characters(vocab.clone());
    let config = tiny_config(&["model.num_layers=2"]);
    (tempfile::tempdir().unwrap(), config, vocab, tokenizer)
}

#[test]
fn a_saved_checkpoint_loads_to_identical_logits() {
    let (dir, config, vocab, tokenizer) = two_layers_and_a_vocabulary();
    let device = ndarray().autodiff();
    device.seed(5);
    let model = config.model.init(vocab.len(), &device);
    let progress = Progress {
        step: 3,
        batch_in_epoch: 3,
        train_loss: Some(1.5),
        validation_loss: Some(1.6),
        best_validation_loss: Some(1.6),
        elapsed_seconds: 1.0,
        ..Progress::start("ndarray")
    };
    let path = save_best(dir.path(), &config, &tokenizer, &model, &progress);

    let loaded = Checkpoint::open(&path).unwrap();
    assert_eq!(loaded.config, config);
    assert_eq!(loaded.tokenizer.characters(), Some(&vocab));
    assert_eq!(loaded.progress.format_version, FORMAT_VERSION);
    let mut loaded_progress = loaded.progress.clone();
    assert_eq!(
        loaded_progress.checksums.keys().collect::<Vec<_>>(),
        [
            "config.toml",
            "model.bpk",
            "model.safetensors",
            "tokenizer.json",
            "vocab.json"
        ]
    );
    loaded_progress.checksums.clear();
    assert_eq!(loaded_progress, progress);
    let inference = ndarray();
    let reloaded = loaded.load_model(&inference).unwrap();
    let ids = [0i64, 3, 5, 1, 2, 8, 4];
    assert_eq!(
        logits(&model.valid(), &ids, &inference),
        logits(&reloaded, &ids, &inference)
    );
}

/// Writes `model` as the run's `best` checkpoint, with no optimizer or state.
fn save_best(
    run_dir: &Path,
    config: &RunConfig,
    tokenizer: &Tokenizer,
    model: &CharModel,
    progress: &Progress,
) -> std::path::PathBuf {
    checkpoint::save(
        run_dir,
        "best",
        &CheckpointContents {
            config,
            tokenizer,
            model,
            training_model: None,
            optimizer: None,
            state: None,
            progress,
        },
    )
    .unwrap()
}

/// `model` saved as the run's `best` checkpoint and loaded back onto its device.
fn saved_and_reloaded(
    run_dir: &Path,
    config: &RunConfig,
    tokenizer: &Tokenizer,
    model: &CharModel,
) -> CharModel {
    let progress = Progress::start("ndarray");
    let path = save_best(run_dir, config, tokenizer, model, &progress);
    let device = model.devices()[0].clone();
    Checkpoint::open(&path)
        .unwrap()
        .load_model(&device)
        .unwrap()
}

#[test]
fn a_checkpoint_from_before_lstms_had_a_recurrent_bias_loads_to_identical_logits() {
    let (dir, config, vocab, tokenizer) = two_layers_and_a_vocabulary();
    let device = ndarray();
    device.seed(6);
    // What older versions saved: one bias per LSTM layer, the whole gate bias.
    let model = config
        .model
        .init(vocab.len(), &device)
        .without_lstm_recurrent_biases();
    let reloaded = saved_and_reloaded(dir.path(), &config, &tokenizer, &model);
    for layer in &reloaded.layers {
        let RecurrentLayer::Lstm(lstm) = layer else {
            panic!("an LSTM config")
        };
        assert!(lstm.recurrent_bias.is_none());
    }
    let ids = [0i64, 3, 5, 1, 2, 8, 4];
    assert_eq!(
        logits(&model, &ids, &device),
        logits(&reloaded, &ids, &device)
    );
    // A current checkpoint keeps both biases.
    let current = config.model.init(vocab.len(), &device);
    let reloaded = saved_and_reloaded(dir.path(), &config, &tokenizer, &current);
    let RecurrentLayer::Lstm(lstm) = &reloaded.layers[0] else {
        panic!("an LSTM config")
    };
    assert!(lstm.recurrent_bias.is_some());
    assert_eq!(
        logits(&current, &ids, &device),
        logits(&reloaded, &ids, &device)
    );
}

/// A GRU or RNN checkpoint, with a carried state, loads to the same logits and the same state.
#[test]
fn gru_and_rnn_checkpoints_load_to_identical_logits_and_state() {
    for cell in ["gru", "rnn"] {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config(&["model.num_layers=2", &format!("model.cell={cell}")]);
        let vocab = Vocabulary::from_text("hello, wörld!\n");
        let tokenizer = Tokenizer::Characters(vocab.clone());
        let device = ndarray().autodiff();
        device.seed(5);
        let model = config.model.init(vocab.len(), &device);
        let (_, state) = model.forward(
            Tensor::from_data(TensorData::new(vec![1i64, 4, 2, 0, 3, 6], [2, 3]), &device),
            None,
        );
        let progress = Progress {
            step: 3,
            batch_in_epoch: 3,
            ..Progress::start("ndarray")
        };
        let path = checkpoint::save(
            dir.path(),
            "latest",
            &CheckpointContents {
                config: &config,
                tokenizer: &tokenizer,
                model: &model,
                training_model: None,
                optimizer: None,
                state: Some(&state),
                progress: &progress,
            },
        )
        .unwrap();

        let loaded = Checkpoint::open(&path).unwrap();
        assert_eq!(loaded.config, config);
        assert_eq!(loaded.progress.state_shape, Some([2, 2, 16]));
        let inference = ndarray();
        let reloaded = loaded.load_model(&inference).unwrap();
        let ids = [0i64, 3, 5, 1, 2, 8, 4];
        assert_eq!(
            logits(&model.valid(), &ids, &inference),
            logits(&reloaded, &ids, &inference),
            "{cell}"
        );
        let restored = loaded.load_state(&inference).unwrap().unwrap();
        assert_eq!(restored.layers.len(), state.layers.len());
        for (a, b) in restored.layers.iter().zip(&state.layers) {
            for (x, y) in [(&a.hidden, &b.hidden), (&a.cell, &b.cell)] {
                let x: Vec<f32> = x.clone().try_into_vec_as().unwrap();
                let y: Vec<f32> = y.clone().try_into_vec_as().unwrap();
                assert_eq!(x, y, "{cell}: the state comes back exactly");
            }
        }
    }
}

/// The config a checkpoint saves is the config of the weights it saves: a mismatch (a bug) is
/// refused before anything is written, for every key that fixes the shape.
#[test]
fn a_checkpoint_whose_config_does_not_describe_its_weights_is_never_written() {
    let config = tiny_config(&["model.num_layers=2"]);
    let vocab = Vocabulary::from_text("hello, wörld!\n");
    let tokenizer = Tokenizer::Characters(vocab.clone());
    let device = ndarray();
    device.seed(5);
    let model = config.model.init(vocab.len(), &device);
    let progress = Progress::start("ndarray");
    for wrong in [
        "model.hidden_size=32",
        "model.num_layers=1",
        "model.embedding_size=4",
        "model.cell=gru",
        "model.bidirectional=true",
        "model.residual=true",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let lying = tiny_config(&["model.num_layers=2", wrong]);
        let err = checkpoint::save(
            dir.path(),
            "latest",
            &CheckpointContents {
                config: &lying,
                tokenizer: &tokenizer,
                model: &model,
                training_model: None,
                optimizer: None,
                state: None,
                progress: &progress,
            },
        )
        .unwrap_err()
        .to_string();
        let key = wrong
            .split_once('=')
            .unwrap()
            .0
            .trim_start_matches("model.");
        assert!(
            err.contains("does not describe its weights") && err.contains(key),
            "{wrong}: {err}"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{wrong}: nothing written"
        );
    }
    // The truthful config is written, and opens with its shape checked against the weights.
    let dir = tempfile::tempdir().unwrap();
    let path = save_best(dir.path(), &config, &tokenizer, &model, &progress);
    assert_eq!(Checkpoint::open(&path).unwrap().config, config);
}
