//! A validation inside the run: the validation loss of each direction, the periodic sample
//! and the `best` checkpoint.

use burn::module::Module;
use charlstm_model::{CharModel, Direction, SamplingOptions};

use super::Session;
use crate::checkpoint::{self, CheckpointContents};
use crate::error::TrainError;
use crate::evaluate::evaluate_in;
use crate::generate::{GenerateOptions, generate};
use crate::metrics::MetricsRow;
use crate::observer::{TrainEvent, TrainObserver};
use crate::run_dir;
use crate::trainer::data::TrainingData;

impl Session<'_> {
    /// Measures the validation loss (both directions of a bidirectional model) into `row`,
    /// writes a sample when `train.sample_chars` asks for one, and saves the model as `best`
    /// when it is the best so far (or when there is no validation text to judge by).
    pub fn validate(
        &mut self,
        data: &TrainingData<'_>,
        row: &mut MetricsRow,
        observer: &mut dyn TrainObserver,
    ) -> Result<(), TrainError> {
        let inference_model = match self.averaged_model() {
            Some(average) => average.clone(),
            None => self.model.valid(),
        };
        let validate = |direction| -> Result<f32, TrainError> {
            let recipe = &self.config.train;
            let evaluation = evaluate_in(
                direction,
                &inference_model,
                data.validation,
                recipe.batch_size,
                recipe.seq_len,
                &self.inference_device,
                "validation",
            )?;
            Ok(evaluation.nats_per_token as f32)
        };
        let validation_loss = if data.validation.len() >= 2 {
            Some(validate(Direction::Forward)?)
        } else {
            None
        };
        let backward_validation_loss = match validation_loss {
            Some(_) if self.model.is_bidirectional() => Some(validate(Direction::Backward)?),
            _ => None,
        };
        let progress = &mut self.progress;
        let is_best = improves(
            (validation_loss, backward_validation_loss),
            (
                progress.best_validation_loss,
                progress.best_backward_validation_loss,
            ),
        );
        progress.validation_loss = validation_loss;
        progress.backward_validation_loss = backward_validation_loss;
        row.validation_loss = validation_loss;
        row.backward_validation_loss = backward_validation_loss;
        if is_best {
            progress.best_validation_loss = validation_loss;
            progress.best_backward_validation_loss = backward_validation_loss;
        }
        if let Some(loss) = validation_loss {
            observer.on_event(&TrainEvent::Validation {
                step: progress.step,
                loss,
                backward_loss: backward_validation_loss,
                best: is_best,
            });
        }
        if self.config.train.sample_chars > 0 {
            let text = self.periodic_sample(&inference_model, data.first_token())?;
            run_dir::append_sample(self.run_dir, self.progress.step, validation_loss, &text)?;
            observer.on_event(&TrainEvent::Sample {
                step: self.progress.step,
                text: &text,
            });
        }
        if is_best || validation_loss.is_none() {
            let best = CheckpointContents {
                config: self.config,
                tokenizer: self.tokenizer,
                model: self.sampled_model(),
                training_model: None,
                optimizer: None,
                state: None,
                progress: &self.progress,
            };
            checkpoint::save(self.run_dir, "best", &best)?;
        }
        Ok(())
    }

    /// A sample of `train.sample_chars` tokens, primed with the token `first`, the same seed
    /// every time, so successive samples show the model, not the dice, changing.
    fn periodic_sample(&self, model: &CharModel, first: u32) -> Result<String, TrainError> {
        let options = GenerateOptions {
            prime: self.tokenizer.decode(&[first]),
            length: self.config.train.sample_chars,
            sampling: SamplingOptions {
                temperature: 0.8,
                ..Default::default()
            },
            seed: self.config.seed,
            stop: Default::default(),
        };
        generate(
            model,
            self.tokenizer,
            &options,
            &self.inference_device,
            |_| true,
        )
    }
}

/// Whether validation losses `(forward, backward)` beat the best so far. A bidirectional
/// model is as good as the sum of its two directions.
fn improves(losses: (Option<f32>, Option<f32>), best: (Option<f32>, Option<f32>)) -> bool {
    let objective = |(forward, backward): (Option<f32>, Option<f32>)| {
        forward.map(|f| f + backward.unwrap_or(0.0))
    };
    match (objective(losses), objective(best)) {
        (Some(loss), Some(best)) => loss < best,
        (Some(_), None) => true,
        _ => false,
    }
}
