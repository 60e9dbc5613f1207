//! The files of a run directory that the training loop writes beside its checkpoints: the
//! resolved config and tokenizer at the top, `samples.txt`, and the loss picture.

use std::path::Path;

use charlstm_data::Tokenizer;

use crate::checkpoint::{self, Checkpoint};
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::observer::{TrainEvent, TrainObserver};
use crate::plot::{LOSS_PLOT_FILE, LossCurves, draw_loss_png};

/// Samples written at each validation, in the run directory.
pub const SAMPLES_FILE: &str = "samples.txt";

/// Makes sure `run_dir` can take a run, and opens its latest checkpoint when resuming: a new
/// run wants a directory without checkpoints (created if missing), a resumed one a directory
/// with a `latest` checkpoint.
pub fn open(run_dir: &Path, resume: bool) -> Result<Option<Checkpoint>, TrainError> {
    let latest = checkpoint::latest_in(run_dir);
    match (resume, latest) {
        (true, Some(path)) => Ok(Some(Checkpoint::open(&path)?)),
        (true, None) => Err(TrainError::checkpoint(
            run_dir,
            "nothing to resume: it has no latest checkpoint (drop --resume to start a new run)",
        )),
        (false, Some(_)) => Err(TrainError::RunExists(run_dir.to_path_buf())),
        (false, None) => {
            std::fs::create_dir_all(run_dir)
                .map_err(|source| TrainError::write(run_dir.to_path_buf(), source))?;
            Ok(None)
        }
    }
}

/// Writes the resolved config and the tokenizer (`vocab.json` and `tokenizer.json`) at the top
/// of the run directory, so a person can see what the run is without opening a checkpoint.
pub fn write_config_files(
    run_dir: &Path,
    config: &RunConfig,
    tokenizer: &Tokenizer,
) -> Result<(), TrainError> {
    checkpoint::write_synced(&run_dir.join("config.toml"), config.to_toml().as_bytes())?;
    for (file, bytes) in checkpoint::tokenizer_files(tokenizer)? {
        checkpoint::write_synced(&run_dir.join(file), &bytes)?;
    }
    Ok(())
}

/// Appends a sample to `run_dir/samples.txt` under a header naming the step.
pub fn append_sample(
    run_dir: &Path,
    step: usize,
    validation_loss: Option<f32>,
    text: &str,
) -> Result<(), TrainError> {
    let path = run_dir.join(SAMPLES_FILE);
    let loss = validation_loss.map_or(String::new(), |l| format!(", validation loss {l:.4}"));
    let entry = format!("=== step {step}{loss} ===\n{text}\n\n");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, entry.as_bytes()))
        .map_err(|e| TrainError::write(&path, e))
}

/// Redraws `loss.png` from `metrics.csv`. The picture is a convenience: failing to draw it
/// never stops a run, and the user hears of it once.
#[derive(Debug, Default)]
pub struct LossPicture {
    failed: bool,
}

impl LossPicture {
    /// Draws the picture, or tells `observer` (the first time only) why it cannot.
    pub fn redraw(&mut self, run_dir: &Path, observer: &mut dyn TrainObserver) {
        let drawn = LossCurves::read(run_dir)
            .and_then(|curves| draw_loss_png(&[curves], &run_dir.join(LOSS_PLOT_FILE), "loss"));
        if let Err(e) = drawn
            && !self.failed
        {
            self.failed = true;
            let message = format!("cannot draw {LOSS_PLOT_FILE}: {e}");
            observer.on_event(&TrainEvent::Notice { message: &message });
        }
    }
}
