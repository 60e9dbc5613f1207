//! A property of whole runs: a random small config, trained, killed with SIGKILL at a random
//! moment (between steps or while a checkpoint is being written), resumed with a random new
//! value for a random config key, killed again at random, and resumed once more. After every
//! such sequence the run's `latest` and `best` checkpoints sample, evaluate and resume, or the
//! command was refused before it wrote anything; nothing panics anywhere.
//!
//! PROPTEST_CASES sets the number of sequences (default 24 here, a minute or two); a failing
//! sequence is printed with the config, the override and the kill delays.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use charlstm_train::resume::{OnResume, RESUME_RULES, rule_of};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A small run: everything a config can vary that changes what is saved.
#[derive(Debug, Clone)]
struct SmallRun {
    backend: &'static str,
    corpus: &'static str,
    cell: &'static str,
    num_layers: usize,
    hidden_size: usize,
    embedding_size: usize,
    bidirectional: bool,
    residual: bool,
    dropout: f64,
    batch_size: usize,
    seq_len: usize,
    eval_interval: usize,
    checkpoint_interval: usize,
    max_steps: usize,
}

impl SmallRun {
    fn sets(&self) -> Vec<String> {
        vec![
            format!("backend={}", self.backend),
            format!("data.corpus={}", self.corpus),
            format!("model.cell={}", self.cell),
            format!("model.num_layers={}", self.num_layers),
            format!("model.hidden_size={}", self.hidden_size),
            format!("model.embedding_size={}", self.embedding_size),
            format!("model.bidirectional={}", self.bidirectional),
            format!("model.residual={}", self.residual),
            format!("model.dropout={}", self.dropout),
            format!("train.batch_size={}", self.batch_size),
            format!("train.seq_len={}", self.seq_len),
            format!("train.eval_interval={}", self.eval_interval),
            format!("train.checkpoint_interval={}", self.checkpoint_interval),
            format!("train.max_steps={}", self.max_steps),
            "train.log_interval=1".into(),
            "train.sample_chars=20".into(),
        ]
    }
}

fn small_run() -> impl Strategy<Value = SmallRun> {
    (
        (
            prop::sample::select(vec!["ndarray", "flex"]),
            prop::sample::select(vec!["alphabet", "brackets", "counting", "reber"]),
            prop::sample::select(vec!["lstm", "gru", "rnn"]),
            1usize..=2,
            prop::sample::select(vec![8usize, 12, 16]),
            prop::sample::select(vec![4usize, 8]),
            prop::bool::weighted(0.25),
        ),
        (
            any::<bool>(),
            prop::sample::select(vec![0.0, 0.2]),
            2usize..=6,
            4usize..=16,
            3usize..=10,
            0usize..=4,
            20usize..=200,
        ),
    )
        .prop_map(|(model, schedule)| SmallRun {
            backend: model.0,
            corpus: model.1,
            cell: model.2,
            num_layers: model.3,
            hidden_size: model.4,
            embedding_size: model.5,
            bidirectional: model.6,
            residual: schedule.0,
            dropout: schedule.1,
            batch_size: schedule.2,
            seq_len: schedule.3,
            eval_interval: schedule.4,
            checkpoint_interval: schedule.5,
            max_steps: schedule.6,
        })
}

