//! Preparing a corpus into a memory-mapped token file: what it holds, when the cache is reused
//! and when it is not, and that training batches read from it are those of the text encoded in
//! memory.

use std::path::Path;
use std::time::{Duration, SystemTime};

use charlstm_data::synthetic::SyntheticCorpus;

use charlstm_data::{
    CorpusLocator, FileSelection, InvalidUtf8, PrepareOptions, PreparePhase, PreparedCorpus,
    RemainderPolicy, ResolvedCorpus, StreamBatcher, TokenWidth, Tokenizer, TokenizerChoice,
    Vocabulary, prepare,
};

/// Resolves the given files and directories (nothing downloads).
fn resolve(specs: &[&Path]) -> ResolvedCorpus {
    let specs: Vec<String> = specs.iter().map(|p| p.display().to_string()).collect();
    CorpusLocator::default()
        .resolve_all(&specs, &FileSelection::default())
        .unwrap()
}

const CHARS: TokenizerChoice = TokenizerChoice::BuildCharacters { max_vocab: 0 };

fn prepare_in(cache: &Path, sources: &ResolvedCorpus, choice: &TokenizerChoice) -> PreparedCorpus {
    prepare(
        sources,
        choice,
        PrepareOptions {
            cache_dir: Some(cache.to_path_buf()),
            invalid_utf8: InvalidUtf8::Error,
            progress: &mut |_, _, _| {},
        },
    )
    .unwrap()
}

/// Prepares into a temporary directory, as with `data.cache = false`.
fn prepare_uncached(
    sources: &ResolvedCorpus,
    choice: &TokenizerChoice,
    invalid_utf8: InvalidUtf8,
) -> Result<PreparedCorpus, charlstm_data::DataError> {
    prepare(
        sources,
        choice,
        PrepareOptions {
            cache_dir: None,
            invalid_utf8,
            progress: &mut |_, _, _| {},
        },
    )
}

fn text_of(prepared: &PreparedCorpus) -> String {
    prepared.tokenizer.decode(&prepared.tokens().to_vec())
}

/// Sets a file's modification time, so a test need not wait for the clock to tick.
fn touch(path: &Path, seconds: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
        .unwrap();
}

#[test]
fn a_prepared_corpus_holds_the_text_in_the_narrowest_width() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.txt");
    let text = "héllo wörld\n".repeat(100);
    std::fs::write(&path, &text).unwrap();
    let prepared = prepare_in(&dir.path().join("cache"), &resolve(&[&path]), &CHARS);
    assert_eq!(prepared.info.width, TokenWidth::U8);
    assert_eq!(prepared.info.tokens, text.chars().count());
    assert_eq!(
        prepared.tokenizer.characters(),
        Some(&Vocabulary::from_text(&text))
    );
    assert_eq!(text_of(&prepared), text);
    let file = std::fs::metadata(prepared.location.join("tokens.bin")).unwrap();
    assert_eq!(file.len() as usize, text.chars().count());

    // More than 256 distinct characters take two bytes each.
    let wide: String = (0..300u32)
        .map(|i| char::from_u32(0x4e00 + i).unwrap())
        .collect::<String>()
        .repeat(3);
    std::fs::write(&path, &wide).unwrap();
    let prepared = prepare_in(&dir.path().join("cache"), &resolve(&[&path]), &CHARS);
    assert_eq!(prepared.info.width, TokenWidth::U16);
    assert_eq!(text_of(&prepared), wide);
    let file = std::fs::metadata(prepared.location.join("tokens.bin")).unwrap();
    assert_eq!(file.len() as usize, 2 * 900);
}

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
    let mut names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| !n.contains('.')), "{names:?}");
}

#[test]
fn a_damaged_cache_entry_is_prepared_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "some text\n".repeat(10)).unwrap();
    let prepared = prepare_in(&cache, &resolve(&[&path]), &CHARS);
    let tokens = prepared.location.join("tokens.bin");
    drop(prepared);
    std::fs::write(&tokens, b"short").unwrap();
    let again = prepare_in(&cache, &resolve(&[&path]), &CHARS);
    assert!(!again.reused);
    assert_eq!(text_of(&again), "some text\n".repeat(10));
}

/// Batches read from the mapped file are the batches of the text encoded in memory, forward
/// and reversed.
#[test]
fn mapped_batches_are_the_in_memory_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.txt");
    let text = SyntheticCorpus::from_name("brackets").unwrap().generate();
    std::fs::write(&path, &text).unwrap();
    let prepared = prepare_in(&dir.path().join("cache"), &resolve(&[&path]), &CHARS);
    let vocab = Vocabulary::from_text(&text);
    let in_memory = vocab.encode(&text).unwrap();
    for policy in [RemainderPolicy::Drop, RemainderPolicy::Keep] {
        let mapped = StreamBatcher::new(prepared.tokens(), 8, 33, policy, "training").unwrap();
        let memory = StreamBatcher::new(&in_memory, 8, 33, policy, "training").unwrap();
        assert_eq!(mapped.num_batches(), memory.num_batches());
        assert!(mapped.iter().eq(memory.iter()));
        assert!(
            mapped
                .clone()
                .reversed()
                .iter()
                .eq(memory.clone().reversed().iter())
        );
    }
}

