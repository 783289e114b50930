//! Train and evaluate a second-level classifier on `.npy` features.
//!
//! ```text
//! cargo run --release --example ensemble -- --train-x X.npy --train-y y.npy \
//!     --test-x X.npy --test-y y.npy --model svm|gbdt|vote [--grid] [--C 10 --gamma scale]
//! ```
//! Prints sklearn's classification report of the test predictions and a last line
//! `accuracy=F`. The SVM standardises features with statistics of the training set (a
//! `StandardScaler` in front, as in an sklearn pipeline); the trees take raw features.
//! `--grid` picks the SVM's C × gamma from the seed's grid (0.001 … 100, 5-fold stratified
//! cross-validation on the training set) and the trees' depth × learning rate from a small
//! grid, printing the best cell.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use ensemble::{
    Classifier, Gamma, Gbdt, GbdtParams, ReportOptions, StratifiedKFold, Svm, SvmParams, Voting,
    VotingKind, accuracy_score, classification_report, gbdt_grid, grid_search, seed_svm_grid,
};
use ndarray::{Array1, Array2};
use ndarray_npy::ReadNpyExt;

#[path = "support/flags.rs"]
mod flags;
use flags::finite_in;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Model {
    Svm,
    Gbdt,
    Vote,
}

#[derive(Parser, Debug)]
#[command(
    about = "Fit an SVM / gradient-boosted trees / soft vote on .npy features and print the report"
)]
struct Args {
    /// Training features, `n × d` (.npy, f64/f32/integer).
    #[arg(long)]
    train_x: PathBuf,
    /// Training labels 0..K (.npy, integer).
    #[arg(long)]
    train_y: PathBuf,
    /// Test features.
    #[arg(long)]
    test_x: PathBuf,
    /// Test labels.
    #[arg(long)]
    test_y: PathBuf,
    /// Which model.
    #[arg(long, value_enum, default_value = "svm")]
    model: Model,
    /// Grid-search the hyper-parameters with 5-fold stratified CV on the training set.
    #[arg(long)]
    grid: bool,
    /// SVM penalty C.
    #[arg(long = "C", default_value_t = 1.0, value_parser = finite_in(1e-9, 1e9))]
    c: f64,
    /// SVM gamma: `scale`, `auto` or a number.
    #[arg(long, default_value = "scale")]
    gamma: String,
    /// Boosting rounds.
    #[arg(long, default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100000))]
    n_estimators: usize,
    /// Tree depth.
    #[arg(long, default_value_t = 6, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    max_depth: usize,
    /// Boosting learning rate (eta).
    #[arg(long, default_value_t = 0.3, value_parser = finite_in(1e-9, 1.0))]
    learning_rate: f64,
    /// Seed (Platt folds, subsampling, CV shuffle).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Report digits.
    #[arg(long, default_value_t = 2)]
    digits: usize,
}

fn read_x(p: &Path) -> Result<Array2<f64>> {
    let open = || File::open(p).with_context(|| format!("cannot open {}", p.display()));
    if let Ok(a) = Array2::<f64>::read_npy(open()?) {
        return Ok(a);
    }
    if let Ok(a) = Array2::<f32>::read_npy(open()?) {
        return Ok(a.mapv(f64::from));
    }
    if let Ok(a) = Array2::<i64>::read_npy(open()?) {
        return Ok(a.mapv(|v| v as f64));
    }
    if let Ok(a) = Array2::<u8>::read_npy(open()?) {
        return Ok(a.mapv(f64::from));
    }
    bail!(
        "{}: expected a 2-D .npy array of f64, f32, i64 or u8",
        p.display()
    )
}

