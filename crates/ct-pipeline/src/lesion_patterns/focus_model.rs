//! The focus model: boosted trees that score each focus as lesion or not, and the per-scan
//! features of the scored foci.

use ensemble::{Classifier, Gbdt, GbdtParams};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::*;
use crate::models::SavedKind;
use crate::named::NamedFeatures;
use crate::{Error, Result};

/// Per-scan features from the scored foci ([`FocusModel::scan_features`]).
pub const FOCUS_SCAN_FEATURE_NAMES: [&str; 4] = [
    "cnn_focus_max",
    "cnn_focus_sum",
    "cnn_focus_n50",
    "cnn_focus_covid_share",
];

const FOCUS_FORMAT: &str = "covid-ct pattern focus model";

const FOCUS_VERSION: u32 = 1;

/// A focus counts as a lesion in training when at least this share of it lies in the true
/// lesion mask.
pub const FOCUS_LESION_SHARE: f64 = 0.25;

/// The phantom cohort a focus model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FocusRecipe {
    /// Runs (`foci.csv` files) it was trained on, as given.
    pub sources: Vec<String>,
    /// Lesion foci, other foci.
    pub foci: (usize, usize),
    /// Boosting rounds.
    pub rounds: usize,
}

/// Boosted trees that score each focus of the pattern U-Net as lesion or not, trained on
/// phantom foci with known lesion masks (the example `train_focus_model`), and shipped
/// ([`FocusModel::shipped`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FocusModel {
    trees: Gbdt,
    /// Where it came from.
    pub recipe: FocusRecipe,
}

#[derive(Serialize, Deserialize)]
struct SavedFocusModel {
    format: String,
    version: u32,
    features: Vec<String>,
    model: FocusModel,
}