/// The files of a directory come in sorted order whatever order they were written in, a
/// binary file is skipped, and the same sources always give the same tokens.
#[test]
fn many_files_are_read_in_a_fixed_order_skipping_binary_ones() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    for (name, bytes) in [
        ("b.rs", &b"fn b() {}\n"[..]),
        ("a/z.rs", b"fn z() {}\n"),
        ("a/logo.png", b"\x89PNG\x00\x01"),
        ("notes.md", b"# notes\n"),
    ] {
        let path = code.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let intro = dir.path().join("intro.txt");
    std::fs::write(&intro, "intro\n").unwrap();
    let sources = resolve(&[&intro, &code]);
    let first = prepare_in(&dir.path().join("one"), &sources, &CHARS);
    assert_eq!(text_of(&first), "intro\nfn z() {}\nfn b() {}\n# notes\n");
    assert_eq!((first.info.files, first.info.skipped_files), (4, 1));
    let second = prepare_in(&dir.path().join("two"), &resolve(&[&intro, &code]), &CHARS);
    assert_eq!(first.tokens().to_vec(), second.tokens().to_vec());

    // A directory of nothing but binary files has no text.
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("x.png"), b"\x00\x01").unwrap();
    let err = prepare_uncached(&resolve(&[&images]), &CHARS, InvalidUtf8::Error)
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no text files to read"), "{err}");
}

#[test]
fn bad_text_is_refused_or_replaced_as_the_policy_says() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("a.txt"), "fine\n").unwrap();
    std::fs::write(corpus.join("b.txt"), b"caf\xe9\n").unwrap();
    let err = prepare_uncached(&resolve(&[&corpus]), &CHARS, InvalidUtf8::Error)
        .unwrap_err()
        .to_string();
    assert!(err.contains("b.txt") && err.contains("at byte 3"), "{err}");
    let lossy = prepare_uncached(&resolve(&[&corpus]), &CHARS, InvalidUtf8::Replace).unwrap();
    assert_eq!(text_of(&lossy), "fine\ncaf\u{fffd}\n");
    assert_eq!(lossy.info.replaced_invalid_utf8, 1);

    // A single file that is binary is refused, naming where.
    let binary = dir.path().join("binary.dat");
    std::fs::write(&binary, b"ELF\x00\x01").unwrap();
    let err = prepare_uncached(&resolve(&[&binary]), &CHARS, InvalidUtf8::Error)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("binary file") && err.contains("offset 3"),
        "{err}"
    );
}

/// A given tokenizer that lacks characters of the corpus names them; progress covers both
/// passes, to the last byte.
///
/// With a binary file skipped, the phases still end at the total.
#[test]
fn a_given_vocabulary_must_cover_the_corpus_and_progress_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "abcabc\n").unwrap();
    let narrow = TokenizerChoice::Use(Tokenizer::Characters(Vocabulary::from_text("ab\n")));
    let err = prepare_uncached(&resolve(&[&path]), &narrow, InvalidUtf8::Error)
        .unwrap_err()
        .to_string();
    assert!(err.contains("'c'"), "{err}");

    let mut seen = Vec::new();
    let wide = TokenizerChoice::Use(Tokenizer::Characters(Vocabulary::from_text("abcd\n")));
    let prepared = prepare(
        &resolve(&[&path]),
        &wide,
        PrepareOptions {
            cache_dir: None,
            invalid_utf8: InvalidUtf8::Error,
            progress: &mut |phase, done, total| seen.push((phase, done, total)),
        },
    )
    .unwrap();
    assert_eq!(prepared.tokenizer.len(), 5);
    // Each phase ends by saying it is done (once more if its last piece already did).
    seen.dedup();
    assert_eq!(
        seen,
        [
            (PreparePhase::Reading, 7, 7),
            (PreparePhase::Encoding, 7, 7)
        ]
    );

    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("a.txt"), "text\n").unwrap();
    std::fs::write(corpus.join("b.bin"), b"\x00\x01\x02").unwrap();
    let mut seen = Vec::new();
    prepare(
        &resolve(&[&corpus]),
        &CHARS,
        PrepareOptions {
            cache_dir: None,
            invalid_utf8: InvalidUtf8::Error,
            progress: &mut |phase, done, total| seen.push((phase, done, total)),
        },
    )
    .unwrap();
    let last_reading = seen
        .iter()
        .rev()
        .find(|(phase, _, _)| *phase == PreparePhase::Reading);
    assert_eq!(last_reading, Some(&(PreparePhase::Reading, 8, 8)));
    assert_eq!(seen.last(), Some(&(PreparePhase::Encoding, 8, 8)));
}

/// A cache directory that cannot be written to is passed over with a reason, not an error.
#[test]
fn an_unwritable_cache_falls_back_to_a_temporary_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "text\n").unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let path = dir.path().join("a.txt");
    let text = "the same corpus, prepared by many runs at once\n".repeat(4_000);
    std::fs::write(&path, &text).unwrap();
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
    let names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}
