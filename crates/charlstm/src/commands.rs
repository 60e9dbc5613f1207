//! What each subcommand does: turn arguments into library calls and print the results.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use charlstm_data::{
    CorpusLocator, PrepareOptions, Split, TokenView, Tokenizer, TokenizerChoice, prepare,
};
use charlstm_model::SamplingOptions;
use charlstm_model::{Direction, FillChoice};
use charlstm_train::benchmark::{BenchmarkOptions, run_benchmark};
use charlstm_train::evaluate::evaluate_in;
use charlstm_train::export::export_safetensors;
use charlstm_train::fill::{FillTest, fill_accuracy, fill_text};
use charlstm_train::generate::{GenerateOptions, generate, generate_many};
use charlstm_train::plot::{LossCurves, draw_loss_png};
use charlstm_train::{
    BackendKind, Checkpoint, RunConfig, TrainEvent, TrainObserver, TrainOptions, train,
};
use tracing::{info, warn};

use crate::cli::{
    BenchArgs, Cli, Command, ConfigArgs, EvalArgs, ExportArgs, FillArgs, FillMethod, InfoArgs,
    PlotArgs, PrepareArgs, SampleArgs, TrainArgs,
};
use crate::console::Verbosity;
use crate::progress::ConsoleObserver;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let verbosity = Verbosity {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Train(args) => train_command(args, verbosity),
        Command::Sample(args) => sample_command(args),
        Command::Eval(args) => eval_command(args),
        Command::Fill(args) => fill_command(args),
        Command::Prepare(args) => prepare_command(args, verbosity),
        Command::Cache(args) => crate::cache_command::run(args),
        Command::Bench(args) => bench_command(args),
        Command::Info(args) => info_command(args),
        Command::Plot(args) => plot_command(args),
        Command::Export(args) => export_command(args),
        Command::Repair(args) => crate::repair_command::run(args),
    }
}

/// The run configuration the arguments describe: the `--config` file (else `fallback`, else
/// the defaults), then `--set` overrides, then `--backend`. Also points Burn's default device
/// at the chosen backend.
fn load_config(args: &ConfigArgs, fallback: Option<PathBuf>) -> Result<RunConfig> {
    let mut overrides = args.overrides.clone();
    if let Some(name) = &args.backend {
        BackendKind::from_name(name)?;
        overrides.push(format!("backend={name}"));
    }
    let config_path = args.config.clone().or(fallback);
    if let Some(path) = &config_path
        && !path.is_file()
    {
        bail!(
            "config '{}' does not exist (see configs/ for examples)",
            path.display()
        );
    }
    let config = RunConfig::load(config_path.as_deref(), &overrides)?;
    select_default_device(config.backend);
    Ok(config)
}

/// Exit code of a run stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report Ctrl-C).
const INTERRUPTED_EXIT_CODE: i32 = 130;

/// A flag that SIGINT and SIGTERM set, so the run can finish its step and write a checkpoint.
/// A second signal, arriving while the flag is set, exits at once.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal set it.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            INTERRUPTED_EXIT_CODE,
            Arc::clone(&stop),
        )
        .context("cannot install the signal handler")?;
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    Ok(stop)
}

fn train_command(args: TrainArgs, verbosity: Verbosity) -> Result<()> {
    let run_dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_run_dir(args.config.config.as_deref()));
    // A resumed run keeps its own config unless another is given.
    let saved_config = run_dir.join("config.toml");
    let fallback = (args.resume && saved_config.is_file()).then_some(saved_config);
    let config = load_config(&args.config, fallback)?;

    let stop = stop_on_signals()?;
    let mut observer = ConsoleObserver::new(verbosity);
    let mut locator = CorpusLocator::from_env();
    locator.show_progress = verbosity.progress_bars();
    let result = train(
        &config,
        TrainOptions {
            run_dir: run_dir.clone(),
            resume: args.resume,
            locator,
            observer: &mut observer,
            stop: Some(stop),
        },
    );
    observer.finish();
    let summary = result?;
    if summary.interrupted {
        warn!(
            "interrupted after step {}; checkpoint written to {}",
            summary.steps,
            run_dir.join("latest").display()
        );
        warn!(
            "resume with: charlstm train --resume --out {}",
            run_dir.display()
        );
        std::process::exit(INTERRUPTED_EXIT_CODE);
    }
    let unit = summary.unit;
    info!(
        "done: {} steps in {:.1} s ({:.0} {unit}s/s); best validation loss {}",
        summary.steps,
        summary.elapsed_seconds,
        summary.chars_per_second,
        summary
            .best_validation_loss
            .map_or("n/a".to_string(), |l| format!(
                "{l:.4} nats/{unit} ({:.4} bits/{unit})",
                l / std::f32::consts::LN_2
            )),
    );
    info!(
        "sample from it: charlstm sample --checkpoint {}",
        run_dir.display()
    );
    Ok(())
}

