//! `charlstm prepare` and `charlstm cache`: a corpus is prepared once and reused until it
//! changes; the cache lists what it holds and cleans what nothing can use.

use std::path::{Path, PathBuf};

mod common;

use common::*;

/// `charlstm prepare --json` for a corpus file with the tiny config, in the cache `cache`.
fn prepare_json(corpus: &Path, cache: &Path, extra: &[&str]) -> serde_json::Value {
    let mut command = charlstm();
    command
        .env("CHARLSTM_PREPARED_DIR", cache)
        .args(["prepare", "--json", "--config"])
        .arg(repo_file("configs/tiny.toml"))
        .arg("--set")
        .arg(format!("data.corpus={}", corpus.display()));
    command.args(sets(extra));
    let output = run(&mut command);
    assert_ok(&output);
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// A corpus is prepared once and reused by every later command until it changes; training
/// reads the same prepared file; `data.cache = false` leaves no file behind.
#[test]
fn a_prepared_corpus_is_reused_until_it_changes() {
    let text = "abcdefghijklmnopqrstuvwxyz\n".repeat(200);
    let (dir, corpus) = temp_file("corpus.txt", &text);
    let cache = dir.path().join("cache");

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
    let entries = listed.as_array().unwrap();
    let in_state = |state: &str| entries.iter().find(|e| e["state"] == state).unwrap();
    let ready = in_state("ready");
    assert_eq!(
        ready["sources"][0],
        kept.canonicalize().unwrap().display().to_string()
    );
    assert_eq!(ready["tokenizer"], "12 characters");
    let missing = in_state("sources_missing");
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
    assert_mentions(&text, "left by an interrupted preparation");

    let dry = cache_command(&cache, &["clean", "--dry-run"]);
    assert_ok(&dry);
    let said = stdout(&dry);
    assert_mentions(&said, "by removing 2 prepared corpora; nothing was removed");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 4);

    let cleaned = cache_command(&cache, &["clean"]);
    assert_ok(&cleaned);
    let said = stdout(&cleaned);
    assert_mentions(&said, "kept 1 prepared corpus");
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
    assert_mentions(&stdout(&recent), "nothing to remove");
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
