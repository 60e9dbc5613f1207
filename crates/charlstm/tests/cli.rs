//! The `charlstm` binary end to end: train → sample → eval, resume, backends, and bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::*;

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

    // Many samples at once: each under a header naming its seed, each the text that seed gives
    // alone.
    let output = run(charlstm()
        .args(["sample", "--checkpoint"])
        .arg(&run_dir)
        .args(["--prime", prime, "--length", "50", "--temperature", "0.1"])
        .args(["--seed", "1", "--num-samples", "3"]));
    assert_ok(&output);
    let printed = stdout(&output);
    for (k, seed) in ["1", "2", "3"].into_iter().enumerate() {
        let header = format!("==> sample {} of 3 (--seed {seed}) <==\n", k + 1);
        let start = printed
            .find(&header)
            .unwrap_or_else(|| panic!("{header:?} in {printed:?}"));
        let alone = sample(seed);
        assert!(
            printed[start + header.len()..].starts_with(&format!("{alone}\n")),
            "sample {k} in {printed:?}"
        );
    }

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
    train_tiny_20_steps(&run_dir);

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
        "\"batch_sample_chars_per_s\":",
        "\"num_samples\":32",
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
    assert_clean_error(
        &sample(&["--num-samples", "0"]),
        "--num-samples 0 is invalid: it must be at least 1",
    );
}

#[test]
fn more_bad_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let corpus = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        format!("data.corpus={}", path.display())
    };
    let empty_dir = dir.path().join("empty-dir");
    std::fs::create_dir(&empty_dir).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![format!("data.corpus={}", empty_dir.display())],
            "has no text files to read (check data.include and data.exclude, or give a file)",
        ),
        (vec![corpus("empty.txt", b"")], "is empty"),
        (
            vec![corpus("binary.bin", b"\x7fELF\x02\x01\x01\x00\x00\x00")],
            "looks like a binary file (NUL byte at offset 7)",
        ),
        (
            vec![corpus("latin1.txt", b"caf\xe9 au lait")],
            "set data.invalid_utf8=replace",
        ),
        (
            vec!["train.batch_size=abc".into()],
            "expected usize; in `train.batch_size`",
        ),
        (
            vec!["train.batch_size=-2".into()],
            "expected usize; in `train.batch_size`",
        ),
        (
            vec!["model.hidden_size=0".into()],
            "model.hidden_size = 0 is invalid",
        ),
        (
            vec!["train.seq_len=0".into()],
            "train.seq_len = 0 is invalid",
        ),
        (
            vec!["train.learning_rate=0".into()],
            "train.learning_rate = 0 is invalid",
        ),
        (
            vec!["model.dropout=1".into()],
            "model.dropout = 1 is invalid: it must be in [0, 1)",
        ),
        (
            vec!["model.dropout=-0.1".into()],
            "model.dropout = -0.1 is invalid",
        ),
        (vec!["train.no_such_key=1".into()], "no_such_key"),
    ];
    for (sets, expected) in cases {
        let mut args = Vec::new();
        for set in &sets {
            args.extend(["--set", set.as_str()]);
        }
        assert_clean_error(&train_tiny(&run_dir, &args), expected);
    }

    // An output directory that cannot be created.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    assert_clean_error(
        &train_tiny(&file.join("run"), &[]),
        "Not a directory (os error 20) (check the output directory is writable",
    );

    // wgpu without a Vulkan driver: refused before training, with the CPU backends suggested.
    let output = run(train_tiny_command(&run_dir, &["--backend", "wgpu"])
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("NODEVICE_SELECT", "1"));
    assert_clean_error(&output, "--backend ndarray");

    // Invalid UTF-8 replaced on request, and counted.
    let replaced = corpus(
        "mixed.txt",
        &[b"abc\xff".repeat(400), b"\xc3(".to_vec()].concat(),
    );
    let output = train_tiny(
        &dir.path().join("lossy"),
        &[
            "--set",
            &replaced,
            "--set",
            "data.invalid_utf8=replace",
            "--set",
            "train.max_steps=2",
        ],
    );
    assert_ok(&output);
    assert!(
        stderr(&output).contains("replaced 401 invalid UTF-8 sequences with U+FFFD"),
        "{}",
        stderr(&output)
    );
}

