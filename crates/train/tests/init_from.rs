//! Fine-tuning (`train --init-from`): a model trained on the `alphabet` corpus continues on
//! text with new characters. The old vocabulary's rows stay bit for bit at step 0, the new
//! characters are learnt, the run records where it came from, and what cannot work (another
//! model shape, another tokenizer, no checkpoint) is refused in one line.

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::prelude::*;
use charlstm_data::{CorpusLocator, Tokenizer};
use charlstm_model::{CharModel, SamplingOptions};
use charlstm_train::generate::{GenerateOptions, generate};
use charlstm_train::init_from::{initial_model, tokenizer_choice};
use charlstm_train::score::score_file;
use charlstm_train::setup::seeded_model;
use charlstm_train::{Checkpoint, RunConfig, TrainError, TrainOptions, TrainSummary, train};

mod common;

use common::*;

/// The alphabet's lines, then a line of digits: ten characters the alphabet lacks.
fn write_new_text(dir: &Path) -> PathBuf {
    let path = dir.join("new.txt");
    std::fs::write(
        &path,
        "abcdefghijklmnopqrstuvwxyz\n0123456789\n".repeat(300),
    )
    .unwrap();
    path
}

/// Trains `config` into `run_dir` starting from the checkpoint at `init`, recording the
/// losses (the first validation is the starting point's).
fn fine_tune(
    run_dir: &Path,
    config: &RunConfig,
    init: &Path,
) -> Result<(TrainSummary, Losses), TrainError> {
    let mut losses = Losses::default();
    let summary = train(
        config,
        TrainOptions {
            run_dir: run_dir.to_path_buf(),
            resume: false,
            init_from: Some(init.to_path_buf()),
            locator: CorpusLocator::default(),
            observer: &mut losses,
            stop: None,
        },
    )?;
    Ok((summary, losses))
}

/// The model a fine-tuned run of `config` starts from, and the fresh model whose rows the
/// new tokens take, on `config`'s autodiff device.
fn starting_models(checkpoint: &Checkpoint, config: &RunConfig) -> (CharModel, CharModel) {
    let choice = tokenizer_choice(checkpoint, config).unwrap();
    let prepared = config
        .data
        .prepare(&CorpusLocator::default(), &choice, &mut |_, _, _| {})
        .unwrap();
    let seeded = seeded_model(config, prepared.tokenizer.len()).unwrap();
    let start = initial_model(checkpoint, config, &seeded.model, &seeded.device).unwrap();
    (start, seeded.model)
}

/// A parameter's values, row by row.
fn rows(tensor: Tensor<2>) -> Vec<Vec<f32>> {
    let [rows, columns] = tensor.dims();
    let values: Vec<f32> = tensor.try_into_vec_as().unwrap();
    (0..rows)
        .map(|r| values[r * columns..(r + 1) * columns].to_vec())
        .collect()
}

/// Asserts that `start`'s embedding rows and head columns (and biases) are `old`'s for the
/// first `kept` ids and `fresh`'s after, bit for bit.
fn assert_rows_kept(start: &CharModel, old: &CharModel, fresh: &CharModel, kept: usize) {
    let vocab = fresh.vocab_size();
    assert_eq!(start.vocab_size(), vocab);
    let embedding = |m: &CharModel| rows(m.embedding.weight.val());
    let (grown, before, new) = (embedding(start), embedding(old), embedding(fresh));
    assert_eq!(
        &grown[..kept],
        &before[..],
        "embedding rows of existing ids"
    );
    assert_eq!(&grown[kept..], &new[kept..], "embedding rows of new ids");

    let heads = |m: &CharModel| {
        let mut heads = vec![m.head.clone()];
        heads.extend(m.backward_head.clone());
        heads
    };
    for ((grown, before), new) in heads(start).iter().zip(heads(old)).zip(heads(fresh)) {
        // The head's weight is [hidden, vocab]: a token's column is a row of its transpose.
        let columns = |w: &Param<Tensor<2>>| rows(w.val().transpose());
        let (grown_w, before_w, new_w) = (
            columns(&grown.weight),
            columns(&before.weight),
            columns(&new.weight),
        );
        assert_eq!(
            &grown_w[..kept],
            &before_w[..],
            "head columns of existing ids"
        );
        assert_eq!(&grown_w[kept..], &new_w[kept..], "head columns of new ids");
        let bias = |linear: &burn::nn::Linear| -> Vec<f32> {
            linear
                .bias
                .as_ref()
                .unwrap()
                .val()
                .try_into_vec_as()
                .unwrap()
        };
        let grown_b = bias(grown);
        assert_eq!(
            &grown_b[..kept],
            &bias(&before)[..],
            "head bias of existing ids"
        );
        assert_eq!(
            &grown_b[kept..],
            &bias(&new)[kept..],
            "head bias of new ids"
        );
    }
    // Everything else is the checkpoint's: over old tokens, the old ids' logits are its own.
    let device = &start.devices()[0];
    let ids: Vec<i64> = (0..kept as i64).chain((0..kept as i64).rev()).collect();
    let (grown, before) = (logits(start, &ids, device), logits(old, &ids, device));
    for (position, before) in before.chunks(kept).enumerate() {
        let grown = &grown[position * vocab..position * vocab + kept];
        for (a, b) in grown.iter().zip(before) {
            assert!((a - b).abs() <= 1e-5, "logit {a} against {b}");
        }
    }
}

