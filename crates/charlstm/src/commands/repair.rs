//! `charlstm repair RUN`: show where a run's configs disagree with its weights and, once
//! confirmed, rewrite them from the weights.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail};
use charlstm_train::repair::{plan_repair, repair};

use crate::cli::RepairArgs;

/// Runs `charlstm repair`.
pub fn run(args: RepairArgs) -> Result<()> {
    let items = plan_repair(&args.run)?;
    if items.is_empty() {
        println!(
            "{}: every config describes its weights; nothing to repair",
            args.run.display()
        );
        return Ok(());
    }
    for item in &items {
        let changes: Vec<String> = item
            .mismatch
            .iter()
            .map(|(key, config, weights)| format!("{key} {config} -> {weights}"))
            .collect();
        println!("{}: {}", item.path.display(), changes.join(", "));
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!("not repaired: confirm with --yes to rewrite the configs listed above");
        }
        print!("rewrite these configs from the weights? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("not repaired (answer y to rewrite, or pass --yes)");
        }
    }
    repair(&args.run, &items)?;
    println!(
        "repaired {}: its checkpoints load, sample, evaluate and resume again",
        args.run.display()
    );
    Ok(())
}
