//! The cache of prepared corpora: reused until a source or a setting changes, prepared again
//! when damaged, bypassed when unwritable, safe when many runs prepare at once, and listed and
//! cleaned.

use std::path::Path;
use std::time::{Duration, SystemTime};

use charlstm_data::{InvalidUtf8, PrepareOptions, TokenizerChoice, prepare};

mod common;

use common::*;

#[test]
fn the_cache_is_reused_until_a_source_or_the_settings_change() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let first = corpus.join("a.txt");
    let second = corpus.join("b.txt");
    std::fs::write(&first, "first file\n").unwrap();
    std::fs::write(&second, "second file\n").unwrap();

    let prepared = prepare_in(&cache, &resolve(&[&corpus]), &CHARS);
    assert!(!prepared.reused);
    assert_eq!(text_of(&prepared), "first file\nsecond file\n");
    let location = prepared.location.clone();
    drop(prepared);

    // Unchanged: the same entry, read back as it is.
    let again = prepare_in(&cache, &resolve(&[&corpus]), &CHARS);
    assert!(again.reused);
    assert_eq!(again.location, location);
    assert_eq!(text_of(&again), "first file\nsecond file\n");

    // Same size, new modification time: prepared again, in the same place.
    std::fs::write(&second, "SECOND FILE\n").unwrap();
    touch(&second, 1_000);
    let changed = prepare_in(&cache, &resolve(&[&corpus]), &CHARS);
    assert!(!changed.reused);
    assert_eq!(changed.location, location);
    assert_eq!(text_of(&changed), "first file\nSECOND FILE\n");

    // A new file in the directory changes what the corpus is.
    std::fs::write(corpus.join("c.txt"), "third\n").unwrap();
    let grown = prepare_in(&cache, &resolve(&[&corpus]), &CHARS);
    assert!(!grown.reused);
    assert_eq!(text_of(&grown), "first file\nSECOND FILE\nthird\n");
    assert!(prepare_in(&cache, &resolve(&[&corpus]), &CHARS).reused);

    // Settings that change the ids have their own entry.
    let limited = TokenizerChoice::BuildCharacters { max_vocab: 4 };
    let small = prepare_in(&cache, &resolve(&[&corpus]), &limited);
    assert!(!small.reused);
    assert_ne!(small.location, grown.location);
    assert_eq!(small.tokenizer.len(), 4);
    assert!(small.rare_characters().distinct > 0);
    assert!(prepare_in(&cache, &resolve(&[&corpus]), &limited).reused);
    assert!(prepare_in(&cache, &resolve(&[&corpus]), &CHARS).reused);

    // No leftovers: one directory per entry, nothing half-written.
    let names = entry_names(&cache);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| !n.contains('.')), "{names:?}");
}

#[test]
fn a_damaged_cache_entry_is_prepared_again() {
    let (dir, path) = temp_file("a.txt", "some text\n".repeat(10));
    let cache = dir.path().join("cache");
    let prepared = prepare_in(&cache, &resolve(&[&path]), &CHARS);
    let tokens = prepared.location.join("tokens.bin");
    drop(prepared);
    std::fs::write(&tokens, b"short").unwrap();
    let again = prepare_in(&cache, &resolve(&[&path]), &CHARS);
    assert!(!again.reused);
    assert_eq!(text_of(&again), "some text\n".repeat(10));
}

/// A cache directory that cannot be written to is passed over with a reason, not an error.
#[test]
fn an_unwritable_cache_falls_back_to_a_temporary_directory() {
    let (dir, path) = temp_file("a.txt", "text\n");
    // A file where the cache directory should be: nothing can be created inside it.
    let blocked = dir.path().join("not-a-directory");
    std::fs::write(&blocked, "").unwrap();
    let prepared = prepare_in(&blocked, &resolve(&[&path]), &CHARS);
    assert_eq!(text_of(&prepared), "text\n");
    assert!(!prepared.location.starts_with(&blocked));
    let problem = prepared.cache_problem.clone().unwrap();
    assert!(problem.contains("not-a-directory"), "{problem}");
}

