//! A fuzz harness for everything that reads a checkpoint, on stable Rust: a valid checkpoint of
//! a tiny run is damaged at random (bytes flipped, cut, inserted or overwritten; numbers and
//! values in its JSON and TOML swapped for extreme ones), its checksum updated so the damage
//! reaches the parser, and then opened, its weights, optimizer state and carried state loaded.
//! Every reader must return an error or a value; none may panic.
//!
//! It runs for CHARLSTM_FUZZ_SECONDS (default 20) from a random seed, or replays
//! CHARLSTM_FUZZ_SEED; a panic fails the test naming the seed, file and mutation, and leaves
//! the damaged checkpoint in the target directory.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::prelude::*;
use charlstm_data::{CorpusLocator, Tokenizer};
use charlstm_train::checkpoint::sha256_hex;
use charlstm_train::optimizer::adam;
use charlstm_train::{Checkpoint, RunConfig, TrainEvent, TrainObserver, TrainOptions, train};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Silent;

impl TrainObserver for Silent {
    fn on_event(&mut self, _: &TrainEvent<'_>) {}
}

/// A run of the tiny config stopped mid-epoch, so `latest` holds every file: config,
/// vocabulary, tokenizer, weights (burnpack and safetensors), optimizer, carried state,
/// progress.
fn valid_checkpoint(dir: &Path) -> PathBuf {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/tiny.toml");
    let config = RunConfig::load(
        Some(&config),
        &[
            "model.num_layers=2".into(),
            "train.max_steps=6".into(),
            "train.eval_interval=3".into(),
            "train.sample_chars=0".into(),
        ],
    )
    .unwrap();
    let run_dir = dir.join("run");
    train(
        &config,
        TrainOptions {
            run_dir: run_dir.clone(),
            resume: false,
            init_from: None,
            locator: CorpusLocator::default(),
            observer: &mut Silent,
            stop: None,
        },
    )
    .unwrap();
    run_dir.join("latest")
}

/// Values that break naive readers: extreme, negative, empty, wrong types.
const EXTREME: &[&str] = &[
    "0",
    "-1",
    "1",
    "4294967295",
    "18446744073709551615",
    "99999999999999999999999",
    "1e308",
    "-1e308",
    "NaN",
    "nan",
    "inf",
    "null",
    "\"\"",
    "[]",
    "{}",
    "[0, 0, 0]",
    "[1000000, 1000000, 1000000]",
    "[18446744073709551615, 2, 2]",
    "true",
    "\"\\u0000\"",
];

/// One random change to `bytes`, described for the report.
fn mutate(bytes: &mut Vec<u8>, rng: &mut ChaCha8Rng) -> String {
    let len = bytes.len();
    match rng.random_range(0..7) {
        0 if len > 0 => {
            let cut = rng.random_range(0..len);
            bytes.truncate(cut);
            format!("truncated to {cut} bytes")
        }
        1 if len > 0 => {
            let flips = rng.random_range(1..8);
            for _ in 0..flips {
                let at = rng.random_range(0..len);
                bytes[at] ^= 1 << rng.random_range(0..8);
            }
            format!("{flips} bits flipped")
        }
        2 if len > 0 => {
            let at = rng.random_range(0..len);
            let span = rng.random_range(1..=16usize.min(len - at));
            for byte in &mut bytes[at..at + span] {
                *byte = rng.random();
            }
            format!("{span} bytes overwritten at {at}")
        }
        3 => {
            let at = rng.random_range(0..=len);
            let inserted: Vec<u8> = (0..rng.random_range(1..32)).map(|_| rng.random()).collect();
            let count = inserted.len();
            bytes.splice(at..at, inserted);
            format!("{count} bytes inserted at {at}")
        }
        4 if len > 8 => {
            // A little-endian length or count in a binary header made huge or zero.
            let at = rng.random_range(0..len.min(64) - 7);
            let value: u64 = match rng.random_range(0..3) {
                0 => u64::MAX,
                1 => 0,
                _ => rng.random::<u32>() as u64,
            };
            bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
            format!("u64 {value} written at {at}")
        }
        _ => {
            // In text: a number, string or value swapped for an extreme one.
            let text = String::from_utf8_lossy(bytes).into_owned();
            let spans: Vec<(usize, usize)> = value_spans(&text);
            if spans.is_empty() {
                bytes.clear();
                return "emptied".into();
            }
            let (start, end) = spans[rng.random_range(0..spans.len())];
            let replacement = EXTREME[rng.random_range(0..EXTREME.len())];
            let described = format!("{:?} replaced by {replacement}", &text[start..end]);
            let mut text = text;
            text.replace_range(start..end, replacement);
            *bytes = text.into_bytes();
            described
        }
    }
}

/// Byte ranges of numbers, quoted strings and literals in a JSON or TOML text.
fn value_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                spans.push((start, i));
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                while i < bytes.len() && !b" ,\n]}\r\t".contains(&bytes[i]) {
                    i += 1;
                }
                spans.push((start, i));
            }
            _ => i += 1,
        }
    }
    spans.retain(|&(s, e)| text.is_char_boundary(s) && text.is_char_boundary(e));
    spans
}

