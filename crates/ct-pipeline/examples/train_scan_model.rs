//! Trains the pretrained scan model (`ct_pipeline::scan_model::ScanModel`): boosted trees
//! over the classifiers' default columns of the per-scan feature table, from the
//! `features.csv` of labelled runs, and writes it as JSON: the shipped
//! `crates/ct-pipeline/models/scan_model.json`.
//!
//! ```sh
//! # the training cohort: its own seed (2021 + 0x1e54_0000), never an evaluated cohort,
//! # nor the cohorts of the voxel detector, the pattern U-Net or the focus model
//! cargo run --release --example pipeline -- --name scan-train --seed 508823525 \
//!     --n-per-class 200 --stage preprocess
//! cargo run --release -p ct-pipeline --example train_scan_model -- \
//!     --out crates/ct-pipeline/models/scan_model.json runs/scan-train/features.csv
//! # scored on other runs' tables (every subject of each, all unseen):
//! cargo run --release -p ct-pipeline --example train_scan_model -- --out /tmp/scan.json \
//!     --eval runs/default/features.csv runs/scan-train/features.csv
//! ```
//!
//! On a real data set, train it on that data set's own labelled runs (never on the subjects
//! you evaluate); the pipeline takes it with `--scan-model PATH`.

use std::process::ExitCode;

use ct_pipeline::FeatureSet;
use ct_pipeline::classify::classifier_columns;
use ct_pipeline::scan_model::{FeatureCsv, ScanModel, log_loss, read_features_csv};
use ndarray::{Array2, Axis, concatenate};

type Res<T> = std::result::Result<T, String>;

/// The classifiers' default columns of one table and its labels (every row labelled).
fn read(path: &str, want: Option<&[String]>) -> Res<(Vec<String>, Array2<f64>, Vec<usize>)> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let FeatureCsv {
        ids,
        labels,
        names,
        x,
        ..
    } = read_features_csv(&text).map_err(|e| format!("{path}: {e}"))?;
    let cols: Vec<usize> = match want {
        None => classifier_columns(&names, FeatureSet::Lesion),
        Some(w) => w
            .iter()
            .map(|n| {
                names
                    .iter()
                    .position(|m| m == n)
                    .ok_or_else(|| format!("{path}: no column {n}"))
            })
            .collect::<Res<_>>()?,
    };
    if cols.is_empty() {
        return Err(format!("{path}: none of the classifiers' default columns"));
    }
    let y = labels
        .iter()
        .zip(&ids)
        .map(|(l, id)| {
            l.map(|l| l.index())
                .ok_or(format!("{path}: {id} has no label"))
        })
        .collect::<Res<Vec<usize>>>()?;
    let names = cols.iter().map(|&j| names[j].clone()).collect();
    Ok((names, x.select(Axis(1), &cols), y))
}

fn read_all(
    paths: &[String],
    want: Option<&[String]>,
) -> Res<(Vec<String>, Array2<f64>, Vec<usize>)> {
    let mut names: Option<Vec<String>> = want.map(<[String]>::to_vec);
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for p in paths {
        let (n, x, y) = read(p, names.as_deref())?;
        names.get_or_insert(n);
        xs.push(x);
        ys.extend(y);
    }
    let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
    let x = concatenate(Axis(0), &views).map_err(|e| e.to_string())?;
    Ok((names.unwrap_or_default(), x, ys))
}

/// Command line.
#[derive(clap::Parser)]
#[command(about = "Trains the scan model; see the file's header for the recipe")]
struct Args {
    /// Where to write the model (JSON).
    #[arg(long)]
    out: String,
    /// Boosting rounds.
    #[arg(long, default_value_t = 150)]
    rounds: usize,
    /// A run's features.csv to score the model on (held out); repeatable.
    #[arg(long, value_name = "FEATURES.csv")]
    eval: Vec<String>,
    /// The runs' features.csv files to train on.
    #[arg(required = true, value_name = "FEATURES.csv")]
    inputs: Vec<String>,
}

fn run() -> Res<()> {
    let Args {
        out,
        rounds,
        eval,
        inputs,
    } = clap::Parser::parse();
    let (names, x, y) = read_all(&inputs, None)?;
    let model = ScanModel::train(x.view(), &y, names, rounds, 2021, inputs.clone())
        .map_err(|e| e.to_string())?;
    println!(
        "trained on {:?} subjects (Normal, CAP, COVID-19), {} columns, {rounds} rounds",
        model.recipe.subjects,
        model.features().len()
    );
    for path in &eval {
        let (_, xe, ye) = read_all(std::slice::from_ref(path), Some(model.features()))?;
        let p = model.predict_proba(xe.view()).map_err(|e| e.to_string())?;
        let pred = ensemble::argmax_rows(&p);
        let acc = pred.iter().zip(&ye).filter(|(a, b)| a == b).count() as f64 / ye.len() as f64;
        println!(
            "{path}: {} subjects, accuracy {acc:.3}, log-loss {:.3}",
            ye.len(),
            log_loss(p.view(), &ye)
        );
    }
    let json = model.to_json().map_err(|e| e.to_string())?;
    std::fs::write(&out, json).map_err(|e| format!("{out}: {e}"))?;
    println!("wrote {out}");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("train_scan_model: {e}");
            ExitCode::FAILURE
        }
    }
}
