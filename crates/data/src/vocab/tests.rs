//! The vocabulary's tests: ids, round trips, the size limit and extension.

use super::*;

#[test]
fn ids_are_sorted_by_code_point_and_deterministic() {
    let vocab = Vocabulary::from_text("banana");
    assert_eq!(vocab.chars(), &['a', 'b', 'n']);
    assert_eq!(vocab.encode("nab").unwrap(), vec![2, 0, 1]);
    assert_eq!(Vocabulary::from_text("nnaabb"), vocab);
}

#[test]
fn multi_byte_characters_round_trip() {
    let text = "héllo wörld — 日本語 🦀\n\tcafé";
    let vocab = Vocabulary::from_text(text);
    let ids = vocab.encode(text).unwrap();
    assert_eq!(ids.len(), text.chars().count());
    assert_eq!(vocab.decode(&ids), text);
}

#[test]
fn unknown_characters_are_named() {
    let vocab = Vocabulary::from_text("abc");
    let err = vocab.encode("abxcz🦀").unwrap_err().to_string();
    assert!(
        err.contains("'x'") && err.contains("'z'") && err.contains("'🦀'"),
        "{err}"
    );
}

#[test]
fn save_and_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.json");
    let vocab = Vocabulary::from_text("Zürich 🦀 \"quoted\" \\ \n");
    vocab.save(&path).unwrap();
    assert_eq!(Vocabulary::load(&path).unwrap(), vocab);
}

#[test]
fn load_rejects_repeated_or_multi_char_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.json");
    std::fs::write(&path, r#"{"chars": ["b", "a", "b"]}"#).unwrap();
    assert!(
        Vocabulary::load(&path)
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    std::fs::write(&path, r#"{"chars": ["ab"]}"#).unwrap();
    assert!(
        Vocabulary::load(&path)
            .unwrap_err()
            .to_string()
            .contains("one character")
    );
}

/// `vocab` holds `chars`, then the unknown token, and `[distinct, occurrences]` characters of
/// the text were left out.
fn assert_limited(vocab: &Vocabulary, chars: &[char], rare: &RareCharacters, left_out: [usize; 2]) {
    assert_eq!(vocab.chars(), chars);
    assert_eq!(vocab.len(), chars.len() + 1);
    assert_eq!(vocab.unknown_id(), Some(chars.len() as u32));
    assert_eq!([rare.distinct, rare.occurrences], left_out);
}

/// Saved to its file and loaded back, `vocab` is unchanged.
fn assert_survives_its_file(vocab: &Vocabulary) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.json");
    vocab.save(&path).unwrap();
    assert_eq!(&Vocabulary::load(&path).unwrap(), vocab);
}

#[test]
fn a_size_limit_maps_rare_characters_to_the_unknown_token() {
    let text = "aaaa bbb cc d☃ é";
    let (vocab, rare) = Vocabulary::from_text_limited(text, 4);
    // The three most frequent (' ' 4, 'a' 4, 'b' 3) keep ids; the rest share id 3.
    assert_limited(&vocab, &[' ', 'a', 'b'], &rare, [4, 5]);
    let ids = vocab.encode("ab cé").unwrap();
    assert_eq!(ids, vec![1, 2, 0, 3, 3]);
    assert_eq!(vocab.decode(&ids), "ab \u{fffd}\u{fffd}");

    assert_survives_its_file(&vocab);

    // Under the limit nothing changes.
    let (whole, rare) = Vocabulary::from_text_limited(text, 100);
    assert_eq!(whole, Vocabulary::from_text(text));
    assert_eq!(rare, RareCharacters::default());
    assert_eq!(Vocabulary::from_text_limited(text, 0).0, whole);
}

fn counts_of(text: &str) -> CharCounts {
    let mut counts = CharCounts::default();
    counts.add(text);
    counts
}

#[test]
fn extension_keeps_every_id_and_appends_new_characters_in_code_point_order() {
    let base = Vocabulary::from_text("dcba");
    let (grown, rare) = base.extended(&counts_of("abz!éa"), 0);
    assert_eq!(grown.chars(), &['a', 'b', 'c', 'd', '!', 'z', 'é']);
    assert_eq!(rare, RareCharacters::default());
    for (id, &c) in base.chars().iter().enumerate() {
        assert_eq!(grown.id(c), Some(id as u32), "{c:?} moved");
    }
    assert_eq!(grown.encode("z!").unwrap(), vec![5, 4]);
    assert_eq!(grown.unknown_id(), None);

    // It survives a round trip through its file, though it is not sorted.
    assert_survives_its_file(&grown);

    // Nothing new: the same vocabulary.
    assert_eq!(base.extended(&counts_of("abba"), 0).0, base);
}

#[test]
fn extension_within_a_size_limit_gives_the_most_frequent_new_characters_ids() {
    let base = Vocabulary::from_text("ab");
    // Room for two more tokens: one new character and the unknown token.
    let (grown, rare) = base.extended(&counts_of("xxxyyza"), 4);
    assert_limited(&grown, &['a', 'b', 'x'], &rare, [2, 3]);
    assert_eq!(grown.encode("abxyz").unwrap(), vec![0, 1, 2, 3, 3]);

    // A limit the base already fills still leaves the unknown token a place.
    let (full, rare) = base.extended(&counts_of("q"), 2);
    assert_eq!(
        (full.chars(), full.unknown_id()),
        (&['a', 'b'][..], Some(2))
    );
    assert_eq!(rare.distinct, 1);
}

#[test]
fn a_vocabulary_with_an_unknown_token_maps_new_characters_to_it() {
    let (base, _) = Vocabulary::from_text_limited("aaabbcd", 3);
    assert_eq!(base.unknown_id(), Some(2));
    let (grown, rare) = base.extended(&counts_of("abq"), 0);
    assert_eq!(grown, base);
    assert_eq!(
        rare,
        RareCharacters {
            distinct: 1,
            occurrences: 1
        }
    );
}
