//! Bad input and failures: one clear line and a non-zero exit, no panic; a diverging run and
//! a full disk keep the checkpoint before them.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::*;

#[test]
fn bad_input_gets_one_clear_line() {
    let (dir, run_dir) = temp_run_dir();

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
        &run(&mut sample_command(&dir.path().join("missing"))),
        "no such directory",
    );
    assert_ok(&train_tiny(
        &run_dir,
        &sets(&["train.max_steps=5", "train.eval_interval=5"]),
    ));
    let sample = |args: &[&str]| run(sample_command(&run_dir).args(args));
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
    let (dir, run_dir) = temp_run_dir();
    let corpus = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        format!("data.corpus={}", path.display())
    };
    let empty_dir = dir.path().join("empty-dir");
    std::fs::create_dir(&empty_dir).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            format!("data.corpus={}", empty_dir.display()),
            "has no text files to read (check data.include and data.exclude, or give a file)",
        ),
        (corpus("empty.txt", b""), "is empty"),
        (
            corpus("binary.bin", b"\x7fELF\x02\x01\x01\x00\x00\x00"),
            "looks like a binary file (NUL byte at offset 7)",
        ),
        (
            corpus("latin1.txt", b"caf\xe9 au lait"),
            "set data.invalid_utf8=replace",
        ),
        (
            "train.batch_size=abc".into(),
            "expected usize; in `train.batch_size`",
        ),
        (
            "train.batch_size=-2".into(),
            "expected usize; in `train.batch_size`",
        ),
        (
            "model.hidden_size=0".into(),
            "model.hidden_size = 0 is invalid",
        ),
        ("train.seq_len=0".into(), "train.seq_len = 0 is invalid"),
        (
            "train.learning_rate=0".into(),
            "train.learning_rate = 0 is invalid",
        ),
        (
            "model.dropout=1".into(),
            "model.dropout = 1 is invalid: it must be in [0, 1)",
        ),
        (
            "model.dropout=-0.1".into(),
            "model.dropout = -0.1 is invalid",
        ),
        ("train.no_such_key=1".into(), "no_such_key"),
    ];
    for (set, expected) in cases {
        assert_clean_error(&train_tiny(&run_dir, &sets(&[set])), expected);
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
        &sets(&[
            replaced.as_str(),
            "data.invalid_utf8=replace",
            "train.max_steps=2",
        ]),
    );
    assert_ok(&output);
    assert_mentions(
        &stderr(&output),
        "replaced 401 invalid UTF-8 sequences with U+FFFD",
    );
}

#[test]
fn a_diverging_run_stops_at_the_step_and_keeps_the_weights_before_it() {
    let (dir, run_dir) = temp_run_dir();
    let diverge = sets(&[
        "train.learning_rate=1e30",
        "train.grad_clip=0",
        "train.warmup_steps=0",
    ]);
    let mut quiet = diverge.to_vec();
    quiet.push("--quiet");
    let output = train_tiny(&run_dir, &quiet);
    assert_clean_error(&output, "training diverged at step 2: loss ");
    let err = stderr(&output);
    assert!(err.contains("train.skip_nonfinite=true"), "{err}");
    let progress = std::fs::read_to_string(run_dir.join("latest/progress.json")).unwrap();
    assert!(progress.contains("\"step\": 1,"), "{progress}");
    // What was saved loads.
    assert_ok(&run(
        sample_command(&run_dir.join("latest")).args(["--length", "5", "--seed", "1"])
    ));

    // Under skip_nonfinite the run goes on, skipping (and saying so) instead of stopping.
    let skip_dir = dir.path().join("skip");
    let mut args = diverge.to_vec();
    args.extend(sets(&["train.skip_nonfinite=true", "train.max_steps=6"]));
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

/// The disk fills up while a checkpoint is being written: the run stops with one line, and the
/// previous checkpoint is intact and resumable. A small tmpfs is the full disk where this
/// process may mount one (root, as in CI); elsewhere a file-size limit (`ulimit -f`) makes the
/// large writes fail the same way.
#[test]
fn a_full_disk_during_a_save_keeps_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let shape = sets(&["model.hidden_size=48", "train.eval_interval=5"]);
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
        "{}",
        err
    );

    let progress = std::fs::read_to_string(run_dir.join("latest/progress.json")).unwrap();
    assert!(progress.contains("\"step\": 5,"), "{progress}");
    assert_ok(&run(
        sample_command(&run_dir.join("latest")).args(["--length", "5", "--seed", "1"])
    ));
}
