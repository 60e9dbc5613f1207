//! `train --resume` with a new value for every config key: each is honoured as its rule says
//! (free, or re-cut streams) or refused with exit code 2 before anything is written, and the
//! run stays usable either way. Also the repair of runs that older versions left with a
//! config that does not describe their weights.

mod common;

use std::path::Path;

use charlstm_train::checkpoint::sha256_hex;
use charlstm_train::resume::{OnResume, RESUME_RULES};
use common::*;

/// A new value for each key of the tiny config, other than the one it has.
fn new_value(key: &str, scratch: &Path) -> String {
    match key {
        "backend" => r#""flex""#.into(),
        "seed" => "8".into(),
        "data.corpus" => {
            // The same characters as the alphabet corpus, another length: other streams.
            let text = "thequickbrownfoxjumpsoverthelazydog\n".repeat(400)
                + &"abcdefghijklmnopqrstuvwxyz\n".repeat(50);
            let path = scratch.join("other-text.txt");
            std::fs::write(&path, text).unwrap();
            format!("{:?}", path.display().to_string())
        }
        "data.include" => r#"["*.txt"]"#.into(),
        "data.exclude" => r#"["unused"]"#.into(),
        "data.max_vocab" => "20".into(),
        "data.val_chars" => "100".into(),
        "data.validation_fraction" => "0.2".into(),
        "data.test_fraction" => "0.05".into(),
        "data.invalid_utf8" => r#""replace""#.into(),
        "data.tokenizer" => {
            let path = scratch.join("tokenizer.json");
            format!("{:?}", path.display().to_string())
        }
        "data.cache" => "false".into(),
        "model.cell" => r#""gru""#.into(),
        "model.embedding_size" => "4".into(),
        "model.hidden_size" => "32".into(),
        "model.num_layers" => "2".into(),
        "model.dropout" => "0.2".into(),
        "model.output_dropout" => "true".into(),
        "model.locked_dropout" => "true".into(),
        "model.input_dropout" => "0.1".into(),
        "model.embedding_dropout" => "0.1".into(),
        "model.weight_drop" => "0.2".into(),
        "model.forget_bias" => "1.0".into(),
        "model.bidirectional" => "true".into(),
        "model.shared_head" => "false".into(),
        "model.residual" => "true".into(),
        "train.batch_size" => "8".into(),
        "train.seq_len" => "8".into(),
        "train.early_seq_len" => "4".into(),
        "train.early_share" => "0.5".into(),
        "train.learning_rate" => "1e-2".into(),
        "train.min_learning_rate" => "1e-4".into(),
        "train.schedule" => r#""constant""#.into(),
        "train.decay_fraction" => "0.5".into(),
        "train.warmup_steps" => "0".into(),
        "train.adam_beta1" => "0.8".into(),
        "train.adam_beta2" => "0.99".into(),
        "train.weight_decay" => "0.1".into(),
        "train.ema_decay" => "0.9".into(),
        "train.grad_clip" => "1.0".into(),
        "train.epochs" => "3".into(),
        "train.max_steps" => "35".into(),
        "train.max_minutes" => "5.0".into(),
        "train.eval_interval" => "4".into(),
        "train.checkpoint_interval" => "3".into(),
        "train.log_interval" => "4".into(),
        "train.skip_nonfinite" => "true".into(),
        "train.sample_chars" => "0".into(),
        other => panic!("the test has no new value for {other}: add one"),
    }
}

fn resume(run_dir: &Path, assignments: &[String]) -> std::process::Output {
    let mut command = charlstm();
    command.args(["train", "--resume", "--out"]).arg(run_dir);
    command.args(sets(assignments));
    run(&mut command)
}

/// The run's checkpoints load, sample, evaluate and describe themselves.
fn assert_usable(run_dir: &Path, context: &str) {
    for checkpoint in ["latest", "best"] {
        let path = run_dir.join(checkpoint);
        let sample = run(sample_command(&path).args(["--length", "20", "--seed", "1"]));
        assert!(
            sample.status.success(),
            "{context}: sample {checkpoint}: {}",
            stderr(&sample)
        );
        let info = run(charlstm().args(["info", "--json"]).arg(&path));
        assert!(
            info.status.success(),
            "{context}: info {checkpoint}: {}",
            stderr(&info)
        );
    }
    let eval = run(&mut checkpoint_command("eval", &run_dir.join("latest")));
    assert!(eval.status.success(), "{context}: eval: {}", stderr(&eval));
}

