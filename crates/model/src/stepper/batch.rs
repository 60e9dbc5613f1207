//! Stepping many independent streams at once on the host, for generating many samples.
//!
//! One stream at a time, a step streams every weight through the caches for two flops each
//! ([`super::product`]). With `N` streams, each panel of weights is read once per step and
//! multiplied with all `N` inputs, a tile of streams at a time, while it sits in the core's
//! caches ([`Product::panels`]), so the throughput is bounded by the arithmetic instead of the
//! memory traffic. Every number a stream gets is computed with the same operations in the same
//! order as [`HostStepper`] computes it for that stream alone: a batch changes the speed, not
//! the text.

use std::sync::Arc;

use rayon::prelude::*;

use super::HostStepper;
use super::layer::{StepLayer, add};
use super::product::{PANEL, Panels, Product, scatter_stream};
use crate::recurrent::CellKind;

/// Buffers a step reuses.
#[derive(Debug, Default, Clone)]
struct Scratch {
    /// `[panels, N, PANEL]`: a product's outputs, panel after panel, before they are
    /// scattered into place.
    products: Vec<f32>,
    /// `[N, K]`: a product's inputs, gathered contiguous.
    inputs: Vec<f32>,
}

/// Steps `N` independent streams of a [`CharModel`](crate::CharModel) one token each per step,
/// on the host, with Rayon's threads (`RAYON_NUM_THREADS`). Made from a [`HostStepper`] by
/// [`HostStepper::fork`], which gives every stream that stepper's state.
#[derive(Debug, Clone)]
pub struct BatchStepper {
    batch: usize,
    product: Product,
    vocab_size: usize,
    /// `[V, G·H]`, as in [`HostStepper`].
    input_table: Vec<f32>,
    /// The layers, each with `N` streams.
    layers: Vec<StepLayer>,
    head: Arc<Panels>,
    head_bias: Vec<f32>,
    residual: bool,
    /// `[N, H]`: the output of the top layer (its input added, when `residual`).
    top_output: Vec<f32>,
    /// `[N, V]`.
    logits: Vec<f32>,
    scratch: Scratch,
}

impl HostStepper {
    /// `batch` streams that each start from this stepper's current state (e.g. after reading
    /// a prime), stepping with its weights and instruction set.
    ///
    /// # Panics
    ///
    /// If `batch` is 0.
    pub fn fork(&self, batch: usize) -> BatchStepper {
        assert!(batch > 0, "a batch has at least one stream");
        let top = self.layers.last().map_or(0, |l| l.weights.hidden_size);
        BatchStepper {
            batch,
            product: self.team.product(),
            vocab_size: self.vocab_size,
            input_table: self.input_table.clone(),
            layers: self
                .layers
                .iter()
                .map(|layer| layer.repeated(batch))
                .collect(),
            head: Arc::clone(&self.head),
            head_bias: self.head_bias.clone(),
            residual: self.residual,
            top_output: vec![0.0; batch * top],
            logits: vec![0.0; batch * self.vocab_size],
            scratch: Scratch::default(),
        }
    }
}

impl BatchStepper {
    /// Number of streams.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Number of tokens the head predicts over.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Gives stream `n` the state of stream `parents[n]` (for beam search: the beams kept
    /// continue from the beams they extend).
    ///
    /// # Panics
    ///
    /// If `parents` does not hold one stream per stream, or names a stream that is not there.
    pub fn reorder(&mut self, parents: &[usize]) {
        assert_eq!(parents.len(), self.batch, "one parent per stream");
        let batch = self.batch;
        for layer in &mut self.layers {
            for state in [&mut layer.input_and_hidden, &mut layer.cell_state] {
                let width = state.len() / batch;
                let old = state.clone();
                for (n, &parent) in parents.iter().enumerate() {
                    state[n * width..(n + 1) * width]
                        .copy_from_slice(&old[parent * width..(parent + 1) * width]);
                }
            }
        }
    }

    /// Reads `tokens[n]` into stream `n` and returns the logits of every stream's next token,
    /// `[N, vocab_size]`, stream after stream.
    ///
    /// # Panics
    ///
    /// If `tokens` does not hold one token per stream, or a token is not below
    /// [`Self::vocab_size`].
    pub fn step(&mut self, tokens: &[usize]) -> &[f32] {
        assert_eq!(tokens.len(), self.batch, "one token per stream");
        // One hand-off to Rayon's pool per step, not one per parallel loop.
        crate::cpu::on_rayon_thread(|| self.step_all(tokens));
        &self.logits
    }

