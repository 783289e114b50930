//! Diagnoses new scans with a saved pipeline run (the `model` folder every `pipeline` run
//! writes): the run's per-scan stages, gate and classifiers, nothing retrained.
//!
//! ```text
//! cargo run --release --example predict -- --model runs/default/model SCAN... [--out DIR]
//! ```
//! SCAN is anything `ct_io::read_volume` reads (DICOM folder or file, `.nii`/`.nii.gz`,
//! `.npy`, slice folder); a folder that is none of these is taken as a folder of scans (its
//! entries, one level down). One line per scan on stdout, `key=value` tokens for scripts:
//!
//! ```text
//! scan=PATH id=ID label=COVID-19 p_normal=0.0120 p_cap=0.0940 p_covid=0.8940 contrast=high lung_ml=4083 outside_training=3/55 page=DIR/ID.html
//! scan=PATH error="read: …"
//! ```
//! `outside_training=k/n`: k of the n checked values (the classifiers' columns, lung volume,
//! slice count) lie outside the range of the run's training subjects (the page lists them).
//! `--out` (default `runs/predict`) receives one HTML page per scan and `predictions.csv`
//! (written row by row as `predictions.csv.partial`, renamed when all scans are done). A scan
//! that fails is reported and skipped; the exit status is 1 only when no scan could be
//! predicted (the batch programs' rule).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use covid_ct::pipeline::{Prediction, Predictor, write_prediction_page};

#[derive(Parser, Debug)]
#[command(
    about = "Diagnose new CT scans with a saved pipeline run (its `model` folder)",
    after_help = "A scan that fails gets an `error=` line and the next one goes on; the exit \
                  status is 1 only when no scan could be predicted."
)]
struct Args {
    /// The saved run: `runs/NAME/model` (or its `bundle.json`).
    #[arg(long)]
    model: PathBuf,
    /// Scans, or folders of scans.
    #[arg(required = true)]
    scans: Vec<PathBuf>,
    /// Folder for the pages and `predictions.csv`.
    #[arg(long, default_value = "runs/predict")]
    out: PathBuf,
    /// Skip the HTML pages (the lines and the CSV only).
    #[arg(long)]
    no_pages: bool,
}

/// The scans named on the command line: each path that is a scan, or the entries of a
/// folder that is not one (sorted; hidden entries skipped).
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        // A path that does not exist stays in the list: its line reports the error.
        if p.is_dir() && covid_ct::io::detect(p).is_err() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("listing {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| {
                    !e.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            entries.sort();
            if entries.is_empty() {
                bail!("{}: an empty folder", p.display());
            }
            out.extend(entries);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// One scan: read, predict, page.
fn predict_one(
    predictor: &Predictor,
    path: &Path,
    args: &Args,
) -> Result<(Prediction, Option<PathBuf>)> {
    let scan =
        covid_ct::io::read_volume(path).map_err(|e| anyhow::Error::new(e).context("read"))?;
    let p = predictor.predict(&scan)?;
    let page = if args.no_pages {
        None
    } else {
        Some(write_prediction_page(&args.out, &p, predictor)?)
    };
    Ok((p, page))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let predictor = Predictor::load(&args.model)?;
    let b = predictor.bundle();
    eprintln!(
        "model: {} ({}; test accuracy {:.3} on {} held-out subjects of {})",
        predictor.dir().display(),
        b.written_by,
        b.trained_on.test_accuracy,
        b.trained_on.test_subjects.len(),
        b.trained_on.data
    );
    let scans = expand(&args.scans)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let partial = args.out.join("predictions.csv.partial");
    let mut csv =
        csv::Writer::from_path(&partial).with_context(|| format!("{}", partial.display()))?;
    csv.write_record([
        "scan",
        "id",
        "label",
        "p_normal",
        "p_cap",
        "p_covid",
        "contrast",
        "lung_ml",
        "outside_training",
        "error",
    ])?;
    let mut failed = 0;
    for (i, path) in scans.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, scans.len(), path.display());
        let shown = path.display().to_string();
        match predict_one(&predictor, path, &args) {
            Ok((p, page)) => {
                let contrast = p.contrast.map_or("none", |c| c.name());
                let probs = p.proba.map(|v| format!("{v:.4}"));
                let checked = predictor.bundle().trained_on.ranges.ranges.len();
                let mut line = format!(
                    "scan={shown} id={} label={} p_normal={} p_cap={} p_covid={} contrast={contrast} \
                     lung_ml={:.0} outside_training={}/{checked}",
                    p.id,
                    p.label,
                    probs[0],
                    probs[1],
                    probs[2],
                    p.lung_ml,
                    p.outside.len()
                );
                if let Some(page) = page {
                    line += &format!(" page={}", page.display());
                }
                println!("{line}");
                let ml = format!("{:.1}", p.lung_ml);
                let outside = p.outside.len().to_string();
                csv.write_record([
                    shown.as_str(),
                    &p.id,
                    p.label.name(),
                    &probs[0],
                    &probs[1],
                    &probs[2],
                    contrast,
                    &ml,
                    &outside,
                    "",
                ])?;
            }
            Err(e) => {
                failed += 1;
                let msg = format!("{e:#}");
                println!("scan={shown} error={msg:?}");
                csv.write_record([shown.as_str(), "", "", "", "", "", "", "", "", &msg])?;
            }
        }
        csv.flush()?;
        std::io::stdout().flush()?;
    }
    drop(csv);
    let done = args.out.join("predictions.csv");
    std::fs::rename(&partial, &done).with_context(|| format!("{}", done.display()))?;
    eprintln!("{} scans, {failed} failed; {}", scans.len(), done.display());
    if failed == scans.len() {
        std::process::exit(1);
    }
    Ok(())
}
