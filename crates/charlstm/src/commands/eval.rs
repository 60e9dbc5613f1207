//! `charlstm eval`: a checkpoint's loss on the validation and test splits of its corpus, or on
//! another text.

use anyhow::Result;
use burn::module::Module;
use charlstm_data::CorpusLocator;
use charlstm_train::evaluate::evaluate_checkpoint;

use super::{character_loss_line, open_checkpoint};
use crate::cli::EvalArgs;

/// `charlstm eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    let (checkpoint, device) = open_checkpoint(&args.checkpoint, args.backend)?;
    let model = checkpoint.load_model(&device)?.valid();
    let batch_size = args
        .batch_size
        .unwrap_or(checkpoint.config.train.batch_size);
    let results = evaluate_checkpoint(
        &checkpoint,
        &model,
        args.corpus.as_deref(),
        CorpusLocator::from_env(),
        batch_size,
        &device,
    )?;
    for result in results {
        let (name, loss) = (&result.name, &result.evaluation);
        match result.characters {
            None => println!(
                "{}",
                character_loss_line(
                    name,
                    loss.nats_per_token,
                    loss.bits_per_token(),
                    loss.tokens
                )
            ),
            // Per character too, so models with different tokenizers compare.
            Some(characters) => println!(
                "{name}: {:.4} nats/token, {:.4} bits/token over {} tokens; {:.4} bits/char ({} characters)",
                loss.nats_per_token,
                loss.bits_per_token(),
                loss.tokens,
                result.bits_per_char(),
                characters.max(1)
            ),
        }
    }
    Ok(())
}
