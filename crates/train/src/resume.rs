//! What a resumed run may change. Every key of the run config has one rule:
//!
//! - **free**: the new value simply applies from the next step (learning rate, budgets,
//!   intervals, dropout, the backend, ...);
//! - **re-cut**: the new value changes how the training text is cut into streams (batch
//!   size, sequence length, the corpus and its split). The run continues at the same fraction
//!   of its epoch in the newly cut streams, with the carried recurrent state restarted from
//!   zeros (said once, as a notice);
//! - **fixed**: the checkpoint's weights or vocabulary fix it (the model's shape, the cell,
//!   the tokenizer). A different value is refused, naming the key, the checkpoint's value and
//!   the given one, before anything is written.

use std::collections::BTreeMap;

use charlstm_data::{Split, TokenView};

use crate::config::RunConfig;
use crate::error::TrainError;
use crate::progress::Progress;
use crate::setup::training_streams;

/// What a resumed run does with a new value of a config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnResume {
    /// Takes effect from the next step.
    Free,
    /// The streams are cut again at the same fraction of the epoch; the carried state
    /// restarts from zeros.
    Recut,
    /// Fixed by the checkpoint: a different value is refused.
    Fixed,
}

impl OnResume {
    /// How the README's config table names the rule.
    pub fn name(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Recut => "re-cut",
            Self::Fixed => "fixed",
        }
    }
}

/// The rule of every key of [`RunConfig`], by dotted name. A test checks that it names each
/// key exactly once, so a new key cannot be added without deciding its rule.
pub const RESUME_RULES: &[(&str, OnResume)] = &[
    ("backend", OnResume::Free),
    ("seed", OnResume::Free),
    ("data.corpus", OnResume::Recut),
    ("data.include", OnResume::Recut),
    ("data.exclude", OnResume::Recut),
    ("data.max_vocab", OnResume::Fixed),
    ("data.val_chars", OnResume::Free),
    ("data.validation_fraction", OnResume::Recut),
    ("data.test_fraction", OnResume::Recut),
    ("data.invalid_utf8", OnResume::Recut),
    ("data.tokenizer", OnResume::Fixed),
    ("data.cache", OnResume::Free),
    ("model.cell", OnResume::Fixed),
    ("model.embedding_size", OnResume::Fixed),
    ("model.hidden_size", OnResume::Fixed),
    ("model.num_layers", OnResume::Fixed),
    ("model.dropout", OnResume::Free),
    ("model.output_dropout", OnResume::Free),
    ("model.locked_dropout", OnResume::Free),
    ("model.input_dropout", OnResume::Free),
    ("model.embedding_dropout", OnResume::Free),
    ("model.weight_drop", OnResume::Free),
    ("model.forget_bias", OnResume::Fixed),
    ("model.bidirectional", OnResume::Fixed),
    ("model.shared_head", OnResume::Fixed),
    ("model.residual", OnResume::Fixed),
    ("train.batch_size", OnResume::Recut),
    ("train.seq_len", OnResume::Recut),
    ("train.early_seq_len", OnResume::Recut),
    ("train.early_share", OnResume::Free),
    ("train.learning_rate", OnResume::Free),
    ("train.min_learning_rate", OnResume::Free),
    ("train.schedule", OnResume::Free),
    ("train.decay_fraction", OnResume::Free),
    ("train.warmup_steps", OnResume::Free),
    ("train.adam_beta1", OnResume::Free),
    ("train.adam_beta2", OnResume::Free),
    ("train.weight_decay", OnResume::Free),
    ("train.ema_decay", OnResume::Free),
    ("train.grad_clip", OnResume::Free),
    ("train.epochs", OnResume::Free),
    ("train.max_steps", OnResume::Free),
    ("train.max_minutes", OnResume::Free),
    ("train.eval_interval", OnResume::Free),
    ("train.checkpoint_interval", OnResume::Free),
    ("train.log_interval", OnResume::Free),
    ("train.skip_nonfinite", OnResume::Free),
    ("train.sample_chars", OnResume::Free),
];

/// The rule of `key` (a dotted config key).
pub fn rule_of(key: &str) -> Option<OnResume> {
    RESUME_RULES
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, rule)| *rule)
}