fn sample_command(args: SampleArgs) -> Result<()> {
    let checkpoint = Checkpoint::open(&args.checkpoint)?;
    let backend = chosen_backend(args.backend.as_deref(), &checkpoint)?;
    select_default_device(backend);
    let device = backend.device()?;
    let model = checkpoint.load_model(&device)?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let options = GenerateOptions {
        prime: args.prime.clone(),
        length: args.length,
        sampling: SamplingOptions {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
        },
        seed,
    };
    options.validate(&checkpoint.tokenizer)?;
    // Refused before the seed line, so the error is the only line printed.
    if args.num_samples == 0 {
        bail!("--num-samples 0 is invalid: it must be at least 1");
    }
    if args.seed.is_none() {
        info!("seed: {seed} (pass --seed {seed} to repeat this sample)");
    }
    if args.num_samples > 1 {
        let texts = generate_many(
            &model,
            &checkpoint.tokenizer,
            &options,
            args.num_samples,
            &device,
        )?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for (k, text) in texts.iter().enumerate() {
            let header = format!(
                "==> sample {} of {} (--seed {}) <==",
                k + 1,
                texts.len(),
                seed.wrapping_add(k as u64)
            );
            // A closed pipe ends the output quietly.
            if writeln!(out, "{header}\n{}{text}\n", args.prime).is_err() {
                return Ok(());
            }
        }
        return Ok(());
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed pipe (`charlstm sample | head`) ends the sample quietly.
    if write!(out, "{}", args.prime)
        .and_then(|_| out.flush())
        .is_err()
    {
        return Ok(());
    }
    generate(&model, &checkpoint.tokenizer, &options, &device, |text| {
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_ok()
    })?;
    let _ = writeln!(out);
    Ok(())
}

fn eval_command(args: EvalArgs) -> Result<()> {
    let checkpoint = Checkpoint::open(&args.checkpoint)?;
    let backend = chosen_backend(args.backend.as_deref(), &checkpoint)?;
    select_default_device(backend);
    let device = backend.device()?;
    let model = checkpoint.load_model(&device)?.valid();
    let config = &checkpoint.config;
    let batch_size = args.batch_size.unwrap_or(config.train.batch_size);
    if batch_size == 0 {
        bail!("--batch-size 0 is invalid: it must be at least 1");
    }
    let locator = CorpusLocator::from_env().with_invalid_utf8(config.data.invalid_utf8);
    let tokenizer = &checkpoint.tokenizer;

    let directions: &[Direction] = if model.is_bidirectional() {
        &[Direction::Forward, Direction::Backward]
    } else {
        &[Direction::Forward]
    };
    let report_direction = |split: &str,
                            direction: Direction,
                            tokens: TokenView<'_>|
     -> Result<()> {
        let result = evaluate_in(
            direction,
            &model,
            tokens,
            batch_size,
            config.train.seq_len,
            &device,
            split,
        )?;
        let name = match (model.is_bidirectional(), direction) {
            (false, _) => split.to_string(),
            (true, Direction::Forward) => format!("{split} (forward)"),
            (true, Direction::Backward) => format!("{split} (backward)"),
        };
        match tokenizer.characters() {
            Some(_) => println!(
                "{name}: {:.4} nats/char, {:.4} bits/char over {} characters",
                result.nats_per_char,
                result.bits_per_char(),
                result.chars
            ),
            None => {
                // Per character too, so models with different tokenizers compare.
                let chars = count_characters(tokenizer, tokens).max(1);
                let chars_per_token = chars as f64 / tokens.len() as f64;
                println!(
                    "{name}: {:.4} nats/token, {:.4} bits/token over {} tokens; {:.4} bits/char ({} characters)",
                    result.nats_per_char,
                    result.bits_per_char(),
                    result.chars,
                    result.bits_per_char() / chars_per_token,
                    chars
                )
            }
        }
        Ok(())
    };
    let report = |split: &str, tokens: TokenView<'_>| -> Result<()> {
        for &direction in directions {
            report_direction(split, direction, tokens)?;
        }
        Ok(())
    };
    match &args.corpus {
        Some(spec) => {
            let options = PrepareOptions {
                cache_dir: locator.prepared_dir.clone().filter(|_| config.data.cache),
                invalid_utf8: config.data.invalid_utf8,
                progress: &mut |_, _, _| {},
            };
            let prepared = locator
                .resolve(spec)
                .and_then(|sources| {
                    prepare(&sources, &TokenizerChoice::Use(tokenizer.clone()), options)
                })
                .with_context(|| format!("corpus '{spec}'"))?;
            report(spec, prepared.tokens())
        }
        None => {
            let prepared = config.prepare_corpus_for(&locator, tokenizer, &mut |_, _, _| {})?;
            let tokens = prepared.tokens();
            let split = Split::new(tokens.len(), config.split_fractions());
            if split.validation.len() < 2 && split.test.len() < 2 {
                bail!("the run has no validation or test split to evaluate (pass --corpus FILE)");
            }
            if split.validation.len() >= 2 {
                report(
                    "validation",
                    config.validation_part(tokens.slice(split.validation.clone())),
                )?;
            }
            if split.test.len() >= 2 {
                report("test", tokens.slice(split.test))?;
            }
            Ok(())
        }
    }
}