/// Every reader of the checkpoint in `dir`, as `charlstm` calls them: open (config,
/// tokenizer, progress, checksums, the weights' shapes), then the weights, the optimizer and
/// the carried state.
fn read_everything(dir: &Path) {
    let device = Device::flex();
    if let Ok(checkpoint) = Checkpoint::open(dir) {
        let _ = checkpoint.load_model(&device);
        let _ = checkpoint.load_state(&device);
        let _ = checkpoint.load_optimizer(adam(&charlstm_train::config::TrainConfig::default()));
    }
    let _ = Tokenizer::from_file(&dir.join("tokenizer.json"));
    if let Ok(text) = std::fs::read_to_string(dir.join("config.toml")) {
        let _ = RunConfig::from_toml(&text);
    }
}

const FILES: &[&str] = &[
    "config.toml",
    "progress.json",
    "vocab.json",
    "tokenizer.json",
    "state.bin",
    "model.bpk",
    "optimizer.bpk",
    "model.safetensors",
];

#[test]
fn damaged_checkpoint_files_give_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let valid = valid_checkpoint(dir.path());
    for file in FILES {
        assert!(valid.join(file).is_file(), "the checkpoint has {file}");
    }
    let originals: Vec<Vec<u8>> = FILES
        .iter()
        .map(|f| std::fs::read(valid.join(f)).unwrap())
        .collect();
    let progress_text = std::fs::read_to_string(valid.join("progress.json")).unwrap();
    read_everything(&valid);

    let seconds: u64 = std::env::var("CHARLSTM_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("CHARLSTM_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let work = dir.path().join("damaged");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut cases = 0usize;
    // Reported by the test, not by the default hook on every caught panic.
    let default_hook = std::panic::take_hook();
    let last_panic = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let recorder = std::sync::Arc::clone(&last_panic);
    std::panic::set_hook(Box::new(move |info| {
        *recorder.lock().unwrap() = info.to_string();
    }));
    let mut failure = None;
    while Instant::now() < deadline || cases < 50 {
        std::fs::create_dir_all(&work).unwrap();
        for (file, bytes) in FILES.iter().zip(&originals) {
            std::fs::write(work.join(file), bytes).unwrap();
        }
        // One to three files damaged at once, each one to three times.
        let mut damage = Vec::new();
        let mut progress: serde_json::Value = serde_json::from_str(&progress_text).unwrap();
        let mut progress_damaged = None;
        for _ in 0..rng.random_range(1..=3) {
            let index = rng.random_range(0..FILES.len());
            let file = FILES[index];
            let mut bytes = std::fs::read(work.join(file)).unwrap();
            for _ in 0..rng.random_range(1..=3) {
                damage.push(format!("{file}: {}", mutate(&mut bytes, &mut rng)));
            }
            std::fs::write(work.join(file), &bytes).unwrap();
            if file == "progress.json" {
                progress_damaged = Some(bytes);
            } else {
                progress["checksums"][file] = sha256_hex(&bytes).into();
            }
        }
        // The checksums match the damage, so it reaches the parsers (a damaged progress.json
        // is written as damaged).
        let progress_bytes = progress_damaged.unwrap_or_else(|| progress.to_string().into_bytes());
        std::fs::write(work.join("progress.json"), progress_bytes).unwrap();

        cases += 1;
        if catch_unwind(AssertUnwindSafe(|| read_everything(&work))).is_err() {
            let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failure");
            let _ = std::fs::remove_dir_all(&kept);
            std::fs::rename(&work, &kept).unwrap();
            failure = Some(format!(
                "case {cases} of seed {seed} panicked ({}): {}; the checkpoint is in {}",
                damage.join("; "),
                last_panic.lock().unwrap(),
                kept.display()
            ));
            break;
        }
        std::fs::remove_dir_all(&work).unwrap();
    }
    std::panic::set_hook(default_hook);
    if let Some(failure) = failure {
        panic!("{failure}");
    }
    eprintln!("reader fuzz: {cases} damaged checkpoints read without a panic (seed {seed})");
}
