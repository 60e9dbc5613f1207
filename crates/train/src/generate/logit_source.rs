//! Where the logits of the streams' next tokens come from: the host steppers on the CPU
//! backends, else the model's own operations on its device.

use burn::prelude::*;
use charlstm_model::{BatchStepper, CharModel, HostStepper, RecurrentState, cpu};

use crate::error::TrainError;
use crate::tensors::token_tensor;

/// Where the logits of the streams' next tokens come from.
pub(super) enum LogitSource<'a> {
    /// The host steppers (CPU backends).
    Host(HostSource),
    /// The model's own operations on its device.
    Device(DeviceSource<'a>),
}

impl<'a> LogitSource<'a> {
    pub(super) fn new(
        model: &'a CharModel,
        device: &'a Device,
        count: usize,
    ) -> Result<Self, TrainError> {
        if cpu::supports(device) && HostStepper::fits(model) {
            let stepper =
                HostStepper::new(model).map_err(|e| TrainError::Backend(e.to_string()))?;
            Ok(Self::Host(HostSource {
                stepper: Box::new(stepper),
                batch: None,
                count,
            }))
        } else {
            Ok(Self::Device(DeviceSource {
                model,
                device,
                state: None,
                count,
            }))
        }
    }

    /// Reads the prime into every stream and returns the logits after it, `[count, V]`.
    pub(super) fn read_prime(&mut self, prime: &[u32]) -> Result<Vec<f32>, TrainError> {
        match self {
            Self::Host(source) => Ok(source.read_prime(prime)),
            Self::Device(source) => source.read_prime(prime),
        }
    }

    /// Reads `tokens[k]` into stream `k` and puts the logits after them into `logits`.
    pub(super) fn step(&mut self, tokens: &[u32], logits: &mut Vec<f32>) -> Result<(), TrainError> {
        match self {
            Self::Host(source) => {
                source.step(tokens, logits);
                Ok(())
            }
            Self::Device(source) => source.step(tokens, logits),
        }
    }
}

/// One stream steps on a [`HostStepper`]; many read the prime on one, which then forks into
/// a [`BatchStepper`].
pub(super) struct HostSource {
    stepper: Box<HostStepper>,
    batch: Option<Box<BatchStepper>>,
    count: usize,
}

impl HostSource {
    fn read_prime(&mut self, prime: &[u32]) -> Vec<f32> {
        let mut logits = &[][..];
        for &token in prime {
            logits = self.stepper.step(token as usize);
        }
        let logits = logits.repeat(self.count);
        if self.count > 1 {
            self.batch = Some(Box::new(self.stepper.fork(self.count)));
        }
        logits
    }

    fn step(&mut self, tokens: &[u32], logits: &mut Vec<f32>) {
        logits.clear();
        match &mut self.batch {
            Some(batch) => {
                let tokens: Vec<usize> = tokens.iter().map(|&t| t as usize).collect();
                logits.extend_from_slice(batch.step(&tokens));
            }
            None => logits.extend_from_slice(self.stepper.step(tokens[0] as usize)),
        }
    }
}

/// All streams step as one batch of the model's operations on its device.
pub(super) struct DeviceSource<'a> {
    model: &'a CharModel,
    device: &'a Device,
    state: Option<RecurrentState>,
    count: usize,
}

impl DeviceSource<'_> {
    fn read_prime(&mut self, prime: &[u32]) -> Result<Vec<f32>, TrainError> {
        let ids = prime.repeat(self.count);
        let tokens = token_tensor(&ids, self.count, prime.len(), self.device);
        let (logits, next) = self.model.forward(tokens, None);
        self.state = Some(next);
        let vocab_size = logits.dims()[2];
        read_logits(
            logits
                .narrow(1, prime.len() - 1, 1)
                .reshape([self.count * vocab_size]),
        )
    }

    fn step(&mut self, tokens: &[u32], logits: &mut Vec<f32>) -> Result<(), TrainError> {
        let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let tokens = Tensor::<1, Int>::from_data(TensorData::new(ids, [self.count]), self.device);
        let (next_logits, next) = self.model.step(tokens, self.state.take());
        self.state = Some(next);
        let [rows, vocab_size] = next_logits.dims();
        *logits = read_logits(next_logits.reshape([rows * vocab_size]))?;
        Ok(())
    }
}

fn read_logits(logits: Tensor<1>) -> Result<Vec<f32>, TrainError> {
    logits
        .try_into_vec_as()
        .map_err(|e| TrainError::Backend(format!("cannot read logits from the device: {e}")))
}
