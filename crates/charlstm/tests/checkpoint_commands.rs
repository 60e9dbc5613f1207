//! The commands that read a run's checkpoint besides `sample` and `eval`: `info`, `export`
//! and `fill`.

use std::path::Path;

mod common;

use common::*;

#[test]
fn info_describes_a_checkpoint_and_each_validation_writes_a_sample() {
    let (dir, run_dir) = temp_run_dir();
    assert_ok(&train_tiny(
        &run_dir,
        &sets(&[
            "train.max_steps=60",
            "train.eval_interval=20",
            "train.sample_chars=50",
        ]),
    ));

    let info = info_json(&run_dir);
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
    let (dir, run_dir) = temp_run_dir();
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

    let eval = run(&mut checkpoint_command("eval", &run_dir));
    assert_ok(&eval);
    let report = stdout(&eval);
    assert_mentions(&report, "validation (forward): ");
    assert_mentions(&report, "validation (backward): ");

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

/// `score` gives each file the loss `eval --batch-size 1` gives it, reading the file in blocks
/// (a character cut by a block's end included); `--per-char` lists every character after the
/// first with its log probability and rank, adding up to that loss; bad files get one line.
#[test]
fn score_gives_each_files_loss_and_every_characters_log_probability() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, "abcé\tdef\n".repeat(300)).unwrap();
    let run_dir = dir.path().join("run");
    let corpus_set = format!("data.corpus={}", corpus.display());
    let assignments = [corpus_set.as_str(), "train.max_steps=10"];
    assert_ok(&train_tiny(&run_dir, &sets(&assignments)));

    // 65,535 ASCII bytes, then é across the 64 KiB boundary of the first block.
    let long = dir.path().join("long.txt");
    let text = format!(
        "{}é{}",
        "abc\tdef\n".repeat(8192).split_at(65_535).0,
        "fed\n"
    );
    std::fs::write(&long, &text).unwrap();
    let short = dir.path().join("short.txt");
    std::fs::write(&short, "déf\tabc\n").unwrap();

    let score = run(charlstm()
        .args(["score", "--checkpoint"])
        .arg(&run_dir)
        .arg(&long)
        .arg(&short));
    assert_ok(&score);
    let lines: Vec<String> = stdout(&score).lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, file) in lines.iter().zip([&long, &short]) {
        let eval = run(charlstm()
            .args(["eval", "--batch-size", "1", "--checkpoint"])
            .arg(&run_dir)
            .arg("--corpus")
            .arg(file));
        assert_ok(&eval);
        let eval_line = stdout(&eval);
        // The same characters; eval sums its losses in f32, score in f64.
        assert_eq!(
            last_words(line, 3),
            last_words(&eval_line, 3),
            "{eval_line}"
        );
        let (ours, theirs) = (loss_of(line), loss_of(&eval_line));
        assert!((ours - theirs).abs() < 1e-4, "{line}\n{eval_line}");
    }
    let characters = text.chars().count() - 1;
    assert!(
        lines[0].ends_with(&format!("over {characters} characters")),
        "{}",
        lines[0]
    );

    let per_char = run(charlstm()
        .args(["score", "--per-char", "--checkpoint"])
        .arg(&run_dir)
        .arg(&short));
    assert_ok(&per_char);
    let rows: Vec<Vec<String>> = stdout(&per_char)
        .lines()
        .map(|line| line.split('\t').map(String::from).collect())
        .collect();
    assert_eq!(rows[0], ["char", "log_prob", "rank"]);
    let chars: Vec<&str> = rows[1..].iter().map(|row| row[0].as_str()).collect();
    assert_eq!(chars, ["é", "f", "\\t", "a", "b", "c", "\\n"]);
    let nats: f64 = rows[1..]
        .iter()
        .map(|row| -row[1].parse::<f64>().unwrap())
        .sum();
    assert!(
        rows[1..]
            .iter()
            .all(|row| row[2].parse::<usize>().unwrap() >= 1)
    );
    let summary_loss = loss_of(&lines[1]);
    assert!(
        (summary_loss - nats / 7.0).abs() < 1e-4,
        "{} vs {nats}",
        lines[1]
    );
    assert_mentions(&stderr(&per_char), "nats/char");

    let refused = |file: &Path, expected: &str| {
        let output = run(charlstm()
            .args(["score", "--checkpoint"])
            .arg(&run_dir)
            .arg(file));
        assert_clean_error(&output, expected);
    };
    refused(&dir.path().join("missing.txt"), "cannot read");
    let unknown = dir.path().join("unknown.txt");
    std::fs::write(&unknown, "abcZdef").unwrap();
    refused(
        &unknown,
        "a character the model does not know: 'Z' (character 4)",
    );
    let binary = dir.path().join("binary.txt");
    std::fs::write(&binary, b"abc\xffdef").unwrap();
    refused(&binary, "is not valid UTF-8 at byte 3");
    let one = dir.path().join("one.txt");
    std::fs::write(&one, "a").unwrap();
    refused(&one, "fewer than two characters");
    assert_clean_error(
        &run(charlstm()
            .args(["score", "--per-char", "--checkpoint"])
            .arg(&run_dir)
            .arg(&short)
            .arg(&long)),
        "--per-char scores one file at a time",
    );
}

/// The nats per character of a `FILE: X nats/char, …` line.
fn loss_of(line: &str) -> f64 {
    let after_name = line.rsplit(": ").next().unwrap();
    after_name.split(' ').next().unwrap().parse().unwrap()
}

/// The last `count` words of a line.
fn last_words(line: &str, count: usize) -> Vec<&str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words[words.len().saturating_sub(count)..].to_vec()
}
