//! End-to-end behaviour of the training library with tiny models: it learns, it samples
//! reproducibly, its checkpoints load exactly, and backends agree.

use std::path::Path;

use burn::prelude::*;
use charlstm_data::{CorpusLocator, Tokenizer, Vocabulary};
use charlstm_model::{CharModel, RecurrentLayer, SamplingOptions};
use charlstm_train::checkpoint::{self, CheckpointContents, FORMAT_VERSION};
use charlstm_train::generate::{GenerateOptions, generate, generate_many};
use charlstm_train::{
    BackendKind, Checkpoint, Progress, RunConfig, TrainEvent, TrainObserver, TrainOptions, train,
};

/// Collects the training losses the loop reports.
#[derive(Default)]
struct Recorder {
    train_losses: Vec<f32>,
    validation_losses: Vec<f32>,
}

impl TrainObserver for Recorder {
    fn on_event(&mut self, event: &TrainEvent<'_>) {
        match event {
            TrainEvent::Step { train_loss, .. } => self.train_losses.push(*train_loss),
            TrainEvent::Validation { loss, .. } => self.validation_losses.push(*loss),
            _ => {}
        }
    }
}

fn tiny_config(overrides: &[&str]) -> RunConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/tiny.toml");
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    RunConfig::load(Some(&path), &overrides).unwrap()
}

fn offline() -> CorpusLocator {
    CorpusLocator::default()
}

fn train_tiny(run_dir: &Path, config: &RunConfig) -> (charlstm_train::TrainSummary, Recorder) {
    let mut recorder = Recorder::default();
    let summary = train(
        config,
        TrainOptions {
            run_dir: run_dir.to_path_buf(),
            resume: false,
            locator: offline(),
            observer: &mut recorder,
            stop: None,
        },
    )
    .unwrap();
    (summary, recorder)
}

/// Whether a wgpu adapter is usable here. CI installs Mesa's software Vulkan driver and sets
/// CHARLSTM_REQUIRE_WGPU=1, so there a missing adapter fails the test instead of skipping it.
fn wgpu_device() -> Option<Device> {
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

fn ndarray() -> Device {
    BackendKind::Ndarray.device().unwrap()
}

fn logits(model: &CharModel, ids: &[i64], device: &Device) -> Vec<f32> {
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device);
    model.forward(tokens, None).0.try_into_vec_as().unwrap()
}

#[test]
fn sampling_is_deterministic_under_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(&["data.corpus=brackets", "train.max_steps=20"]);
    train_tiny(dir.path(), &config);
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let device = ndarray();
    let model = checkpoint.load_model(&device).unwrap();
    let sample = |seed| {
        let options = GenerateOptions {
            prime: "(".into(),
            length: 200,
            sampling: SamplingOptions::default(),
            seed,
        };
        generate(&model, &checkpoint.tokenizer, &options, &device, |_| true).unwrap()
    };
    let first = sample(11);
    assert_eq!(first.chars().count(), 200);
    assert_eq!(first, sample(11));
    assert_ne!(first, sample(12), "another seed gives another sample");
}

/// `generate_many` gives sample k exactly the text `generate` gives with seed + k, on both CPU
/// backends, for each cell, and its samples differ from one another.
#[test]
fn many_samples_at_once_are_the_samples_of_consecutive_seeds() {
    for cell in ["lstm", "gru"] {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config(&[
            "data.corpus=brackets",
            "train.max_steps=20",
            &format!("model.cell={cell}"),
            "model.num_layers=2",
        ]);
        train_tiny(dir.path(), &config);
        let checkpoint = Checkpoint::open(dir.path()).unwrap();
        for device in [ndarray(), Device::flex()] {
            let model = checkpoint.load_model(&device).unwrap().valid();
            let options = |seed| GenerateOptions {
                prime: "((".into(),
                length: 120,
                sampling: SamplingOptions::default(),
                seed,
            };
            let many =
                generate_many(&model, &checkpoint.tokenizer, &options(40), 5, &device).unwrap();
            assert_eq!(many.len(), 5);
            for (k, text) in many.iter().enumerate() {
                let alone = generate(
                    &model,
                    &checkpoint.tokenizer,
                    &options(40 + k as u64),
                    &device,
                    |_| true,
                )
                .unwrap();
                assert_eq!(text, &alone, "{cell}, sample {k}");
            }
            assert_ne!(many[0], many[1], "independent samples differ");
        }
        // On wgpu the samples step as one batch of the model's own operations: as many texts,
        // each as long as asked, the same again under the same seed.
        if cell == "lstm"
            && let Some(device) = wgpu_device()
        {
            let model = checkpoint.load_model(&device).unwrap().valid();
            let options = GenerateOptions {
                prime: "(".into(),
                length: 12,
                sampling: SamplingOptions::default(),
                seed: 9,
            };
            let many = || generate_many(&model, &checkpoint.tokenizer, &options, 3, &device);
            let first = many().unwrap();
            assert_eq!(first.len(), 3);
            assert!(
                first.iter().all(|text| text.chars().count() == 12),
                "{first:?}"
            );
            assert_eq!(first, many().unwrap());
        }
    }
}

