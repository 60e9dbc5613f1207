//! The commands that read a run's checkpoint besides `sample` and `eval`: `info`, `export`
//! and `fill`.

use std::path::Path;

mod common;

use common::*;

#[test]
fn info_describes_a_checkpoint_and_each_validation_writes_a_sample() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    assert_ok(&train_tiny(
        &run_dir,
        &sets(&[
            "train.max_steps=60",
            "train.eval_interval=20",
            "train.sample_chars=50",
        ]),
    ));

    let output = run(charlstm().args(["info", "--json"]).arg(&run_dir));
    assert_ok(&output);
    let info: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let progress: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("best/progress.json")).unwrap())
            .unwrap();
    assert_eq!(info["steps"], progress["step"]);
    assert_eq!(
        info["best_validation_loss"],
        progress["best_validation_loss"]
    );
    assert_eq!(info["vocab_size"], 27);
    // Embedding 27 × 8, W_x 8 × 64, W_h 16 × 64, two gate biases of 64, head 16 × 27 + 27.
    assert_eq!(
        info["parameters"],
        27 * 8 + 8 * 64 + 16 * 64 + 2 * 64 + 16 * 27 + 27
    );
    assert_eq!(info["config"]["model"]["hidden_size"], 16);

    let output = run(charlstm().arg("info").arg(run_dir.join("latest")));
    assert_ok(&output);
    let text = stdout(&output);
    assert!(text.contains("60 steps"), "{text}");
    assert!(text.contains("best validation loss:"), "{text}");
    assert!(text.contains("resumable:             yes"), "{text}");

    let samples = std::fs::read_to_string(run_dir.join("samples.txt")).unwrap();
    let headers: Vec<&str> = samples
        .lines()
        .filter(|l| l.starts_with("=== step"))
        .collect();
    assert_eq!(headers.len(), 3, "{samples}");
    assert!(
        headers[2].starts_with("=== step 60, validation loss "),
        "{samples}"
    );
    let last = samples.split("=== step 60").nth(1).unwrap();
    let body = last.split_once("===\n").unwrap().1.trim_end_matches('\n');
    assert_eq!(body.chars().count(), 50, "{body:?}");

    assert_clean_error(
        &run(charlstm().arg("info").arg(dir.path().join("nothing"))),
        "no such directory",
    );

    // A reader that goes away (`charlstm info RUN | head -1`) ends the output quietly.
    let mut child = charlstm()
        .arg("info")
        .arg(&run_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    assert!(output.status.success(), "{}", stderr(&output));

    // The run keeps its loss curve as a picture, and `plot` draws several runs on one.
    let png = std::fs::read(run_dir.join("loss.png")).unwrap();
    assert!(
        png.len() > 1000 && png.starts_with(b"\x89PNG"),
        "{} bytes",
        png.len()
    );
    let chart = dir.path().join("both.png");
    let output = run(charlstm()
        .arg("plot")
        .arg(&run_dir)
        .arg(&run_dir)
        .arg("--out")
        .arg(&chart));
    assert_ok(&output);
    let png = std::fs::read(&chart).unwrap();
    assert!(
        png.len() > 1000 && png.starts_with(b"\x89PNG"),
        "{} bytes",
        png.len()
    );
    assert_clean_error(&run(charlstm().arg("plot").arg(dir.path())), "metrics.csv");
}

#[test]
fn export_writes_pytorch_named_safetensors_and_reference_logits() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    assert_ok(&train_tiny(&run_dir, &["--set", "train.max_steps=5"]));
    let out = dir.path().join("model.safetensors");
    assert_ok(&run(charlstm()
        .args(["export", "--reference", "12", "--checkpoint"])
        .arg(&run_dir)
        .arg("--out")
        .arg(&out)));
    let bytes = std::fs::read(&out).unwrap();
    // safetensors: an 8-byte little-endian header length, then a JSON header.
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(
        header["embedding.weight"]["shape"],
        serde_json::json!([27, 8])
    );
    assert_eq!(
        header["lstm.weight_ih_l0"]["shape"],
        serde_json::json!([64, 8])
    );
    assert_eq!(
        header["lstm.weight_hh_l0"]["shape"],
        serde_json::json!([64, 16])
    );
    assert_eq!(header["head.weight"]["shape"], serde_json::json!([27, 16]));
    assert_eq!(header["head.bias"]["dtype"], "F32");
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("model.reference.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(reference["tokens"].as_array().unwrap().len(), 12);
    assert_eq!(reference["logits"].as_array().unwrap().len(), 12);
    assert_eq!(reference["logits"][0].as_array().unwrap().len(), 27);

    assert_clean_error(
        &run(charlstm()
            .args(["export", "--out", "x.safetensors", "--checkpoint"])
            .arg(dir.path().join("missing"))),
        "no such directory",
    );
}

#[test]
fn fill_uses_both_directions_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("bi");
    assert_ok(&train_tiny(
        &run_dir,
        &["--quiet", "--set", "model.bidirectional=true"],
    ));
    let fill = |run_dir: &Path, args: &[&str]| {
        run(charlstm()
            .args(["fill", "--checkpoint"])
            .arg(run_dir)
            .args(args))
    };
    let output = fill(&run_dir, &["ab_defg_ijk"]);
    assert_ok(&output);
    assert_eq!(stdout(&output), "abcdefghijk\n");
    // Nothing before the first blank: the backward stack alone knows it.
    let output = fill(&run_dir, &["--mask", "#", "#bcdefghijklmnopqrstuvwxyz"]);
    assert_ok(&output);
    assert_eq!(stdout(&output), "abcdefghijklmnopqrstuvwxyz\n");

    let output = fill(
        &run_dir,
        &["--evaluate", "--windows", "20", "--window", "30"],
    );
    assert_ok(&output);
    let report = stdout(&output);
    for method in ["forward only:", "backward only:", "combined:"] {
        assert!(report.contains(method), "{report}");
    }

    let eval = run(charlstm().args(["eval", "--checkpoint"]).arg(&run_dir));
    assert_ok(&eval);
    let report = stdout(&eval);
    assert!(
        report.contains("validation (forward): ") && report.contains("validation (backward): "),
        "{report}"
    );

    assert_clean_error(
        &fill(&run_dir, &["abcdef"]),
        "the text has no blank to fill",
    );
    assert_clean_error(
        &fill(&run_dir, &["ab_dé"]),
        "characters not in the vocabulary: 'é'",
    );
    let one_way = dir.path().join("forward");
    assert_ok(&train_tiny(
        &one_way,
        &["--quiet", "--set", "train.max_steps=5"],
    ));
    assert_clean_error(
        &fill(&one_way, &["ab_d"]),
        "this model reads in one direction only",
    );
    assert_ok(&fill(&one_way, &["--method", "forward", "ab_d"]));
}
