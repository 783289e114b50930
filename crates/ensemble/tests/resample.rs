//! SMOTE, ENN and SMOTE + ENN against imbalanced-learn 0.14.2 on wine (raw units) and an
//! imbalanced three-class table. Fixtures: `tools/ensemble/make_resample_goldens.py`.
//!
//! Tolerance: none. Neighbours are exact on both sides (no distance ties in these tables),
//! the random stream is NumPy's MT19937 reproduced bit for bit, and a synthetic sample is
//! `x + u * (x_nn - x)` evaluated in the same order, so every value must be identical.

use std::fs::File;
use std::path::PathBuf;

use ensemble::{CleanClasses, EditedNearestNeighbours, EnnKind, Error, Smote, SmoteEnn};
use ndarray::{Array1, Array2, array};
use ndarray_npy::ReadNpyExt;
use serde_json::Value;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/resample")
        .join(name)
}

fn matrix(name: &str) -> Array2<f64> {
    Array2::<f64>::read_npy(File::open(path(name)).unwrap()).unwrap()
}

fn labels(name: &str) -> Vec<usize> {
    Array1::<i64>::read_npy(File::open(path(name)).unwrap())
        .unwrap()
        .iter()
        .map(|&v| v as usize)
        .collect()
}

fn seed(table: &str) -> u32 {
    let v: Value = serde_json::from_reader(File::open(path("rng.json")).unwrap()).unwrap();
    v["seeds"][table].as_u64().unwrap() as u32
}

const TABLES: [&str; 2] = ["wine", "blobs"];

#[test]
fn smote_gives_imbalanced_learns_samples() {
    for t in TABLES {
        let (x, y) = (matrix(&format!("{t}_x.npy")), labels(&format!("{t}_y.npy")));
        let smote = Smote {
            seed: seed(t),
            ..Smote::default()
        };
        let out = smote.fit_resample(x.view(), &y).unwrap();
        assert_eq!(out.y, labels(&format!("{t}_smote_y.npy")), "{t}");
        assert_eq!(out.x, matrix(&format!("{t}_smote_x.npy")), "{t}");
    }
}

#[test]
fn enn_keeps_imbalanced_learns_rows() {
    for t in TABLES {
        let (x, y) = (matrix(&format!("{t}_x.npy")), labels(&format!("{t}_y.npy")));
        let all = EditedNearestNeighbours::default()
            .sample_indices(x.view(), &y)
            .unwrap();
        assert_eq!(all, labels(&format!("{t}_enn_idx.npy")), "{t} kind all");
        let mode = EditedNearestNeighbours {
            kind: EnnKind::Mode,
            classes: CleanClasses::All,
            ..EditedNearestNeighbours::default()
        };
        let kept = mode.sample_indices(x.view(), &y).unwrap();
        assert_eq!(
            kept,
            labels(&format!("{t}_enn_mode_idx.npy")),
            "{t} kind mode"
        );
        // Something was removed, or the comparison would prove little.
        assert!(all.len() < y.len() && kept.len() < y.len(), "{t}");
    }
}

#[test]
fn smote_enn_gives_imbalanced_learns_table() {
    for t in TABLES {
        let (x, y) = (matrix(&format!("{t}_x.npy")), labels(&format!("{t}_y.npy")));
        let out = SmoteEnn::with_seed(seed(t))
            .fit_resample(x.view(), &y)
            .unwrap();
        assert_eq!(out.y, labels(&format!("{t}_smoteenn_y.npy")), "{t}");
        assert_eq!(out.x, matrix(&format!("{t}_smoteenn_x.npy")), "{t}");
    }
}

#[test]
fn too_small_classes_and_bad_parameters_are_typed_errors() {
    let x = array![
        [0.0, 0.0],
        [1.0, 0.0],
        [0.0, 1.0],
        [5.0, 5.0],
        [6.0, 5.0],
        [9.0, 9.0]
    ];
    let y = [0, 0, 0, 1, 1, 2];
    // Class 1 has two samples: two neighbours are needed and one exists.
    let err = Smote {
        k_neighbors: 2,
        seed: 0,
    }
    .fit_resample(x.view(), &y)
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooFewNeighbours {
                needed: 3,
                got: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        Smote {
            k_neighbors: 0,
            seed: 0
        }
        .fit_resample(x.view(), &y)
        .is_err()
    );
    let enn = EditedNearestNeighbours {
        n_neighbors: 6,
        ..EditedNearestNeighbours::default()
    };
    assert!(matches!(
        enn.sample_indices(x.view(), &y),
        Err(Error::TooFewNeighbours { .. })
    ));
    let mut nan = x.clone();
    nan[[1, 1]] = f64::NAN;
    assert!(matches!(
        Smote {
            k_neighbors: 1,
            seed: 0
        }
        .fit_resample(nan.view(), &y),
        Err(Error::NonFinite { .. })
    ));
    // A balanced table comes back unchanged.
    let balanced = Smote {
        k_neighbors: 1,
        seed: 0,
    }
    .fit_resample(x.slice(ndarray::s![0..4, ..]), &[0, 0, 1, 1])
    .unwrap();
    assert_eq!(balanced.x, x.slice(ndarray::s![0..4, ..]));
}