/// `-log p` in nats of every digit of `path`, summed, under `model`.
fn digit_nats(model: &CharModel, tokenizer: &Tokenizer, path: &Path) -> f64 {
    let mut nats = 0.0;
    score_file(model, tokenizer, path, |scored| {
        if scored.character.is_ascii_digit() {
            nats -= scored.log_prob;
        }
        true
    })
    .unwrap();
    nats
}

#[test]
fn a_fine_tuned_model_keeps_the_old_rows_and_learns_the_new_characters() {
    let dir = tempfile::tempdir().unwrap();
    let base_dir = dir.path().join("alphabet");
    train_tiny(&base_dir, &tiny_config(&["train.max_steps=40"]));
    let base = Checkpoint::open(&base_dir).unwrap();
    let old_vocab = base.tokenizer.characters().unwrap().clone();

    let text = write_new_text(dir.path());
    let corpus = format!("data.corpus={}", text.display());
    let config = tiny_config(&[&corpus, "train.max_steps=60", "train.eval_interval=30"]);
    let (start, fresh) = starting_models(&base, &config);
    let old = base.load_model(&start.devices()[0]).unwrap();
    assert_rows_kept(&start, &old, &fresh, old_vocab.len());

    let tuned_dir = dir.path().join("tuned");
    let (summary, losses) = fine_tune(&tuned_dir, &config, &base_dir).unwrap();
    assert_eq!(summary.steps, 60, "the step count restarts");
    // Validated before the first step (the starting point), then at 30 and 60.
    let validations: Vec<f32> = losses.validations.iter().map(|(loss, _)| *loss).collect();
    assert_eq!(validations.len(), 3, "{validations:?}");
    assert!(validations[2] < 0.5 * validations[0], "{validations:?}");
    let tuned = Checkpoint::open(&tuned_dir).unwrap();
    let vocab = tuned.tokenizer.characters().unwrap();
    assert_eq!(&vocab.chars()[..old_vocab.len()], old_vocab.chars());
    assert_eq!(vocab.len(), old_vocab.len() + 10, "the ten digits");
    let record = tuned.progress.initialized_from.clone().unwrap();
    assert_eq!((record.step, record.added_tokens), (40, 10));
    assert_eq!(record.checkpoint, std::fs::canonicalize(&base.dir).unwrap());

    // The digits went from what fresh rows give to what the model learnt.
    let before = digit_nats(&start.valid(), &tuned.tokenizer, &text);
    let tuned_model = tuned.load_model(&ndarray()).unwrap();
    let after = digit_nats(&tuned_model, &tuned.tokenizer, &text);
    assert!(
        after < 0.5 * before,
        "loss on the new characters {before:.1} → {after:.1} nats"
    );

    // It samples, digits included.
    let options = GenerateOptions {
        prime: "xyz\n".into(),
        length: 200,
        sampling: SamplingOptions::default(),
        seed: 3,
        stop: Default::default(),
    };
    let sample = generate(&tuned_model, &tuned.tokenizer, &options, &ndarray(), |_| {
        true
    })
    .unwrap();
    assert!(sample.chars().any(|c| c.is_ascii_digit()), "{sample}");

    // The fine-tuned run resumes like any other, and keeps its record.
    let longer = tiny_config(&[&corpus, "train.max_steps=70", "train.eval_interval=30"]);
    train_run(&tuned_dir, &longer, true);
    let resumed = Checkpoint::open(&tuned_dir.join("latest")).unwrap();
    assert_eq!(resumed.progress.step, 70);
    assert_eq!(resumed.progress.initialized_from, Some(record));
    assert_eq!(resumed.tokenizer.characters(), Some(vocab));
}

