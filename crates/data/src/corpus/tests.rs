use super::*;
use std::fs::File;

/// Looks in `data_dir` and never downloads.
fn offline_locator(data_dir: &Path) -> CorpusLocator {
    CorpusLocator {
        data_dirs: vec![data_dir.to_path_buf()],
        ..CorpusLocator::default()
    }
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

/// The one-line error resolving `spec` gives.
fn resolve_error(locator: &CorpusLocator, spec: &str) -> String {
    locator.resolve(spec).unwrap_err().to_string()
}

#[test]
fn bad_sources_get_errors_that_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let locator = offline_locator(dir.path());
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let err = resolve_error(&locator, empty.to_str().unwrap());
    assert!(err.contains("is empty"), "{err}");

    // A directory whose only file is empty has nothing to read.
    let err = resolve_error(&locator, dir.path().to_str().unwrap());
    assert!(err.contains("has no text files to read"), "{err}");

    let err = resolve_error(&locator, "no-such-corpus");
    assert!(
        err.contains("tinyshakespeare") && err.contains("alphabet"),
        "{err}"
    );
}

/// Without a download cache, a registered corpus missing from the data directory gets an error
/// saying where to put it; one with the wrong content is refused.
#[test]
fn a_registered_corpus_must_be_present_and_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let locator = offline_locator(dir.path());
    let err = resolve_error(&locator, "tinyshakespeare");
    assert!(err.contains("CHARLSTM_DATA_DIR"), "{err}");

    std::fs::write(dir.path().join("tinyshakespeare.txt"), "not shakespeare").unwrap();
    let err = resolve_error(&locator, "tinyshakespeare");
    assert!(err.contains("expected 86c4e6aa"), "{err}");
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