#[test]
fn every_config_key_resumes_as_its_rule_says() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    train_tiny_20_steps(&base);
    // A position in the middle of an epoch, with a carried state to restart.
    let progress = std::fs::read_to_string(base.join("latest/progress.json")).unwrap();
    assert!(progress.contains("\"step\": 20"), "{progress}");

    for (index, (key, rule)) in RESUME_RULES.iter().enumerate() {
        let run_dir = dir.path().join(format!("run-{index}"));
        copy_dir(&base, &run_dir);
        let value = new_value(key, &base);
        let mut sets = vec![format!("{key}={value}")];
        if *key != "train.max_steps" {
            sets.push("train.max_steps=30".into());
        }
        let before = snapshot(&run_dir);
        let output = resume(&run_dir, &sets);
        let context = format!("--resume --set {key}={value} ({})", rule.name());
        match rule {
            OnResume::Fixed => {
                assert_eq!(
                    output.status.code(),
                    Some(2),
                    "{context}: {}",
                    stderr(&output)
                );
                assert_clean_error(&output, &format!("{key} = "));
                assert!(stderr(&output).contains("--out"), "{context}");
                assert!(
                    snapshot(&run_dir) == before,
                    "{context}: a refused resume wrote files"
                );
            }
            OnResume::Free | OnResume::Recut => {
                assert_ok(&output);
                let log = stderr(&output);
                assert!(!log.contains("panicked"), "{context}: {log}");
                let saved = std::fs::read_to_string(run_dir.join("latest/config.toml")).unwrap();
                let saved: toml::Table = saved.parse().unwrap();
                let (section, name) = key.split_once('.').unwrap_or(("", key));
                let saved_value = if section.is_empty() {
                    saved.get(name)
                } else {
                    saved[section].get(name)
                }
                .unwrap()
                .to_string();
                let given: toml::Value =
                    format!("v = {value}").parse::<toml::Table>().unwrap()["v"].clone();
                assert_eq!(
                    saved_value,
                    given.to_string(),
                    "{context}: the checkpoint saves the config it trained with"
                );
                let steps = if *key == "train.max_steps" { 35 } else { 30 };
                let progress =
                    std::fs::read_to_string(run_dir.join("latest/progress.json")).unwrap();
                assert!(
                    progress.contains(&format!("\"step\": {steps}")),
                    "{context}: {progress}"
                );
                if matches!(*key, "train.batch_size" | "train.seq_len") {
                    assert!(
                        log.contains("cut into new streams"),
                        "{context}: the re-cut is said: {log}"
                    );
                }
                assert_usable(&run_dir, &context);
            }
        }
    }
}

/// The `latest` checkpoint's `progress.json`.
fn progress(run_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("latest/progress.json")).unwrap())
        .unwrap()
}

/// Resumes the run at step 20 with `sets` for one step, checks that the streams were cut anew
/// with the run continuing at batch 10 of the epoch, and returns the new `progress.json`.
fn resume_one_step_at_batch_10(run_dir: &Path, sets: &[&str]) -> serde_json::Value {
    let mut sets: Vec<String> = sets.iter().map(|set| set.to_string()).collect();
    sets.push("train.max_steps=21".into());
    let output = resume(run_dir, &sets);
    assert_ok(&output);
    let log = stderr(&output);
    assert!(log.contains("continuing at batch 10 of"), "{log}");
    let after = progress(run_dir);
    assert_eq!(after["step"], 21);
    assert_eq!(after["batch_in_epoch"], 11);
    after
}

#[test]
fn a_resume_with_a_new_batch_size_continues_at_the_same_place_in_the_epoch() {
    let (_dir, run_dir) = temp_run_dir();
    train_tiny_20_steps(&run_dir);
    let before = progress(&run_dir);
    assert_eq!(before["batch_in_epoch"], 20);
    assert!(before["state_shape"].is_array(), "{before}");

    // Twice the streams, each half as long: the same fraction of the epoch is half the
    // batches. Stop at once (max_steps is the step already reached) to see the position.
    let after = resume_one_step_at_batch_10(&run_dir, &["train.batch_size=8"]);
    assert_eq!(after["state_shape"][1], 8, "{after}");
}