/// Values a key may be given on resume (valid ones: what happens to a refused or honoured
/// value is the question, not validation).
fn values_for(key: &str) -> Vec<String> {
    let list: &[&str] = match key {
        "backend" => &["ndarray", "flex"],
        "seed" => &["1", "99"],
        "data.corpus" => &["alphabet", "brackets", "counting", "reber"],
        "data.include" => &["[]"],
        "data.exclude" => &["[]", r#"["unused"]"#],
        "data.max_vocab" => &["0", "5"],
        "data.val_chars" => &["0", "50"],
        "data.validation_fraction" => &["0.1", "0.3"],
        "data.test_fraction" => &["0.0", "0.1"],
        "data.invalid_utf8" => &["error", "replace"],
        "data.tokenizer" => &["chars"],
        "data.cache" => &["true", "false"],
        "model.cell" => &["lstm", "gru", "rnn"],
        "model.embedding_size" => &["4", "8"],
        "model.hidden_size" => &["8", "12", "16", "20"],
        "model.num_layers" => &["1", "2", "3"],
        "model.dropout" => &["0.0", "0.3"],
        "model.output_dropout" => &["false", "true"],
        "model.locked_dropout" => &["false", "true"],
        "model.input_dropout" => &["0.0", "0.2"],
        "model.embedding_dropout" => &["0.0", "0.1"],
        "model.weight_drop" => &["0.0", "0.3"],
        "model.forget_bias" => &["0.0", "1.0"],
        "model.bidirectional" => &["false", "true"],
        "model.shared_head" => &["true", "false"],
        "model.residual" => &["false", "true"],
        "train.batch_size" => &["1", "3", "8"],
        "train.seq_len" => &["2", "5", "20"],
        // 1 divides every seq_len the runs have.
        "train.early_seq_len" => &["0", "1"],
        "train.early_share" => &["0.3", "0.8"],
        "train.learning_rate" => &["1e-2", "3e-3"],
        "train.min_learning_rate" => &["1e-4", "1e-3"],
        "train.schedule" => &["constant", "cosine", "linear"],
        "train.decay_fraction" => &["1.0", "0.3"],
        "train.warmup_steps" => &["0", "5"],
        "train.adam_beta1" => &["0.9", "0.5"],
        "train.adam_beta2" => &["0.999", "0.95"],
        "train.weight_decay" => &["0.0", "0.1"],
        "train.ema_decay" => &["0.0", "0.9"],
        "train.grad_clip" => &["0.0", "1.0"],
        "train.epochs" => &["1", "4"],
        "train.max_steps" => &["5", "60"],
        "train.max_minutes" => &["0.0", "2.0"],
        "train.eval_interval" => &["2", "7"],
        "train.checkpoint_interval" => &["0", "1"],
        "train.log_interval" => &["1", "3"],
        "train.skip_nonfinite" => &["false", "true"],
        "train.sample_chars" => &["0", "10"],
        other => panic!("no values for {other}: add some"),
    };
    list.iter().map(|v| v.to_string()).collect()
}

fn an_override() -> impl Strategy<Value = (String, String)> {
    prop::sample::select(RESUME_RULES.iter().map(|(key, _)| *key).collect::<Vec<_>>())
        .prop_flat_map(|key| {
            prop::sample::select(values_for(key)).prop_map(move |value| (key.to_string(), value))
        })
}

fn train(run_dir: &Path, run: &SmallRun, resume: bool, extra: &[String]) -> Command {
    let mut command = charlstm();
    command.args(["train", "--quiet", "--config"]);
    command.arg(repo_file("configs/tiny.toml"));
    command.arg("--out").arg(run_dir);
    if resume {
        command.arg("--resume");
    }
    command.args(sets(&run.sets())).args(sets(extra));
    command
}

/// Runs `command` and kills it with SIGKILL after `delay` (if it has not ended by then).
fn run_killed_after(mut command: Command, delay: Duration) -> Option<Output> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while start.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    None
}

/// A finished command either succeeded or failed in one clean line; none panicked.
fn check_outcome(output: &Output, what: &str) -> Result<(), TestCaseError> {
    let err = stderr(output);
    prop_assert!(!err.contains("panicked"), "{what} panicked: {err}");
    if !output.status.success() {
        let errors = err.lines().filter(|l| l.starts_with("error:")).count();
        prop_assert_eq!(errors, 1, "{} failed without one error line: {}", what, err);
    }
    Ok(())
}

fn has_latest(run_dir: &Path) -> bool {
    ["latest", ".latest.old"]
        .iter()
        .any(|name| run_dir.join(name).join("progress.json").is_file())
}

