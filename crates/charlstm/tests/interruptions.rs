//! Nothing is lost when a run is stopped: killed with SIGKILL at random moments (also in the
//! middle of writing checkpoints) and resumed, a run takes bit for bit the steps of a run never
//! interrupted; SIGINT and SIGTERM checkpoint and say how to resume; a damaged checkpoint is
//! refused in one line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;

use common::{assert_mentions, assert_ok, charlstm, sets, stderr, temp_run_dir};

/// A small two-layer model with dropout (so the random masks must line up too), on ndarray,
/// logging every step and writing `latest` every `checkpoint_interval` steps. Its first 30%
/// of steps train on chunks half as long, so kills land on both sides of the switch.
fn train_command(run_dir: &Path, checkpoint_interval: usize, resume: bool) -> Command {
    train_command_with(run_dir, checkpoint_interval, resume, &[])
}

/// Every regularisation that draws masks or keeps state beyond the weights: locked dropout
/// between layers, on the input and of embedding rows, weight drop, weight decay and the
/// averaged weights (which the validation losses measure).
const REGULARISED: &[&str] = &[
    "model.locked_dropout=true",
    "model.input_dropout=0.1",
    "model.embedding_dropout=0.1",
    "model.weight_drop=0.3",
    "train.weight_decay=0.1",
    "train.ema_decay=0.9",
];

/// [`train_command`] with `extra` overrides after the standard ones.
fn train_command_with(
    run_dir: &Path,
    checkpoint_interval: usize,
    resume: bool,
    extra: &[&str],
) -> Command {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/tiny.toml");
    let mut command = charlstm();
    command.args(["train", "--quiet", "--config"]).arg(config);
    command.arg("--out").arg(run_dir);
    if resume {
        command.arg("--resume");
    }
    command.args(sets(&[
        "backend=ndarray",
        "data.corpus=brackets",
        "model.num_layers=2",
        "model.hidden_size=32",
        "model.embedding_size=8",
        "model.dropout=0.25",
        "train.batch_size=4",
        "train.seq_len=16",
        "train.early_seq_len=8",
        "train.max_steps=160",
        "train.eval_interval=40",
        "train.log_interval=1",
        &format!("train.checkpoint_interval={checkpoint_interval}"),
    ]));
    command.args(sets(extra));
    command
}

