//! End-to-end behaviour of the training library with tiny models: every cell learns, it
//! samples reproducibly (one sample or many at once), and an existing run is never
//! overwritten. Checkpoints and backends have their own files.

use burn::prelude::*;
use charlstm_data::CorpusLocator;
use charlstm_model::{CharModel, SamplingOptions};
use charlstm_train::beam::beam_search;
use charlstm_train::generate::{GenerateOptions, Sample, generate, generate_many};
use charlstm_train::stop::StopStrings;
use charlstm_train::{Checkpoint, TrainOptions, train};

mod common;

use common::*;

/// A tiny model trained 20 steps on the `brackets` corpus, loaded on ndarray.
fn brackets_model() -> (tempfile::TempDir, Checkpoint, CharModel, Device) {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(&["data.corpus=brackets", "train.max_steps=20"]);
    train_tiny(dir.path(), &config);
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let device = ndarray();
    let model = checkpoint.load_model(&device).unwrap();
    (dir, checkpoint, model, device)
}

#[test]
fn sampling_is_deterministic_under_a_seed() {
    let (_dir, checkpoint, model, device) = brackets_model();
    let sample = |seed| {
        let options = GenerateOptions {
            prime: "(".into(),
            length: 200,
            sampling: SamplingOptions::default(),
            seed,
            stop: Default::default(),
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
                stop: Default::default(),
            };
            let many =
                generate_many(&model, &checkpoint.tokenizer, &options(40), 5, &device).unwrap();
            assert_eq!(many.len(), 5);
            for (k, sample) in many.iter().enumerate() {
                let alone = generate(
                    &model,
                    &checkpoint.tokenizer,
                    &options(40 + k as u64),
                    &device,
                    |_| true,
                )
                .unwrap();
                assert_eq!(sample.text, alone, "{cell}, sample {k}");
                assert_log_probs_are_the_models(&model, &checkpoint, "((", sample, &device);
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
                stop: Default::default(),
            };
            let many = || generate_many(&model, &checkpoint.tokenizer, &options, 3, &device);
            let first = many().unwrap();
            assert_eq!(first.len(), 3);
            assert!(
                first.iter().all(|sample| sample.text.chars().count() == 12),
                "{first:?}"
            );
            assert_eq!(first, many().unwrap());
        }
    }
}

/// A sample's pieces make up its text, and each carries the model's own log probability of its
/// token after the prime and the pieces before it (to 1e-4).
fn assert_log_probs_are_the_models(
    model: &CharModel,
    checkpoint: &Checkpoint,
    prime: &str,
    sample: &Sample,
    device: &Device,
) {
    let joined: String = sample.pieces.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(joined, sample.text);
    let prime_ids = checkpoint.tokenizer.encode(prime).unwrap();
    let ids: Vec<i64> = prime_ids
        .iter()
        .chain(sample.pieces.iter().map(|p| &p.token))
        .map(|&id| i64::from(id))
        .collect();
    let all = logits(model, &ids[..ids.len() - 1], device);
    let vocab = all.len() / (ids.len() - 1);
    for (index, piece) in sample.pieces.iter().enumerate() {
        let row = &all[(prime_ids.len() - 1 + index) * vocab..][..vocab];
        let max = row.iter().copied().fold(f32::MIN, f32::max) as f64;
        let log_sum = max
            + row
                .iter()
                .map(|&x| (x as f64 - max).exp())
                .sum::<f64>()
                .ln();
        let expected = row[piece.token as usize] as f64 - log_sum;
        assert!(
            (expected - piece.log_prob).abs() < 1e-4,
            "piece {index}: {} against the model's {expected}",
            piece.log_prob
        );
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
        stop: Default::default(),
    };
    let err = generate_many(&model, &checkpoint.tokenizer, &options, 0, &device)
        .unwrap_err()
        .to_string();
    assert_one_line(&err, "--num-samples 0 is invalid");
}

#[test]
fn an_existing_run_is_not_overwritten_without_resume() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(&["train.max_steps=5", "train.eval_interval=5"]);
    train_tiny(dir.path(), &config);
    let mut losses = Losses::default();
    let err = train(
        &config,
        TrainOptions {
            run_dir: dir.path().to_path_buf(),
            resume: false,
            init_from: None,
            locator: CorpusLocator::default(),
            observer: &mut losses,
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
        let first = recorder.steps[0].0;
        let last = recorder.steps.last().unwrap().0;
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
            stop: Default::default(),
        };
        let text = generate(&model, &checkpoint.tokenizer, &options, &device, |_| true).unwrap();
        assert_eq!(text, "defghijklmnopqrstuvwxyz\nabcdef", "{cell}");
    }
}

/// Beam search with one beam is greedy decoding (the top-1 sample); twice the beams never find
/// a less likely continuation; the log probability reported is the model's own for the text.
#[test]
fn beam_search_finds_the_likelier_continuation() {
    let (_dir, checkpoint, model, device) = brackets_model();
    let tokenizer = &checkpoint.tokenizer;
    let options = GenerateOptions {
        prime: "(".into(),
        length: 60,
        sampling: SamplingOptions {
            top_k: Some(1),
            ..SamplingOptions::default()
        },
        seed: 1,
        stop: Default::default(),
    };
    let greedy = generate(&model, tokenizer, &options, &device, |_| true).unwrap();
    let one = beam_search(&model, tokenizer, &options, 1).unwrap();
    assert_eq!(one.text, greedy);
    assert_eq!(one.tokens.len(), 60);

    let mut previous = one.log_prob;
    for beams in [2, 4, 8] {
        let found = beam_search(&model, tokenizer, &options, beams).unwrap();
        assert!(found.log_prob >= previous, "{beams} beams: {found:?}");
        previous = found.log_prob;
        // The model's log probability of the text, token after token.
        let ids: Vec<i64> = std::iter::once(tokenizer.encode("(").unwrap()[0])
            .chain(found.tokens.iter().copied())
            .map(i64::from)
            .collect();
        let all = logits(&model, &ids[..ids.len() - 1], &device);
        let vocab = all.len() / (ids.len() - 1);
        let log_prob: f64 = all
            .chunks(vocab)
            .zip(&ids[1..])
            .map(|(row, &next)| {
                let max = row.iter().copied().fold(f32::MIN, f32::max) as f64;
                let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
                row[next as usize] as f64 - max - sum.ln()
            })
            .sum();
        assert!(
            (log_prob - found.log_prob).abs() < 1e-3,
            "{beams} beams: reported {}, the model's {log_prob}",
            found.log_prob
        );
    }
    let error = |options: &GenerateOptions, beams| {
        let error = beam_search(&model, tokenizer, options, beams).unwrap_err();
        error.to_string()
    };
    assert!(error(&options, 0).contains("--beam 0 is invalid"));
    let stopping = GenerateOptions {
        stop: StopStrings::new(vec![")".into()]),
        ..options.clone()
    };
    assert!(error(&stopping, 2).contains("--stop does not work with --beam"));
}
