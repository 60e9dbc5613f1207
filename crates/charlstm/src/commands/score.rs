//! `charlstm score`: each file's loss under a character model, or every character's log
//! probability and rank.

use std::io::Write;

use anyhow::{Result, bail};
use charlstm_train::score::{FileScore, score_file};
use tracing::info;

use super::{character_loss_line, open_checkpoint};
use crate::cli::ScoreArgs;

/// `charlstm score`.
pub fn run(args: ScoreArgs) -> Result<()> {
    if args.per_char && args.files.len() > 1 {
        bail!("--per-char scores one file at a time: give one FILE");
    }
    let (checkpoint, device) = open_checkpoint(&args.checkpoint, args.backend)?;
    let model = checkpoint.load_model(&device)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let summary = |score: &FileScore| {
        character_loss_line(
            score.path.display(),
            score.nats_per_char(),
            score.bits_per_char(),
            score.characters,
        )
    };
    if args.per_char {
        // A closed pipe (`| head`) ends the scoring quietly.
        if writeln!(out, "char\tlog_prob\trank").is_err() {
            return Ok(());
        }
        let score = score_file(&model, &checkpoint.tokenizer, &args.files[0], |scored| {
            writeln!(
                out,
                "{}\t{:.6}\t{}",
                escaped(scored.character),
                scored.log_prob,
                scored.rank
            )
            .is_ok()
        })?;
        info!("{}", summary(&score));
        return Ok(());
    }
    for path in &args.files {
        let score = score_file(&model, &checkpoint.tokenizer, path, |_| true)?;
        if writeln!(out, "{}", summary(&score)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// A character as one TSV field: tab, newline, carriage return and backslash escaped.
fn escaped(character: char) -> String {
    match character {
        '\t' => "\\t".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\\' => "\\\\".into(),
        other => other.to_string(),
    }
}
