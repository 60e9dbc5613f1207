//! `charlstm train --init-from`: fine-tuning a run on new text from the command line, with
//! the checkpoint's config as the base, and what `info`, `sample` and the run's
//! `tokenizer.json` say afterwards.

mod common;

use common::*;

/// The alphabet's lines, then a line of digits: ten characters the alphabet lacks.
const NEW_LINES: &str = "abcdefghijklmnopqrstuvwxyz\n0123456789\n";

#[test]
fn a_run_fine_tuned_from_the_command_line_extends_its_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("runs/alphabet");
    assert_ok(&train_tiny(&base, &sets(&["train.max_steps=40"])));
    let text = dir.path().join("new.txt");
    std::fs::write(&text, NEW_LINES.repeat(300)).unwrap();
    let corpus = format!("data.corpus={}", text.display());

    // No --config: the checkpoint's own is the base; no --out: runs/alphabet-finetuned.
    let output = run(charlstm_in(dir.path())
        .args(["train", "--init-from", "runs/alphabet/best"])
        .args(sets(&[corpus.as_str(), "train.max_steps=30"])));
    assert_ok(&output);
    let log = stderr(&output);
    assert_mentions(&log, "initialised from");
    assert_mentions(&log, "10 new");
    let tuned = dir.path().join("runs/alphabet-finetuned");
    let config = std::fs::read_to_string(tuned.join("config.toml")).unwrap();
    assert!(config.contains("hidden_size = 16"), "{config}");
    // The loss on the new text before the first step is the first row of metrics.csv.
    let metrics = std::fs::read_to_string(tuned.join("metrics.csv")).unwrap();
    let first = metrics.lines().nth(1).unwrap();
    assert!(first.starts_with("0,"), "{metrics}");

    let info = info_json(&tuned);
    assert_eq!(info["steps"], 30);
    assert_eq!(info["vocab_size"], 37);
    assert_eq!(info["initialized_from"]["step"], 40);
    assert_eq!(info["initialized_from"]["added_tokens"], 10);
    let output = run(charlstm().arg("info").arg(&tuned));
    assert_mentions(&stdout(&output), "initialised from:");

    // The run's tokenizer.json keeps the alphabet's ids and gives the digits the next ones.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tuned.join("tokenizer.json")).unwrap())
            .unwrap();
    let vocab = &json["model"]["vocab"];
    assert_eq!(vocab["\n"], 0);
    assert_eq!(vocab["z"], 26);
    assert_eq!(vocab["0"], 27);
    assert_eq!(vocab["9"], 36);

    let output =
        run(sample_command(&tuned).args(["--prime", "0123", "--length", "40", "--seed", "1"]));
    assert_ok(&output);
    assert_eq!(sampled_text(&output).chars().count(), 44);

    // A shape the checkpoint does not have, and a checkpoint that is not there.
    let output = run(charlstm_in(dir.path())
        .args("train --init-from runs/alphabet --out runs/other".split(' '))
        .args(sets(&[corpus.as_str(), "model.hidden_size=32"])));
    assert_clean_error(
        &output,
        "model.hidden_size = 32 in the config, 16 in the checkpoint",
    );
    let output =
        run(charlstm_in(dir.path())
            .args("train --init-from runs/missing --out runs/other".split(' ')));
    assert_clean_error(&output, "no such directory");
    assert!(!dir.path().join("runs/other/latest").exists());
}
