//! `metrics.csv` in the run directory: one row per report, for plotting and for comparing
//! runs. A resumed run first drops the rows after the checkpoint it resumes from, so the file
//! always describes one consistent history.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::durable::write_synced;
use crate::error::TrainError;

/// The file's name inside a run directory.
pub const METRICS_FILE: &str = "metrics.csv";

/// The header row.
pub const HEADER: &str = "step,epoch,train_loss,validation_loss,learning_rate,chars_per_second,wall_seconds,backward_train_loss,backward_validation_loss";

/// One row; empty cells for what was not measured at that step.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRow {
    /// Steps done.
    pub step: usize,
    /// Epoch (1-based) of the step.
    pub epoch: usize,
    /// Mean training loss since the previous row with one, nats/char.
    pub train_loss: Option<f32>,
    /// Validation loss, nats/char.
    pub validation_loss: Option<f32>,
    /// Learning rate of the step.
    pub learning_rate: f64,
    /// Training throughput since the previous row with one.
    pub chars_per_second: Option<f64>,
    /// Seconds of training so far, across resumes.
    pub wall_seconds: f64,
    /// The backward stack's training loss (bidirectional models), as `train_loss`.
    pub backward_train_loss: Option<f32>,
    /// The backward stack's validation loss (bidirectional models).
    pub backward_validation_loss: Option<f32>,
}

impl MetricsRow {
    /// A row for `step` with nothing measured yet.
    pub fn new(step: usize, epoch: usize, learning_rate: f64, wall_seconds: f64) -> Self {
        Self {
            step,
            epoch,
            train_loss: None,
            validation_loss: None,
            learning_rate,
            chars_per_second: None,
            wall_seconds,
            backward_train_loss: None,
            backward_validation_loss: None,
        }
    }

    /// Whether the row holds a loss: rows without one are not written.
    pub fn has_losses(&self) -> bool {
        self.train_loss.is_some() || self.validation_loss.is_some()
    }

    /// The row as CSV. Losses are written in the shortest form that reads back to the same
    /// `f32`, so two runs can be compared exactly.
    fn to_csv(&self) -> String {
        let cell = |value: Option<String>| value.unwrap_or_default();
        format!(
            "{},{},{},{},{:e},{},{:.3},{},{}",
            self.step,
            self.epoch,
            cell(self.train_loss.map(|l| l.to_string())),
            cell(self.validation_loss.map(|l| l.to_string())),
            self.learning_rate,
            cell(self.chars_per_second.map(|c| format!("{c:.1}"))),
            self.wall_seconds,
            cell(self.backward_train_loss.map(|l| l.to_string())),
            cell(self.backward_validation_loss.map(|l| l.to_string())),
        )
    }
}

/// Appends rows to a run's `metrics.csv`.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens `run_dir/metrics.csv` for a run that starts at `step`: a new file with its header
    /// at step 0; otherwise the rows up to `step` are kept and later ones (from after the
    /// checkpoint being resumed) dropped.
    pub fn open(run_dir: &Path, step: usize) -> Result<Self, TrainError> {
        let path = run_dir.join(METRICS_FILE);
        let mut kept = format!("{HEADER}\n");
        if step > 0
            && let Ok(file) = File::open(&path)
        {
            for line in BufReader::new(file).lines().skip(1) {
                let line = line.map_err(|source| TrainError::write(path.clone(), source))?;
                let row_step = line.split(',').next().and_then(|s| s.parse::<usize>().ok());
                if row_step.is_some_and(|s| s <= step) {
                    kept.push_str(&line);
                    kept.push('\n');
                }
            }
        }
        // Rewritten beside and renamed over, so a crash now cannot lose the history.
        let staging = run_dir.join(format!(".{METRICS_FILE}.tmp"));
        write_synced(&staging, kept.as_bytes())?;
        std::fs::rename(&staging, &path)
            .map_err(|source| TrainError::write(path.clone(), source))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|source| TrainError::write(path.clone(), source))?;
        Ok(Self { path, file })
    }

    /// Appends `row`.
    pub fn append(&mut self, row: &MetricsRow) -> Result<(), TrainError> {
        writeln!(self.file, "{}", row.to_csv())
            .map_err(|source| TrainError::write(self.path.clone(), source))
    }
}

