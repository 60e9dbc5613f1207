//! Text generation: feed the prime text, then sample one token (a character, for a character
//! model) at a time, carrying the state, and hand out the text of each as soon as it exists.

use burn::prelude::*;
use charlstm_data::Tokenizer;
use charlstm_model::{CharModel, HostStepper, RecurrentState, Sampler, SamplingOptions, cpu};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::TrainError;
use crate::tensors::token_tensor;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Text the model reads before generating (not repeated in the output).
    pub prime: String,
    /// Tokens to generate (characters, for a character model).
    pub length: usize,
    /// Temperature, top-k, top-p.
    pub sampling: SamplingOptions,
    /// Seed of the sampling RNG: the same seed, model and backend give the same text.
    pub seed: u64,
}

impl GenerateOptions {
    /// Checks the options against `tokenizer`, with one-line errors naming the bad value.
    pub fn validate(&self, tokenizer: &Tokenizer) -> Result<(), TrainError> {
        let s = &self.sampling;
        if !(s.temperature.is_finite() && s.temperature > 0.0) {
            return Err(TrainError::Sampling(format!(
                "--temperature {} is invalid: it must be > 0",
                s.temperature
            )));
        }
        if let Some(p) = s.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(TrainError::Sampling(format!(
                "--top-p {p} is invalid: it must be in (0, 1]"
            )));
        }
        if s.top_k == Some(0) {
            return Err(TrainError::Sampling(
                "--top-k 0 is invalid: it must be at least 1".into(),
            ));
        }
        if self.prime.is_empty() {
            return Err(TrainError::Sampling(
                "--prime is empty: give at least one character".into(),
            ));
        }
        self.prime_tokens(tokenizer)?;
        Ok(())
    }

    /// The prime as token ids.
    fn prime_tokens(&self, tokenizer: &Tokenizer) -> Result<Vec<u32>, TrainError> {
        let ids = tokenizer
            .encode(&self.prime)
            .map_err(|e| TrainError::Sampling(format!("--prime: {e}")))?;
        if ids.is_empty() {
            return Err(TrainError::Sampling(format!(
                "--prime {:?} gives no tokens with this tokenizer: give other text",
                self.prime
            )));
        }
        Ok(ids)
    }
}

/// Generates up to `options.length` tokens after `options.prime`, calling `emit` with the text
/// of each as it is drawn (generation stops early when `emit` returns `false`, e.g. when the
/// reader of stdout went away), and returns the text. `model` should be an inference model on
/// `device`. On the CPU backends the steps run on a [`HostStepper`]; elsewhere (wgpu) they are
/// the model's own Burn operations on `device`.
pub fn generate(
    model: &CharModel,
    tokenizer: &Tokenizer,
    options: &GenerateOptions,
    device: &Device,
    mut emit: impl FnMut(&str) -> bool,
) -> Result<String, TrainError> {
    options.validate(tokenizer)?;
    let prime = options.prime_tokens(tokenizer)?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);

    let mut sampler = Sampler::new(options.sampling);
    let mut source = LogitSource::new(model, device)?;
    let mut last = source.read_prime(&prime)?;
    let mut text = String::with_capacity(options.length);
    let mut decoder = tokenizer.stream_decoder();
    for position in 0..options.length {
        let index = sampler.sample(&last, &mut rng) as u32;
        let start = text.len();
        decoder.push(index, &mut text);
        if text.len() > start && !emit(&text[start..]) {
            break;
        }
        if position + 1 < options.length {
            source.step(index, &mut last)?;
        }
    }
    Ok(text)
}

/// Where the logits of the next token come from.
enum LogitSource<'a> {
    /// The host stepper (CPU backends).
    Host(Box<HostStepper>),
    /// The model's own operations on its device, with the state carried.
    Device {
        model: &'a CharModel,
        device: &'a Device,
        state: Option<RecurrentState>,
    },
}

impl<'a> LogitSource<'a> {
    fn new(model: &'a CharModel, device: &'a Device) -> Result<Self, TrainError> {
        if cpu::supports(device) && HostStepper::fits(model) {
            let stepper =
                HostStepper::new(model).map_err(|e| TrainError::Backend(e.to_string()))?;
            Ok(Self::Host(Box::new(stepper)))
        } else {
            Ok(Self::Device {
                model,
                device,
                state: None,
            })
        }
    }

    /// Reads the prime and returns the logits after its last token.
    fn read_prime(&mut self, prime: &[u32]) -> Result<Vec<f32>, TrainError> {
        match self {
            Self::Host(stepper) => {
                let mut logits = &[][..];
                for &token in prime {
                    logits = stepper.step(token as usize);
                }
                Ok(logits.to_vec())
            }
            Self::Device {
                model,
                device,
                state,
            } => {
                let (logits, next) =
                    model.forward(token_tensor(prime, 1, prime.len(), device), None);
                *state = Some(next);
                let vocab_size = logits.dims()[2];
                read_logits(logits.narrow(1, prime.len() - 1, 1).reshape([vocab_size]))
            }
        }
    }

    /// Reads `token` and puts the logits after it into `logits` (on the host path without
    /// allocating).
    fn step(&mut self, token: u32, logits: &mut Vec<f32>) -> Result<(), TrainError> {
        match self {
            Self::Host(stepper) => {
                logits.clear();
                logits.extend_from_slice(stepper.step(token as usize));
                Ok(())
            }
            Self::Device {
                model,
                device,
                state,
            } => {
                let token = Tensor::<1, Int>::from_data(
                    TensorData::new(vec![i64::from(token)], [1]),
                    *device,
                );
                let (next_logits, next) = model.step(token, state.take());
                *state = Some(next);
                let vocab_size = next_logits.dims()[1];
                *logits = read_logits(next_logits.reshape([vocab_size]))?;
                Ok(())
            }
        }
    }
}

fn read_logits(logits: Tensor<1>) -> Result<Vec<f32>, TrainError> {
    logits
        .try_into_vec_as()
        .map_err(|e| TrainError::Backend(format!("cannot read logits from the device: {e}")))
}