/// How many characters `tokens` decode to, decoded as a stream (a split of any size never
/// becomes one string).
fn count_characters(tokenizer: &Tokenizer, tokens: TokenView<'_>) -> usize {
    let mut decoder = tokenizer.stream_decoder();
    let mut text = String::new();
    let mut chars = 0;
    for index in 0..tokens.len() {
        decoder.push(tokens.get(index).expect("index below len"), &mut text);
        if text.len() >= 1 << 16 {
            chars += text.chars().count();
            text.clear();
        }
    }
    chars + text.chars().count()
}

fn fill_command(args: FillArgs) -> Result<()> {
    let checkpoint = Checkpoint::open(&args.checkpoint)?;
    let backend = chosen_backend(args.backend.as_deref(), &checkpoint)?;
    select_default_device(backend);
    let device = backend.device()?;
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
        config.prepare_corpus_for(&CorpusLocator::from_env(), tokenizer, &mut |_, _, _| {})?;
    let tokens = prepared.tokens();
    let split = Split::new(tokens.len(), config.split_fractions());
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

fn prepare_command(args: PrepareArgs, verbosity: Verbosity) -> Result<()> {
    let config = load_config(&args.config, None)?;
    let mut observer = ConsoleObserver::new(verbosity);
    let mut locator = CorpusLocator::from_env();
    locator.show_progress = verbosity.progress_bars();
    let prepared = config.prepare_corpus(
        &locator,
        &config.tokenizer_choice()?,
        &mut |phase, done, total| {
            observer.on_event(&TrainEvent::Preparing {
                phase: phase.name(),
                bytes_done: done,
                bytes_total: total,
            })
        },
    );
    observer.finish();
    let prepared = prepared?;
    if let Some(problem) = &prepared.cache_problem {
        warn!("{problem}");
    }
    let info = &prepared.info;
    let tokens_file = prepared.location.join("tokens.bin");
    if args.json {
        let report = serde_json::json!({
            "corpus": config.data.corpus.specs(),
            "source_bytes": info.source_bytes,
            "files": info.files,
            "skipped_files": info.skipped_files,
            "tokens": info.tokens,
            "token_bytes": info.width.bytes(),
            "vocab_size": prepared.tokenizer.len(),
            "reused": prepared.reused,
            "seconds": info.seconds,
            "tokens_file": tokens_file,
        });
        println!("{report}");
        return Ok(());
    }
    let how = if prepared.reused {
        format!("unchanged since it was prepared in {:.1} s", info.seconds)
    } else {
        format!(
            "prepared in {:.1} s ({:.0} MB/s)",
            info.seconds,
            info.megabytes_per_second()
        )
    };
    println!(
        "corpus '{}': {} bytes in {} files ({} skipped) -> {} tokens of {} byte(s), vocabulary {}; {how}",
        config.data.corpus.specs().join(", "),
        info.source_bytes,
        info.files,
        info.skipped_files,
        info.tokens,
        info.width.bytes(),
        prepared.tokenizer.describe(),
    );
    println!("token file: {}", tokens_file.display());
    Ok(())
}

fn bench_command(args: BenchArgs) -> Result<()> {
    if args.steps == 0 || args.sample_length == 0 {
        bail!("--steps and --sample-length must be at least 1");
    }
    let config = load_config(&args.config, None)?;
    let options = BenchmarkOptions {
        warmup_steps: args.warmup_steps,
        timed_steps: args.steps,
        sample_length: args.sample_length,
        num_samples: args.num_samples,
    };
    let report = run_benchmark(&config, &CorpusLocator::from_env(), options)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{}: training {:.0} chars/s, sampling {:.0} chars/s (batch 1){}, peak memory {}",
            report.backend,
            report.train_chars_per_s,
            report.sample_chars_per_s,
            report
                .batch_sample_chars_per_s
                .map_or(String::new(), |s| format!(
                    ", {s:.0} chars/s ({} samples at once)",
                    report.num_samples
                )),
            report
                .peak_rss_mib
                .map_or("unknown".to_string(), |m| format!("{m:.0} MiB"))
        );
    }
    Ok(())
}

