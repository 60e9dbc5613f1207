//! `charlstm export`: a checkpoint's weights as safetensors under PyTorch's names, and on
//! request reference logits to check a port against.

use anyhow::Result;
use charlstm_train::Checkpoint;
use charlstm_train::export::{export_safetensors, write_reference_logits};
use tracing::info;

use crate::cli::ExportArgs;

/// `charlstm export`.
pub fn run(args: ExportArgs) -> Result<()> {
    let checkpoint = Checkpoint::open(&args.checkpoint)?;
    let device = burn::prelude::Device::flex();
    let model = checkpoint.load_model(&device)?;
    export_safetensors(&model, &checkpoint.tokenizer, &args.out)?;
    info!("wrote {}", args.out.display());
    if let Some(length) = args.reference {
        let path = write_reference_logits(&model, length, &args.out, &device)?;
        info!("wrote {}", path.display());
    }
    Ok(())
}
