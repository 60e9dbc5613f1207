//! Shows a training run as it goes: on a terminal, a progress bar (epoch, step, train loss,
//! last validation loss, chars/s, time left) with validation results logged above it;
//! elsewhere (a log file, CI, nohup), plain log lines every `train.log_interval` steps.

use std::time::{Duration, Instant};

use charlstm_train::{TrainEvent, TrainObserver};
use indicatif::{HumanDuration, ProgressBar, ProgressStyle};
use tracing::{debug, info, warn};

use crate::console::{self, Verbosity};

/// A corpus smaller than this is encoded too fast for a bar to be worth drawing.
const PREPARING_BAR_MIN_BYTES: u64 = 8 << 20;

/// The [`TrainObserver`] of `charlstm train`.
pub struct ConsoleObserver {
    verbosity: Verbosity,
    /// "char" or "token": losses are per unit.
    unit: String,
    training: Option<ProgressBar>,
    preparing: Option<ProgressBar>,
    total_steps: usize,
    train_loss: Option<f32>,
    validation_loss: Option<f32>,
    chars_per_second: Option<f64>,
    clock: StepClock,
}

impl ConsoleObserver {
    /// An observer showing as much as `verbosity` asks for.
    pub fn new(verbosity: Verbosity) -> Self {
        Self {
            verbosity,
            unit: "char".into(),
            training: None,
            preparing: None,
            total_steps: 0,
            train_loss: None,
            validation_loss: None,
            chars_per_second: None,
            clock: StepClock::default(),
        }
    }

    /// Removes the bars from the screen, so what follows starts on a clean line.
    pub fn finish(&mut self) {
        for bar in [self.preparing.take(), self.training.take()]
            .into_iter()
            .flatten()
        {
            bar.finish_and_clear();
        }
        console::set_active_bar(None);
    }

    fn start_training_bar(&mut self, position: usize) {
        if !self.verbosity.progress_bars() {
            return;
        }
        let bar = ProgressBar::new(self.total_steps as u64).with_position(position as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} steps{msg}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        self.training = Some(bar.clone());
        self.update_message(position, 1);
        console::set_active_bar(Some(bar));
    }

    fn update_message(&self, step: usize, epoch: usize) {
        let Some(bar) = &self.training else { return };
        bar.set_position(step as u64);
        bar.set_prefix(format!("epoch {epoch}"));
        let mut message = String::new();
        if let Some(loss) = self.train_loss {
            message += &format!(" | loss {loss:.4}");
        }
        if let Some(loss) = self.validation_loss {
            message += &format!(" | val {loss:.4}");
        }
        if let Some(rate) = self.chars_per_second {
            message += &format!(" | {rate:.0} {}s/s", self.unit);
        }
        if let Some(left) = self.clock.time_left(step, self.total_steps) {
            message += &format!(" | ETA {}", HumanDuration(left));
        }
        bar.set_message(message);
    }

    fn preparing(&mut self, phase: &str, done: u64, total: u64) {
        if total < PREPARING_BAR_MIN_BYTES || !self.verbosity.progress_bars() {
            return;
        }
        let bar = self.preparing.get_or_insert_with(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} corpus [{bar:30.cyan/blue}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar
        });
        if bar.prefix() != phase {
            bar.set_prefix(phase.to_string());
            bar.reset();
        }
        bar.set_position(done);
        if done >= total {
            bar.finish_and_clear();
            self.preparing = None;
        }
    }
}

impl Drop for ConsoleObserver {
    fn drop(&mut self) {
        self.finish();
    }
}

