//! Does rebalancing the training table help? SVM and gradient-boosted trees trained on an
//! imbalanced split, without and with SMOTE and SMOTE + ENN, scored on the untouched test split.
//!
//! The tables are the golden train/test splits of scikit-learn's wine, breast cancer and
//! digits (600) data sets under `crates/ensemble/tests/data`; in each, the smallest training
//! class is cut to its first 8 samples. Features are standardised on the (imbalanced) training
//! split before resampling. Run:
//!
//!     cargo run --release -p ct-ensemble --example imbalanced
//!
//! Prints a Markdown table: test accuracy, macro recall (balanced accuracy) and the cut
//! class's recall.

use std::fs::File;
use std::path::PathBuf;

use ensemble::{
    Classifier, Gbdt, GbdtParams, ReportOptions, Resampled, Smote, SmoteEnn, StandardScaler, Svm,
    SvmParams, classification_report,
};
use ndarray::{Array1, Array2, Axis};
use ndarray_npy::ReadNpyExt;

const KEEP: usize = 8;
const SEED: u32 = 0;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn matrix(name: &str) -> Array2<f64> {
    let f = File::open(data(name)).expect("golden table (run from the repository)");
    if name.starts_with("digits") {
        Array2::<u8>::read_npy(f).expect("npy").mapv(f64::from)
    } else {
        Array2::<f64>::read_npy(f).expect("npy")
    }
}

fn labels(name: &str) -> Vec<usize> {
    Array1::<i64>::read_npy(File::open(data(name)).expect("golden labels"))
        .expect("npy")
        .iter()
        .map(|&v| v as usize)
        .collect()
}

/// The training split with its smallest class cut to `KEEP` samples; returns the class cut.
fn imbalance(x: &Array2<f64>, y: &[usize]) -> (Resampled, usize) {
    let k = y.iter().max().map_or(0, |m| m + 1);
    let counts: Vec<usize> = (0..k)
        .map(|c| y.iter().filter(|&&v| v == c).count())
        .collect();
    let cut = (0..k).min_by_key(|&c| counts[c]).unwrap_or(0);
    let mut seen = 0;
    let rows: Vec<usize> = (0..y.len())
        .filter(|&i| {
            if y[i] != cut {
                return true;
            }
            seen += 1;
            seen <= KEEP
        })
        .collect();
    let table = Resampled {
        x: x.select(Axis(0), &rows),
        y: rows.iter().map(|&i| y[i]).collect(),
    };
    (table, cut)
}

fn models() -> Vec<Box<dyn Classifier>> {
    vec![
        Box::new(Svm::new(SvmParams::default()).expect("valid SVM")),
        Box::new(Gbdt::new(GbdtParams::default()).expect("valid trees")),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "| data | model | training table | rows | accuracy | macro recall | cut-class recall |"
    );
    println!("|---|---|---|---:|---:|---:|---:|");
    for name in ["wine", "cancer", "digits"] {
        let (x, y) = (
            matrix(&format!("{name}_xtr.npy")),
            labels(&format!("{name}_ytr.npy")),
        );
        let (xte, yte) = (
            matrix(&format!("{name}_xte.npy")),
            labels(&format!("{name}_yte.npy")),
        );
        let (train, cut) = imbalance(&x, &y);
        let scaler = StandardScaler::fit(train.x.view())?;
        let train = Resampled {
            x: scaler.transform(train.x.view())?,
            y: train.y,
        };
        let xte = scaler.transform(xte.view())?;
        let smote = Smote {
            seed: SEED,
            ..Smote::default()
        }
        .fit_resample(train.x.view(), &train.y)?;
        let smote_enn = SmoteEnn::with_seed(SEED).fit_resample(train.x.view(), &train.y)?;
        for mut model in models() {
            for (what, table) in [
                ("as is", &train),
                ("SMOTE", &smote),
                ("SMOTE + ENN", &smote_enn),
            ] {
                model.fit(table.x.view(), &table.y)?;
                let pred = model.predict(xte.view())?;
                let report = classification_report(&yte, &pred, &ReportOptions::default())?;
                let cut_recall = report
                    .classes
                    .iter()
                    .find(|c| c.label == cut)
                    .map_or(0.0, |c| c.scores.recall);
                let acc =
                    pred.iter().zip(&yte).filter(|(p, t)| p == t).count() as f64 / yte.len() as f64;
                println!(
                    "| {name} (class {cut} cut to {KEEP}) | {} | {what} | {} | {acc:.3} | {:.3} | {cut_recall:.3} |",
                    model.name(),
                    table.y.len(),
                    report.macro_avg.recall,
                );
            }
        }
    }
    Ok(())
}