fn train_tiny_command(run_dir: &Path, extra: &[&str]) -> Command {
    let mut command = charlstm();
    command
        .args(["train", "--config"])
        .arg(repo_file("configs/tiny.toml"))
        .arg("--out")
        .arg(run_dir)
        .args(extra);
    command
}

#[test]
fn a_diverging_run_stops_at_the_step_and_keeps_the_weights_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let diverge = [
        "--set",
        "train.learning_rate=1e30",
        "--set",
        "train.grad_clip=0",
        "--set",
        "train.warmup_steps=0",
    ];
    let mut quiet = diverge.to_vec();
    quiet.push("--quiet");
    let output = train_tiny(&run_dir, &quiet);
    assert_clean_error(&output, "training diverged at step 2: loss ");
    let err = stderr(&output);
    assert!(err.contains("train.skip_nonfinite=true"), "{err}");
    let progress = std::fs::read_to_string(run_dir.join("latest/progress.json")).unwrap();
    assert!(progress.contains("\"step\": 1,"), "{progress}");
    // What was saved loads.
    assert_ok(&run(charlstm()
        .args(["sample", "--length", "5", "--seed", "1", "--checkpoint"])
        .arg(run_dir.join("latest"))));

    // Under skip_nonfinite the run goes on, skipping (and saying so) instead of stopping.
    let skip_dir = dir.path().join("skip");
    let mut args = diverge.to_vec();
    args.extend([
        "--set",
        "train.skip_nonfinite=true",
        "--set",
        "train.max_steps=6",
    ]);
    let output = train_tiny(&skip_dir, &args);
    assert_ok(&output);
    let err = stderr(&output);
    assert!(err.contains("skipped: loss"), "{err}");
    let progress = std::fs::read_to_string(skip_dir.join("latest/progress.json")).unwrap();
    assert!(progress.contains("\"step\": 6,"), "{progress}");
    assert!(progress.contains("\"skipped_steps\": 5,"), "{progress}");
}

/// Unmounts a tmpfs when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn directory_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                directory_size(&entry.path())
            } else {
                entry.metadata().unwrap().len()
            }
        })
        .sum()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The disk fills up while a checkpoint is being written: the run stops with one line, and the
/// previous checkpoint is intact and resumable. A small tmpfs is the full disk where this
/// process may mount one (root, as in CI); elsewhere a file-size limit (`ulimit -f`) makes the
/// large writes fail the same way.
#[test]
fn a_full_disk_during_a_save_keeps_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let shape = [
        "--set",
        "model.hidden_size=48",
        "--set",
        "train.eval_interval=5",
    ];
    let mut first = shape.to_vec();
    first.extend(["--set", "train.max_steps=5"]);
    assert_ok(&train_tiny(&source, &first));

    let mount_point = dir.path().join("small-disk");
    std::fs::create_dir_all(&mount_point).unwrap();
    // Room for what the run has plus half of another `latest`.
    let size = directory_size(&source) + directory_size(&source.join("latest")) / 2;
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}")])
        .arg("tmpfs")
        .arg(&mount_point)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _mount = mounted.then(|| Mount(mount_point.clone()));
    let run_dir = mount_point.join("run");
    copy_dir(&source, &run_dir);

    let mut resume = shape.to_vec();
    resume.extend(["--set", "train.max_steps=10", "--resume", "--quiet"]);
    let mut command = train_tiny_command(&run_dir, &resume);
    if !mounted {
        let program = command.get_program().to_owned();
        let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
        command = Command::new("sh");
        command
            .args(["-c", "trap '' XFSZ; ulimit -f 32; exec \"$0\" \"$@\""])
            .arg(program)
            .args(args);
    }
    let output = run(&mut command);
    assert_clean_error(
        &output,
        "(check the output directory is writable and the disk has room)",
    );
    let err = stderr(&output);
    assert!(
        err.contains("No space left on device") || err.contains("File too large"),
        "{err}"
    );

    let progress = std::fs::read_to_string(run_dir.join("latest/progress.json")).unwrap();
    assert!(progress.contains("\"step\": 5,"), "{progress}");
    assert_ok(&run(charlstm()
        .args(["sample", "--length", "5", "--seed", "1", "--checkpoint"])
        .arg(run_dir.join("latest"))));
}