impl TrainObserver for ConsoleObserver {
    fn on_event(&mut self, event: &TrainEvent<'_>) {
        let bits = |nats: f32| nats / std::f32::consts::LN_2;
        match *event {
            TrainEvent::Started {
                backend,
                parameters,
                vocab_size,
                unit,
                train_chars,
                validation_chars,
                steps_per_epoch,
                early_chunks,
                total_steps,
                resumed_at,
                time_budget,
                regularization,
            } => {
                self.unit = unit.to_string();
                self.total_steps = total_steps;
                self.clock.budget = time_budget;
                info!(
                    "training on {backend}: {parameters} parameters, vocabulary {vocab_size}, \
                     {train_chars} training / {validation_chars} validation {unit}s, \
                     {steps_per_epoch} steps per epoch, {total_steps} steps"
                );
                if let Some((seq_len, steps, share)) = early_chunks {
                    info!(
                        "the first {:.0}% of the run trains on {seq_len}-long chunks, {steps} steps per epoch",
                        share * 100.0
                    );
                }
                info!("regularisation: {regularization}");
                if let Some(step) = resumed_at {
                    info!("resuming at step {step}");
                }
                self.start_training_bar(resumed_at.unwrap_or(0));
            }
            TrainEvent::Preparing {
                phase,
                bytes_done,
                bytes_total,
            } => self.preparing(phase, bytes_done, bytes_total),
            TrainEvent::Prepared {
                tokens,
                width_bytes,
                source_bytes,
                location,
                reused,
                seconds,
                megabytes_per_second,
            } => {
                let how = if reused {
                    "reused".to_string()
                } else {
                    format!("prepared in {seconds:.1} s, {megabytes_per_second:.0} MB/s")
                };
                let line = format!(
                    "corpus: {tokens} tokens, {width_bytes} byte{} each, in {} ({how})",
                    if width_bytes == 1 { "" } else { "s" },
                    location.display()
                );
                // Worth a line when preparing takes a while, or when the cache saved that.
                if source_bytes >= PREPARING_BAR_MIN_BYTES {
                    info!("{line}");
                } else {
                    debug!("{line}");
                }
            }
            TrainEvent::Progress { step, epoch } => {
                self.clock.tick(step);
                self.update_message(step, epoch);
            }
            TrainEvent::Step {
                step,
                total_steps,
                epoch,
                train_loss,
                backward_train_loss,
                learning_rate,
                chars_per_second,
            } => {
                self.train_loss = Some(train_loss);
                self.chars_per_second = Some(chars_per_second);
                let backward = backward_train_loss
                    .map_or(String::new(), |loss| format!(" | backward {loss:.4}"));
                let line = format!(
                    "step {step:>6}/{total_steps} | epoch {epoch:>3} | train loss {train_loss:.4}{backward} | \
                     lr {learning_rate:.2e} | {chars_per_second:>8.0} {}s/s",
                    self.unit
                );
                // With a bar on screen the bar carries these figures; lines only on request.
                if self.training.is_some() {
                    debug!("{line}");
                } else {
                    info!("{line}");
                }
                self.update_message(step, epoch);
            }
            TrainEvent::Validation {
                step,
                loss,
                backward_loss,
                best,
            } => {
                self.validation_loss = Some(loss);
                let unit = &self.unit;
                let backward = backward_loss.map_or(String::new(), |loss| {
                    format!(
                        " | backward {loss:.4} nats/{unit} ({:.4} bits/{unit})",
                        bits(loss)
                    )
                });
                info!(
                    "step {step:>6} | validation loss {loss:.4} nats/{unit} ({:.4} bits/{unit}){backward}{}",
                    bits(loss),
                    if best { " | best so far" } else { "" },
                );
            }
            TrainEvent::Skipped {
                step,
                loss,
                grad_norm,
            } => warn!(
                "step {step:>6} | skipped: loss {loss}, gradient norm {grad_norm} (train.skip_nonfinite)"
            ),
            TrainEvent::Sample { step, text } => debug!("sample at step {step}:\n{text}"),
            TrainEvent::Notice { message } => info!("note: {message}"),
            TrainEvent::Checkpoint { path } => {
                debug!("checkpoint written to {}", path.display())
            }
        }
    }
}

/// The pace of this session's steps, for the time left.
#[derive(Debug, Default)]
struct StepClock {
    /// The first step seen and when.
    first: Option<(usize, Instant)>,
    /// The last step seen and when.
    last: Option<(usize, Instant)>,
    /// `train.max_minutes` in seconds and the part used before this session.
    budget: Option<(f64, f64)>,
}

impl StepClock {
    fn tick(&mut self, step: usize) {
        let now = Instant::now();
        self.first.get_or_insert((step, now));
        self.last = Some((step, now));
    }

    /// Until the last step at this session's pace, or until the time budget runs out,
    /// whichever comes first. `None` until two steps have been timed.
    fn time_left(&self, step: usize, total_steps: usize) -> Option<Duration> {
        let ((first_step, first_time), (last_step, last_time)) = (self.first?, self.last?);
        if last_step <= first_step {
            return None;
        }
        let seconds_per_step =
            (last_time - first_time).as_secs_f64() / (last_step - first_step) as f64;
        let mut left = seconds_per_step * total_steps.saturating_sub(step) as f64;
        if let Some((budget, used_before)) = self.budget {
            let used = used_before + (last_time - first_time).as_secs_f64();
            left = left.min((budget - used).max(0.0));
        }
        Some(Duration::from_secs_f64(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_follows_the_pace_and_the_budget() {
        let start = Instant::now();
        let mut clock = StepClock {
            first: Some((10, start)),
            last: Some((20, start + Duration::from_secs(5))),
            budget: None,
        };
        // 0.5 s per step, 80 steps to go.
        assert_eq!(clock.time_left(20, 100), Some(Duration::from_secs(40)));
        // A budget of 60 s with 50 s used before this session's 5 s leaves 5 s.
        clock.budget = Some((60.0, 50.0));
        assert_eq!(clock.time_left(20, 100), Some(Duration::from_secs(5)));
        clock.last = clock.first;
        assert_eq!(clock.time_left(10, 100), None);
    }
}
