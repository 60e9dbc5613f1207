//! Simple features of a text, position by position, and the units whose activations follow
//! each of them most closely (Pearson correlation over the text, ranked by its magnitude: a
//! unit that falls as the feature rises tracks it as well as one that rises).

use charlstm_model::inspect::Inspection;

/// A property of the text at each position, after reading that position's character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFeature {
    /// 1 between an opening `"` and its closing one (the opening quote included), else 0.
    InsideQuotes,
    /// Characters since the last newline (0 at the newline itself).
    LinePosition,
    /// Brackets `(`, `[`, `{` open and not yet closed.
    BracketDepth,
    /// 1 on letters, digits and `_`, else 0.
    InsideWord,
}

impl TextFeature {
    /// Every feature, in the order reports show them.
    pub const ALL: [TextFeature; 4] = [
        Self::InsideQuotes,
        Self::LinePosition,
        Self::BracketDepth,
        Self::InsideWord,
    ];

    /// How a report names the feature.
    pub fn label(self) -> &'static str {
        match self {
            Self::InsideQuotes => "inside quotes",
            Self::LinePosition => "position in the line",
            Self::BracketDepth => "bracket depth",
            Self::InsideWord => "inside a word",
        }
    }

    /// The feature's value at every position of `chars`.
    pub fn values(self, chars: &[char]) -> Vec<f64> {
        let mut state = 0i64;
        chars
            .iter()
            .map(|&c| {
                state = match self {
                    Self::InsideQuotes => i64::from(c == '"') ^ state,
                    Self::LinePosition if c == '\n' => 0,
                    Self::LinePosition => state + 1,
                    Self::BracketDepth => match c {
                        '(' | '[' | '{' => state + 1,
                        ')' | ']' | '}' => (state - 1).max(0),
                        _ => state,
                    },
                    Self::InsideWord => i64::from(c.is_alphanumeric() || c == '_'),
                };
                state as f64
            })
            .collect()
    }
}

/// How closely one unit follows a feature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitScore {
    /// The unit's layer, 0 at the bottom.
    pub layer: usize,
    /// The unit within its layer.
    pub unit: usize,
    /// Pearson correlation of its activations with the feature, in `[-1, 1]` (0 where either
    /// is constant).
    pub correlation: f64,
}

/// The units that follow one feature best, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRanking {
    /// The feature.
    pub feature: TextFeature,
    /// The best `count` units by `|correlation|`, best first; empty when the feature does not
    /// vary over the text.
    pub units: Vec<UnitScore>,
}

/// For each of `features`, the `count` units of every layer together whose activations
/// ([`charlstm_model::inspect::LayerTrace::activations`]) follow it best over `chars`.
pub fn rank_units(
    inside: &Inspection,
    chars: &[char],
    features: &[TextFeature],
    count: usize,
) -> Vec<FeatureRanking> {
    let activations: Vec<(usize, usize, Vec<f32>)> = inside
        .layers
        .iter()
        .enumerate()
        .map(|(index, layer)| (index, layer.hidden_size, layer.activations()))
        .collect();
    features
        .iter()
        .map(|&feature| {
            let values = feature.values(chars);
            let mut units: Vec<UnitScore> = Vec::new();
            if spread(&values) > 0.0 {
                for (layer, hidden_size, series) in &activations {
                    for unit in 0..*hidden_size {
                        let unit_values: Vec<f64> = series
                            .iter()
                            .skip(unit)
                            .step_by(*hidden_size)
                            .map(|&v| f64::from(v))
                            .collect();
                        units.push(UnitScore {
                            layer: *layer,
                            unit,
                            correlation: correlation(&unit_values, &values),
                        });
                    }
                }
            }
            units.sort_by(|a, b| {
                b.correlation
                    .abs()
                    .total_cmp(&a.correlation.abs())
                    .then((a.layer, a.unit).cmp(&(b.layer, b.unit)))
            });
            units.truncate(count);
            FeatureRanking { feature, units }
        })
        .collect()
}

/// The sum of squared deviations from the mean.
fn spread(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    values.iter().map(|v| (v - mean).powi(2)).sum()
}

/// Pearson's correlation of two equally long series; 0 where either is constant.
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()).max(1) as f64;
    let (mean_a, mean_b) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let covariance: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - mean_a) * (y - mean_b))
        .sum();
    let scale = (spread(a) * spread(b)).sqrt();
    if scale > 0.0 { covariance / scale } else { 0.0 }
}

#[cfg(test)]
mod tests;