/// Training losses and time since the last report: the mean loss and throughput of a row.
#[derive(Debug)]
pub struct LossWindow {
    sum: f64,
    backward_sum: Option<f64>,
    steps: usize,
    chars: usize,
    start: Instant,
}

impl Default for LossWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl LossWindow {
    /// An empty window whose clock starts now.
    pub fn new() -> Self {
        Self {
            sum: 0.0,
            backward_sum: None,
            steps: 0,
            chars: 0,
            start: Instant::now(),
        }
    }

    /// Counts one applied step's forward (and backward) loss over `chars` target characters.
    pub fn add(&mut self, loss: f32, backward_loss: Option<f32>, chars: usize) {
        self.sum += f64::from(loss);
        if let Some(loss) = backward_loss {
            *self.backward_sum.get_or_insert(0.0) += f64::from(loss);
        }
        self.steps += 1;
        self.chars += chars;
    }

    /// Mean forward and backward losses and throughput since the last call (`None` if no step
    /// counted: all skipped), and empties the window. With one step in the window the mean is
    /// that step's loss exactly.
    pub fn take(&mut self) -> Option<(f32, Option<f32>, f64)> {
        let steps = std::mem::take(&mut self.steps);
        let chars = std::mem::take(&mut self.chars);
        let sum = std::mem::take(&mut self.sum);
        let backward_sum = self.backward_sum.take();
        let seconds = self.start.elapsed().as_secs_f64().max(1e-9);
        self.start = Instant::now();
        (steps > 0).then(|| {
            (
                (sum / steps as f64) as f32,
                backward_sum.map(|sum| (sum / steps as f64) as f32),
                chars as f64 / seconds,
            )
        })
    }

    /// Restarts the clock: validation and checkpoints do not count against throughput.
    pub fn restart_clock(&mut self) {
        self.start = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: usize, train: Option<f32>, validation: Option<f32>) -> MetricsRow {
        MetricsRow {
            step,
            epoch: 1,
            train_loss: train,
            validation_loss: validation,
            learning_rate: 1e-3,
            chars_per_second: train.map(|_| 1234.5),
            wall_seconds: step as f64,
            backward_train_loss: None,
            backward_validation_loss: None,
        }
    }

    fn lines(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join(METRICS_FILE))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn rows_are_exact_and_a_resume_drops_the_rows_after_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open(dir.path(), 0).unwrap();
        let loss = 1.0f32 / 3.0;
        for step in 1..=6 {
            log.append(&row(
                step,
                Some(loss * step as f32),
                (step == 4).then_some(2.5),
            ))
            .unwrap();
        }
        let written = lines(dir.path());
        assert_eq!(written[0], HEADER);
        assert_eq!(written.len(), 7);
        let cells: Vec<&str> = written[4].split(',').collect();
        assert_eq!(cells.len(), 9);
        assert_eq!(cells[0], "4");
        assert_eq!(
            cells[2].parse::<f32>().unwrap(),
            loss * 4.0,
            "read back exactly"
        );
        assert_eq!(cells[3], "2.5");
        assert_eq!(
            written[5].split(',').nth(3),
            Some(""),
            "no validation at step 5"
        );

        // Resuming from a checkpoint at step 4.
        let mut log = MetricsLog::open(dir.path(), 4).unwrap();
        log.append(&row(5, Some(9.0), None)).unwrap();
        let resumed = lines(dir.path());
        assert_eq!(resumed.len(), 6);
        assert_eq!(&resumed[..5], &written[..5]);
        assert!(resumed[5].starts_with("5,1,9,"), "{}", resumed[5]);

        // A new run starts a new file.
        MetricsLog::open(dir.path(), 0).unwrap();
        assert_eq!(lines(dir.path()), vec![HEADER.to_string()]);
    }

    #[test]
    fn the_window_averages_the_steps_since_the_last_report() {
        let mut window = LossWindow::new();
        assert_eq!(window.take(), None, "no step counted");
        window.add(0.1, None, 10);
        let (loss, backward, chars_per_second) = window.take().unwrap();
        assert_eq!(loss, 0.1, "one step's loss exactly");
        assert_eq!(backward, None);
        assert!(chars_per_second > 0.0);
        window.add(1.0, Some(3.0), 10);
        window.add(2.0, Some(5.0), 10);
        let (loss, backward, _) = window.take().unwrap();
        assert_eq!((loss, backward), (1.5, Some(4.0)));
        assert_eq!(window.take(), None, "taking empties the window");
    }
}