/// `metrics.csv` rows, header dropped.
fn metrics(run_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(run_dir.join("metrics.csv"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// The columns that must match exactly: step, epoch, train loss, validation loss, learning
/// rate (not speed or wall time).
fn losses(rows: &[String]) -> Vec<String> {
    rows.iter()
        .map(|row| row.split(',').take(5).collect::<Vec<_>>().join(","))
        .collect()
}

fn has_checkpoint(run_dir: &Path) -> bool {
    ["latest", ".latest.old"]
        .iter()
        .any(|name| run_dir.join(name).join("progress.json").is_file())
}

/// Waits until the run has logged `rows` steps (or ended), then kills it with SIGKILL.
fn kill_after_rows(mut child: Child, run_dir: &Path, rows: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while metrics(run_dir).len() < rows && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn uninterrupted(dir: &Path, extra: &[&str]) -> Vec<String> {
    let run_dir = dir.join("uninterrupted");
    assert_ok(
        &train_command_with(&run_dir, 0, false, extra)
            .output()
            .unwrap(),
    );
    let rows = losses(&metrics(&run_dir));
    assert_eq!(rows.len(), 160);
    rows
}

/// Starts (or resumes, from whatever checkpoint survived) the standard run with a checkpoint
/// every `checkpoint_interval` steps, `starts` times, handing each child to `stop` with the run
/// directory and a random generator; `stop` kills it at its moment, or says the run ended
/// first (`true`), which ends the starts. Returns the losses of the run uninterrupted and the
/// killed run's directory, for the caller to finish.
fn kill_repeatedly(
    dir: &Path,
    checkpoint_interval: usize,
    starts: usize,
    extra: &[&str],
    mut stop: impl FnMut(Child, &Path, &mut ChaCha8Rng) -> bool,
) -> (Vec<String>, PathBuf) {
    let expected = uninterrupted(dir, extra);
    let mut rng = ChaCha8Rng::seed_from_u64(rand::rng().random());
    let run_dir = dir.join("killed");
    for _ in 0..starts {
        let resume = has_checkpoint(&run_dir);
        let child = train_command_with(&run_dir, checkpoint_interval, resume, extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if stop(child, &run_dir, &mut rng) {
            break;
        }
    }
    (expected, run_dir)
}

#[test]
fn killed_at_random_steps_and_resumed_the_losses_match_bit_for_bit() {
    killed_and_resumed_matches(&[]);
}

/// The same with every regularisation on: its masks come out the same after a resume, and the
/// averaged weights (which validation measures) are saved and resumed exactly.
#[test]
fn a_regularised_run_killed_and_resumed_matches_bit_for_bit() {
    killed_and_resumed_matches(REGULARISED);
}

fn killed_and_resumed_matches(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    // Killed three times at random steps, checkpoints every 7 steps.
    let (expected, run_dir) = kill_repeatedly(dir.path(), 7, 3, extra, |child, run_dir, rng| {
        let done = metrics(run_dir).len();
        kill_after_rows(child, run_dir, rng.random_range(done + 8..done + 40));
        false
    });
    assert!(has_checkpoint(&run_dir), "a checkpoint survived the kills");
    assert_ok(
        &train_command_with(&run_dir, 7, true, extra)
            .output()
            .unwrap(),
    );
    assert_eq!(losses(&metrics(&run_dir)), expected);
}

#[test]
fn killed_many_times_while_saving_it_always_resumes() {
    let dir = tempfile::tempdir().unwrap();
    // A checkpoint after every step, so most kills land in or near a save.
    let (expected, run_dir) = kill_repeatedly(dir.path(), 1, 12, &[], |mut child, _, rng| {
        std::thread::sleep(Duration::from_millis(rng.random_range(150..600)));
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        false
    });
    let resume = has_checkpoint(&run_dir);
    assert_ok(&train_command(&run_dir, 1, resume).output().unwrap());
    assert_eq!(losses(&metrics(&run_dir)), expected);
}

fn send(signal: &str, child: &Child) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Spawns a long run and waits until it has taken a few steps.
fn started_run(run_dir: &Path) -> Child {
    let mut command = train_command(run_dir, 0, false);
    command.args(["--set", "train.max_steps=100000"]);
    spawn_until_logged(command, run_dir, 5)
}

/// Spawns `command` (a run logging every step into `run_dir`) and waits until it has logged
/// `rows` steps.
fn spawn_until_logged(mut command: Command, run_dir: &Path, rows: usize) -> Child {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while metrics(run_dir).len() < rows {
        assert!(
            Instant::now() < deadline,
            "the run did not take {rows} steps"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

fn latest_step(run_dir: &Path) -> usize {
    let text = std::fs::read_to_string(run_dir.join("latest/progress.json")).unwrap();
    let progress: serde_json::Value = serde_json::from_str(&text).unwrap();
    progress["step"].as_u64().unwrap() as usize
}

#[test]
fn sigint_and_sigterm_finish_the_step_checkpoint_and_say_how_to_resume() {
    for signal in ["-INT", "-TERM"] {
        let (_dir, run_dir) = temp_run_dir();
        let child = started_run(&run_dir);
        send(signal, &child);
        let output = child.wait_with_output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(130), "{signal}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        let resume_line = format!(
            "resume with: charlstm train --resume --out {}",
            run_dir.display()
        );
        assert!(err.contains(&resume_line), "{signal}: {err}");
        // The checkpoint holds the last step logged.
        let rows = metrics(&run_dir);
        let last_row: usize = rows
            .last()
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(latest_step(&run_dir), last_row, "{signal}");
        assert_mentions(&err, &format!("interrupted after step {last_row}"));
    }
}

#[test]
fn a_second_sigint_exits_at_once() {
    // Steps of about a second (64,000 characters each), so both signals land well inside one
    // step: the orderly stop cannot finish between them, and they are far enough apart not to
    // merge into one pending signal.
    let (_dir, run_dir) = temp_run_dir();
    let mut command = train_command(&run_dir, 0, false);
    command.args(sets(&[
        "model.num_layers=1",
        "model.hidden_size=128",
        "train.batch_size=32",
        "train.seq_len=2000",
        "train.early_seq_len=0",
        "train.epochs=1000",
        "train.max_steps=100000",
    ]));
    // Just after the second step is logged, the third has begun.
    let child = spawn_until_logged(command, &run_dir, 2);
    send("-INT", &child);
    std::thread::sleep(Duration::from_millis(100));
    send("-INT", &child);
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(
        !err.contains("interrupted after step"),
        "no orderly stop: {err}"
    );
    assert!(!run_dir.join("latest").exists(), "no checkpoint written");
}

fn first_error_line(output: &Output) -> String {
    let err = stderr(output);
    assert!(!output.status.success(), "expected a failure: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    lines[0].to_string()
}

fn damage(run_dir: &Path, file: &str, how: impl FnOnce(&PathBuf)) -> Output {
    let latest = run_dir.join("latest");
    how(&latest.join(file));
    train_command(run_dir, 0, true).output().unwrap()
}

#[test]
fn a_damaged_or_foreign_checkpoint_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let mut command = train_command(&source, 0, false);
    command.args(["--set", "train.max_steps=5"]);
    assert_ok(&command.output().unwrap());

    let copy = |name: &str| {
        let run_dir = dir.path().join(name);
        std::fs::create_dir_all(run_dir.join("latest")).unwrap();
        for entry in std::fs::read_dir(source.join("latest")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), run_dir.join("latest").join(entry.file_name())).unwrap();
        }
        std::fs::copy(source.join("config.toml"), run_dir.join("config.toml")).unwrap();
        run_dir
    };

    let truncated = damage(&copy("truncated"), "model.bpk", |path| {
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
    });
    let line = first_error_line(&truncated);
    assert!(line.contains("model.bpk is damaged"), "{line}");

    let flipped = damage(&copy("flipped"), "optimizer.bpk", |path| {
        let mut bytes = std::fs::read(path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(path, bytes).unwrap();
    });
    let line = first_error_line(&flipped);
    assert!(line.contains("optimizer.bpk is damaged"), "{line}");

    let missing = damage(&copy("missing"), "state.bin", |path| {
        std::fs::remove_file(path).unwrap();
    });
    let line = first_error_line(&missing);
    assert_mentions(&line, "is incomplete: cannot read state.bin");

    let old = damage(&copy("old"), "progress.json", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        std::fs::write(
            path,
            text.replace("\"format_version\": 2", "\"format_version\": 1"),
        )
        .unwrap();
    });
    let line = first_error_line(&old);
    assert_mentions(&line, "format version 1, this charlstm reads version 2");

    // Resuming on another corpus: the checkpoint's vocabulary does not cover it.
    let run_dir = copy("other-corpus");
    let mut command = train_command(&run_dir, 0, true);
    command.args(["--set", "data.corpus=alphabet"]);
    let line = first_error_line(&command.output().unwrap());
    assert_mentions(&line, "its vocabulary does not cover the corpus");
}

/// A bidirectional run (two layers, dropout, residual connections) stopped halfway and resumed
/// takes bit for bit the steps of a run never stopped, in both directions: the backward
/// stack's carried state and its dropout masks come back too.
#[test]
fn a_resumed_bidirectional_run_continues_both_directions_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let train = |run_dir: &Path, max_steps: usize, resume: bool| {
        let mut command = train_command(run_dir, 0, resume);
        command.args(sets(&[
            "model.bidirectional=true",
            "model.residual=true",
            "train.eval_interval=20",
            // The halves stop at different max_steps: a constant rate keeps their schedules
            // equal to the whole run's, and no early phase its switch (which follows the share
            // of max_steps) at the same step.
            "train.schedule=constant",
            "train.early_seq_len=0",
            &format!("train.max_steps={max_steps}"),
        ]));
        assert_ok(&command.output().unwrap());
    };
    let whole = dir.path().join("whole");
    train(&whole, 60, false);
    let parts = dir.path().join("parts");
    train(&parts, 30, false);
    train(&parts, 60, true);

    // Every column but speed and wall time: step, epoch, train loss, validation loss, learning
    // rate, then the backward train and validation losses.
    let exact = |rows: Vec<String>| -> Vec<Vec<String>> {
        rows.iter()
            .map(|row| {
                let cells: Vec<&str> = row.split(',').collect();
                [&cells[..5], &cells[7..]]
                    .concat()
                    .iter()
                    .map(|c| c.to_string())
                    .collect()
            })
            .collect()
    };
    let whole_rows = exact(metrics(&whole));
    let mut parts_rows = exact(metrics(&parts));
    assert_eq!(whole_rows.len(), 60, "{whole_rows:?}");
    assert!(
        whole_rows.iter().all(|row| !row[5].is_empty()),
        "every step logs the backward training loss"
    );
    // The first half also validated at its last step (30), which the whole run did not.
    let row_30 = &mut parts_rows[29];
    assert!(!row_30[3].is_empty() && !row_30[6].is_empty(), "{row_30:?}");
    row_30[3].clear();
    row_30[6].clear();
    assert_eq!(parts_rows, whole_rows);
}
