//! The subcommands, one file each: each turns its arguments into library calls and prints
//! the results. What they share (reading a config, opening a checkpoint on a backend) is here.

mod bench;
mod cache;
mod eval;
mod export;
mod fill;
mod info;
mod plot;
mod prepare;
mod repair;
mod sample;
mod score;
mod serve;
mod train;
mod viz;

use std::path::PathBuf;

use anyhow::{Result, bail};
use burn::prelude::Device;
use charlstm_train::{BackendKind, Checkpoint, RunConfig};

use crate::cli::{Cli, Command, ConfigArgs};
use crate::console::Verbosity;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let verbosity = Verbosity {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Train(args) => train::run(args, verbosity),
        Command::Sample(args) => sample::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Score(args) => score::run(args),
        Command::Viz(args) => viz::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Fill(args) => fill::run(args),
        Command::Prepare(args) => prepare::run(args, verbosity),
        Command::Cache(args) => cache::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Info(args) => info::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Export(args) => export::run(args),
        Command::Repair(args) => repair::run(args),
    }
}

/// The run configuration the arguments describe: the `--config` file (else `fallback`, else
/// the defaults), then `--set` overrides, then `--backend`.
pub(crate) fn load_config(args: &ConfigArgs, fallback: Option<PathBuf>) -> Result<RunConfig> {
    let config_path = args.config.clone().or(fallback);
    if let Some(path) = &config_path
        && !path.is_file()
    {
        bail!(
            "config '{}' does not exist (see configs/ for examples)",
            path.display()
        );
    }
    let mut config = RunConfig::load(config_path.as_deref(), &args.overrides)?;
    if let Some(backend) = args.backend {
        config.backend = backend;
    }
    quiet_vulkan_device_select(config.backend);
    Ok(config)
}

/// The checkpoint at `path` and a device of the backend `requested` (else the one the
/// checkpoint was trained with).
pub(crate) fn open_checkpoint(
    path: &std::path::Path,
    requested: Option<BackendKind>,
) -> Result<(Checkpoint, Device)> {
    let checkpoint = Checkpoint::open(path)?;
    let backend = requested.unwrap_or(checkpoint.config.backend);
    quiet_vulkan_device_select(backend);
    let device = backend.device()?;
    Ok((checkpoint, device))
}

/// Mesa's Vulkan device-select layer looks for the GPU driving the display; outside a desktop
/// session (a server, CI) there is none, and libwayland prints "error: XDG_RUNTIME_DIR is
/// invalid" four times when wgpu starts. Nothing is selected either way, so for the wgpu
/// backend the layer is turned off there, unless the user set `NODEVICE_SELECT` themselves.
/// The layer reads only its environment, so this is the one variable the program sets, before
/// any other thread starts.
fn quiet_vulkan_device_select(backend: BackendKind) {
    let no_session = std::env::var_os("XDG_RUNTIME_DIR").is_none();
    if backend == BackendKind::Wgpu && no_session && std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: the program is still single-threaded here; nothing reads the environment
        // concurrently.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

/// `NAME: X nats/char, Y bits/char over N characters`: how `eval` and `score` report a
/// character model's loss, so their lines compare.
fn character_loss_line(
    name: impl std::fmt::Display,
    nats_per_char: f64,
    bits_per_char: f64,
    characters: impl std::fmt::Display,
) -> String {
    format!(
        "{name}: {nats_per_char:.4} nats/char, {bits_per_char:.4} bits/char over {characters} characters"
    )
}
