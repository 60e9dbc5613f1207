//! `--set key=value` overrides applied to a config's TOML table, and TOML's errors in one
//! line.

use crate::error::TrainError;

/// Sets the dotted `key` of `assignment` (`key=value`) in `table`. The value is read as TOML
/// (`0.5`, `true`, `"text"`), or as a plain string when it is not valid TOML (`wgpu`).
pub(super) fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), TrainError> {
    let Some((key, raw)) = assignment.split_once('=') else {
        return Err(TrainError::Config(format!(
            "--set '{assignment}' is not key=value (e.g. --set train.learning_rate=1e-3)"
        )));
    };
    let key = key.trim();
    let raw = raw.trim();
    let value = format!("value = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut table| table.remove("value"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));

    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(TrainError::Config(format!(
            "--set key '{key}' is malformed"
        )));
    }
    let (last, sections) = parts.split_last().expect("split yields at least one part");
    let mut current = table;
    for section in sections {
        let entry = current
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(TrainError::Config(format!(
                    "--set {key}: '{section}' is a value, not a section"
                )));
            }
        };
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// TOML errors span several lines with a source excerpt; the user gets one line.
pub(super) fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect();
    lines.join("; ")
}
