//! Looking inside a character model over a text: how surprised it is by each character, what
//! it expected instead, and which of its units track simple features of the text (quotes, line
//! position, bracket depth, words), as in Karpathy, Johnson and Fei-Fei, "Visualizing and
//! Understanding Recurrent Networks" (2015). `charlstm viz` draws it ([`report`], [`gates`]).

pub mod features;
pub mod gates;
pub mod report;

use std::path::Path;

use charlstm_data::Tokenizer;
use charlstm_model::CharModel;
use charlstm_model::inspect::{Inspection, inspect};

use crate::durable::write_atomically;
use crate::error::TrainError;
use crate::log_probs::top_ids;
use crate::text_file::read_text;
use features::{FeatureRanking, TextFeature, rank_units};
use report::{ReportHeading, html_report};

/// Characters inspected at most: the report shows every one of them several times.
pub const MAX_CHARS: usize = 20_000;

/// One of the model's guesses for a position: a character and its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The character.
    pub character: char,
    /// The model's probability of it.
    pub probability: f32,
}

/// What the model made of each character of a text.
#[derive(Debug, Clone)]
pub struct TextInspection {
    /// The text, one entry per position.
    pub chars: Vec<char>,
    /// `-log2 p(chars[t] | chars[..t])` for every position after the first (`None` there:
    /// nothing came before it).
    pub surprisal_bits: Vec<Option<f32>>,
    /// The model's `top_k` guesses for each position after the first, most likely first (empty
    /// for the first).
    pub predictions: Vec<Vec<Prediction>>,
    /// Everything the model computed over the text.
    pub inside: Inspection,
}

impl TextInspection {
    /// Mean surprisal over the predicted characters, bits per character.
    pub fn bits_per_char(&self) -> f64 {
        let known: Vec<f64> = self
            .surprisal_bits
            .iter()
            .flatten()
            .map(|&b| f64::from(b))
            .collect();
        known.iter().sum::<f64>() / known.len().max(1) as f64
    }
}

/// What `charlstm viz` shows, and how much of it.
#[derive(Debug, Clone, Copy)]
pub struct VizOptions {
    /// Predictions shown on hover for each character.
    pub top_k: usize,
    /// Units shown for each text feature.
    pub units_per_feature: usize,
}

impl Default for VizOptions {
    fn default() -> Self {
        Self {
            top_k: 5,
            units_per_feature: 2,
        }
    }
}

/// A model's view of one text, ready to be written out.
#[derive(Debug, Clone)]
pub struct Visualization {
    /// Per-character surprisal, predictions and everything inside.
    pub inspection: TextInspection,
    /// The units that track each feature best.
    pub rankings: Vec<FeatureRanking>,
    /// The report's heading.
    pub heading: ReportHeading,
}

impl Visualization {
    /// Reads the UTF-8 text file `path` and inspects `model` over it (see [`inspect_text`]);
    /// `title` heads the report.
    pub fn of_file(
        model: &CharModel,
        tokenizer: &Tokenizer,
        path: &Path,
        title: String,
        options: VizOptions,
    ) -> Result<Self, TrainError> {
        let text = read_text(path, &format!("'{}'", path.display()))?;
        let inspection = inspect_text(model, tokenizer, &text, options.top_k)?;
        let rankings = rank_units(
            &inspection.inside,
            &inspection.chars,
            &TextFeature::ALL,
            options.units_per_feature,
        );
        let shape = &model.layers;
        let heading = ReportHeading {
            title,
            model: format!(
                "{} × {} {}",
                shape.len(),
                shape.first().map_or(0, |l| l.hidden_size()),
                shape
                    .first()
                    .map_or("?", |l| l.cell().name())
                    .to_uppercase()
            ),
        };
        Ok(Self {
            inspection,
            rankings,
            heading,
        })
    }

    /// Writes the HTML report to `out`, atomically.
    pub fn write_html(&self, out: &Path) -> Result<(), TrainError> {
        let html = html_report(&self.heading, &self.inspection, &self.rankings);
        write_atomically(out, html.as_bytes())
    }

    /// Draws the gate-saturation scatter into the PNG `out`.
    pub fn write_gates_png(&self, out: &Path) -> Result<(), TrainError> {
        let title = format!("gate saturation: {}", self.heading.title);
        gates::draw_gates_png(&self.inspection.inside, out, &title)
    }
}

/// Runs `model` (a character model, without autodiff) over `text` and collects its surprisal
/// and `top_k` predictions at each character. Characters outside the vocabulary read as its
/// unknown token where it has one; otherwise they are an error naming them.
pub fn inspect_text(
    model: &CharModel,
    tokenizer: &Tokenizer,
    text: &str,
    top_k: usize,
) -> Result<TextInspection, TrainError> {
    let vocab = tokenizer.characters().ok_or_else(|| {
        TrainError::Sampling(
            "viz reads character models; this checkpoint uses a tokenizer.json".into(),
        )
    })?;
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < 2 {
        return Err(TrainError::Sampling(
            "the text to inspect has fewer than two characters (give a longer --text)".into(),
        ));
    }
    if chars.len() > MAX_CHARS {
        return Err(TrainError::Sampling(format!(
            "the text to inspect has {} characters, more than {MAX_CHARS} (give a shorter --text)",
            chars.len()
        )));
    }
    let ids: Vec<usize> = vocab
        .encode(text)?
        .into_iter()
        .map(|id| id as usize)
        .collect();
    let inside = inspect(model, &ids).map_err(|e| TrainError::Backend(e.to_string()))?;
    let mut surprisal_bits = vec![None];
    let mut predictions = vec![Vec::new()];
    for t in 1..chars.len() {
        let distribution = inside.next_token_distribution(t - 1);
        let probability = distribution[ids[t]].max(f32::MIN_POSITIVE);
        surprisal_bits.push(Some(-probability.log2()));
        predictions.push(top_predictions(distribution, top_k, |id| {
            vocab.char(id as u32).unwrap_or(char::REPLACEMENT_CHARACTER)
        }));
    }
    Ok(TextInspection {
        chars,
        surprisal_bits,
        predictions,
        inside,
    })
}

/// The `k` most likely tokens of `distribution`, most likely first (ties: lower id first).
fn top_predictions(
    distribution: &[f32],
    k: usize,
    char_of: impl Fn(usize) -> char,
) -> Vec<Prediction> {
    top_ids(distribution, k)
        .into_iter()
        .map(|id| Prediction {
            character: char_of(id),
            probability: distribution[id],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_predictions_are_the_most_likely_in_order() {
        let top = top_predictions(&[0.1, 0.4, 0.2, 0.3], 3, |id| (b'a' + id as u8) as char);
        let chars: String = top.iter().map(|p| p.character).collect();
        assert_eq!(chars, "bdc");
        assert_eq!(top[0].probability, 0.4);
    }
}
