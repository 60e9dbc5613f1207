//! What a fused layer's backward pass keeps from its forward pass in the autodiff graph, and
//! how it hands its gradients back.

use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::tensor::{Device, FloatTensor};

use super::tensors::HostBackend;

/// The kernel's `trace` and the three tensors the backward products read (held, not copied;
/// biases and initial states are not needed).
pub struct Saved<B: HostBackend, Trace> {
    /// What the forward kernel recorded.
    pub trace: Arc<Trace>,
    /// `X`, `[T, B, I]`.
    pub input: FloatTensor<B>,
    /// `W_x`, `[I, gates·H]`.
    pub input_weight: FloatTensor<B>,
    /// `W_h`, `[H, gates·H]`.
    pub recurrent_weight: FloatTensor<B>,
}

impl<B: HostBackend, Trace> Saved<B, Trace> {
    /// Keeps `trace` with the first three of the operation's `inputs`: input, input weight,
    /// recurrent weight.
    pub fn new<const N: usize>(trace: Trace, inputs: [FloatTensor<B>; N]) -> Self {
        let mut inputs = inputs.into_iter();
        let mut next = || {
            inputs
                .next()
                .expect("a fused layer has its input and two weights")
        };
        Self {
            trace: Arc::new(trace),
            input: next(),
            input_weight: next(),
            recurrent_weight: next(),
        }
    }
}

impl<B: HostBackend, Trace> Clone for Saved<B, Trace> {
    fn clone(&self) -> Self {
        Self {
            trace: Arc::clone(&self.trace),
            input: self.input.clone(),
            input_weight: self.input_weight.clone(),
            recurrent_weight: self.recurrent_weight.clone(),
        }
    }
}

impl<B: HostBackend, Trace: std::fmt::Debug> std::fmt::Debug for Saved<B, Trace> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saved")
            .field("trace", &self.trace)
            .finish_non_exhaustive()
    }
}

/// Registers gradients computed on the host with the autodiff graph.
pub struct Registrar<'a, B: HostBackend> {
    /// The graph's gradients.
    pub grads: &'a mut Gradients,
    /// Where the new tensors go.
    pub device: Device<B>,
}

impl<B: HostBackend> Registrar<'_, B> {
    /// Registers `grad` of `shape` for `node`, when the node wants one and it was computed.
    pub fn register(&mut self, node: Option<NodeId>, grad: Option<Vec<f32>>, shape: &[usize]) {
        if let (Some(node), Some(grad)) = (node, grad) {
            self.grads
                .register::<B>(node, B::from_host(grad, shape.to_vec(), &self.device));
        }
    }
}
