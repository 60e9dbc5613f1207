//! Preparing a corpus into a memory-mapped token file: what it holds, that training batches
//! read from it are those of the text encoded in memory, in which order files are read, and
//! what happens to bad text. The cache of prepared corpora: `cache.rs`.

use charlstm_data::synthetic::SyntheticCorpus;
use charlstm_data::{
    CorpusLocator, CorpusPart, FileSelection, InvalidUtf8, PreparePhase, RemainderPolicy,
    ResolvedCorpus, StreamBatcher, TokenWidth, Tokenizer, TokenizerChoice, Vocabulary,
};

mod common;

use common::*;

#[test]
fn a_prepared_corpus_holds_the_text_in_the_narrowest_width() {
    let text = "héllo wörld\n".repeat(100);
    let (dir, path) = temp_file("small.txt", &text);
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

/// Batches read from the mapped file are the batches of the text encoded in memory, forward
/// and reversed.
#[test]
fn mapped_batches_are_the_in_memory_batches() {
    let text = SyntheticCorpus::from_name("brackets").unwrap().generate();
    let (dir, path) = temp_file("text.txt", &text);
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

/// Files, directories and names come in the order given, a directory's files in sorted order
/// whatever order they were written in; empty and binary files are skipped and counted; the same
/// sources always resolve the same way and give the same tokens, and a file selection narrows a
/// directory to the files it matches.
#[test]
fn many_files_are_read_in_a_fixed_order_skipping_empty_and_binary_ones() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    for (name, bytes) in [
        ("b.rs", &b"fn b() {}\n"[..]),
        ("a/z.rs", b"fn z() {}\n"),
        ("a/empty.rs", b""),
        ("a/logo.png", b"\x89PNG\x00\x01"),
        ("notes.md", b"# notes\n"),
    ] {
        let path = code.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let intro = dir.path().join("intro.txt");
    std::fs::write(&intro, "intro\n").unwrap();
    let specs = [&intro, &code].map(|path| path.display().to_string());
    let with_alphabet = [&specs[..], &["alphabet".to_string()]].concat();
    let locator = CorpusLocator::default();
    let sources = locator
        .resolve_all(&with_alphabet, &FileSelection::default())
        .unwrap();
    assert_eq!(
        part_names(&sources),
        [
            "intro.txt",
            "logo.png",
            "z.rs",
            "b.rs",
            "notes.md",
            "<alphabet>"
        ]
    );
    assert_eq!(sources.skipped_files, 1, "the empty file");
    let again = locator
        .resolve_all(&with_alphabet, &FileSelection::default())
        .unwrap();
    assert_eq!(again.identity(), sources.identity());
    assert_eq!(again.fingerprint(), sources.fingerprint());

    let first = prepare_in(&dir.path().join("one"), &resolve(&[&intro, &code]), &CHARS);
    assert_eq!(text_of(&first), "intro\nfn z() {}\nfn b() {}\n# notes\n");
    assert_eq!((first.info.files, first.info.skipped_files), (4, 2));
    let second = prepare_in(&dir.path().join("two"), &resolve(&[&intro, &code]), &CHARS);
    assert_eq!(first.tokens().to_vec(), second.tokens().to_vec());

    let rust_only = FileSelection::new(&["*.rs".to_string()], &[]).unwrap();
    let rust = locator.resolve_all(&specs[1..], &rust_only).unwrap();
    assert_eq!(part_names(&rust), ["z.rs", "b.rs"]);
    assert_ne!(rust.identity(), sources.identity());
    let nothing = FileSelection::new(&["*.py".to_string()], &[]).unwrap();
    let err = locator
        .resolve_all(&specs[1..], &nothing)
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no text files to read"), "{err}");

    // A directory of nothing but binary files has no text.
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("x.png"), b"\x00\x01").unwrap();
    let err = prepare_uncached(&resolve(&[&images]), &CHARS, InvalidUtf8::Error)
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no text files to read"), "{err}");
}

/// The file names of a corpus's parts, and `<name>` for a generated one.
fn part_names(sources: &ResolvedCorpus) -> Vec<String> {
    sources
        .parts
        .iter()
        .map(|part| match part {
            CorpusPart::File { path, .. } => path.file_name().unwrap().to_string_lossy().into(),
            CorpusPart::Generated { name, .. } => format!("<{name}>"),
        })
        .collect()
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
    let (dir, path) = temp_file("a.txt", "abcabc\n");
    let narrow = TokenizerChoice::Use(Tokenizer::Characters(Vocabulary::from_text("ab\n")));
    let err = prepare_uncached(&resolve(&[&path]), &narrow, InvalidUtf8::Error)
        .unwrap_err()
        .to_string();
    assert!(err.contains("'c'"), "{err}");

    let wide = TokenizerChoice::Use(Tokenizer::Characters(Vocabulary::from_text("abcd\n")));
    let (prepared, mut seen) = prepare_with_progress(&resolve(&[&path]), &wide);
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
    let (_, seen) = prepare_with_progress(&resolve(&[&corpus]), &CHARS);
    let last_reading = seen
        .iter()
        .rev()
        .find(|(phase, _, _)| *phase == PreparePhase::Reading);
    assert_eq!(last_reading, Some(&(PreparePhase::Reading, 8, 8)));
    assert_eq!(seen.last(), Some(&(PreparePhase::Encoding, 8, 8)));
}

/// Extending a vocabulary (fine-tuning): the corpus is encoded with the base's ids plus the
/// new characters after them; the extended vocabulary comes back from the cache as it went in,
/// and a size limit sends what does not fit to the unknown token.
#[test]
fn an_extended_vocabulary_keeps_the_base_ids_and_is_cached() {
    let (dir, path) = temp_file("a.txt", "cab!\nzab\n");
    let base = Vocabulary::from_text("abc\n");
    let extend = TokenizerChoice::ExtendCharacters {
        base: base.clone(),
        max_vocab: 0,
    };
    let cache = dir.path().join("cache");
    let sources = resolve(&[&path]);
    let prepared = prepare_in(&cache, &sources, &extend);
    let vocab = prepared.tokenizer.characters().unwrap().clone();
    assert_eq!(vocab.chars(), &['\n', 'a', 'b', 'c', '!', 'z']);
    assert_eq!(&vocab.chars()[..4], base.chars());
    assert_eq!(text_of(&prepared), "cab!\nzab\n");
    assert!(!prepared.reused);
    let again = prepare_in(&cache, &sources, &extend);
    assert!(again.reused);
    assert_eq!(again.tokenizer.characters(), Some(&vocab));

    let limited = TokenizerChoice::ExtendCharacters { base, max_vocab: 5 };
    let prepared = prepare_uncached(&sources, &limited, InvalidUtf8::Error).unwrap();
    let vocab = prepared.tokenizer.characters().unwrap();
    // Room for one more token: the unknown token, which both new characters share.
    assert_eq!((vocab.chars().len(), vocab.unknown_id()), (4, Some(4)));
    assert_eq!(prepared.rare_characters().distinct, 2);
    assert_eq!(text_of(&prepared), "cab\u{fffd}\n\u{fffd}ab\n");
}