/// Every cell, and a bidirectional model with a backward head of its own: the old rows stay,
/// and a short fine-tuning run trains.
#[test]
fn every_cell_and_a_bidirectional_model_fine_tune() {
    let dir = tempfile::tempdir().unwrap();
    let text = write_new_text(dir.path());
    let corpus = format!("data.corpus={}", text.display());
    let shapes: [&[&str]; 4] = [
        &["model.cell=lstm", "model.num_layers=2"],
        &["model.cell=gru"],
        &["model.cell=rnn"],
        &["model.bidirectional=true", "model.shared_head=false"],
    ];
    for (k, shape) in shapes.iter().enumerate() {
        let base_dir = dir.path().join(format!("base-{k}"));
        let mut base_overrides = vec!["train.max_steps=4"];
        base_overrides.extend_from_slice(shape);
        train_tiny(&base_dir, &tiny_config(&base_overrides));
        let base = Checkpoint::open(&base_dir).unwrap();

        let mut overrides = vec![corpus.as_str(), "train.max_steps=4"];
        overrides.extend_from_slice(shape);
        let config = tiny_config(&overrides);
        let (start, fresh) = starting_models(&base, &config);
        let old = base.load_model(&start.devices()[0]).unwrap();
        assert_rows_kept(&start, &old, &fresh, base.tokenizer.len());

        let (summary, _) = fine_tune(&dir.path().join(format!("tuned-{k}")), &config, &base_dir)
            .unwrap_or_else(|e| panic!("{shape:?}: {e}"));
        assert_eq!(summary.steps, 4, "{shape:?}");
        assert!(summary.final_validation_loss.unwrap().is_finite());
    }
}

#[test]
fn what_cannot_be_fine_tuned_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let base_dir = dir.path().join("base");
    train_tiny(&base_dir, &tiny_config(&["train.max_steps=2"]));
    let text = write_new_text(dir.path());
    let corpus = format!("data.corpus={}", text.display());
    let refusal = |overrides: &[&str], init: &Path| {
        let mut all = vec![corpus.as_str(), "train.max_steps=2"];
        all.extend_from_slice(overrides);
        let out = dir.path().join("refused");
        let err = fine_tune(&out, &tiny_config(&all), init)
            .err()
            .expect("refused")
            .to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(!out.join("latest").exists(), "nothing written: {err}");
        err
    };

    let err = refusal(&["model.hidden_size=32", "model.cell=gru"], &base_dir);
    assert!(
        err.contains("model.hidden_size = 32 in the config, 16 in the checkpoint")
            && err.contains("model.cell = gru"),
        "{err}"
    );
    let err = refusal(&[], &dir.path().join("missing"));
    assert!(err.contains("no such directory"), "{err}");

    // A character model cannot read a tokenizer.json's ids, nor the other way round.
    let tokenizer_json = dir.path().join("tokenizer.json");
    let characters = Tokenizer::Characters(charlstm_data::Vocabulary::from_text(
        "abcdefghijklmnopqrstuvwxyz\n0123456789",
    ));
    std::fs::write(&tokenizer_json, characters.to_tokenizer_json().unwrap()).unwrap();
    let named = format!("data.tokenizer={}", tokenizer_json.display());
    let err = refusal(&[&named], &base_dir);
    assert!(
        err.contains("character model") && err.contains("data.tokenizer"),
        "{err}"
    );

    let json_base = dir.path().join("json-base");
    train_tiny(&json_base, &tiny_config(&[&named, "train.max_steps=2"]));
    let err = refusal(&[], &json_base);
    assert!(err.contains("set data.tokenizer ="), "{err}");
    let other_json = dir.path().join("other.json");
    let other = Tokenizer::Characters(charlstm_data::Vocabulary::from_text(
        "abcdefghijklmnopqrstuvwxyz\n0123456789!",
    ));
    std::fs::write(&other_json, other.to_tokenizer_json().unwrap()).unwrap();
    let err = refusal(
        &[&format!("data.tokenizer={}", other_json.display())],
        &json_base,
    );
    assert!(err.contains("a different tokenizer.json"), "{err}");
    // The same tokenizer.json fine-tunes.
    let out = dir.path().join("json-tuned");
    fine_tune(
        &out,
        &tiny_config(&[&corpus, &named, "train.max_steps=2"]),
        &json_base,
    )
    .unwrap();

    // --init-from starts a run; --resume continues one.
    let err = train(
        &tiny_config(&[]),
        TrainOptions {
            run_dir: dir.path().join("both"),
            resume: true,
            init_from: Some(base_dir.clone()),
            locator: CorpusLocator::default(),
            observer: &mut Losses::default(),
            stop: None,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("give one of them"), "{err}");
}
