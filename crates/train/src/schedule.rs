//! The learning-rate schedule: linear warm-up, then constant, or a cosine or linear decay to
//! `min_learning_rate` at the last step over the last `decay_fraction` of the run, at the peak
//! until then (warm-up, stable, decay).

use serde::{Deserialize, Serialize};

/// Shape of the schedule after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Stay at the peak learning rate.
    Constant,
    /// Half a cosine from the peak down to the minimum.
    Cosine,
    /// A straight line from the peak down to the minimum.
    Linear,
}

/// The learning rate at every step of a run of known length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Shape after warm-up.
    pub kind: ScheduleKind,
    /// Peak learning rate.
    pub peak: f64,
    /// Final learning rate.
    pub minimum: f64,
    /// Share of the run after warm-up, at its end, over which the decay runs (in (0, 1]).
    pub decay_fraction: f64,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// Total steps of the run.
    pub total_steps: usize,
}

/// Under a time budget, warm-up ends after this share of the budget at the latest, so a short
/// run does not spend itself warming up.
pub const MAX_WARMUP_TIME_SHARE: f64 = 0.05;

impl Schedule {
    /// The learning rate for step `step` (0-based).
    pub fn learning_rate(&self, step: usize) -> f64 {
        self.learning_rate_at(step, 0.0)
    }

    /// The share of the run spent after step `step` (0-based) with `time_fraction` of a time
    /// budget spent: whichever clock is further along, as the schedule itself follows.
    pub fn run_fraction(&self, step: usize, time_fraction: f64) -> f64 {
        let by_steps = step as f64 / self.total_steps.max(1) as f64;
        by_steps.max(time_fraction).clamp(0.0, 1.0)
    }

    /// The learning rate for step `step` (0-based) of a run that has spent `time_fraction`
    /// (0 to 1) of a time budget (`train.max_minutes`; 0 without one). Warm-up and decay
    /// follow whichever clock is further along, so a run stopped by its time budget has warmed
    /// up early and reaches the minimum learning rate as the time runs out.
    pub fn learning_rate_at(&self, step: usize, time_fraction: f64) -> f64 {
        let time_fraction = time_fraction.clamp(0.0, 1.0);
        if step < self.warmup_steps && time_fraction < MAX_WARMUP_TIME_SHARE {
            let by_steps = (step + 1) as f64 / self.warmup_steps as f64;
            let by_time = time_fraction / MAX_WARMUP_TIME_SHARE;
            return self.peak * by_steps.max(by_time);
        }
        let warmup_end = self.warmup_steps.min(step);
        let decay_steps = self.total_steps.saturating_sub(warmup_end).max(1);
        let by_steps = (step - warmup_end) as f64 / decay_steps as f64;
        let progress = by_steps.max(time_fraction).min(1.0);
        let stable = 1.0 - self.decay_fraction;
        let progress = ((progress - stable) / self.decay_fraction).clamp(0.0, 1.0);
        let span = self.peak - self.minimum;
        match self.kind {
            ScheduleKind::Constant => self.peak,
            ScheduleKind::Cosine => {
                self.minimum + span * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            ScheduleKind::Linear => self.peak - span * progress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: ScheduleKind) -> Schedule {
        Schedule {
            kind,
            peak: 1.0,
            minimum: 0.1,
            decay_fraction: 1.0,
            warmup_steps: 10,
            total_steps: 110,
        }
    }

    #[test]
    fn warmup_rises_linearly_to_the_peak() {
        let s = schedule(ScheduleKind::Cosine);
        assert!((s.learning_rate(0) - 0.1).abs() < 1e-12);
        assert!((s.learning_rate(4) - 0.5).abs() < 1e-12);
        assert!((s.learning_rate(10) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn decays_end_at_the_minimum() {
        let cosine = schedule(ScheduleKind::Cosine);
        assert!((cosine.learning_rate(60) - 0.55).abs() < 1e-12);
        assert!((cosine.learning_rate(110) - 0.1).abs() < 1e-12);
        let linear = schedule(ScheduleKind::Linear);
        assert!((linear.learning_rate(60) - 0.55).abs() < 1e-12);
        assert!((linear.learning_rate(500) - 0.1).abs() < 1e-12);
        assert_eq!(schedule(ScheduleKind::Constant).learning_rate(100), 1.0);
    }

    #[test]
    fn a_decay_fraction_holds_the_peak_then_decays_over_the_end() {
        let s = Schedule {
            decay_fraction: 0.2,
            ..schedule(ScheduleKind::Linear)
        };
        // 100 steps after warm-up: the peak until step 90, then down to the minimum at 110.
        assert_eq!(s.learning_rate(50), 1.0);
        assert_eq!(s.learning_rate(90), 1.0);
        assert!((s.learning_rate(100) - 0.55).abs() < 1e-12);
        assert!((s.learning_rate(110) - 0.1).abs() < 1e-12);
        // The time clock too: 90% of the budget spent is the decay's half way.
        assert!((s.learning_rate_at(20, 0.9) - 0.55).abs() < 1e-9);
        assert!((s.learning_rate_at(20, 0.5) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_time_budget_shortens_warmup_and_ends_at_the_minimum() {
        let s = schedule(ScheduleKind::Cosine);
        // Step 2 of a 10-step warm-up, but 4% of the time is gone: 80% of the way up.
        assert!((s.learning_rate_at(2, 0.04) - 0.8).abs() < 1e-9);
        // Once 5% of the time is gone, warm-up is over and the decay follows the clock.
        let at_share =
            0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * MAX_WARMUP_TIME_SHARE).cos());
        assert!((s.learning_rate_at(2, MAX_WARMUP_TIME_SHARE) - at_share).abs() < 1e-9);
        // Half the time budget spent after few steps: the decay is half way.
        assert!((s.learning_rate_at(20, 0.5) - 0.55).abs() < 1e-9);
        assert!((s.learning_rate_at(20, 1.0) - 0.1).abs() < 1e-12);
        // Without a budget the step clock alone decides.
        assert_eq!(s.learning_rate_at(60, 0.0), s.learning_rate(60));
        // The step clock still counts when it is further along than the time.
        assert!((s.learning_rate_at(110, 0.2) - 0.1).abs() < 1e-12);
    }
}