#[test]
fn a_resume_that_drops_the_early_phase_moves_to_full_chunks_at_the_same_place() {
    let (_dir, run_dir) = temp_run_dir();
    // Bidirectional, so the backward stack's streams switch too.
    let sets = [
        "train.max_steps=20",
        "train.early_seq_len=8",
        "train.early_share=0.99",
        "model.bidirectional=true",
    ];
    assert_ok(&train_tiny(&run_dir, &common::sets(&sets)));
    // Every step so far was early: 20 chunks of 8, half of the seq_len of 16.
    let before = progress(&run_dir);
    assert_eq!(before["early_chunks"], true, "{before}");
    assert_eq!(before["batch_in_epoch"], 20);

    let after = resume_one_step_at_batch_10(
        &run_dir,
        &["train.early_seq_len=0", "model.bidirectional=true"],
    );
    assert!(after.get("early_chunks").is_none(), "{after}");
}

/// Damages a run as older versions did: `hidden_size` rewritten in every config, the
/// checkpoints' checksums updated to match, the weights left as they were.
fn damage_like_older_versions(run_dir: &Path) {
    let rewrite = |path: &Path| {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("hidden_size = 16"), "{text}");
        let text = text.replace("hidden_size = 16", "hidden_size = 32");
        std::fs::write(path, &text).unwrap();
        text
    };
    rewrite(&run_dir.join("config.toml"));
    for checkpoint in ["latest", "best"] {
        let text = rewrite(&run_dir.join(checkpoint).join("config.toml"));
        let progress_path = run_dir.join(checkpoint).join("progress.json");
        let mut progress: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&progress_path).unwrap()).unwrap();
        progress["checksums"]["config.toml"] = sha256_hex(text.as_bytes()).into();
        std::fs::write(&progress_path, progress.to_string()).unwrap();
    }
}

#[test]
fn a_run_whose_config_lies_about_its_weights_is_named_and_repaired() {
    let (_dir, run_dir) = temp_run_dir();
    train_tiny_20_steps(&run_dir);
    let healthy = run(sample_command(&run_dir).args(["--length", "30", "--seed", "3"]));
    assert_ok(&healthy);
    damage_like_older_versions(&run_dir);

    let sample = run(sample_command(&run_dir).args(["--length", "30", "--seed", "3"]));
    assert_clean_error(&sample, "charlstm repair");
    assert_mentions(
        &stderr(&sample),
        "model.hidden_size = 32 in config.toml, 16 in the weights",
    );
    let resumed = resume(&run_dir, &["train.max_steps=30".into()]);
    assert_clean_error(&resumed, "charlstm repair");

    // Without --yes and without a terminal to ask on, nothing is rewritten.
    let before = snapshot(&run_dir);
    let refused = run(charlstm().arg("repair").arg(&run_dir));
    assert_clean_error(&refused, "--yes");
    assert_mentions(&stdout(&refused), "model.hidden_size 32 -> 16");
    assert!(
        snapshot(&run_dir) == before,
        "an unconfirmed repair wrote files"
    );

    assert_ok(&run(charlstm().args(["repair", "--yes"]).arg(&run_dir)));
    let config = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(config.contains("hidden_size = 16"), "{config}");
    let repaired = run(sample_command(&run_dir).args(["--length", "30", "--seed", "3"]));
    assert_ok(&repaired);
    assert_eq!(
        stdout(&repaired),
        stdout(&healthy),
        "the repaired run samples what it did before the damage"
    );
    assert_ok(&resume(&run_dir, &["train.max_steps=30".into()]));
    assert_usable(&run_dir, "after repair");
    let again = run(charlstm().args(["repair", "--yes"]).arg(&run_dir));
    assert_ok(&again);
    assert_mentions(&stdout(&again), "nothing to repair");
}

#[test]
fn info_reads_the_shape_from_the_weights() {
    let (_dir, run_dir) = temp_run_dir();
    assert_ok(&train_tiny(&run_dir, &["--set", "train.max_steps=10"]));
    let info = info_json(&run_dir);
    assert_eq!(info["model"]["hidden_size"], 16);
    assert_eq!(info["model"]["num_layers"], 1);
    assert_eq!(info["model"]["cell"], "lstm");
    // 27 tokens: embedding 27·8, LSTM 4·16·(8+16) + two biases 2·4·16, head 16·27 + 27.
    assert_eq!(
        info["parameters"],
        27 * 8 + 4 * 16 * 24 + 2 * 64 + 16 * 27 + 27
    );
}
