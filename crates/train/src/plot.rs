//! Loss curves as PNG pictures: training and validation loss against steps, for one run (the
//! `loss.png` a run refreshes at each validation) or several (`charlstm plot`).
//!
//! Text needs a font: the first of `$CHARLSTM_FONT` and a list of common system fonts that
//! exists is used. Without one the picture is drawn without any text (curves, grid and
//! ticks only), rather than not at all.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::error::TrainError;
use crate::metrics::METRICS_FILE;

/// The picture a run keeps up to date, in its run directory.
pub const LOSS_PLOT_FILE: &str = "loss.png";

/// Environment variable naming a TrueType font for the pictures' text.
pub const FONT_ENV: &str = "CHARLSTM_FONT";

const FONT_CANDIDATES: [&str; 8] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// The colours of the pictures' series, in order.
pub(crate) const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// The losses of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct LossCurves {
    /// The name shown in the legend.
    pub label: String,
    /// (step, training loss) points.
    pub train: Vec<(f64, f64)>,
    /// (step, validation loss) points.
    pub validation: Vec<(f64, f64)>,
}

impl LossCurves {
    /// Reads `run_dir/metrics.csv`, labelled with the directory's name.
    pub fn read(run_dir: &Path) -> Result<Self, TrainError> {
        let path = run_dir.join(METRICS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            TrainError::Config(format!(
                "cannot read '{}': {e} (give a run directory written by charlstm train)",
                path.display()
            ))
        })?;
        let mut curves = Self {
            label: run_dir.file_name().map_or_else(
                || run_dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            train: Vec::new(),
            validation: Vec::new(),
        };
        for line in text.lines().skip(1) {
            let cells: Vec<&str> = line.split(',').collect();
            let Some(step) = cells.first().and_then(|s| s.parse::<f64>().ok()) else {
                continue;
            };
            let cell = |i: usize| cells.get(i).and_then(|s| s.parse::<f64>().ok());
            if let Some(loss) = cell(2).filter(|l| l.is_finite()) {
                curves.train.push((step, loss));
            }
            if let Some(loss) = cell(3).filter(|l| l.is_finite()) {
                curves.validation.push((step, loss));
            }
        }
        Ok(curves)
    }
}

/// Whether a font for the pictures' text was found (registered once per process).
pub(crate) fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = std::env::var_os(FONT_ENV)
            .map(PathBuf::from)
            .into_iter()
            .chain(FONT_CANDIDATES.iter().map(PathBuf::from));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // plotters keeps registered fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Draws `runs` into the PNG `out`: each run in its own colour, training loss as a thin line,
/// validation loss as a thick line with dots.
pub fn draw_loss_png(runs: &[LossCurves], out: &Path, title: &str) -> Result<(), TrainError> {
    draw(runs, out, title).map_err(|e| TrainError::write(out, std::io::Error::other(e.to_string())))
}

const WIDTH: u32 = 960;
const HEIGHT: u32 = 560;

fn draw(runs: &[LossCurves], out: &Path, title: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw_into(runs, title, &mut pixels)?;
    save_png(&pixels, (WIDTH, HEIGHT), out)
}

/// Writes RGB `pixels` of `(width, height)` as the PNG `out`: beside it first, then renamed
/// over it, so a reader never sees half a picture.
pub(crate) fn save_png(
    pixels: &[u8],
    (width, height): (u32, u32),
    out: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let staging = out.with_extension("png.tmp");
    let file = std::io::BufWriter::new(std::fs::File::create(&staging)?);
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(pixels)?;
    writer.finish()?;
    std::fs::rename(&staging, out)?;
    Ok(())
}

fn draw_into(
    runs: &[LossCurves],
    title: &str,
    pixels: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let points = || {
        runs.iter()
            .flat_map(|r| r.train.iter().chain(&r.validation))
    };
    let max_step = points().map(|p| p.0).fold(1.0, f64::max);
    let max_loss = points().map(|p| p.1).fold(0.0, f64::max).max(1e-3) * 1.05;
    let min_loss = points()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min)
        .min(max_loss);
    let min_loss = if min_loss.is_finite() {
        (min_loss * 0.95).max(0.0)
    } else {
        0.0
    };
    let text = font_available();

    let root = BitMapBackend::with_buffer(pixels, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if text {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(44)
            .y_label_area_size(64);
    } else {
        builder.x_label_area_size(8).y_label_area_size(8);
    }
    let mut chart = builder.build_cartesian_2d(0.0..max_step, min_loss..max_loss)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("step").y_desc("loss (nats/char)");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;

    for (index, run) in runs.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let train =
            chart.draw_series(LineSeries::new(run.train.iter().copied(), color.mix(0.55)))?;
        if text {
            let label = format!("{} train", run.label);
            train
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.mix(0.55)));
        }
        let style = color.stroke_width(3);
        let validation =
            chart.draw_series(LineSeries::new(run.validation.iter().copied(), style))?;
        if text {
            let label = format!("{} validation", run.label);
            validation
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        }
        chart.draw_series(
            run.validation
                .iter()
                .map(|&point| Circle::new(point, 4, color.filled())),
        )?;
    }
    if text
        && runs
            .iter()
            .any(|r| !r.train.is_empty() || !r.validation.is_empty())
    {
        draw_legend(&mut chart, 15)?;
    }
    root.present()?;
    Ok(())
}

/// The chart of a picture: a bitmap with steps, losses or fractions on both axes.
pub(crate) type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws the legend of `chart`'s labelled series in its upper right corner, on a pale
/// background, in text `font_size` pixels high.
pub(crate) fn draw_legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    font_size: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", font_size))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{MetricsLog, MetricsRow};

    #[test]
    fn curves_come_from_metrics_and_the_picture_is_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("my-run");
        std::fs::create_dir_all(&run_dir).unwrap();
        let mut log = MetricsLog::open(&run_dir, 0).unwrap();
        for step in 1..=30 {
            log.append(&MetricsRow {
                step,
                epoch: 1,
                train_loss: Some(3.0 / step as f32),
                validation_loss: step.is_multiple_of(10).then_some(3.5 / step as f32),
                learning_rate: 1e-3,
                chars_per_second: Some(100.0),
                wall_seconds: step as f64,
                backward_train_loss: None,
                backward_validation_loss: None,
            })
            .unwrap();
        }
        let curves = LossCurves::read(&run_dir).unwrap();
        assert_eq!(curves.label, "my-run");
        assert_eq!(curves.train.len(), 30);
        assert_eq!(curves.train[1], (2.0, 1.5));
        assert_eq!(curves.validation.len(), 3);
        assert_eq!(curves.validation[0].0, 10.0);

        let other = LossCurves {
            label: "other".into(),
            ..curves.clone()
        };
        let out = dir.path().join("loss.png");
        draw_loss_png(&[curves, other], &out, "loss").unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert!(bytes.len() > 1000, "{} bytes", bytes.len());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn a_directory_without_metrics_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = LossCurves::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("metrics.csv") && err.contains("run directory"),
            "{err}"
        );
    }
}
