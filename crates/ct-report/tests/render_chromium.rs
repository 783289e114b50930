//! Renders a report in headless Chromium and checks the screenshot is not blank.
//!
//! Needs a Chromium binary (Debian: `apt-get install chromium`; or set `CHROMIUM=/path`), so
//! it is ignored by default; `.ci/run` installs Chromium and runs it with
//! `cargo test -p ct-report --test render_chromium -- --ignored`.

use std::path::PathBuf;
use std::process::Command;

use ct_report::{ColorMap, Report, chart, image};
use ndarray::Array2;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| {
            ["chromium", "chromium-browser", "google-chrome"]
                .into_iter()
                .map(move |n| d.join(n))
        })
        .find(|p| p.is_file())
}

#[test]
#[ignore = "needs headless Chromium; run by .ci/run"]
fn report_renders_in_headless_chromium() {
    let bin = chromium().expect("no Chromium found: apt-get install chromium, or set CHROMIUM");
    let dir = tempfile::tempdir().expect("temp dir");
    // A report with an embedded PNG (a viridis ramp) and an SVG chart.
    let ramp = Array2::from_shape_fn((64, 256), |(_, x)| x as f64);
    let png = image::png_bytes(&image::to_rgb_auto(ramp.view(), ColorMap::Viridis).expect("rgb"))
        .expect("png");
    let svg = chart::confusion_matrix(
        &[vec![9, 1, 0], vec![1, 8, 1], vec![0, 2, 8]],
        &["Normal", "CAP", "COVID-19"],
        "Test split",
    );
    let mut r = Report::new("Render check");
    r.section("Figure").png(png, "viridis ramp").text("A ramp.");
    r.section("Chart").svg(&svg);
    let html = dir.path().join("report.html");
    r.write(&html).expect("write report");
    let shot = dir.path().join("shot.png");
    let out = Command::new(&bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1000,1400",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(
        shot.is_file(),
        "no screenshot; chromium said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = ::image::open(&shot).expect("decode screenshot").to_rgb8();
    let n = (img.width() * img.height()) as f64;
    let non_white = img
        .pixels()
        .filter(|p| p.0.iter().any(|&c| c < 235))
        .count() as f64;
    // The viridis ramp starts dark purple (68, 1, 84): the PNG figure was drawn.
    let purple = img
        .pixels()
        .filter(|p| p.0[0] < 90 && p.0[1] < 40 && p.0[2] > 60)
        .count();
    // The confusion matrix's cells are blue shades: the SVG was drawn.
    let blue = img
        .pixels()
        .filter(|p| p.0[2] > 150 && p.0[0] < 120 && p.0[1] > 60)
        .count();
    assert!(
        non_white / n > 0.02,
        "screenshot is blank ({non_white} of {n} pixels drawn)"
    );
    assert!(
        purple > 100,
        "the PNG figure is not visible ({purple} purple pixels)"
    );
    assert!(
        blue > 100,
        "the SVG chart is not visible ({blue} blue pixels)"
    );
}
