//! The learning-rate schedule: linear warm-up, then constant, cosine or linear decay to
//! `min_learning_rate` at the last step.

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
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// Total steps of the run.
    pub total_steps: usize,
}

impl Schedule {
    /// The learning rate for step `step` (0-based).
    pub fn learning_rate(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0);
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
}
