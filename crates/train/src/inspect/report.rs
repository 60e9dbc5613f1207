//! The `charlstm viz` report: one self-contained HTML file (no scripts, fonts or images from
//! anywhere), the text coloured by the model's surprisal with its top predictions on hover,
//! then, for each text feature, the units that track it best, each as the text coloured by
//! the unit's activation (blue −1, white 0, red +1).

use std::fmt::Write;

use super::TextInspection;
use super::features::FeatureRanking;

/// Surprisal at which a character is drawn fully red, bits.
pub const SURPRISAL_SCALE_BITS: f32 = 8.0;

/// What the report says about where it came from.
#[derive(Debug, Clone)]
pub struct ReportHeading {
    /// The report's title (the checkpoint, usually).
    pub title: String,
    /// One line on the model: its cell, layers and width.
    pub model: String,
}

/// The whole report as HTML: `inspection`'s text once coloured by surprisal, then once per
/// unit of `rankings`.
pub fn html_report(
    heading: &ReportHeading,
    inspection: &TextInspection,
    rankings: &[FeatureRanking],
) -> String {
    let mut html = String::new();
    let title = escape(&heading.title);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>charlstm viz: {title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>{title}</h1>\n<p class=\"meta\">{model} · {chars} characters · {bits:.3} bits per \
         character</p>\n",
        model = escape(&heading.model),
        chars = inspection.chars.len(),
        bits = inspection.bits_per_char(),
    );
    html.push_str(
        "<section>\n<h2>Surprisal</h2>\n<p class=\"legend\">Each character is coloured by \
         −log₂ p(character | the text before it): white is expected, red is a surprise \
         (8 bits or more). Hover a character for what the model expected there.</p>\n",
    );
    text_block(&mut html, &inspection.chars, |t| {
        let Some(bits) = inspection.surprisal_bits[t] else {
            return (None, "the first character: nothing came before it".into());
        };
        let guesses: Vec<String> = inspection.predictions[t]
            .iter()
            .map(|p| format!("{} {:.1}%", shown(p.character), 100.0 * p.probability))
            .collect();
        let tip = format!("{bits:.2} bits; expected {}", guesses.join(", "));
        let shade = (bits / SURPRISAL_SCALE_BITS).clamp(0.0, 1.0);
        (Some(mix((255, 255, 255), (220, 40, 40), shade)), tip)
    });
    html.push_str("</section>\n");

    for ranking in rankings {
        let _ = writeln!(
            html,
            "<section>\n<h2>Units that track: {}</h2>",
            escape(ranking.feature.label())
        );
        if ranking.units.is_empty() {
            html.push_str("<p class=\"legend\">The text does not vary in this feature.</p>\n");
        }
        for score in &ranking.units {
            let layer = &inspection.inside.layers[score.layer];
            let activations = layer.activations();
            let quantity = if layer.cell_state.is_some() {
                "tanh(c)"
            } else {
                "h"
            };
            let _ = writeln!(
                html,
                "<h3>layer {}, unit {}: {quantity}, correlation {:+.3}</h3>",
                score.layer + 1,
                score.unit,
                score.correlation
            );
            text_block(&mut html, &inspection.chars, |t| {
                let value = activations[t * layer.hidden_size + score.unit];
                (Some(diverging(value)), format!("{quantity} = {value:+.3}"))
            });
        }
        html.push_str("</section>\n");
    }
    html.push_str("</body>\n</html>\n");
    html
}

/// One `<pre>` of the text, a `<span>` per character with the colour and tooltip `style_of`
/// gives it.
fn text_block(
    html: &mut String,
    chars: &[char],
    style_of: impl Fn(usize) -> (Option<String>, String),
) {
    html.push_str("<pre class=\"text\">");
    for (t, &c) in chars.iter().enumerate() {
        let (color, tip) = style_of(t);
        let style = color.map_or(String::new(), |color| {
            format!(" style=\"background:{color}\"")
        });
        let shown = if c == '\n' {
            "↵\n".to_string()
        } else {
            escape(&c.to_string())
        };
        let _ = write!(
            html,
            "<span{style} title=\"{}\">{shown}</span>",
            escape(&tip)
        );
    }
    html.push_str("</pre>\n");
}

/// `value` in `[-1, 1]` as blue (−1), white (0) or red (+1).
fn diverging(value: f32) -> String {
    let value = value.clamp(-1.0, 1.0);
    if value < 0.0 {
        mix((255, 255, 255), (40, 90, 220), -value)
    } else {
        mix((255, 255, 255), (220, 40, 40), value)
    }
}

/// The colour `share` of the way from `from` to `to`, as `#rrggbb`.
fn mix(from: (u8, u8, u8), to: (u8, u8, u8), share: f32) -> String {
    let channel =
        |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * share).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        channel(from.0, to.0),
        channel(from.1, to.1),
        channel(from.2, to.2)
    )
}

/// A character as a tooltip shows it: quoted, with invisible ones named.
fn shown(c: char) -> String {
    match c {
        '\n' => "'\\n'".into(),
        '\t' => "'\\t'".into(),
        ' ' => "' '".into(),
        c => format!("'{c}'"),
    }
}

/// `text` with HTML's special characters escaped.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;\
padding:0 1em;color:#222}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}\
h3{font-size:1em;font-weight:normal;margin:1.2em 0 .3em}.meta,.legend{color:#555}\
pre.text{font-family:ui-monospace,monospace;font-size:14px;line-height:1.5;white-space:pre-wrap;\
border:1px solid #ddd;padding:.6em;margin:0}pre.text span{border-radius:2px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_run_from_blue_through_white_to_red() {
        assert_eq!(diverging(-1.0), "#285adc");
        assert_eq!(diverging(0.0), "#ffffff");
        assert_eq!(diverging(1.0), "#dc2828");
        assert_eq!(diverging(7.0), "#dc2828");
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
