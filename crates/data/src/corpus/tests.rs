use super::*;
use std::fs::File;

/// Looks in `data_dir` and never downloads.
fn offline_locator(data_dir: &Path) -> CorpusLocator {
    CorpusLocator {
        data_dirs: vec![data_dir.to_path_buf()],
        ..CorpusLocator::default()
    }
}

fn file_paths(sources: &ResolvedCorpus) -> Vec<String> {
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
fn a_path_is_one_file_part_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "hello ✓").unwrap();
    let sources = offline_locator(dir.path())
        .resolve(path.to_str().unwrap())
        .unwrap();
    assert_eq!(sources.bytes(), "hello ✓".len() as u64);
    assert!(matches!(
        &sources.parts[..],
        [CorpusPart::File {
            in_directory: false,
            ..
        }]
    ));
}

#[test]
fn synthetic_names_need_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let sources = offline_locator(dir.path()).resolve("alphabet").unwrap();
    let [CorpusPart::Generated { text, .. }] = &sources.parts[..] else {
        panic!("{sources:?}")
    };
    assert!(text.starts_with("abcdefghijklmnopqrstuvwxyz\nabc"));
}

#[test]
fn bad_sources_get_errors_that_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let locator = offline_locator(dir.path());
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let err = locator
        .resolve(empty.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("is empty"), "{err}");

    // A directory whose only file is empty has nothing to read.
    let err = locator
        .resolve(dir.path().to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no text files to read"), "{err}");

    let err = locator.resolve("no-such-corpus").unwrap_err().to_string();
    assert!(
        err.contains("tinyshakespeare") && err.contains("alphabet"),
        "{err}"
    );
}

#[test]
fn a_registered_corpus_with_the_wrong_content_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tinyshakespeare.txt"), "not shakespeare").unwrap();
    let err = offline_locator(dir.path())
        .resolve("tinyshakespeare")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected 86c4e6aa"), "{err}");
}

#[test]
fn without_a_cache_a_missing_registered_corpus_says_where_to_put_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = offline_locator(dir.path())
        .resolve("tinyshakespeare")
        .unwrap_err()
        .to_string();
    assert!(err.contains("CHARLSTM_DATA_DIR"), "{err}");
}

/// Files, directories and names come in the order given, a directory's files in sorted
/// order (empty ones left out and counted); the same sources resolve the same way.
#[test]
fn several_sources_are_parts_in_a_fixed_order() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    for (name, bytes) in [
        ("b.rs", &b"fn b() {}\n"[..]),
        ("a/z.rs", b"fn z() {}\n"),
        ("a/empty.rs", b""),
        ("notes.md", b"# notes\n"),
    ] {
        let path = code.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let intro = dir.path().join("intro.txt");
    std::fs::write(&intro, "intro\n").unwrap();
    let locator = offline_locator(dir.path());
    let specs = [
        intro.display().to_string(),
        code.display().to_string(),
        "alphabet".to_string(),
    ];
    let sources = locator
        .resolve_all(&specs, &FileSelection::default())
        .unwrap();
    assert_eq!(
        file_paths(&sources),
        ["intro.txt", "z.rs", "b.rs", "notes.md", "<alphabet>"]
    );
    assert_eq!(sources.skipped_files, 1);
    let again = locator
        .resolve_all(&specs, &FileSelection::default())
        .unwrap();
    assert_eq!(again.identity(), sources.identity());
    assert_eq!(again.fingerprint(), sources.fingerprint());

    let rust_only = FileSelection::new(&["*.rs".to_string()], &[]).unwrap();
    let rust = locator
        .resolve_all(&[code.display().to_string()], &rust_only)
        .unwrap();
    assert_eq!(file_paths(&rust), ["z.rs", "b.rs"]);
    assert_ne!(rust.identity(), sources.identity());

    let nothing = FileSelection::new(&["*.py".to_string()], &[]).unwrap();
    let err = locator
        .resolve_all(&[code.display().to_string()], &nothing)
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no text files to read"), "{err}");
}

/// The fingerprint changes with a file's size or modification time; the identity does not.
#[test]
fn a_changed_file_changes_the_fingerprint_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "one\n").unwrap();
    let locator = offline_locator(dir.path());
    let before = locator.resolve(path.to_str().unwrap()).unwrap();
    std::fs::write(&path, "two\n").unwrap();
    let file = File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1))
        .unwrap();
    let after = locator.resolve(path.to_str().unwrap()).unwrap();
    assert_eq!(before.identity(), after.identity());
    assert_ne!(before.fingerprint(), after.fingerprint());
}