impl FocusModel {
    /// Fits the trees to foci `x` (rows of [`FOCUS_FEATURE_NAMES`]) labelled `lesion`.
    /// Needs at least 5 foci of each kind.
    pub fn train(
        x: ArrayView2<'_, f64>,
        lesion: &[bool],
        rounds: usize,
        seed: u64,
        sources: Vec<String>,
    ) -> Result<FocusModel> {
        if x.ncols() != FOCUS_FEATURE_NAMES.len() || x.nrows() != lesion.len() {
            return Err(Error::Config {
                name: "focus model",
                why: format!(
                    "{}×{} features for {} labels; expected {} columns",
                    x.nrows(),
                    x.ncols(),
                    lesion.len(),
                    FOCUS_FEATURE_NAMES.len()
                ),
            });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::Config {
                name: "focus model",
                why: "a focus feature is not finite".into(),
            });
        }
        let n_pos = lesion.iter().filter(|&&l| l).count();
        if n_pos < 5 || lesion.len() - n_pos < 5 {
            return Err(Error::Config {
                name: "focus model",
                why: format!(
                    "needs at least 5 lesion and 5 other foci; got {n_pos} and {}",
                    lesion.len() - n_pos
                ),
            });
        }
        let y: Vec<usize> = lesion.iter().map(|&l| usize::from(l)).collect();
        let mut trees = Gbdt::new(GbdtParams {
            n_estimators: rounds,
            learning_rate: 0.05,
            max_depth: 4,
            subsample: 0.8,
            colsample_bytree: 0.8,
            seed,
            ..GbdtParams::default()
        })?;
        trees.fit(x, &y)?;
        Ok(FocusModel {
            trees,
            recipe: FocusRecipe {
                sources,
                foci: (n_pos, lesion.len() - n_pos),
                rounds,
            },
        })
    }

    /// Lesion score of each focus.
    pub fn scores(&self, foci: &[Focus]) -> Result<Vec<f64>> {
        if foci.is_empty() {
            return Ok(Vec::new());
        }
        let mut x = Array2::<f64>::zeros((foci.len(), FOCUS_FEATURE_NAMES.len()));
        for (mut row, f) in x.outer_iter_mut().zip(foci) {
            if f.features.len() != FOCUS_FEATURE_NAMES.len() {
                return Err(Error::Config {
                    name: "focus model",
                    why: format!(
                        "a focus has {} features, expected {}",
                        f.features.len(),
                        FOCUS_FEATURE_NAMES.len()
                    ),
                });
            }
            row.assign(&ndarray::ArrayView1::from(&f.features[..]));
        }
        Ok(self.trees.predict_proba(x.view())?.column(1).to_vec())
    }

    /// [`FOCUS_SCAN_FEATURE_NAMES`] of one scan's foci: the highest score, the summed scores
    /// (the expected number of lesion foci), the foci scoring at least ½, and the
    /// score-weighted COVID-19-like share.
    pub fn scan_features(&self, foci: &[Focus]) -> Result<NamedFeatures> {
        if foci.is_empty() {
            return Ok(FocusModel::empty_scan_features());
        }
        let s = self.scores(foci)?;
        const COVID: usize = crate::named::index_of(&FOCUS_FEATURE_NAMES, "covid_share");
        let sum: f64 = s.iter().sum();
        let weighted: f64 = s.iter().zip(foci).map(|(w, f)| w * f.features[COVID]).sum();
        Ok({
            let mut f = NamedFeatures::new();
            f.push("cnn_focus_max", s.iter().copied().fold(0.0, f64::max));
            f.push("cnn_focus_sum", sum);
            f.push(
                "cnn_focus_n50",
                s.iter().filter(|&&v| v >= 0.5).count() as f64,
            );
            f.push(
                "cnn_focus_covid_share",
                if sum > 0.0 { weighted / sum } else { 0.5 },
            );
            f
        })
    }

    /// [`FOCUS_SCAN_FEATURE_NAMES`] of a scan without foci.
    pub fn empty_scan_features() -> NamedFeatures {
        let mut f = NamedFeatures::new();
        f.push("cnn_focus_max", 0.0);
        f.push("cnn_focus_sum", 0.0);
        f.push("cnn_focus_n50", 0.0);
        f.push("cnn_focus_covid_share", 0.5);
        f
    }

    /// The model as JSON (trees, recipe and the feature names).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(&SavedFocusModel {
            format: FOCUS_FORMAT.to_string(),
            version: FOCUS_VERSION,
            features: FOCUS_FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            model: self.clone(),
        })
        .map_err(Error::json("the focus model"))
    }

    /// A model saved by [`FocusModel::to_json`]; refuses other files, other feature lists
    /// and damaged trees.
    pub fn from_json(text: &str) -> Result<FocusModel> {
        let bad = |why: String| Error::model_file("focus model", why);
        let saved: SavedFocusModel = SavedKind {
            what: "focus model",
            format: FOCUS_FORMAT,
            version: FOCUS_VERSION,
        }
        .read(text)?;
        if saved.features != FOCUS_FEATURE_NAMES {
            return Err(bad(
                "trained on other focus features than this version computes; retrain it \
                 (example train_focus_model)"
                    .into(),
            ));
        }
        let m = saved.model;
        if m.trees.n_features() != Some(FOCUS_FEATURE_NAMES.len()) || m.trees.n_classes() != Some(2)
        {
            return Err(bad(
                "its trees do not take the listed features or are not lesion / other classifiers"
                    .into(),
            ));
        }
        Ok(m)
    }

    /// The model shipped in `ct-pipeline/models/pattern_focus_model.json`.
    pub fn shipped() -> Result<FocusModel> {
        <FocusModel as crate::models::ShippedModel>::shipped()
    }
}

/// Foci read back from a run's `foci.csv`: their features (rows of
/// [`FOCUS_FEATURE_NAMES`]) and lesion shares (absent on real data).
pub fn read_foci_csv(text: &str) -> Result<(Array2<f64>, Vec<Option<f64>>)> {
    let bad = |why: String| Error::Config {
        name: "foci.csv",
        why,
    };
    let t = crate::csv_table::read_csv(text)
        .map_err(|(line, why)| bad(format!("line {line}: {why}")))?;
    let header = &t.header;
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| bad(format!("no column {name:?}")))
    };
    let cols = FOCUS_FEATURE_NAMES
        .iter()
        .map(|n| col(n))
        .collect::<Result<Vec<_>>>()?;
    let share_col = col("lesion_share")?;
    let (mut rows, mut shares) = (Vec::new(), Vec::new());
    for (line, f) in &t.rows {
        if f.len() != header.len() {
            return Err(bad(format!(
                "line {line}: {} fields, the header has {}",
                f.len(),
                header.len()
            )));
        }
        for &c in &cols {
            let v: f64 = f[c]
                .parse()
                .map_err(|_| bad(format!("line {line}: {:?} is not a number", f[c])))?;
            if !v.is_finite() {
                return Err(bad(format!("line {line}: {:?} is not finite", f[c])));
            }
            rows.push(v);
        }
        shares.push(match f[share_col].as_str() {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| bad(format!("line {line}: lesion share {v:?}")))?,
            ),
        });
    }
    let x =
        Array2::from_shape_vec((shares.len(), cols.len()), rows).map_err(|e| bad(e.to_string()))?;
    Ok((x, shares))
}
