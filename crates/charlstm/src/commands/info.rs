//! `charlstm info`: what a checkpoint holds, as text or JSON.

use anyhow::Result;
use burn::module::Module;
use charlstm_train::Checkpoint;

use crate::cli::InfoArgs;

/// `charlstm info`.
pub fn run(args: InfoArgs) -> Result<()> {
    let checkpoint = Checkpoint::open(&args.checkpoint)?;
    let p = &checkpoint.progress;
    let config = &checkpoint.config;
    // Shapes and the parameter count come from the weights themselves, not the config's word.
    let model = checkpoint.load_model(&burn::prelude::Device::flex())?;
    let parameters = model.num_params();
    let shape = model.shape();
    let bits = |nats: f32| nats / std::f32::consts::LN_2;
    // The f32 as it prints, not its f64 widening (0.0852195 rather than 0.08521953225135803).
    let short = |value: Option<f32>| value.and_then(|v| v.to_string().parse::<f64>().ok());
    if args.json {
        let info = serde_json::json!({
            "checkpoint": checkpoint.dir,
            "format_version": p.format_version,
            "backend": p.backend,
            "steps": p.step,
            "epoch": p.epoch + 1,
            "skipped_steps": p.skipped_steps,
            "elapsed_seconds": p.elapsed_seconds,
            "parameters": parameters,
            "model": {
                "cell": shape.cell.name(),
                "num_layers": shape.num_layers,
                "hidden_size": shape.hidden_size,
                "embedding_size": shape.embedding_size,
                "bidirectional": shape.bidirectional,
                "shared_head": shape.shared_head,
                "residual": shape.residual,
            },
            "vocab_size": checkpoint.tokenizer.len(),
            "tokenizer": checkpoint.tokenizer.describe(),
            "loss_unit": checkpoint.tokenizer.unit(),
            "train_loss": short(p.train_loss),
            "validation_loss": short(p.validation_loss),
            "best_validation_loss": short(p.best_validation_loss),
            "backward_train_loss": short(p.backward_train_loss),
            "backward_validation_loss": short(p.backward_validation_loss),
            "best_backward_validation_loss": short(p.best_backward_validation_loss),
            "resumable": checkpoint.dir.join("optimizer.bpk").is_file(),
            "regularization": config.describe_regularization(),
            "averaged_steps": p.averaged_steps,
            "initialized_from": p.initialized_from,
            "config": toml::from_str::<serde_json::Value>(&config.to_toml()).ok(),
        });
        println!("{info}");
        return Ok(());
    }
    let unit = checkpoint.tokenizer.unit();
    let loss = |value: Option<f32>| {
        value.map_or("n/a".to_string(), |l| {
            format!("{l:.4} nats/{unit} ({:.4} bits/{unit})", bits(l))
        })
    };
    println!("checkpoint:            {}", checkpoint.dir.display());
    println!(
        "model:                 {}{} × {} {}{}, embedding {}, {parameters} parameters",
        if shape.bidirectional {
            "bidirectional (forward and backward stacks), "
        } else {
            ""
        },
        shape.num_layers,
        shape.hidden_size,
        shape.cell.name(),
        if shape.residual {
            " with residual connections"
        } else {
            ""
        },
        shape.embedding_size,
    );
    println!("vocabulary:            {}", checkpoint.tokenizer.describe());
    println!(
        "trained:               {} steps (epoch {}), {:.0} s on {}{}",
        p.step,
        p.epoch + 1,
        p.elapsed_seconds,
        p.backend,
        if p.skipped_steps > 0 {
            format!(", {} steps skipped", p.skipped_steps)
        } else {
            String::new()
        }
    );
    if let Some(init) = &p.initialized_from {
        println!(
            "initialised from:      {} (step {}, {} tokens; {} added)",
            init.checkpoint.display(),
            init.step,
            init.vocab_size,
            init.added_tokens
        );
    }
    println!(
        "regularisation:        {}",
        config.describe_regularization()
    );
    if p.averaged_steps > 0 {
        println!(
            "weights:               the moving average of the trained weights over {} steps (decay {})",
            p.averaged_steps, config.train.ema_decay
        );
    }
    println!("train loss:            {}", loss(p.train_loss));
    println!("validation loss:       {}", loss(p.validation_loss));
    println!("best validation loss:  {}", loss(p.best_validation_loss));
    if shape.bidirectional {
        println!("backward train loss:   {}", loss(p.backward_train_loss));
        println!(
            "backward validation:   {}",
            loss(p.backward_validation_loss)
        );
        println!(
            "best backward:         {}",
            loss(p.best_backward_validation_loss)
        );
    }
    println!(
        "resumable:             {}",
        if checkpoint.dir.join("optimizer.bpk").is_file() {
            "yes"
        } else {
            "no (weights only; resume from the run's latest checkpoint)"
        }
    );
    println!("config:");
    for line in config.to_toml().lines() {
        println!("  {line}");
    }
    Ok(())
}
