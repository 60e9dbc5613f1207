//! `charlstm viz`: the HTML report (self-contained, one span per character per panel), the
//! gate picture, a trained model's bracket-depth unit found, and bad input refused cleanly.

mod common;

use std::path::Path;

use common::*;

/// Runs `charlstm viz` on `run_dir` over `text` (written to a file beside `out`), with
/// `extra` arguments; returns the output and the report's text (empty if none was written).
fn viz(run_dir: &Path, text: &str, out: &Path, extra: &[&str]) -> (std::process::Output, String) {
    let text_file = out.with_extension("txt");
    std::fs::write(&text_file, text).unwrap();
    let output = run(checkpoint_command("viz", run_dir)
        .arg("--text")
        .arg(&text_file)
        .arg("--out")
        .arg(out)
        .args(extra));
    let report = std::fs::read_to_string(out).unwrap_or_default();
    (output, report)
}

#[test]
fn the_report_is_one_self_contained_page_with_a_span_per_character_and_panel() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    let gates = dir.path().join("gates.png");
    let text = "abcdefghij\nklmnopqrstuvwxyz\nabc";
    let (output, report) = viz(
        shared_tiny_run(),
        text,
        &out,
        &["--gates", gates.to_str().unwrap(), "--units", "3"],
    );
    assert_ok(&output);
    assert!(report.starts_with("<!DOCTYPE html>"), "{report:.200}");
    assert!(report.trim_end().ends_with("</html>"));
    for outside in ["http://", "https://", "<script", "<link", "<img", "src="] {
        assert!(
            !report.contains(outside),
            "the report loads nothing: found {outside}"
        );
    }
    // Surprisal once, then each unit shown: here the line position and "inside a word" vary
    // (3 units each), quotes and brackets do not.
    let panels = report.matches("<h3>").count();
    assert_eq!(panels, 6, "{report}");
    let chars = text.chars().count();
    assert_eq!(report.matches("<span").count(), chars * (1 + panels));
    assert_eq!(report.matches("</span>").count(), chars * (1 + panels));
    assert_eq!(report.matches("does not vary").count(), 2);
    // Every character but the first has its surprisal and five guesses on hover.
    assert_eq!(report.matches(" bits; expected ").count(), chars - 1);
    let first_tip = report.split(" bits; expected ").nth(1).unwrap();
    let guesses = first_tip.split('"').next().unwrap();
    assert_eq!(guesses.matches('%').count(), 5, "{guesses}");
    let png = std::fs::read(&gates).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_mentions(&stderr(&output), "bits/char");
}

/// A model trained on the `brackets` corpus has a unit that follows the bracket depth, and
/// the report shows it first under that feature.
#[test]
fn a_brackets_model_has_a_unit_for_the_depth_and_the_report_shows_it_first() {
    let (dir, run_dir) = temp_run_dir();
    assert_ok(&train_tiny(
        &run_dir,
        &sets(&[
            "data.corpus=brackets",
            "train.max_steps=150",
            "train.eval_interval=150",
        ]),
    ));
    let out = dir.path().join("report.html");
    let text = "(()[{}])\n{[()()]}\n(((())))\n[[]]{}()\n({[({})]})\n".repeat(3);
    let (output, report) = viz(&run_dir, &text, &out, &["--units", "1"]);
    assert_ok(&output);
    let depth = report
        .split("Units that track: bracket depth")
        .nth(1)
        .unwrap();
    let heading = depth
        .split("<h3>")
        .nth(1)
        .unwrap()
        .split("</h3>")
        .next()
        .unwrap();
    let correlation: f64 = heading
        .rsplit("correlation ")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(correlation.abs() > 0.5, "{heading}");
    let log = stderr(&output);
    let named = log.lines().find(|l| l.contains("bracket depth:")).unwrap();
    let unit = heading.split(':').next().unwrap();
    assert!(
        named.contains(&unit.replace(',', "")),
        "{named} / {heading}"
    );
}

#[test]
fn bad_input_is_refused_in_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    let (output, _) = viz(shared_tiny_run(), "abc\u{e9}", &out, &[]);
    assert_clean_error(&output, "not in the vocabulary");
    let (output, _) = viz(shared_tiny_run(), "a", &out, &[]);
    assert_clean_error(&output, "fewer than two characters");
    let output = run(checkpoint_command("viz", shared_tiny_run())
        .args(["--text", "/nonexistent/text.txt", "--out"])
        .arg(&out));
    assert_clean_error(&output, "cannot read '/nonexistent/text.txt'");
    std::fs::write(dir.path().join("latin1.txt"), b"ab\xe9c").unwrap();
    let output = run(checkpoint_command("viz", shared_tiny_run())
        .arg("--text")
        .arg(dir.path().join("latin1.txt"))
        .arg("--out")
        .arg(&out));
    assert_clean_error(&output, "not valid UTF-8 at byte 2");
    assert!(!out.exists(), "no report for bad input");
}
