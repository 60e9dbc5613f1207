//! What the user reads on stderr: log lines through `tracing`, at the level `-v` / `--quiet`
//! choose, printed above the progress bar when one is showing.
//!
//! Levels: `--quiet` shows warnings only (errors are printed by `main`), the default adds
//! information (start, validation, the end of the run), `-v` adds debug lines (every logged
//! step, checkpoints, samples, what the program decided and why), `-vv` trace lines.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// How much the user asked to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verbosity {
    /// `--quiet`.
    pub quiet: bool,
    /// Number of `-v`.
    pub verbose: u8,
}

impl Verbosity {
    /// The most detailed level shown for charlstm's own messages.
    fn level(self) -> LevelFilter {
        match (self.quiet, self.verbose) {
            (true, _) => LevelFilter::WARN,
            (false, 0) => LevelFilter::INFO,
            (false, 1) => LevelFilter::DEBUG,
            (false, _) => LevelFilter::TRACE,
        }
    }

    /// Whether progress bars may be drawn: not under `--quiet`, and only on a terminal (in a
    /// log file, a bar's redraws would be noise; plain lines are written instead).
    pub fn progress_bars(self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}

/// Installs the global log subscriber. Only charlstm's crates log at the chosen level; other
/// libraries' `tracing` events show from warnings up (from debug up with `-vv`).
pub fn init(verbosity: Verbosity) {
    let others = if verbosity.verbose >= 2 {
        LevelFilter::DEBUG
    } else {
        LevelFilter::WARN
    };
    let targets = Targets::new()
        .with_default(others.min(verbosity.level()))
        .with_targets(
            [
                "charlstm",
                "charlstm_train",
                "charlstm_data",
                "charlstm_model",
            ]
            .map(|target| (target, verbosity.level())),
        );
    let layer = tracing_subscriber::fmt::layer()
        .event_format(PlainLines)
        .with_writer(AboveTheBar);
    // A second initialisation (tests of the binary run it once per process) is harmless.
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(targets)
        .try_init();
}

/// The progress bar on screen, if any: log lines are printed above it.
fn active_bar() -> &'static Mutex<Option<ProgressBar>> {
    static BAR: OnceLock<Mutex<Option<ProgressBar>>> = OnceLock::new();
    BAR.get_or_init(|| Mutex::new(None))
}

/// Makes `bar` the one log lines are printed above (`None`: print straight to stderr).
pub fn set_active_bar(bar: Option<ProgressBar>) {
    *active_bar().lock().unwrap_or_else(|e| e.into_inner()) = bar;
}

/// Prints `text` on stderr, above the progress bar if one is showing.
pub fn print_above_bar(text: &[u8]) {
    let bar = active_bar()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let write = || {
        let _ = std::io::stderr().lock().write_all(text);
    };
    match bar {
        Some(bar) if !bar.is_hidden() => bar.suspend(write),
        _ => write(),
    }
}

/// A log line as people read it: `warning: `/`debug: `/`trace: ` before the message, nothing
/// before information.
struct PlainLines;

impl<S, N> FormatEvent<S, N> for PlainLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let prefix = match *event.metadata().level() {
            Level::ERROR => "error: ",
            Level::WARN => "warning: ",
            Level::INFO => "",
            Level::DEBUG => "debug: ",
            Level::TRACE => "trace: ",
        };
        write!(writer, "{prefix}")?;
        context
            .field_format()
            .format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Hands `tracing` a buffer per event and prints it whole with [`print_above_bar`].
struct AboveTheBar;

impl<'a> MakeWriter<'a> for AboveTheBar {
    type Writer = LineBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        LineBuffer(Vec::new())
    }
}

/// One event's text, printed when dropped.
struct LineBuffer(Vec<u8>);

impl Write for LineBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            print_above_bar(&self.0);
        }
    }
}
