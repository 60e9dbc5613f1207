//! The regularisation keys in whole runs: the averaged weights are what validation measures,
//! `best/` keeps and `latest/` holds beside the trained ones; each technique changes training
//! and nothing else; a run resumed mid-way takes exactly the uninterrupted run's steps.
//!
//! Each test holds the generator lock: runs draw their masks from the CPU backends' one
//! generator per process, which tests side by side would share.

use charlstm_data::CorpusLocator;
use charlstm_model::parameters::parameter_values;
use charlstm_model::testing::generator_lock;
use charlstm_train::Checkpoint;
use charlstm_train::evaluate::evaluate_checkpoint;

mod common;

use common::*;

const REGULARISED: &[&str] = &[
    "data.corpus=brackets",
    "model.num_layers=2",
    "model.dropout=0.2",
    "model.locked_dropout=true",
    "model.input_dropout=0.1",
    "model.embedding_dropout=0.1",
    "model.weight_drop=0.3",
    "train.weight_decay=0.1",
    "train.ema_decay=0.9",
    "train.max_steps=30",
    "train.epochs=100",
    "train.eval_interval=10",
    "train.log_interval=1",
];

/// With `train.ema_decay`, `latest/` holds the average as its model and the trained weights
/// in `training.bpk`, the two differ, every step was averaged, and the validation loss the
/// run reported at its end is `eval`'s loss of the average, as `best/` keeps it.
#[test]
fn the_average_is_what_validation_measures_and_checkpoints_keep() {
    let _generator = generator_lock();
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(REGULARISED);
    let (_, losses) = train_tiny(dir.path(), &config);
    let latest = Checkpoint::open(&dir.path().join("latest")).unwrap();
    assert_eq!(latest.progress.averaged_steps, 30);
    assert!(latest.dir.join("training.bpk").is_file());
    let device = ndarray();
    let average = latest.load_model(&device).unwrap();
    let trained = latest.load_training_model(&device).unwrap();
    assert_ne!(parameter_values(&average), parameter_values(&trained));

    let evaluate = |checkpoint: &Checkpoint, model| {
        let results = evaluate_checkpoint(
            checkpoint,
            model,
            None,
            CorpusLocator::default(),
            config.train.batch_size,
            &device,
        )
        .unwrap();
        results[0].evaluation.nats_per_token as f32
    };
    let reported = losses.validations.last().unwrap().0;
    assert_eq!(evaluate(&latest, &average), reported);
    assert_ne!(evaluate(&latest, &trained), reported);

    let best = Checkpoint::open(&dir.path().join("best")).unwrap();
    let best_model = best.load_model(&device).unwrap();
    assert!(!best.dir.join("training.bpk").exists());
    assert_eq!(
        evaluate(&best, &best_model),
        best.progress.best_validation_loss.unwrap()
    );
}

/// A run resumed from its checkpoint at step 20 takes the uninterrupted run's last ten steps
/// exactly: the masks of every technique are the step's, the average and Adam's state are
/// saved whole. (A constant learning rate, so the schedule does not depend on where the
/// first part stops.)
#[test]
fn a_resumed_regularised_run_continues_exactly() {
    let _generator = generator_lock();
    let constant = [REGULARISED, &["train.schedule=constant"]].concat();
    let whole = tempfile::tempdir().unwrap();
    let config = tiny_config(&constant);
    let (_, expected) = train_tiny(whole.path(), &config);
    assert_eq!(expected.validations.len(), 3);

    let parts = tempfile::tempdir().unwrap();
    train_tiny(
        parts.path(),
        &tiny_config(&[&constant[..], &["train.max_steps=20"]].concat()),
    );
    let (_, resumed) = train_run(parts.path(), &config, true);
    assert_eq!(resumed.validations.last(), expected.validations.last());
    assert_eq!(resumed.steps.len(), 10);
    assert_eq!(&resumed.steps[..], &expected.steps[20..]);
}

/// Each technique changes the training losses (it is applied) and, off, the run is the run
/// without the key at all.
#[test]
fn each_technique_changes_training() {
    let _generator = generator_lock();
    let base = [
        "data.corpus=brackets",
        "model.num_layers=2",
        "train.max_steps=12",
        "train.epochs=100",
        "train.eval_interval=12",
        "train.log_interval=1",
    ];
    let run = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let (_, losses) = train_tiny(dir.path(), &tiny_config(&[&base[..], extra].concat()));
        losses
    };
    let plain = run(&[]);
    assert_eq!(
        run(&["model.weight_drop=0.0", "train.weight_decay=0.0"]).steps,
        plain.steps
    );
    for technique in [
        "model.input_dropout=0.3",
        "model.embedding_dropout=0.3",
        "model.weight_drop=0.3",
        "train.weight_decay=0.5",
    ] {
        assert_ne!(run(&[technique]).steps, plain.steps, "{technique}");
    }
    // Locked dropout changes how the dropout between layers draws its masks.
    let dropout = run(&["model.dropout=0.3"]);
    let locked = run(&["model.dropout=0.3", "model.locked_dropout=true"]);
    assert_ne!(dropout.steps, locked.steps);
    // The average changes what validation measures, not what training does.
    let averaged = run(&["train.ema_decay=0.9"]);
    assert_eq!(averaged.steps, plain.steps);
    assert_ne!(averaged.validations, plain.validations);
}