    fn step_all(&mut self, tokens: &[usize]) {
        let batch = self.batch;
        let gate_width = self.input_table.len() / self.vocab_size;
        // The bottom layer's input product and bias come from the table.
        let table_rows: Vec<&[f32]> = tokens
            .iter()
            .map(|&token| {
                assert!(
                    token < self.vocab_size,
                    "token {token} is outside the vocabulary of {}",
                    self.vocab_size
                );
                &self.input_table[token * gate_width..(token + 1) * gate_width]
            })
            .collect();
        for index in 0..self.layers.len() {
            let (below, rest) = self.layers.split_at_mut(index);
            let layer = &mut rest[0];
            let scratch = &mut self.scratch;
            match below.last() {
                None => {}
                Some(previous) => {
                    let (width, input_size) = (layer.weights.width(), layer.weights.input_size);
                    for n in 0..batch {
                        let input = &mut layer.input_and_hidden[n * width..n * width + input_size];
                        input.copy_from_slice(previous.hidden(n));
                        // The layer below's output is its hidden state plus its own input.
                        if self.residual && index >= 2 {
                            add(input, previous.input(n));
                        }
                    }
                }
            }
            let table_rows = (index == 0).then_some(&table_rows[..]);
            step_layer(self.product, layer, scratch, table_rows, batch);
        }
        let top_layer = self.layers.last().expect("a model has at least one layer");
        let top = top_layer.weights.hidden_size;
        for n in 0..batch {
            let out = &mut self.top_output[n * top..(n + 1) * top];
            out.copy_from_slice(top_layer.hidden(n));
            if self.residual && self.layers.len() >= 2 {
                add(out, top_layer.input(n));
            }
        }
        product(
            self.product,
            &mut self.logits,
            &mut self.scratch,
            &self.head,
            &vec![&self.head_bias[..]; batch],
            InputsFrom::Given(&self.top_output),
        );
    }
}

/// One layer's step for every stream: the bottom layer's first product starts from each
/// stream's row of the input table (`table_rows`), the others' from the layer's bias.
fn step_layer(
    product_of: Product,
    layer: &mut StepLayer,
    scratch: &mut Scratch,
    table_rows: Option<&[&[f32]]>,
    batch: usize,
) {
    let w = &layer.weights;
    let biases = vec![&w.bias[..]; batch];
    let inits = table_rows.unwrap_or(&biases);
    let (width, input_size) = (w.width(), w.input_size);
    if layer.updates_from_panels() {
        // The update reads the products where they are: no copy into place, one parallel
        // loop fewer.
        panels_in_parallel(
            product_of,
            &mut scratch.products,
            &w.panels,
            inits,
            &layer.input_and_hidden,
        );
        layer.update_all_from_panels(&scratch.products);
        return;
    }
    match w.cell {
        CellKind::Lstm | CellKind::Rnn => product(
            product_of,
            &mut layer.gates,
            scratch,
            &w.panels,
            inits,
            InputsFrom::Given(&layer.input_and_hidden),
        ),
        CellKind::Gru => {
            if table_rows.is_some() {
                for (gates, init) in layer.gates.chunks_exact_mut(w.bias.len()).zip(inits) {
                    gates.copy_from_slice(init);
                }
            } else {
                product(
                    product_of,
                    &mut layer.gates,
                    scratch,
                    &w.panels,
                    inits,
                    InputsFrom::Part(&layer.input_and_hidden, width, 0..input_size),
                );
            }
            let recurrent = w.recurrent_panels.as_ref().expect("a GRU has W_h");
            product(
                product_of,
                &mut layer.from_state,
                scratch,
                recurrent,
                &vec![&w.recurrent_bias[..]; batch],
                InputsFrom::Part(&layer.input_and_hidden, width, input_size..width),
            );
        }
    }
    layer.update_all();
}

/// Every panel of the product for every stream into `products` (`[panels, N, PANEL]`), the
/// panels shared out between Rayon's threads.
fn panels_in_parallel(
    product_of: Product,
    products: &mut Vec<f32>,
    weights: &Panels,
    inits: &[&[f32]],
    xs: &[f32],
) {
    let batch = inits.len();
    products.resize(weights.count() * batch * PANEL, 0.0);
    products
        .par_chunks_mut(batch * PANEL)
        .enumerate()
        .for_each(|(panel, block)| {
            product_of.panels(weights, panel..panel + 1, inits, xs, block);
        });
}

/// Where a product's inputs are.
enum InputsFrom<'a> {
    /// `[N, K]`, contiguous.
    Given(&'a [f32]),
    /// Columns `range` of the `[N, width]` matrix, gathered before the product.
    Part(&'a [f32], usize, std::ops::Range<usize>),
}

/// `out[n] = inits[n] + W x_n` for every stream (`out`: `[N, R]`), the panels shared out
/// between Rayon's threads, then the streams.
fn product(
    product_of: Product,
    out: &mut [f32],
    scratch: &mut Scratch,
    weights: &Panels,
    inits: &[&[f32]],
    inputs: InputsFrom<'_>,
) {
    let batch = inits.len();
    let Scratch {
        products,
        inputs: gathered,
    } = scratch;
    let xs: &[f32] = match inputs {
        InputsFrom::Given(xs) => xs,
        InputsFrom::Part(matrix, width, range) => {
            gathered.clear();
            for n in 0..batch {
                gathered.extend_from_slice(&matrix[n * width + range.start..n * width + range.end]);
            }
            gathered
        }
    };
    panels_in_parallel(product_of, products, weights, inits, xs);
    let products = &products[..];
    out.par_chunks_mut(weights.outputs())
        .enumerate()
        .with_min_len(4)
        .for_each(|(n, stream)| scatter_stream(products, 0, batch, n, stream));
}

#[cfg(test)]
mod tests;