#[test]
fn info_describes_a_checkpoint_and_each_validation_writes_a_sample() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    assert_ok(&train_tiny(
        &run_dir,
        &[
            "--set",
            "train.max_steps=60",
            "--set",
            "train.eval_interval=20",
            "--set",
            "train.sample_chars=50",
        ],
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

/// `charlstm prepare --json` for a corpus file with the tiny config, in the cache `cache`.
fn prepare_json(corpus: &Path, cache: &Path, extra: &[&str]) -> serde_json::Value {
    let mut command = charlstm();
    command
        .env("CHARLSTM_PREPARED_DIR", cache)
        .args(["prepare", "--json", "--config"])
        .arg(repo_file("configs/tiny.toml"))
        .arg("--set")
        .arg(format!("data.corpus={}", corpus.display()));
    for set in extra {
        command.args(["--set", set]);
    }
    let output = run(&mut command);
    assert_ok(&output);
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// A corpus is prepared once and reused by every later command until it changes; training
/// reads the same prepared file; `data.cache = false` leaves no file behind.
#[test]
fn a_prepared_corpus_is_reused_until_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let corpus = dir.path().join("corpus.txt");
    let text = "abcdefghijklmnopqrstuvwxyz\n".repeat(200);
    std::fs::write(&corpus, &text).unwrap();

    let first = prepare_json(&corpus, &cache, &[]);
    assert_eq!(first["reused"], false);
    assert_eq!(first["tokens"], text.len());
    assert_eq!(first["token_bytes"], 1);
    assert_eq!(first["vocab_size"], 27);
    let tokens_file = PathBuf::from(first["tokens_file"].as_str().unwrap());
    assert!(tokens_file.starts_with(&cache));
    assert_eq!(
        std::fs::metadata(&tokens_file).unwrap().len(),
        text.len() as u64
    );

    let second = prepare_json(&corpus, &cache, &[]);
    assert_eq!(second["reused"], true);
    assert_eq!(second["tokens_file"], first["tokens_file"]);

    // Training finds it prepared (-v says so) and learns from it.
    let run_dir = dir.path().join("run");
    let output = run(train_tiny_command(&run_dir, &[])
        .env("CHARLSTM_PREPARED_DIR", &cache)
        .arg("-v")
        .arg("--set")
        .arg(format!("data.corpus={}", corpus.display())));
    assert_ok(&output);
    let err = stderr(&output);
    assert!(err.contains("(reused)"), "{err}");
    let entry = tokens_file.parent().unwrap().display().to_string();
    assert!(err.contains(&entry), "{err}");

    // A changed corpus is prepared again, in the same place.
    let longer = format!("{text}0123456789\n");
    std::fs::write(&corpus, &longer).unwrap();
    let changed = prepare_json(&corpus, &cache, &[]);
    assert_eq!(changed["reused"], false);
    assert_eq!(changed["tokens"], longer.len());
    assert_eq!(changed["vocab_size"], 37);
    assert_eq!(changed["tokens_file"], first["tokens_file"]);

    // Without the cache, the token file lives only as long as the command.
    let uncached = prepare_json(&corpus, &cache, &["data.cache=false"]);
    assert_eq!(uncached["reused"], false);
    let temporary = PathBuf::from(uncached["tokens_file"].as_str().unwrap());
    assert!(!temporary.starts_with(&cache));
    assert!(!temporary.exists());
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
}

fn cache_command(cache: &Path, args: &[&str]) -> std::process::Output {
    run(charlstm()
        .env("CHARLSTM_PREPARED_DIR", cache)
        .arg("cache")
        .args(args))
}

/// `charlstm cache list` shows what the cache holds; `charlstm cache clean` removes what
/// nothing can use (sources gone, interrupted preparations), and with options what has not
/// been used for a while, or everything.
#[test]
fn the_cache_is_listed_and_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let kept = dir.path().join("kept.txt");
    let gone = dir.path().join("gone.txt");
    std::fs::write(&kept, "a corpus that stays\n".repeat(50)).unwrap();
    std::fs::write(&gone, "a corpus that will be deleted\n".repeat(50)).unwrap();
    prepare_json(&kept, &cache, &[]);
    prepare_json(&gone, &cache, &[]);
    std::fs::remove_file(&gone).unwrap();
    // What a preparation killed halfway leaves: a partial directory of a process now gone.
    let partial = cache.join(format!("{}.partial-4194999-1-0", "ab".repeat(32)));
    std::fs::create_dir(&partial).unwrap();
    std::fs::write(partial.join("tokens.bin"), [1u8; 100]).unwrap();
    // Not the cache's: never listed nor removed.
    std::fs::create_dir(cache.join("notes")).unwrap();

    let output = cache_command(&cache, &["list", "--json"]);
    assert_ok(&output);
    let listed: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let states: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["state"].as_str().unwrap(), e["name"].as_str().unwrap()))
        .collect();
    assert_eq!(states.len(), 3, "{listed}");
    let ready = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["state"] == "ready")
        .unwrap();
    assert_eq!(
        ready["sources"][0],
        kept.canonicalize().unwrap().display().to_string()
    );
    assert_eq!(ready["tokenizer"], "12 characters");
    let missing = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["state"] == "sources_missing")
        .unwrap();
    assert!(
        missing["missing_sources"][0]
            .as_str()
            .unwrap()
            .ends_with("gone.txt")
    );
    assert!(states.iter().any(|(state, _)| *state == "leftover"));

    let text = cache_command(&cache, &["list"]);
    assert_ok(&text);
    let text = stdout(&text);
    assert!(text.starts_with("3 prepared corpora in "), "{text}");
    assert!(text.contains("its sources are gone"), "{text}");
    assert!(
        text.contains("left by an interrupted preparation"),
        "{text}"
    );

    let dry = cache_command(&cache, &["clean", "--dry-run"]);
    assert_ok(&dry);
    let said = stdout(&dry);
    assert!(
        said.contains("by removing 2 prepared corpora; nothing was removed"),
        "{said}"
    );
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 4);

    let cleaned = cache_command(&cache, &["clean"]);
    assert_ok(&cleaned);
    let said = stdout(&cleaned);
    assert!(said.contains("kept 1 prepared corpus"), "{said}");
    let mut left: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[1], "notes");
    // The one kept is still used as it is.
    assert_eq!(prepare_json(&kept, &cache, &[])["reused"], true);

    // Used just now: kept for a day, removed when anything unused for no time at all goes.
    let recent = cache_command(&cache, &["clean", "--unused-for", "1"]);
    assert!(
        stdout(&recent).contains("nothing to remove"),
        "{}",
        stdout(&recent)
    );
    let unused = cache_command(&cache, &["clean", "--unused-for", "0"]);
    assert_ok(&unused);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);

    // --all removes whatever is there, used or not.
    prepare_json(&kept, &cache, &[]);
    let all = cache_command(&cache, &["clean", "--all"]);
    assert_ok(&all);
    assert!(stdout(&all).contains("freed"), "{}", stdout(&all));
    let left: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["notes"]);

    assert_clean_error(
        &cache_command(&cache, &["clean", "--unused-for", "-1"]),
        "--unused-for -1 is invalid: give a number of days, 0 or more",
    );
}