/// A key whose value differs between a checkpoint's config and the one a run resumes with.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The dotted key.
    pub key: String,
    /// The checkpoint's value, as TOML.
    pub saved: String,
    /// The given value, as TOML.
    pub given: String,
    /// What resuming does with it.
    pub rule: OnResume,
}

/// What resuming with a config does, once it is allowed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResumePlan {
    /// Every key that changed.
    pub changes: Vec<Change>,
}

impl ResumePlan {
    /// Whether the streams must be cut again (and the carried state restarted).
    pub fn recut(&self) -> bool {
        self.changes.iter().any(|c| c.rule == OnResume::Recut)
    }

    /// The changed keys of one rule, as `key = value` (the given value).
    pub fn keys(&self, rule: OnResume) -> Vec<String> {
        self.changes
            .iter()
            .filter(|c| c.rule == rule)
            .map(|c| format!("{} = {}", c.key, c.given))
            .collect()
    }
}

/// Compares the config a run resumes with (`given`) against its checkpoint's (`saved`):
/// refuses any change to a fixed key, in one line naming every such key with both values;
/// otherwise returns what changed.
pub fn check_resume(saved: &RunConfig, given: &RunConfig) -> Result<ResumePlan, TrainError> {
    let saved_keys = flatten(saved);
    let given_keys = flatten(given);
    let mut changes = Vec::new();
    for (key, saved_value) in &saved_keys {
        let given_value = given_keys.get(key).cloned().unwrap_or_default();
        if *saved_value == given_value {
            continue;
        }
        // A key without a rule would be a new key nobody classified: treat it as fixed, the
        // safe side (the rules' test catches it first).
        let rule = rule_of(key).unwrap_or(OnResume::Fixed);
        changes.push(Change {
            key: key.clone(),
            saved: saved_value.clone(),
            given: given_value,
            rule,
        });
    }
    let fixed: Vec<String> = changes
        .iter()
        .filter(|c| c.rule == OnResume::Fixed)
        .map(|c| format!("{} = {} (given {})", c.key, c.saved, c.given))
        .collect();
    if !fixed.is_empty() {
        return Err(TrainError::ResumeRefused(format!(
            "cannot resume: the checkpoint's weights fix {}; drop {} from the command (or the config), or train a new run with --out",
            fixed.join(", "),
            if fixed.len() == 1 {
                "that value"
            } else {
                "those values"
            }
        )));
    }
    Ok(ResumePlan { changes })
}

/// Where a run continues after its streams are cut again: the same fraction of the epoch,
/// `batch_in_epoch / old_batches`, in the new cut of `new_batches` per epoch.
pub fn recut_position(batch_in_epoch: usize, old_batches: usize, new_batches: usize) -> usize {
    if old_batches == 0 {
        return 0;
    }
    let fraction = batch_in_epoch.min(old_batches) as f64 / old_batches as f64;
    ((fraction * new_batches as f64).floor() as usize).min(new_batches)
}

/// When `plan` changes how the training text is cut and the new streams (from `given`) do
/// differ from the checkpoint's (`saved`, over the same `tokens`): moves `progress` to the
/// same fraction of its epoch in the new cut and returns the note to show. The caller restarts
/// the carried state, which belongs to the old cut.
///
/// A checkpoint taken in the early phase of shorter chunks counts its position in them; it
/// stays early when the new config has an early phase too, and moves to full-length chunks
/// when not.
pub fn recut_streams(
    plan: &ResumePlan,
    saved: &RunConfig,
    given: &RunConfig,
    tokens: TokenView<'_>,
    progress: &mut Progress,
) -> Option<String> {
    if !plan.recut() {
        return None;
    }
    let stays_early = progress.early_chunks && given.train.early_chunks().is_some();
    let old_len = chunk_len(saved, progress.early_chunks);
    let new_len = chunk_len(given, stays_early);
    let batches = |config: &RunConfig, seq_len: usize| {
        let split = Split::new(tokens.len(), config.data.split_fractions());
        training_streams(config, tokens, &split, seq_len)
            .map(|streams| streams.num_batches())
            .unwrap_or(0)
    };
    let old_batches = batches(saved, old_len);
    let new_batches = batches(given, new_len);
    let same_cut = old_batches == new_batches
        && saved.train.batch_size == given.train.batch_size
        && old_len == new_len
        && saved.data.split_fractions() == given.data.split_fractions();
    if same_cut {
        return None;
    }
    let before = progress.batch_in_epoch;
    progress.batch_in_epoch = recut_position(before, old_batches, new_batches);
    progress.early_chunks = stays_early;
    Some(format!(
        "resuming with {}: the training text is cut into new streams; continuing at batch {} of {new_batches} in epoch {} (batch {before} of {old_batches} before), the carried state restarted from zeros",
        plan.keys(OnResume::Recut).join(", "),
        progress.batch_in_epoch,
        progress.epoch + 1,
    ))
}