/// The backend the user asked for, else the one the checkpoint was trained with.
fn chosen_backend(requested: Option<&str>, checkpoint: &Checkpoint) -> Result<BackendKind> {
    Ok(match requested {
        Some(name) => BackendKind::from_name(name)?,
        None => checkpoint.config.backend,
    })
}

/// `runs/<config file stem>`, or `runs/default` without a config.
fn default_run_dir(config: Option<&Path>) -> PathBuf {
    let name = config
        .and_then(|p| p.file_stem())
        .map_or("default".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("runs").join(name)
}

/// Burn materialises some state (e.g. loaded optimizer moments) on its default device, which
/// prefers a GPU; point it at the backend the user chose instead. Called before any other
/// thread starts.
fn select_default_device(backend: BackendKind) {
    // SAFETY: the program is still single-threaded here; nothing reads the environment
    // concurrently.
    unsafe { std::env::set_var("BURN_DEVICE", backend.name()) };
    // Mesa's Vulkan device-select layer looks for the GPU driving the display; outside a
    // desktop session (a server, CI) there is none, and libwayland prints
    // "error: XDG_RUNTIME_DIR is invalid" four times. Nothing is selected either way, so the
    // layer is turned off there unless the user set it.
    let no_session = std::env::var_os("XDG_RUNTIME_DIR").is_none();
    if backend == BackendKind::Wgpu && no_session && std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: as above.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

fn info_command(args: InfoArgs) -> Result<()> {
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

fn plot_command(args: PlotArgs) -> Result<()> {
    let runs = args
        .runs
        .iter()
        .map(|run| LossCurves::read(run))
        .collect::<Result<Vec<_>, _>>()?;
    draw_loss_png(&runs, &args.out, &args.title)?;
    info!("wrote {}", args.out.display());
    Ok(())
}

fn export_command(args: ExportArgs) -> Result<()> {
    let checkpoint = Checkpoint::open(&args.checkpoint)?;
    let device = burn::prelude::Device::flex();
    let model = checkpoint.load_model(&device)?;
    export_safetensors(&model, &checkpoint.tokenizer, &args.out)?;
    info!("wrote {}", args.out.display());
    if let Some(length) = args.reference {
        let vocab_size = checkpoint.tokenizer.len() as i64;
        let ids: Vec<i64> = (0..length.max(1) as i64)
            .map(|i| (i * 7 + i / vocab_size) % vocab_size)
            .collect();
        let tokens = burn::prelude::Tensor::<2, burn::prelude::Int>::from_data(
            burn::prelude::TensorData::new(ids.clone(), [1, ids.len()]),
            &device,
        );
        let logits: Vec<f32> = model
            .valid()
            .forward(tokens, None)
            .0
            .try_into_vec_as()
            .map_err(|e| anyhow::anyhow!("cannot read logits: {e}"))?;
        let rows: Vec<&[f32]> = logits.chunks(vocab_size as usize).collect();
        let path = args.out.with_extension("reference.json");
        let json = serde_json::json!({ "tokens": ids, "logits": rows });
        std::fs::write(&path, json.to_string())
            .with_context(|| format!("cannot write '{}'", path.display()))?;
        info!("wrote {}", path.display());
    }
    Ok(())
}
