//! Trains the pattern U-Net's focus model (`ct_pipeline::lesion_patterns::FocusModel`): boosted trees
//! that score each focus the network finds as lesion or not, from the foci of phantom runs
//! whose lesion masks are known (`runs/<name>/foci.csv`, written by the pipeline's
//! preprocessing), and writes it as JSON: the shipped
//! `crates/ct-pipeline/models/pattern_focus_model.json`.
//!
//! ```sh
//! # the training cohort: its own seed (2021 + 0x1e53_0000), never an evaluated cohort
//! cargo run --release --example pipeline -- --name focus-train --seed 508757989 \
//!     --n-per-class 150 --stage preprocess
//! cargo run --release -p ct-pipeline --example train_focus_model -- \
//!     --out crates/ct-pipeline/models/pattern_focus_model.json runs/focus-train/foci.csv
//! # scored on other runs' foci (ROC-AUC of lesion against other foci):
//! cargo run --release -p ct-pipeline --example train_focus_model -- \
//!     --out /tmp/focus.json --eval runs/default/foci.csv runs/focus-train/foci.csv
//! ```
//!
//! A focus counts as a lesion when at least `FOCUS_LESION_SHARE` of it lies in the true
//! lesion mask.

use std::process::ExitCode;

use ct_pipeline::lesion_patterns::{FOCUS_LESION_SHARE, FocusModel, read_foci_csv};
use ndarray::{Array2, Axis, concatenate};

type Res<T> = std::result::Result<T, String>;

fn read(path: &str) -> Res<(Array2<f64>, Vec<bool>)> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let (x, shares) = read_foci_csv(&text).map_err(|e| format!("{path}: {e}"))?;
    let y = shares
        .iter()
        .map(|s| {
            s.map(|v| v >= FOCUS_LESION_SHARE).ok_or_else(|| {
                format!("{path}: a focus without a lesion share (not a phantom run)")
            })
        })
        .collect::<Res<Vec<bool>>>()?;
    Ok((x, y))
}

fn read_all(paths: &[String]) -> Res<(Array2<f64>, Vec<bool>)> {
    let parts = paths.iter().map(|p| read(p)).collect::<Res<Vec<_>>>()?;
    let views: Vec<_> = parts.iter().map(|(x, _)| x.view()).collect();
    let x = concatenate(Axis(0), &views).map_err(|e| e.to_string())?;
    Ok((x, parts.into_iter().flat_map(|(_, y)| y).collect()))
}

/// Command line.
#[derive(clap::Parser)]
#[command(about = "Trains the focus model; see the file's header for the recipe")]
struct Args {
    /// Where to write the model (JSON).
    #[arg(long)]
    out: String,
    /// Boosting rounds.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// A run's foci.csv to score the model on (held out); repeatable.
    #[arg(long, value_name = "FOCI.csv")]
    eval: Vec<String>,
    /// The runs' foci.csv files to train on.
    #[arg(required = true, value_name = "FOCI.csv")]
    inputs: Vec<String>,
}

fn run() -> Res<()> {
    let Args {
        out,
        rounds,
        eval,
        inputs,
    } = clap::Parser::parse();
    let (x, y) = read_all(&inputs)?;
    let model =
        FocusModel::train(x.view(), &y, rounds, 2021, inputs.clone()).map_err(|e| e.to_string())?;
    let (pos, neg) = model.recipe.foci;
    println!("trained on {pos} lesion and {neg} other foci, {rounds} rounds");
    if !eval.is_empty() {
        let (xe, ye) = read_all(&eval)?;
        let foci: Vec<_> = xe
            .outer_iter()
            .map(|r| ct_pipeline::lesion_patterns::Focus {
                features: r.to_vec(),
                centroid: [0.0; 3],
                lesion_share: None,
            })
            .collect();
        let s = model.scores(&foci).map_err(|e| e.to_string())?;
        let auc = ensemble::roc_auc_binary(&ye, &s).map_err(|e| e.to_string())?;
        println!("held out: {} foci, ROC-AUC {auc:.3}", ye.len());
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
            eprintln!("train_focus_model: {e}");
            ExitCode::FAILURE
        }
    }
}
