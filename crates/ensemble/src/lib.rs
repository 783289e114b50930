#![deny(missing_docs)]
//! # ensemble
//!
//! Second-level classifiers of the chest-CT pipeline, checked against scikit-learn 1.7.2 and
//! XGBoost 3.1.1:
//!
//! * [`Classifier`]: one trait (`fit`, `predict_proba`, `predict`) over `ndarray` 0.17
//!   matrices, with typed errors for NaN features, mismatched lengths, a single class or a
//!   class without samples.
//! * [`Svm`]: RBF C-SVC parametrised like `sklearn.svm.SVC` (`C`, `gamma` incl. `"scale"`),
//!   one-vs-rest, Platt probabilities (libsvm's 5-fold procedure) normalised to sum 1,
//!   `StandardScaler` in front. The solver is a port of libsvm's SMO (WSS3).
//! * [`Gbdt`]: gradient-boosted trees with XGBoost's `multi:softprob` objective and `hist`
//!   method (≤ 256 quantile bins, second-order gain, depth-wise growth, `eta`, `lambda`,
//!   `gamma`, `min_child_weight`, row/column subsampling, early stopping, gain importance).
//! * [`Voting`]: soft (weighted mean of probabilities) and hard (weighted majority, ties to
//!   the lowest class) voting over boxed classifiers.
//! * [`grid_search`] with [`StratifiedKFold`] (sklearn's fold allocation), parallel over
//!   cells and folds; [`seed_svm_grid`] is the seed's `C × gamma` grid (0.001 … 100).
//! * Metrics: [`classification_report`] (the struct and, through `Display`, sklearn's exact
//!   text), [`confusion_matrix`], [`accuracy_score`], [`roc_auc_ovr`].
//! * [`TwoLevel`]: per-slice features → per-scan [`Aggregate`]s → SVM + trees → soft vote;
//!   [`GatedClassifier`]: a `ct_core::Contrast` gate routing each scan to its group's model,
//!   with per-group reports.
//! * Rebalancing a training table: [`Smote`], [`EditedNearestNeighbours`] and [`SmoteEnn`]
//!   (imbalanced-learn 0.14.2's, the same samples for the same seed).
//!
//! # Example
//! ```
//! use ensemble::{Classifier, ReportOptions, Svm, SvmParams, classification_report};
//! use ndarray::array;
//!
//! let x = array![[0.0, 0.1], [0.2, 0.0], [0.1, 0.2], [0.0, 0.0], [0.15, 0.05], [0.05, 0.15],
//!                [2.0, 2.1], [2.2, 2.0], [2.1, 2.2], [2.0, 2.0], [2.15, 2.05], [2.05, 2.15]];
//! let y = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
//! let mut svm = Svm::new(SvmParams { c: 10.0, ..SvmParams::default() })?;
//! svm.fit(x.view(), &y)?;
//! let pred = svm.predict(x.view())?;
//! assert_eq!(pred, y);
//! let p = svm.predict_proba(x.view())?;
//! assert!((p.row(0).sum() - 1.0).abs() < 1e-12);
//! let report = classification_report(&y, &pred, &ReportOptions::default())?;
//! assert!(report.to_string().contains("    accuracy                           1.00        12"));
//! # Ok::<(), ensemble::Error>(())
//! ```

mod classifier;
mod error;
mod gated;
mod gbdt;
mod metrics;
mod model_selection;
mod numpy_rng;
mod resample;
mod scaler;
mod smo;
mod svm;
mod two_level;
mod voting;

pub use classifier::{Classifier, argmax_rows};
pub use error::{Error, Result};
pub use gated::{GatedClassifier, GatedReport, gated_report};
pub use gbdt::{Gbdt, GbdtParams, Importance};
pub use metrics::{
    AucAverage, ClassRow, ClassificationReport, ReportOptions, RocCurve, Scores, ZeroDivision,
    accuracy_score, classification_report, confusion_matrix, roc_auc_binary, roc_auc_ovr,
    roc_curve, unique_labels,
};
pub use model_selection::{
    Candidate, CellScore, GridSearchResult, SEED_GRID_C, SEED_GRID_GAMMA, StratifiedKFold,
    gbdt_grid, grid_search, seed_svm_grid, svm_grid,
};
pub use resample::{CleanClasses, EditedNearestNeighbours, EnnKind, Resampled, Smote, SmoteEnn};
pub use scaler::StandardScaler;
pub use svm::{Gamma, SVM_MAX_SAMPLES, Svm, SvmParams};
pub use two_level::{Aggregate, TwoLevel, aggregate_scans};
pub use voting::{Voting, VotingKind};
