//! The `charlstm` binary end to end: train → sample → eval, resume, backends, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn charlstm() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_charlstm"));
    // Tests never download: named corpora come from the data directory CI provides.
    command.env_remove("CHARLSTM_CACHE_DIR");
    command.env("CHARLSTM_CACHE_DIR", "/nonexistent/charlstm-test-cache");
    command
}

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `charlstm sample` printed, without the one newline it ends its output with (the
/// generated text may itself end in newlines, which count).
fn sampled_text(output: &Output) -> String {
    let text = stdout(output);
    text.strip_suffix('\n')
        .unwrap_or_else(|| panic!("sample output ends with a newline: {text:?}"))
        .to_string()
}

fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstderr:\n{}",
        output.status,
        stderr(output)
    );
}

/// A failure as users should see it: non-zero exit, one `error:` line, no panic.
fn assert_clean_error(output: &Output, expected: &str) {
    let err = stderr(output);
    assert!(
        !output.status.success(),
        "expected failure, got success: {err}"
    );
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(!err.contains("RUST_BACKTRACE"), "backtrace hint: {err}");
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "one error line: {err}");
    assert!(
        err.trim_end().lines().count() == 1,
        "nothing but the error line: {err}"
    );
    assert!(err.contains(expected), "expected '{expected}' in: {err}");
}

fn train_tiny(run_dir: &Path, extra: &[&str]) -> Output {
    run(charlstm()
        .args(["train", "--config"])
        .arg(repo_file("configs/tiny.toml"))
        .arg("--out")
        .arg(run_dir)
        .args(extra))
}

#[test]
fn train_then_sample_then_eval() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let output = train_tiny(&run_dir, &["--set", "train.max_steps=120"]);
    assert_ok(&output);
    let log = stderr(&output);
    assert!(log.contains("validation loss"), "{log}");
    assert!(
        stdout(&output).is_empty(),
        "training prints nothing on stdout"
    );
    for file in [
        "config.toml",
        "vocab.json",
        "latest/model.bpk",
        "latest/optimizer.bpk",
        "best/model.bpk",
    ] {
        assert!(run_dir.join(file).is_file(), "{file} missing");
    }

    // One full cycle of context, then an all but greedy draw: the model must go on with the
    // alphabet.
    let prime = "abcdefghijklmnopqrstuvwxyz\nabc";
    let sample = |seed: &str| {
        let output = run(charlstm()
            .args(["sample", "--checkpoint"])
            .arg(&run_dir)
            .args([
                "--prime",
                prime,
                "--length",
                "50",
                "--temperature",
                "0.1",
                "--seed",
                seed,
            ]));
        assert_ok(&output);
        sampled_text(&output)
    };
    let text = sample("1");
    assert!(
        text.starts_with(&format!("{prime}defghijklmnop")),
        "{text:?}"
    );
    assert_eq!(text.chars().count(), prime.chars().count() + 50);
    assert_eq!(text, sample("1"));

    let output = run(charlstm().args(["eval", "--checkpoint"]).arg(&run_dir));
    assert_ok(&output);
    let report = stdout(&output);
    let nats: f64 = report
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected report {report:?}"));
    assert!(report.starts_with("validation:") && nats < 0.5, "{report}");

    let text_file = dir.path().join("other.txt");
    std::fs::write(&text_file, "abcdefghijklmnopqrstuvwxyz\n".repeat(20)).unwrap();
    let output = run(charlstm()
        .args(["eval", "--checkpoint"])
        .arg(&run_dir)
        .arg("--corpus")
        .arg(&text_file));
    assert_ok(&output);
    assert!(stdout(&output).contains("bits/char"), "{}", stdout(&output));
}

#[test]
fn a_run_resumes_from_its_latest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    assert_ok(&train_tiny(
        &run_dir,
        &[
            "--set",
            "train.max_steps=20",
            "--set",
            "train.eval_interval=10",
        ],
    ));

    let again = train_tiny(&run_dir, &["--set", "train.max_steps=40"]);
    assert_clean_error(&again, "--resume");

    let resumed = run(charlstm()
        .args(["train", "--resume", "--out"])
        .arg(&run_dir)
        .args(["--set", "train.max_steps=40"]));
    assert_ok(&resumed);
    let log = stderr(&resumed);
    assert!(log.contains("resuming at step 20"), "{log}");
    assert!(log.contains("step     40/40"), "{log}");
    let progress = std::fs::read_to_string(run_dir.join("latest/progress.json")).unwrap();
    assert!(progress.contains("\"step\": 40"), "{progress}");
}