/// Whether `value` differs from what the run's latest checkpoint has for `key`.
fn differs(run_dir: &Path, key: &str, value: &str) -> bool {
    let latest = ["latest", ".latest.old"]
        .iter()
        .map(|name| run_dir.join(name).join("config.toml"))
        .find(|path| path.is_file())
        .expect("a checkpoint");
    let saved: toml::Table = std::fs::read_to_string(latest).unwrap().parse().unwrap();
    let saved = match key.split_once('.') {
        Some((section, name)) => saved[section].get(name).cloned(),
        None => saved.get(key).cloned(),
    };
    // As `--set` reads a value: TOML, or a plain string when it is not valid TOML.
    let given = format!("v = {value}")
        .parse::<toml::Table>()
        .map(|t| t["v"].clone())
        .unwrap_or_else(|_| toml::Value::String(value.to_string()));
    saved != Some(given)
}

fn sequence(
    small: &SmallRun,
    (key, value): &(String, String),
    first_kill_ms: u64,
    second_kill_ms: u64,
) -> Result<(), TestCaseError> {
    let (_dir, run_dir) = temp_run_dir();

    // 1. Train, killed at a random moment (or finished).
    if let Some(output) = run_killed_after(
        train(&run_dir, small, false, &[]),
        Duration::from_millis(first_kill_ms),
    ) {
        check_outcome(&output, "train")?;
        prop_assert!(output.status.success(), "train failed: {}", stderr(&output));
    }
    if !has_latest(&run_dir) {
        // Killed before the first checkpoint: resuming says so in one line.
        let output = train(&run_dir, small, true, &[]).output().unwrap();
        check_outcome(&output, "resume without a checkpoint")?;
        return Ok(());
    }

    // 2. Resume with the override, more steps, killed at a random moment again.
    let more_steps = format!("train.max_steps={}", small.max_steps + 15);
    let extra = if key == "train.max_steps" {
        vec![format!("{key}={value}")]
    } else {
        vec![format!("{key}={value}"), more_steps.clone()]
    };
    let before = snapshot(&run_dir);
    let fixed = rule_of(key) == Some(OnResume::Fixed) && differs(&run_dir, key, value);
    match run_killed_after(
        train(&run_dir, small, true, &extra),
        Duration::from_millis(second_kill_ms),
    ) {
        Some(output) => {
            check_outcome(&output, "resume with the override")?;
            if !output.status.success() {
                let err = stderr(&output);
                if output.status.code() == Some(2) {
                    prop_assert!(
                        snapshot(&run_dir) == before,
                        "a refused resume wrote files: {}",
                        err
                    );
                }
                // Refused (a fixed key given a new value), or data the vocabulary lacks.
                prop_assert!(
                    (fixed && output.status.code() == Some(2))
                        || err.contains("vocabulary does not cover"),
                    "resume with {}={} failed: {}",
                    key,
                    value,
                    err
                );
            }
        }
        None => {
            prop_assert!(
                !fixed || snapshot(&run_dir) == before,
                "a fixed key's override wrote files before being refused"
            );
        }
    }

    // 3. Whatever happened, the run is usable: resume (no override) to the end, then every
    // checkpoint samples and evaluates.
    let output = train(&run_dir, small, true, std::slice::from_ref(&more_steps))
        .output()
        .unwrap();
    check_outcome(&output, "final resume")?;
    prop_assert!(
        output.status.success(),
        "the final resume failed: {}",
        stderr(&output)
    );
    for checkpoint in ["latest", "best"] {
        let path = run_dir.join(checkpoint);
        if !path.exists() {
            continue;
        }
        let sample = run(sample_command(&path).args(["--length", "10"]));
        check_outcome(&sample, "sample")?;
        prop_assert!(
            sample.status.success(),
            "sample {}: {}",
            checkpoint,
            stderr(&sample)
        );
        let eval = run(&mut checkpoint_command("eval", &path));
        check_outcome(&eval, "eval")?;
        prop_assert!(
            eval.status.success(),
            "eval {}: {}",
            checkpoint,
            stderr(&eval)
        );
    }
    Ok(())
}

#[test]
fn random_runs_killed_and_resumed_with_random_overrides_stay_usable() {
    // The default case count is set here; PROPTEST_CASES overrides it.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        // Each case is several processes; shrinking a failure is still worth it, within limits.
        max_shrink_iters: 64,
        ..Config::default()
    });
    runner
        .run(
            &(small_run(), an_override(), 5u64..800, 5u64..800),
            |(run, override_, first, second)| sequence(&run, &override_, first, second),
        )
        .unwrap();
}
