//! What a training run shows and leaves behind: plain log lines off a terminal and a progress
//! bar on one, `-v` and `--quiet`, the tokenizer.json of a character vocabulary (also read by
//! Python's `tokenizers` when CI provides it), and training with a byte-level BPE
//! tokenizer.json instead of characters.

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;

use common::{
    assert_clean_error, assert_mentions, assert_mentions_all, assert_ok, charlstm,
    checkpoint_command, info_json, repo_file, run, sample_command, sets, stderr, stdout,
    temp_run_dir, train_tiny,
};

const SHORT_RUN: [&str; 6] = [
    "--set",
    "train.max_steps=40",
    "--set",
    "train.eval_interval=20",
    "--set",
    "train.log_interval=10",
];

#[test]
fn off_a_terminal_progress_is_plain_lines_at_the_chosen_verbosity() {
    let dir = tempfile::tempdir().unwrap();

    let output = train_tiny(&dir.path().join("default"), &SHORT_RUN);
    assert_ok(&output);
    let log = stderr(&output);
    assert_mentions_all(
        &log,
        &[
            "training on ndarray:",
            "step     10/40 | epoch   1 | train loss ",
            "step     40/40 | epoch   1 | train loss ",
            "step     20 | validation loss ",
            "done: 40 steps",
        ],
    );
    assert!(
        !log.contains('\r') && !log.contains('\u{1b}'),
        "no bar or colour codes off a terminal:\n{log:?}"
    );
    assert!(!log.contains("debug:"), "no debug lines by default:\n{log}");

    let mut verbose = SHORT_RUN.to_vec();
    verbose.push("-v");
    let output = train_tiny(&dir.path().join("verbose"), &verbose);
    assert_ok(&output);
    let log = stderr(&output);
    assert!(log.contains("debug: checkpoint written to "), "{log}");
    assert!(log.contains("debug: sample at step 20:\n"), "{log}");

    let mut quiet = SHORT_RUN.to_vec();
    quiet.push("--quiet");
    let output = train_tiny(&dir.path().join("quiet"), &quiet);
    assert_ok(&output);
    assert_eq!(
        stderr(&output),
        "",
        "--quiet prints nothing when all goes well"
    );

    let output = run(charlstm().args(["-q", "-v", "info", "x"]));
    assert!(!output.status.success());
    assert_mentions(&stderr(&output), "cannot be used with");
}

/// `script` (util-linux) runs the command on a pseudo-terminal, as a person's shell would.
fn on_a_terminal(command: &str) -> Option<String> {
    let output = Command::new("script")
        .args(["-qefc", command, "/dev/null"])
        .env("CHARLSTM_CACHE_DIR", "/nonexistent/charlstm-test-cache")
        .env("CHARLSTM_PREPARED_DIR", common::prepared_dir())
        .env("COLUMNS", "160")
        .output()
        .ok()?;
    assert!(output.status.success(), "{}", stdout(&output));
    Some(stdout(&output))
}

#[test]
fn on_a_terminal_training_shows_a_progress_bar() {
    let (_dir, run_dir) = temp_run_dir();
    let command = format!(
        "{} train --config {} --out {} {}",
        env!("CARGO_BIN_EXE_charlstm"),
        repo_file("configs/tiny.toml").display(),
        run_dir.display(),
        SHORT_RUN.join(" ")
    );
    let Some(screen) = on_a_terminal(&command) else {
        panic!("`script` (util-linux) is needed to run charlstm on a pseudo-terminal");
    };
    assert_mentions_all(
        &screen,
        &[
            "epoch 1 [",
            "/40 steps",
            " | loss ",
            " | val ",
            "chars/s",
            "ETA",
        ],
    );
    // Validation results are logged above the bar; per-step lines are left to the bar.
    assert!(screen.contains("validation loss"), "{screen}");
    assert!(!screen.contains("step     10/40 |"), "{screen}");
}

