//! The `charlstm` binary end to end: train → sample → eval, resume, backends, bench.

mod common;

use common::*;

#[test]
fn train_then_sample_then_eval() {
    let (dir, run_dir) = temp_run_dir();
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
        let output = run(sample_command(&run_dir).args([
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
    let output = run(sample_command(&run_dir)
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

    let output = run(&mut checkpoint_command("eval", &run_dir));
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
    let output = run(checkpoint_command("eval", &run_dir)
        .arg("--corpus")
        .arg(&text_file));
    assert_ok(&output);
    assert!(stdout(&output).contains("bits/char"), "{}", stdout(&output));
}

#[test]
fn a_run_resumes_from_its_latest_checkpoint() {
    let (_dir, run_dir) = temp_run_dir();
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
    let (_dir, run_dir) = temp_run_dir();
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
        let output = run(sample_command(&run_dir).args([
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
    let output = run(charlstm_in(dir.path())
        .args("bench --json --steps 2 --sample-length 20 --config".split(' '))
        .arg(repo_file("configs/tiny.toml")));
    assert_ok(&output);
    assert_mentions_all(
        &stdout(&output),
        &[
            "\"train_chars_per_s\":",
            "\"sample_chars_per_s\":",
            "\"batch_sample_chars_per_s\":",
            "\"num_samples\":32",
            "\"backend\":\"ndarray\"",
        ],
    );
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

/// `--stop` ends a sample after the first stop string it generates, which is kept, alone and
/// with many samples at once (sample k still being the text of seed + k); `--prime-file` reads
/// the prime from a file, and a missing, empty or unknown one gets one clear line.
#[test]
fn sample_stops_at_a_stop_string_and_reads_its_prime_from_a_file() {
    let run_dir = shared_tiny_run();
    let sample = |args: &[&str]| {
        let output = run(sample_command(run_dir)
            .args(["--length", "400", "--seed", "3"])
            .args(args));
        assert_ok(&output);
        output
    };
    let unstopped = sampled_text(&sample(&["--prime", "q"]));
    let generated = &unstopped["q".len()..];
    let first_a = generated
        .find('a')
        .expect("400 characters of a 27-letter text hold an a");
    let first_m = generated.find('m').expect("and an m");
    let stopped = sampled_text(&sample(&["--prime", "q", "--stop", "a", "--stop", "m"]));
    let end = first_a.min(first_m) + 1;
    assert_eq!(stopped, format!("q{}", &generated[..end]));

    // Many at once: each ends at its own stop, and is the text its own seed gives alone.
    let many = stdout(&sample(&[
        "--prime",
        "q",
        "--stop",
        "a",
        "--num-samples",
        "3",
    ]));
    for k in 0..3u64 {
        let alone = sampled_text(&run(sample_command(run_dir)
            .args(["--length", "400", "--prime", "q", "--stop", "a", "--seed"])
            .arg((3 + k).to_string())));
        assert!(alone.ends_with('a'), "{alone:?}");
        let header = format!("==> sample {} of 3 (--seed {}) <==\n", k + 1, 3 + k);
        assert!(many.contains(&format!("{header}{alone}\n")), "{many}");
    }

    let dir = tempfile::tempdir().unwrap();
    let prime_file = dir.path().join("prime.txt");
    std::fs::write(&prime_file, "abc\nde").unwrap();
    let from_file = sampled_text(&sample(&["--prime-file", prime_file.to_str().unwrap()]));
    let given = sampled_text(&sample(&["--prime", "abc\nde"]));
    assert_eq!(from_file, given);
    assert!(from_file.starts_with("abc\nde"));

    let refused = |args: &[&str], expected: &str| {
        assert_clean_error(&run(sample_command(run_dir).args(args)), expected);
    };
    let missing = dir.path().join("missing.txt");
    refused(
        &["--prime-file", missing.to_str().unwrap()],
        "cannot read --prime-file",
    );
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    refused(&["--prime-file", empty.to_str().unwrap()], "is empty");
    let unknown = dir.path().join("unknown.txt");
    std::fs::write(&unknown, "xyZ!").unwrap();
    refused(
        &["--prime-file", unknown.to_str().unwrap()],
        &format!("--prime-file {}: ", unknown.display()),
    );
    refused(&["--stop", ""], "--stop \"\" is invalid");
}

/// `--beam N` prints the prime and the likeliest continuation beam search finds, the same each
/// time, with its log probability on stderr; it takes no sampling options.
#[test]
fn sample_with_a_beam_is_deterministic_and_reports_its_log_probability() {
    let beam = |args: &[&str]| {
        run(sample_command(shared_tiny_run())
            .args(["--length", "50", "--prime", "ab"])
            .args(args))
    };
    let first = beam(&["--beam", "3"]);
    assert_ok(&first);
    let text = sampled_text(&first);
    assert!(text.starts_with("ab"), "{text:?}");
    assert_eq!(text.chars().count(), 52);
    assert_eq!(sampled_text(&beam(&["--beam", "3"])), text);
    let log = stderr(&first);
    assert_mentions(&log, "beam search (3 beams): log probability -");

    let conflict = beam(&["--beam", "3", "--temperature", "0.5"]);
    assert_eq!(conflict.status.code(), Some(2), "{}", stderr(&conflict));
    assert_clean_error(&beam(&["--beam", "0"]), "--beam 0 is invalid");
}

/// `--json` prints one JSON line per sample: the text the same seed gives without it, and each
/// token drawn with its log probability, which add up to the sample's.
#[test]
fn sample_as_json_gives_each_tokens_log_probability() {
    let sample = |args: &[&str]| {
        let output = run(sample_command(shared_tiny_run())
            .args(["--length", "30", "--prime", "ab", "--seed", "5"])
            .args(args));
        assert_ok(&output);
        output
    };
    let plain = sampled_text(&sample(&["--temperature", "0.7"]));
    let output = stdout(&sample(&[
        "--temperature",
        "0.7",
        "--json",
        "--num-samples",
        "2",
    ]));
    let lines: Vec<serde_json::Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{output}");
    assert_eq!(lines[0]["seed"], 5);
    assert_eq!(lines[1]["seed"], 6);
    assert_eq!(lines[0]["prime"], "ab");
    assert_eq!(format!("ab{}", lines[0]["text"].as_str().unwrap()), plain);
    for line in &lines {
        let pieces = line["pieces"].as_array().unwrap();
        assert_eq!(pieces.len(), 30);
        let joined: String = pieces.iter().map(|p| p["text"].as_str().unwrap()).collect();
        assert_eq!(joined, line["text"].as_str().unwrap());
        let total: f64 = pieces.iter().map(|p| p["log_prob"].as_f64().unwrap()).sum();
        assert!(
            pieces
                .iter()
                .all(|p| p["log_prob"].as_f64().unwrap() <= 0.0)
        );
        assert!(
            (total - line["log_prob"].as_f64().unwrap()).abs() < 1e-9,
            "{line}"
        );
    }
}