/// Runs preparing the same corpus at the same moment (parallel tests, two terminals) all get
/// it, whichever of them publishes the cache entry first, and leave one entry behind.
#[test]
fn runs_preparing_the_same_corpus_at_once_all_succeed() {
    let text = "the same corpus, prepared by many runs at once\n".repeat(4_000);
    let (dir, path) = temp_file("a.txt", &text);
    let cache = dir.path().join("cache");
    for round in 0..6 {
        // A new modification time each round, so every run misses the cache and prepares.
        touch(&path, 2_000 + round);
        let sources = resolve(&[&path]);
        let start = std::sync::Barrier::new(6);
        std::thread::scope(|scope| {
            let runs: Vec<_> = (0..6)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        let prepared = prepare(
                            &sources,
                            &CHARS,
                            PrepareOptions {
                                cache_dir: Some(cache.clone()),
                                invalid_utf8: InvalidUtf8::Error,
                                progress: &mut |_, _, _| {},
                            },
                        )
                        .map_err(|e| e.to_string())?;
                        Ok::<_, String>(text_of(&prepared) == text)
                    })
                })
                .collect();
            for run in runs {
                assert_eq!(run.join().unwrap(), Ok(true), "round {round}");
            }
        });
    }
    let again = prepare_in(&cache, &resolve(&[&path]), &CHARS);
    assert!(again.reused);
    assert_eq!(text_of(&again), text);
    let names: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

/// The cache lists each entry in the shape it is in, knows when each was last used, and
/// removes an entry whole while a run that has it mapped keeps reading it.
#[test]
fn the_cache_knows_its_entries_and_removes_them() {
    use charlstm_data::{EntryState, list_cache, remove_entry};
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    assert!(list_cache(&cache).unwrap().is_empty());
    let (a, b, c) = (
        dir.path().join("a.txt"),
        dir.path().join("b.txt"),
        dir.path().join("c.txt"),
    );
    std::fs::write(&a, "first corpus\n".repeat(20)).unwrap();
    std::fs::write(&b, "second corpus\n".repeat(20)).unwrap();
    std::fs::write(&c, "third corpus\n".repeat(20)).unwrap();
    let first = prepare_in(&cache, &resolve(&[&a]), &CHARS);
    let second = prepare_in(&cache, &resolve(&[&b]), &CHARS);
    let third = prepare_in(&cache, &resolve(&[&c]), &CHARS);
    std::fs::write(third.location.join("tokens.bin"), b"cut short").unwrap();
    let b_named = b.canonicalize().unwrap().display().to_string();
    std::fs::remove_file(&b).unwrap();
    let running = cache.join(format!(
        "{}.partial-{}-1-0",
        "cd".repeat(32),
        std::process::id()
    ));
    std::fs::create_dir(&running).unwrap();

    let listed = list_cache(&cache).unwrap();
    let state_of = |location: &Path| {
        listed
            .iter()
            .find(|e| e.path == location)
            .map(|e| e.state.clone())
            .unwrap()
    };
    assert_eq!(listed.len(), 4);
    assert_eq!(state_of(&first.location), EntryState::Ready);
    assert_eq!(
        state_of(&second.location),
        EntryState::SourcesMissing(vec![b_named])
    );
    assert_eq!(state_of(&third.location), EntryState::Damaged);
    assert_eq!(state_of(&running), EntryState::Leftover { running: true });
    let entry = listed.iter().find(|e| e.path == first.location).unwrap();
    let info = entry.info.as_ref().unwrap();
    assert_eq!(
        info.sources,
        vec![a.canonicalize().unwrap().display().to_string()]
    );
    assert_eq!(info.tokenizer, "11 characters");
    assert!(entry.bytes >= 260);
    assert!(!entry.is_unusable());

    // Reusing an entry marks it used.
    touch(&first.location.join("meta.json"), 1_000);
    let old = list_cache(&cache).unwrap();
    let old = old.iter().find(|e| e.path == first.location).unwrap();
    assert!(old.unused_for(SystemTime::now()).unwrap() > Duration::from_secs(365 * 86_400));
    assert!(prepare_in(&cache, &resolve(&[&a]), &CHARS).reused);
    let fresh = list_cache(&cache).unwrap();
    assert_eq!(fresh[0].path, first.location, "most recently used first");
    assert!(fresh[0].unused_for(SystemTime::now()).unwrap() < Duration::from_secs(60));

    // Removed, the entry is gone whole; the corpus mapped before still reads.
    remove_entry(fresh.iter().find(|e| e.path == first.location).unwrap()).unwrap();
    assert!(!first.location.exists());
    assert_eq!(text_of(&first), "first corpus\n".repeat(20));
    let names = entry_names(&cache);
    assert_eq!(names.len(), 3, "{names:?}");
}
