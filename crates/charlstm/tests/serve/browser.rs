//! The playground page in headless Chromium, driven by WebDriver as a user would use it:
//! scripts/check_browser.py types a prime, generates, stops a long generation, inspects a text
//! and saves a screenshot. Skipped when no browser is here, unless `CHARLSTM_REQUIRE_BROWSER`
//! is set (CI sets it).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::harness::Server;

/// What the browser check needs: a Python with `selenium`, Chromium and its WebDriver.
struct Browser {
    python: PathBuf,
    chromium: PathBuf,
    chromedriver: PathBuf,
}

/// The path an environment variable names, or `default`.
fn tool(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// The browser check's tools, or why it cannot run here.
fn find_browser() -> Result<Browser, String> {
    let python = std::env::var_os("CHARLSTM_PYTHON")
        .map(PathBuf::from)
        .ok_or("CHARLSTM_PYTHON is not set")?;
    let has_selenium = Command::new(&python)
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_selenium {
        return Err(format!("{} has no `selenium`", python.display()));
    }
    let chromium = tool("CHARLSTM_CHROMIUM", "/usr/bin/chromium");
    let chromedriver = tool("CHARLSTM_CHROMEDRIVER", "/usr/bin/chromedriver");
    for path in [&chromium, &chromedriver] {
        if !path.exists() {
            return Err(format!("{} does not exist", path.display()));
        }
    }
    Ok(Browser {
        python,
        chromium,
        chromedriver,
    })
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.len() > 1000 && bytes.starts_with(b"\x89PNG"))
}

#[test]
fn the_page_generates_stops_and_inspects_in_a_real_browser() {
    let browser = match find_browser() {
        Ok(browser) => browser,
        Err(why) if std::env::var_os("CHARLSTM_REQUIRE_BROWSER").is_none() => {
            eprintln!("skipping: {why}");
            return;
        }
        Err(why) => panic!("CHARLSTM_REQUIRE_BROWSER is set, but {why}"),
    };
    let server = Server::start(shared_tiny_run(), &["--max-tokens", "10000000"]);
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let output = run(Command::new(&browser.python)
        .arg(repo_file("scripts/check_browser.py"))
        .arg(format!("http://{}/", server.address))
        .arg("abc")
        .arg(&screenshot)
        .env("CHARLSTM_CHROMIUM", &browser.chromium)
        .env("CHARLSTM_CHROMEDRIVER", &browser.chromedriver));
    assert_ok(&output);
    let report = stdout(&output);
    assert_mentions(&report, "then stopped a long generation after");
    assert_mentions(&report, "the inspect view coloured");
    assert!(is_png(&screenshot), "{} is a PNG", screenshot.display());

    // Stop in the page ended the generation on the server too.
    server.assert_idle_soon("the stopped generation goes on");
}
