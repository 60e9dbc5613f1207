//! `charlstm viz`: an HTML report of what a character model makes of a text, and optionally
//! the gate-saturation picture.

use anyhow::Result;
use charlstm_train::inspect::{Visualization, VizOptions};
use tracing::info;

use super::open_checkpoint;
use crate::cli::VizArgs;

/// `charlstm viz`.
pub fn run(args: VizArgs) -> Result<()> {
    let (checkpoint, device) = open_checkpoint(&args.checkpoint, args.backend)?;
    let model = checkpoint.load_model(&device)?;
    let options = VizOptions {
        top_k: args.top,
        units_per_feature: args.units,
    };
    let title = args.checkpoint.display().to_string();
    let viz = Visualization::of_file(&model, &checkpoint.tokenizer, &args.text, title, options)?;
    viz.write_html(&args.out)?;
    info!(
        "{}: {} characters at {:.3} bits/char",
        args.out.display(),
        viz.inspection.chars.len(),
        viz.inspection.bits_per_char()
    );
    for ranking in &viz.rankings {
        if let Some(best) = ranking.units.first() {
            info!(
                "  {}: layer {} unit {} (correlation {:+.3})",
                ranking.feature.label(),
                best.layer + 1,
                best.unit,
                best.correlation
            );
        }
    }
    if let Some(gates) = &args.gates {
        viz.write_gates_png(gates)?;
        info!("{}: gate saturation", gates.display());
    }
    Ok(())
}
