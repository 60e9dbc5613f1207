//! `charlstm plot`: the loss curves of one or more runs as a PNG.

use anyhow::Result;
use charlstm_train::plot::{LossCurves, draw_loss_png};
use tracing::info;

use crate::cli::PlotArgs;

/// `charlstm plot`.
pub fn run(args: PlotArgs) -> Result<()> {
    let runs = args
        .runs
        .iter()
        .map(|run| LossCurves::read(run))
        .collect::<Result<Vec<_>, _>>()?;
    draw_loss_png(&runs, &args.out, &args.title)?;
    info!("wrote {}", args.out.display());
    Ok(())
}
