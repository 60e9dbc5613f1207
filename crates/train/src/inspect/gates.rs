//! Gate saturation (Karpathy, Johnson and Fei-Fei, 2015, figure 3): for every unit of every
//! layer, the fraction of positions at which each gate is left-saturated (below 0.1) against
//! the fraction at which it is right-saturated (above 0.9), one panel per layer.

use std::path::Path;

use charlstm_model::inspect::{GateTrace, Inspection};
use plotters::prelude::*;

use crate::error::TrainError;
use crate::plot::{COLORS, draw_legend, font_available, save_png};

/// Below this a gate counts as closed (left-saturated).
pub const CLOSED_BELOW: f32 = 0.1;
/// Above this a gate counts as open (right-saturated).
pub const OPEN_ABOVE: f32 = 0.9;

/// One unit's gate: how often it was closed and how often open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Saturation {
    /// Fraction of positions with the gate below [`CLOSED_BELOW`].
    pub closed: f64,
    /// Fraction of positions with the gate above [`OPEN_ABOVE`].
    pub open: f64,
}

/// Every unit's saturation for `gate` (`[positions, hidden_size]`), unit by unit.
pub fn saturation(gate: &GateTrace, hidden_size: usize) -> Vec<Saturation> {
    let positions = (gate.values.len() / hidden_size.max(1)).max(1) as f64;
    (0..hidden_size)
        .map(|unit| {
            let values = gate.values.iter().skip(unit).step_by(hidden_size);
            let (mut closed, mut open) = (0usize, 0usize);
            for &value in values {
                closed += usize::from(value < CLOSED_BELOW);
                open += usize::from(value > OPEN_ABOVE);
            }
            Saturation {
                closed: closed as f64 / positions,
                open: open as f64 / positions,
            }
        })
        .collect()
}

const PANEL: u32 = 420;
const HEIGHT: u32 = 460;

/// Draws the gate-saturation scatter of every layer with gates into the PNG `out`.
pub fn draw_gates_png(inside: &Inspection, out: &Path, title: &str) -> Result<(), TrainError> {
    let layers: Vec<_> = inside
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.gates.is_empty())
        .collect();
    if layers.is_empty() {
        return Err(TrainError::Config(
            "this model's cells have no gates to draw (a plain RNN): leave out --gates".into(),
        ));
    }
    let width = PANEL * layers.len() as u32;
    let mut pixels = vec![0u8; (width * HEIGHT * 3) as usize];
    let drawn = (|| -> Result<(), Box<dyn std::error::Error>> {
        let text = font_available();
        let root = BitMapBackend::with_buffer(&mut pixels, (width, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = if text {
            root.titled(title, ("sans-serif", 20))?
        } else {
            root
        };
        let panels = root.split_evenly((1, layers.len()));
        for (panel, (index, layer)) in panels.iter().zip(&layers) {
            let mut builder = ChartBuilder::on(panel);
            builder.margin(14);
            if text {
                builder
                    .caption(format!("layer {}", index + 1), ("sans-serif", 16))
                    .x_label_area_size(40)
                    .y_label_area_size(48);
            }
            let mut chart = builder.build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
            let mut mesh = chart.configure_mesh();
            if text {
                mesh.x_desc(format!("fraction < {CLOSED_BELOW}"))
                    .y_desc(format!("fraction > {OPEN_ABOVE}"));
            } else {
                mesh.x_labels(0).y_labels(0);
            }
            mesh.draw()?;
            chart.draw_series(LineSeries::new([(0.0, 1.0), (1.0, 0.0)], BLACK.mix(0.25)))?;
            for (k, gate) in layer.gates.iter().enumerate() {
                let color = COLORS[k % COLORS.len()];
                let points = saturation(gate, layer.hidden_size);
                let series = chart.draw_series(
                    points
                        .iter()
                        .map(|s| Circle::new((s.closed, s.open), 4, color.mix(0.7).filled())),
                )?;
                if text {
                    series
                        .label(gate.name)
                        .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
                }
            }
            if text {
                draw_legend(&mut chart, 14)?;
            }
        }
        root.present()?;
        Ok(())
    })();
    drawn
        .and_then(|()| save_png(&pixels, (width, HEIGHT), out))
        .map_err(|e| TrainError::write(out, std::io::Error::other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturation_counts_each_units_closed_and_open_positions() {
        // Two units over four positions: unit 0 closed twice and open once, unit 1 never either.
        let gate = GateTrace {
            name: "forget",
            values: vec![0.05, 0.5, 0.95, 0.5, 0.01, 0.2, 0.5, 0.8],
        };
        let found = saturation(&gate, 2);
        assert_eq!(
            found[0],
            Saturation {
                closed: 0.5,
                open: 0.25
            }
        );
        assert_eq!(
            found[1],
            Saturation {
                closed: 0.0,
                open: 0.0
            }
        );
    }
}
