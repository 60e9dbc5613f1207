use super::*;
use charlstm_model::CellKind;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("c.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn file_values_override_defaults_and_flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "[train]\nbatch_size = 8\nseq_len = 20\n");
    let config = RunConfig::load(
        Some(&path),
        &[
            "train.seq_len=30".into(),
            "backend=wgpu".into(),
            "data.corpus=x.txt".into(),
        ],
    )
    .unwrap();
    assert_eq!(config.train.batch_size, 8);
    assert_eq!(config.train.seq_len, 30);
    assert_eq!(config.backend, BackendKind::Wgpu);
    assert_eq!(config.data.corpus, "x.txt".into());
    assert_eq!(config.model.hidden_size, ModelConfig::default().hidden_size);
}

#[test]
fn unknown_keys_wrong_types_and_bad_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "[train]\nbatch_sise = 8\n");
    let err = RunConfig::load(Some(&path), &[]).unwrap_err().to_string();
    assert_one_line(&err, "batch_sise");

    let path = write(dir.path(), "[train]\nbatch_size = \"big\"\n");
    let err = RunConfig::load(Some(&path), &[]).unwrap_err().to_string();
    assert!(err.contains("invalid type"), "{err}");

    let err = RunConfig::load(None, &["train.learning_rate=0".into()]).unwrap_err();
    assert!(
        err.to_string()
            .contains("train.learning_rate = 0 is invalid"),
        "{err}"
    );
    let err = RunConfig::load(None, &["model.dropout=1.0".into()]).unwrap_err();
    assert!(err.to_string().contains("model.dropout"), "{err}");
    let err = RunConfig::load(None, &["model.hidden_size=0".into()]).unwrap_err();
    assert!(err.to_string().contains("model.hidden_size"), "{err}");
    let err = RunConfig::load(None, &["backend=tpu".into()]).unwrap_err();
    assert!(err.to_string().contains("tpu"), "{err}");
    let err = RunConfig::load(None, &["nonsense".into()]).unwrap_err();
    assert!(err.to_string().contains("key=value"), "{err}");
}

#[test]
fn every_cell_is_accepted_and_an_unknown_one_is_named() {
    for (name, cell) in [
        ("lstm", CellKind::Lstm),
        ("gru", CellKind::Gru),
        ("rnn", CellKind::Rnn),
    ] {
        let config = RunConfig::load(None, &[format!("model.cell={name}")]).unwrap();
        assert_eq!(config.model.cell, cell);
        assert_eq!(RunConfig::from_toml(&config.to_toml()).unwrap(), config);
    }
    let err = RunConfig::load(None, &["model.cell=transformer".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("transformer"), "{err}");
    assert!(
        err.contains("lstm") && err.contains("gru") && err.contains("rnn"),
        "{err}"
    );
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn the_shipped_configs_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let config = RunConfig::load(Some(&path), &[])
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(RunConfig::from_toml(&config.to_toml()).unwrap(), config);
            loaded += 1;
        }
    }
    assert!(
        loaded >= 2,
        "configs/ holds the tiny and the default config"
    );
}

#[test]
fn a_decay_fraction_outside_its_range_is_refused() {
    for value in ["0", "1.5", "-0.2", "nan"] {
        let err = RunConfig::load(None, &[format!("train.decay_fraction={value}")])
            .unwrap_err()
            .to_string();
        assert_one_line(&err, "train.decay_fraction");
    }
}

#[test]
fn an_early_phase_needs_chunks_that_divide_seq_len_and_a_share_below_one() {
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        RunConfig::load(None, &sets)
    };
    for (sets, key) in [
        (&["train.early_seq_len=30"][..], "train.early_seq_len"),
        (&["train.early_seq_len=100"], "train.early_seq_len"),
        (&["train.early_seq_len=200"], "train.early_seq_len"),
        (&["train.early_share=1.0"], "train.early_share"),
        (&["train.early_share=0"], "train.early_share"),
        (&["train.early_share=nan"], "train.early_share"),
    ] {
        let err = load(sets).unwrap_err().to_string();
        assert_one_line(&err, key);
    }
    let recipe = load(&["train.early_seq_len=25", "train.early_share=0.5"])
        .unwrap()
        .train;
    let early = recipe.early_chunks().unwrap();
    assert_eq!((early.seq_len, early.ratio, early.share), (25, 4, 0.5));
    assert_eq!(load(&[]).unwrap().train.early_chunks(), None);
    // 100 full-length steps of text: half the steps at a quarter of the text each.
    let schedule = recipe.schedule_for(10);
    assert_eq!(schedule.total_steps, 160);
    assert_eq!(
        TrainConfig {
            max_steps: 50,
            ..recipe
        }
        .schedule_for(10)
        .total_steps,
        50
    );
}

#[test]
fn adam_decay_rates_outside_zero_to_one_are_refused() {
    for key in ["train.adam_beta1", "train.adam_beta2"] {
        for value in ["1", "1.5", "-0.1", "nan"] {
            let err = RunConfig::load(None, &[format!("{key}={value}")])
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&format!("{key} = ")), "{err}");
            assert!(err.ends_with("is invalid: it must be in [0, 1)"), "{err}");
        }
        let config = RunConfig::load(None, &[format!("{key}=0.95")]).unwrap();
        assert_eq!(config.train.adam_beta1 == 0.95, key.ends_with('1'));
    }
}

#[test]
fn toml_round_trip() {
    let config = RunConfig::load(None, &["train.max_minutes=2.5".into()]).unwrap();
    assert_eq!(RunConfig::from_toml(&config.to_toml()).unwrap(), config);
}

/// Asserts that the error message `err` names `expected`, in one line.
fn assert_one_line(err: &str, expected: &str) {
    assert!(err.contains(expected), "expected '{expected}' in: {err}");
    assert!(!err.contains('\n'), "one line: {err}");
}
