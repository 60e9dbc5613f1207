//! What the tests of the binary share: running it, reading its output, a tiny training run.

// Each test binary uses some of these.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn charlstm() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_charlstm"));
    // Tests never download: named corpora come from the data directory CI provides.
    command.env_remove("CHARLSTM_CACHE_DIR");
    command.env("CHARLSTM_CACHE_DIR", "/nonexistent/charlstm-test-cache");
    command.env("CHARLSTM_PREPARED_DIR", prepared_dir());
    command
}

/// [`charlstm`] run in `dir`, so that relative paths in its arguments are `dir`'s.
pub fn charlstm_in(dir: &Path) -> Command {
    let mut command = charlstm();
    command.current_dir(dir);
    command
}

/// Where the tests' runs keep prepared corpora: inside the target directory, shared by the
/// tests (the same generated corpus is prepared once).
pub fn prepared_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("prepared-corpora")
}

pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `charlstm sample` printed, without the one newline it ends its output with (the
/// generated text may itself end in newlines, which count).
pub fn sampled_text(output: &Output) -> String {
    let text = stdout(output);
    text.strip_suffix('\n')
        .unwrap_or_else(|| panic!("sample output ends with a newline: {text:?}"))
        .to_string()
}

pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstderr:\n{}",
        output.status,
        stderr(output)
    );
}

/// A failure as users should see it: non-zero exit, one `error:` line, no panic.
pub fn assert_clean_error(output: &Output, expected: &str) {
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

/// A tiny run of 20 steps, validated (and checkpointed) at steps 10 and 20: mid-epoch, with a
/// carried state in `latest`.
pub fn train_tiny_20_steps(run_dir: &Path) {
    assert_ok(&train_tiny(
        run_dir,
        &sets(&["train.max_steps=20", "train.eval_interval=10"]),
    ));
}

/// A new temporary directory and the path of a run directory `run` in it (not yet created).
pub fn temp_run_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    (dir, run_dir)
}

/// A new temporary directory holding one file, `name`, of `contents`, and that file's path.
pub fn temp_file(name: &str, contents: impl AsRef<[u8]>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

/// A run of [`train_tiny_20_steps`] trained once per test binary, for the tests that only read
/// it (sample, eval, info). It lives in the target directory's scratch space.
pub fn shared_tiny_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let run_dir = dir.keep().join("run");
        train_tiny_20_steps(&run_dir);
        run_dir
    })
}

/// `charlstm <subcommand> --checkpoint run_dir`, for the caller's further arguments.
pub fn checkpoint_command(subcommand: &str, run_dir: &Path) -> Command {
    let mut command = charlstm();
    command.args([subcommand, "--checkpoint"]).arg(run_dir);
    command
}

/// `charlstm sample --checkpoint run_dir`, for the caller's further arguments.
pub fn sample_command(run_dir: &Path) -> Command {
    checkpoint_command("sample", run_dir)
}

/// What `charlstm info --json` says of the checkpoint at `path`, which must succeed.
pub fn info_json(path: &Path) -> serde_json::Value {
    let output = run(charlstm().args(["info", "--json"]).arg(path));
    assert_ok(&output);
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// `charlstm train` on `configs/tiny.toml` into `run_dir`, with `extra` arguments.
pub fn train_tiny_command(run_dir: &Path, extra: &[&str]) -> Command {
    let mut command = charlstm();
    command
        .args(["train", "--config"])
        .arg(repo_file("configs/tiny.toml"))
        .arg("--out")
        .arg(run_dir)
        .args(extra);
    command
}

/// Runs [`train_tiny_command`].
pub fn train_tiny(run_dir: &Path, extra: &[&str]) -> Output {
    run(&mut train_tiny_command(run_dir, extra))
}

/// `--set` before each assignment: `sets(&["a=1", "b=2"])` is `["--set", "a=1", "--set", "b=2"]`.
pub fn sets<S: AsRef<str>>(assignments: &[S]) -> Vec<&str> {
    assignments
        .iter()
        .flat_map(|assignment| ["--set", assignment.as_ref()])
        .collect()
}

/// Every file under `dir` with its bytes, to tell whether a command wrote anything.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files.insert(path, bytes);
            }
        }
    }
    files
}

/// Copies the directory `from` to `to`, subdirectories and all.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Asserts that `text` (a command's output) contains `expected`, showing the whole text if not.
pub fn assert_mentions(text: &str, expected: &str) {
    assert!(text.contains(expected), "expected '{expected}' in:\n{text}");
}

/// [`assert_mentions`] for each of `expected`.
pub fn assert_mentions_all(text: &str, expected: &[&str]) {
    for expected in expected {
        assert_mentions(text, expected);
    }
}