#[test]
fn trains_on_wgpu_and_samples_on_ndarray() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let output = train_tiny(
        &run_dir,
        &["--backend", "wgpu", "--set", "train.max_steps=30"],
    );
    let log = stderr(&output);
    if !output.status.success()
        && log.contains("no usable wgpu adapter")
        && std::env::var_os("CHARLSTM_REQUIRE_WGPU").is_none()
    {
        eprintln!("skipping: {log}");
        return;
    }
    assert_ok(&output);
    assert!(log.contains("training on wgpu"), "{log}");
    assert!(
        !log.contains("error"),
        "a successful run reports no errors: {log}"
    );

    for backend in ["ndarray", "wgpu"] {
        let output = run(charlstm()
            .args(["sample", "--checkpoint"])
            .arg(&run_dir)
            .args([
                "--backend",
                backend,
                "--length",
                "20",
                "--seed",
                "4",
                "--prime",
                "a",
            ]));
        assert_ok(&output);
        assert_eq!(sampled_text(&output).chars().count(), 21);
    }
}

#[test]
fn bench_reports_speed_as_json_and_writes_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(charlstm()
        .current_dir(dir.path())
        .args([
            "bench",
            "--json",
            "--steps",
            "2",
            "--sample-length",
            "20",
            "--config",
        ])
        .arg(repo_file("configs/tiny.toml")));
    assert_ok(&output);
    let report = stdout(&output);
    for key in [
        "\"train_chars_per_s\":",
        "\"sample_chars_per_s\":",
        "\"backend\":\"ndarray\"",
    ] {
        assert!(report.contains(key), "{key} missing from {report}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "bench writes no files"
    );
    assert_clean_error(
        &run(charlstm().args(["bench", "--steps", "0"])),
        "--steps and --sample-length must be at least 1",
    );
}

#[test]
fn bad_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");

    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "[train]\nbatch_sise = 3\n").unwrap();
    assert_clean_error(
        &run(charlstm()
            .args(["train", "--config"])
            .arg(&bad_config)
            .arg("--out")
            .arg(&run_dir)),
        "batch_sise",
    );
    assert_clean_error(
        &train_tiny(&run_dir, &["--backend", "tpu"]),
        "unknown backend 'tpu'",
    );
    assert_clean_error(
        &train_tiny(&run_dir, &["--set", "data.corpus=/no/such/file.txt"]),
        "neither a file nor a known corpus",
    );
    assert_clean_error(
        &train_tiny(&run_dir, &["--set", "train.learning_rate=-1"]),
        "train.learning_rate",
    );
    assert_clean_error(
        &run(charlstm().args(["train", "--config", "/no/such/config.toml"])),
        "does not exist",
    );
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9 au lait").unwrap();
    assert_clean_error(
        &train_tiny(
            &run_dir,
            &["--set", &format!("data.corpus={}", latin1.display())],
        ),
        "not valid UTF-8 at byte 3",
    );
    let short = dir.path().join("short.txt");
    std::fs::write(&short, "too short").unwrap();
    assert_clean_error(
        &train_tiny(
            &run_dir,
            &["--set", &format!("data.corpus={}", short.display())],
        ),
        "too few for one batch",
    );

    assert_clean_error(
        &run(charlstm()
            .args(["sample", "--checkpoint"])
            .arg(dir.path().join("missing"))),
        "no such directory",
    );
    assert_ok(&train_tiny(
        &run_dir,
        &[
            "--set",
            "train.max_steps=5",
            "--set",
            "train.eval_interval=5",
        ],
    ));
    let sample = |args: &[&str]| {
        run(charlstm()
            .args(["sample", "--checkpoint"])
            .arg(&run_dir)
            .args(args))
    };
    assert_clean_error(&sample(&["--prime", "xyZ!"]), "'!', 'Z'");
    assert_clean_error(&sample(&["--temperature", "0"]), "--temperature");
    assert_clean_error(&sample(&["--top-p", "1.5"]), "--top-p");
}