/// The length of the chunks a run of `config` reads, in its early phase when `early`.
fn chunk_len(config: &RunConfig, early: bool) -> usize {
    match config.train.early_chunks() {
        Some(chunks) if early => chunks.seq_len,
        _ => config.train.seq_len,
    }
}

/// The config as dotted keys and their values written as TOML.
fn flatten(config: &RunConfig) -> BTreeMap<String, String> {
    let value = toml::Value::try_from(config).expect("the config serializes");
    let mut keys = BTreeMap::new();
    flatten_into("", &value, &mut keys);
    keys
}

fn flatten_into(prefix: &str, value: &toml::Value, keys: &mut BTreeMap<String, String>) {
    match value {
        toml::Value::Table(table) => {
            for (name, value) in table {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten_into(&key, value, keys);
            }
        }
        value => {
            keys.insert(prefix.to_string(), value.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_key_has_exactly_one_rule() {
        let keys: Vec<String> = flatten(&RunConfig::default()).into_keys().collect();
        let ruled: Vec<&str> = RESUME_RULES.iter().map(|(key, _)| *key).collect();
        for key in &keys {
            let count = ruled.iter().filter(|k| **k == key.as_str()).count();
            assert_eq!(count, 1, "{key} must have exactly one resume rule");
        }
        for key in &ruled {
            assert!(
                keys.iter().any(|k| k == key),
                "{key} has a rule but is not a config key"
            );
        }
    }

    #[test]
    fn the_readme_table_gives_every_key_its_rule() {
        let readme = include_str!("../../../README.md");
        for (key, rule) in RESUME_RULES {
            let row = readme
                .lines()
                .find(|line| line.starts_with(&format!("| `{key}` |")))
                .unwrap_or_else(|| panic!("README's config table has no row for {key}"));
            let column = row.split(" | ").nth(2).unwrap_or_default();
            assert_eq!(
                column.trim_matches('*'),
                rule.name(),
                "README's rule for {key}: {row}"
            );
        }
    }

    #[test]
    fn free_changes_pass_and_are_listed() {
        let saved = RunConfig::default();
        let mut given = saved.clone();
        given.train.learning_rate = 1e-3;
        given.model.dropout = 0.3;
        let plan = check_resume(&saved, &given).unwrap();
        assert!(!plan.recut());
        assert_eq!(
            plan.keys(OnResume::Free),
            vec!["model.dropout = 0.3", "train.learning_rate = 0.001"]
        );
    }

    #[test]
    fn a_new_batch_size_recuts() {
        let saved = RunConfig::default();
        let mut given = saved.clone();
        given.train.batch_size = 8;
        let plan = check_resume(&saved, &given).unwrap();
        assert!(plan.recut());
        assert_eq!(plan.keys(OnResume::Recut), vec!["train.batch_size = 8"]);
    }

    #[test]
    fn fixed_changes_are_refused_naming_every_key_and_both_values() {
        let saved = RunConfig::default();
        let mut given = saved.clone();
        given.model.hidden_size = 32;
        given.model.bidirectional = true;
        given.train.learning_rate = 1e-3;
        let message = check_resume(&saved, &given).unwrap_err().to_string();
        assert!(
            message.contains("model.hidden_size = 512 (given 32)"),
            "{message}"
        );
        assert!(
            message.contains("model.bidirectional = false (given true)"),
            "{message}"
        );
        assert!(!message.contains("learning_rate"), "{message}");
        assert!(!message.contains('\n'));
    }

    #[test]
    fn the_position_keeps_its_fraction_of_the_epoch() {
        assert_eq!(recut_position(50, 100, 400), 200);
        assert_eq!(recut_position(99, 100, 10), 9);
        assert_eq!(recut_position(0, 100, 7), 0);
        assert_eq!(recut_position(100, 100, 7), 7);
        assert_eq!(recut_position(5, 0, 7), 0);
    }
}