fn read_y(p: &Path) -> Result<Vec<usize>> {
    let open = || File::open(p).with_context(|| format!("cannot open {}", p.display()));
    let v: Vec<i64> = if let Ok(a) = Array1::<i64>::read_npy(open()?) {
        a.to_vec()
    } else if let Ok(a) = Array1::<i32>::read_npy(open()?) {
        a.iter().map(|&v| v as i64).collect()
    } else if let Ok(a) = Array1::<u8>::read_npy(open()?) {
        a.iter().map(|&v| v as i64).collect()
    } else if let Ok(a) = Array1::<f64>::read_npy(open()?) {
        a.iter()
            .map(|&v| if v.fract() == 0.0 { v as i64 } else { -1 })
            .collect()
    } else {
        bail!(
            "{}: expected a 1-D .npy array of integer labels",
            p.display()
        )
    };
    v.into_iter()
        .enumerate()
        .map(|(i, l)| {
            usize::try_from(l).map_err(|_| {
                anyhow::anyhow!(
                    "{}: label {l} at {i} is not a class index 0..K",
                    p.display()
                )
            })
        })
        .collect()
}

fn main() -> Result<()> {
    let a = Args::parse();
    let (xtr, ytr) = (read_x(&a.train_x)?, read_y(&a.train_y)?);
    let (xte, yte) = (read_x(&a.test_x)?, read_y(&a.test_y)?);
    let gamma: Gamma = a.gamma.parse()?;
    let svm_params = SvmParams {
        c: a.c,
        gamma,
        seed: a.seed,
        ..SvmParams::default()
    };
    let gbdt_params = GbdtParams {
        n_estimators: a.n_estimators,
        max_depth: a.max_depth,
        learning_rate: a.learning_rate,
        seed: a.seed,
        ..GbdtParams::default()
    };
    let cv = StratifiedKFold {
        n_splits: 5,
        shuffle: true,
        seed: a.seed,
    };
    let svm = |p: &SvmParams| -> Result<Box<dyn Classifier>> {
        if !a.grid {
            return Ok(Box::new(Svm::new(p.clone())?));
        }
        let grid = seed_svm_grid(p)?;
        let r = grid_search(&grid, xtr.view(), &ytr, &cv, None)?;
        let best = r.best_params();
        eprintln!(
            "svm grid: best {best:?}, mean CV accuracy {:.4}",
            r.best_score()
        );
        let c: f64 = best[0].1.parse()?;
        let g: Gamma = best[1].1.parse()?;
        Ok(Box::new(Svm::new(SvmParams {
            c,
            gamma: g,
            ..p.clone()
        })?))
    };
    let gbdt = |p: &GbdtParams| -> Result<Box<dyn Classifier>> {
        if !a.grid {
            return Ok(Box::new(Gbdt::new(p.clone())?));
        }
        let grid = gbdt_grid(&[3, 6], &[0.1, 0.3], p)?;
        let r = grid_search(&grid, xtr.view(), &ytr, &cv, None)?;
        eprintln!(
            "gbdt grid: best {:?}, mean CV accuracy {:.4}",
            r.best_params(),
            r.best_score()
        );
        Ok(r.best_model.clone_unfitted())
    };
    let mut model: Box<dyn Classifier> = match a.model {
        Model::Svm => svm(&svm_params)?,
        Model::Gbdt => gbdt(&gbdt_params)?,
        Model::Vote => Box::new(Voting::new(
            vec![svm(&svm_params)?, gbdt(&gbdt_params)?],
            VotingKind::Soft,
        )?),
    };
    let t = std::time::Instant::now();
    model.fit(xtr.view(), &ytr)?;
    eprintln!(
        "{} fitted on {}×{} in {:.3} s",
        model.name(),
        xtr.nrows(),
        xtr.ncols(),
        t.elapsed().as_secs_f64()
    );
    let pred = model.predict(xte.view())?;
    let opts = ReportOptions {
        digits: a.digits,
        ..ReportOptions::default()
    };
    print!("{}", classification_report(&yte, &pred, &opts)?);
    println!("accuracy={:.4}", accuracy_score(&yte, &pred)?);
    Ok(())
}
