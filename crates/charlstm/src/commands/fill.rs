//! `charlstm fill`: blanks in a text filled in by a bidirectional model, or its accuracy at
//! filling blanks in the validation text.

use anyhow::{Result, bail};
use burn::module::Module;
use charlstm_data::{CorpusLocator, Split};
use charlstm_model::FillChoice;
use charlstm_train::fill::{FillTest, fill_accuracy, fill_text};

use super::open_checkpoint;
use crate::cli::{FillArgs, FillMethod};

/// `charlstm fill`.
pub fn run(args: FillArgs) -> Result<()> {
    let (checkpoint, device) = open_checkpoint(&args.checkpoint, args.backend)?;
    let model = checkpoint.load_model(&device)?.valid();
    let tokenizer = &checkpoint.tokenizer;
    if !args.evaluate {
        let choice = match args.method {
            FillMethod::Combined => FillChoice::Combined,
            FillMethod::Forward => FillChoice::Forward,
            FillMethod::Backward => FillChoice::Backward,
        };
        let text = args.text.as_deref().unwrap_or_default();
        println!(
            "{}",
            fill_text(&model, tokenizer, text, args.mask, choice, &device)?
        );
        return Ok(());
    }
    if !(args.blank_rate > 0.0 && args.blank_rate <= 1.0) {
        bail!(
            "--blank-rate {} is invalid: it must be in (0, 1]",
            args.blank_rate
        );
    }
    let config = &checkpoint.config;
    let prepared =
        config
            .data
            .prepare_for(&CorpusLocator::from_env(), tokenizer, &mut |_, _, _| {})?;
    let tokens = prepared.tokens();
    let split = Split::new(tokens.len(), config.data.split_fractions());
    let test = FillTest {
        windows: args.windows,
        window_len: args.window,
        blank_rate: args.blank_rate,
        seed: args.seed,
    };
    let accuracy = fill_accuracy(
        &model,
        tokenizer,
        tokens.slice(split.validation.clone()),
        test,
        &device,
    )?;
    println!(
        "{} blanks in {} windows of {} validation characters ({:.0}% blanked, seed {}):",
        accuracy.blanks,
        accuracy.windows,
        args.window,
        100.0 * args.blank_rate,
        args.seed
    );
    println!("  forward only:   {:.1}%", 100.0 * accuracy.forward);
    println!("  backward only:  {:.1}%", 100.0 * accuracy.backward);
    println!("  combined:       {:.1}%", 100.0 * accuracy.combined);
    Ok(())
}