#[test]
fn zero_samples_at_once_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    train_tiny(dir.path(), &tiny_config(&["train.max_steps=2"]));
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let device = ndarray();
    let model = checkpoint.load_model(&device).unwrap();
    let options = GenerateOptions {
        prime: "a".into(),
        length: 5,
        sampling: SamplingOptions::default(),
        seed: 1,
    };
    let err = generate_many(&model, &checkpoint.tokenizer, &options, 0, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--num-samples 0 is invalid"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn a_saved_checkpoint_loads_to_identical_logits() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(&["model.num_layers=2"]);
    let vocab = Vocabulary::from_text("hello, wörld!\n");
    let tokenizer = Tokenizer::Characters(vocab.clone());
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
            optimizer: None,
            state: None,
            progress,
        },
    )
    .unwrap()
}

#[test]
fn a_checkpoint_from_before_lstms_had_a_recurrent_bias_loads_to_identical_logits() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(&["model.num_layers=2"]);
    let vocab = Vocabulary::from_text("hello, wörld!\n");
    let tokenizer = Tokenizer::Characters(vocab.clone());
    let device = ndarray();
    device.seed(6);
    // What older versions saved: one bias per LSTM layer, the whole gate bias.
    let model = config
        .model
        .init(vocab.len(), &device)
        .without_lstm_recurrent_biases();
    let path = save_best(
        dir.path(),
        &config,
        &tokenizer,
        &model,
        &Progress::start("ndarray"),
    );

    let reloaded = Checkpoint::open(&path)
        .unwrap()
        .load_model(&device)
        .unwrap();
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
    let path = save_best(
        dir.path(),
        &config,
        &tokenizer,
        &current,
        &Progress::start("ndarray"),
    );
    let reloaded = Checkpoint::open(&path)
        .unwrap()
        .load_model(&device)
        .unwrap();
    let RecurrentLayer::Lstm(lstm) = &reloaded.layers[0] else {
        panic!("an LSTM config")
    };
    assert!(lstm.recurrent_bias.is_some());
    assert_eq!(
        logits(&current, &ids, &device),
        logits(&reloaded, &ids, &device)
    );
}

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
    assert_eq!(on_cpu.len(), on_other.len());
    for (a, b) in on_cpu.iter().zip(&on_other) {
        assert!(
            (a - b).abs() <= 1e-4,
            "{cell}: ndarray {a} vs other backend {b}"
        );
    }

    // The same checkpoint samples on both; sampling draws on the CPU from the logits, so with
    // logits this close the texts agree.
    let options = GenerateOptions {
        prime: "a".into(),
        length: 40,
        sampling: SamplingOptions::default(),
        seed: 9,
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
fn an_existing_run_is_not_overwritten_without_resume() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(&["train.max_steps=5", "train.eval_interval=5"]);
    train_tiny(dir.path(), &config);
    let mut recorder = Recorder::default();
    let err = train(
        &config,
        TrainOptions {
            run_dir: dir.path().to_path_buf(),
            resume: false,
            locator: offline(),
            observer: &mut recorder,
            stop: None,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
}

/// A tiny model of every cell learns the alphabet almost perfectly (27 equally likely
/// characters cost ln 27 ≈ 3.3 nats; a model that knows the alphabet pays almost nothing) and
/// continues it when sampled. It learnt from long streams with carried state, so it reads one
/// full cycle first; a low temperature makes the draw all but greedy.
#[test]
fn tiny_models_of_every_cell_learn_a_repetitive_corpus_almost_perfectly() {
    for cell in ["lstm", "gru", "rnn"] {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config(&[
            &format!("model.cell={cell}"),
            "train.max_steps=150",
            "train.log_interval=10",
        ]);
        let (summary, recorder) = train_tiny(dir.path(), &config);
        assert_eq!(summary.steps, 150);
        let first = recorder.train_losses[0];
        let last = *recorder.train_losses.last().unwrap();
        assert!(first > 2.0, "{cell}: first reported loss {first}");
        assert!(last < 0.05, "{cell}: final training loss {last}");
        let validation = summary.final_validation_loss.unwrap();
        assert!(validation < 0.05, "{cell}: validation loss {validation}");

        let checkpoint = Checkpoint::open(dir.path()).unwrap();
        assert_eq!(checkpoint.config.model.cell.name(), cell);
        let device = ndarray();
        let model = checkpoint.load_model(&device).unwrap();
        let options = GenerateOptions {
            prime: "abcdefghijklmnopqrstuvwxyz\nabc".into(),
            length: 30,
            sampling: SamplingOptions {
                temperature: 0.1,
                ..Default::default()
            },
            seed: 3,
        };
        let text = generate(&model, &checkpoint.tokenizer, &options, &device, |_| true).unwrap();
        assert_eq!(text, "defghijklmnopqrstuvwxyz\nabcdef", "{cell}");
    }
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