/// A temporary directory holding `sentences.txt`, a corpus of `sentences` made-up sentences
/// with some multi-byte characters, and that file's path.
fn sentences_corpus(sentences: usize) -> (tempfile::TempDir, PathBuf) {
    let words = [
        "the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "Zürich", "café",
        "naïve", "日本", "🦀", "over", "under", "it",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut text = String::new();
    for _ in 0..sentences {
        let length = rng.random_range(3..9);
        let sentence: Vec<&str> = (0..length)
            .map(|_| words[rng.random_range(0..words.len())])
            .collect();
        text += &sentence.join(" ");
        text += ".\n";
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sentences.txt");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn the_run_directory_has_a_tokenizer_json_giving_the_vocabularys_ids() {
    let (dir, corpus) = sentences_corpus(400);
    let run_dir = dir.path().join("run");
    let corpus_set = format!("data.corpus={}", corpus.display());
    let assignments = [corpus_set.as_str(), "train.max_steps=2"];
    let mut args = sets(&assignments);
    args.push("--quiet");
    assert_ok(&train_tiny(&run_dir, &args));

    let vocab: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("vocab.json")).unwrap())
            .unwrap();
    let chars: Vec<&str> = vocab["chars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let text = std::fs::read_to_string(&corpus).unwrap();
    let expected: Vec<u32> = text
        .chars()
        .map(|c| chars.iter().position(|v| *v == c.to_string()).unwrap() as u32)
        .collect();
    let tokenizer = tokenizers::Tokenizer::from_file(run_dir.join("tokenizer.json")).unwrap();
    let ids = tokenizer
        .encode(text.as_str(), false)
        .unwrap()
        .get_ids()
        .to_vec();
    assert_eq!(ids, expected);
    assert_eq!(tokenizer.decode(&ids, false).unwrap(), text);
    assert!(run_dir.join("best/tokenizer.json").is_file());

    // The same in Python's `tokenizers`, where CI installed it (scripts/tokenizers-venv.sh).
    if let Some(python) = std::env::var_os("CHARLSTM_PYTHON") {
        let output = run(Command::new(python)
            .arg(repo_file("scripts/check_tokenizer.py"))
            .arg(&run_dir)
            .arg(&corpus));
        assert_ok(&output);
        assert_mentions(&stdout(&output), "ids match vocab.json");
    }
}

/// A byte-level BPE tokenizer.json of about `vocab_size` tokens, trained on `corpus` with the
/// `tokenizers` crate (as a user would bring one from Hugging Face).
fn byte_level_bpe(corpus: &Path, vocab_size: usize, out: &Path) {
    use tokenizers::Tokenizer;
    use tokenizers::models::TrainerWrapper;
    use tokenizers::models::bpe::{BPE, BpeTrainer};
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;

    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer
        .with_pre_tokenizer(Some(ByteLevel::default()))
        .with_decoder(Some(ByteLevel::default()));
    let mut trainer: TrainerWrapper = BpeTrainer::builder()
        .vocab_size(vocab_size)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    tokenizer
        .train_from_files(&mut trainer, vec![corpus.display().to_string()])
        .unwrap();
    tokenizer.save(out, true).unwrap();
}

#[test]
fn trains_samples_and_evaluates_with_a_byte_level_bpe_tokenizer() {
    let (dir, corpus) = sentences_corpus(1500);
    let tokenizer_file = dir.path().join("bpe.json");
    byte_level_bpe(&corpus, 300, &tokenizer_file);

    let run_dir = dir.path().join("run");
    let corpus_arg = format!("data.corpus={}", corpus.display());
    let tokenizer_arg = format!("data.tokenizer={}", tokenizer_file.display());
    let output = train_tiny(
        &run_dir,
        &sets(&[
            corpus_arg.as_str(),
            &tokenizer_arg,
            "model.hidden_size=32",
            "train.max_steps=60",
            "train.eval_interval=30",
        ]),
    );
    assert_ok(&output);
    let log = stderr(&output);
    assert!(log.contains("validation tokens"), "{log}");
    assert!(log.contains("nats/token"), "{log}");
    assert!(run_dir.join("latest/tokenizer.json").is_file());
    assert!(!run_dir.join("latest/vocab.json").exists());

    let info = info_json(&run_dir);
    let theirs = tokenizers::Tokenizer::from_file(&tokenizer_file).unwrap();
    assert_eq!(info["vocab_size"], theirs.get_vocab_size(true));
    assert!(
        info["tokenizer"].as_str().unwrap().contains("BPE"),
        "{info}"
    );
    assert_eq!(info["loss_unit"], "token");

    // The model learnt something: the validation loss is well below a uniform guess.
    let uniform = (theirs.get_vocab_size(true) as f64).ln();
    let loss = info["best_validation_loss"].as_f64().unwrap();
    assert!(loss < 0.8 * uniform, "loss {loss} vs uniform {uniform}");

    let sample =
        run(sample_command(&run_dir).args(["--length", "60", "--seed", "3", "--prime", "the cat"]));
    assert_ok(&sample);
    let text = stdout(&sample);
    assert!(
        text.starts_with("the cat") && text.len() > "the cat".len() + 20,
        "{text:?}"
    );

    let eval = run(&mut checkpoint_command("eval", &run_dir));
    assert_ok(&eval);
    let report = stdout(&eval);
    assert!(
        report.starts_with("validation: ")
            && report.contains(" nats/token")
            && report.contains(" bits/char ("),
        "{report}"
    );

    // On a whole file, bits per character count every character its tokens decode to
    // (decoded as a stream, so characters split across byte-level tokens count once).
    let mut text = std::fs::read_to_string(&corpus).unwrap();
    text.push_str("naïve café — ☕ déjà vu\n");
    let accented = dir.path().join("accented.txt");
    std::fs::write(&accented, &text).unwrap();
    let eval = run(checkpoint_command("eval", &run_dir)
        .arg("--corpus")
        .arg(&accented));
    assert_ok(&eval);
    let report = stdout(&eval);
    let ids = theirs
        .encode(text.as_str(), false)
        .unwrap()
        .get_ids()
        .to_vec();
    let decoded = theirs.decode(&ids, false).unwrap();
    // The text, but for the space the byte-level pre-tokenizer puts in front.
    assert_eq!(decoded.trim_start(), text.trim_start());
    let characters = format!("({} characters)", decoded.chars().count());
    assert!(report.contains(&characters), "{characters}: {report}");

    let missing = run(charlstm()
        .args(["train", "--config"])
        .arg(repo_file("configs/tiny.toml"))
        .arg("--out")
        .arg(dir.path().join("missing"))
        .args(["--set", "data.tokenizer=/no/such/tokenizer.json"]));
    assert_clean_error(
        &missing,
        "tokenizer '/no/such/tokenizer.json' is invalid: no such file",
    );
}

#[test]
fn a_code_base_directory_trains_with_globs_and_a_vocabulary_limit() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for module in 0..6 {
        let body: String = (0..60)
            .map(|line| {
                let value: u32 = rng.random_range(0..1000);
                format!("    let x{line} = {value}; // ✓ §{module}\n")
            })
            .collect();
        let path = project.join(format!("src/m{module}.rs"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("fn m{module}() {{\n{body}}}\n")).unwrap();
    }
    std::fs::create_dir_all(project.join("target")).unwrap();
    std::fs::write(project.join("target/generated.rs"), "GENERATED ~~~").unwrap();
    std::fs::write(project.join("src/logo.rs"), b"\x89PNG\x00binary").unwrap();
    std::fs::write(project.join("README.md"), "# not code").unwrap();

    let run_dir = dir.path().join("run");
    let corpus = format!("data.corpus=[\"{}\"]", project.display());
    let output = train_tiny(
        &run_dir,
        &sets(&[
            corpus.as_str(),
            "data.include=[\"*.rs\"]",
            "data.exclude=[\"target\"]",
            "data.max_vocab=12",
            "data.val_chars=300",
            "train.max_steps=20",
        ]),
    );
    assert_ok(&output);
    let log = stderr(&output);
    assert_mentions(&log, "6 files read, 1 binary or empty ones skipped");
    assert_mentions(&log, "rare characters");
    assert_mentions(&log, "share the unknown token");
    // val_chars caps the validation split.
    assert!(log.contains(" / 300 validation chars"), "{log}");

    let vocab: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("vocab.json")).unwrap())
            .unwrap();
    assert_eq!(vocab["chars"].as_array().unwrap().len(), 11);
    assert_eq!(vocab["unknown"], true);
    let info = info_json(&run_dir);
    assert_eq!(info["vocab_size"], 12);

    // Characters the model never had its own id for sample as U+FFFD rather than failing.
    let sample =
        run(sample_command(&run_dir).args(["--length", "50", "--seed", "1", "--prime", "fn ✓"]));
    assert_ok(&sample);
}
