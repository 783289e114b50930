//! The pretrained scan model: boosted trees over the per-scan feature table, trained on a
//! large phantom cohort of its own seed (example `train_scan_model`) and shipped like the
//! pattern U-Net and the focus model. It joins the classification stage as one more
//! first-level model: its class probabilities are soft-voted with the run's own SVM +
//! gradient-boosted trees, with a weight the run chooses on its own training subjects
//! ([`SCAN_WEIGHTS`], by k-fold log-loss), so that a model trained on another cohort (or on
//! phantoms, for a real data set) gets no say when it does not help.
//!
//! Why it helps: the default run trains its classifiers on 60 subjects; the same feature
//! table classifies much better when the model has seen hundreds (`docs/pipeline.md`,
//! "The pretrained scan model").

use ct_core::{Contrast, Label};
use ensemble::{Classifier, Gbdt, GbdtParams};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::models::SavedKind;
use crate::{Error, Result};

/// The weights the classification stage tries for the scan model's vote (the run's own
/// models get the rest). Capped at ½: the run's own SVM + trees, trained on the data at
/// hand, always keep at least half of the vote.
pub const SCAN_WEIGHTS: [f64; 3] = [0.0, 0.25, 0.5];

const SCAN_FORMAT: &str = "covid-ct scan model";
const SCAN_VERSION: u32 = 1;

/// Where a scan model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRecipe {
    /// Feature tables (`features.csv`) it was trained on, as given.
    pub sources: Vec<String>,
    /// Training subjects per class (Normal, CAP, COVID-19).
    pub subjects: [usize; 3],
    /// Boosting rounds.
    pub rounds: usize,
}

/// Boosted trees (`ensemble::Gbdt`) over named columns of the per-scan feature table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanModel {
    trees: Gbdt,
    features: Vec<String>,
    /// Where it came from.
    pub recipe: ScanRecipe,
}

#[derive(Serialize, Deserialize)]
struct SavedScanModel {
    format: String,
    version: u32,
    model: ScanModel,
}

fn config(why: String) -> Error {
    Error::Config {
        name: "scan model",
        why,
    }
}

fn check_finite(x: ArrayView2<'_, f64>, names: &[String]) -> Result<()> {
    for (i, row) in x.outer_iter().enumerate() {
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(config(format!(
                "row {i}: feature {} is not finite ({})",
                names.get(j).map_or("?", String::as_str),
                row[j]
            )));
        }
    }
    Ok(())
}

impl ScanModel {
    /// Fits the trees to `x` (columns named `features`) and classes `y` (0 Normal, 1 CAP,
    /// 2 COVID-19). Needs at least 5 subjects of each class, finite values and distinct
    /// feature names.
    pub fn train(
        x: ArrayView2<'_, f64>,
        y: &[usize],
        features: Vec<String>,
        rounds: usize,
        seed: u64,
        sources: Vec<String>,
    ) -> Result<ScanModel> {
        if features.is_empty() || x.ncols() != features.len() || x.nrows() != y.len() {
            return Err(config(format!(
                "{}×{} features for {} labels and {} feature names",
                x.nrows(),
                x.ncols(),
                y.len(),
                features.len()
            )));
        }
        let mut sorted = features.clone();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(config(format!("feature {} is listed twice", w[0])));
        }
        if let Some(&bad) = y.iter().find(|&&c| c > 2) {
            return Err(config(format!("class {bad}; expected 0, 1 or 2")));
        }
        let mut subjects = [0usize; 3];
        for &c in y {
            subjects[c] += 1;
        }
        if subjects.iter().any(|&n| n < 5) {
            return Err(config(format!(
                "needs at least 5 subjects of each class; got {subjects:?} (Normal, CAP, COVID-19)"
            )));
        }
        check_finite(x, &features)?;
        let mut trees = Gbdt::new(GbdtParams {
            n_estimators: rounds,
            max_depth: 3,
            learning_rate: 0.1,
            subsample: 0.9,
            colsample_bytree: 0.8,
            seed,
            ..GbdtParams::default()
        })?;
        trees.fit(x, y)?;
        Ok(ScanModel {
            trees,
            features,
            recipe: ScanRecipe {
                sources,
                subjects,
                rounds,
            },
        })
    }

    /// The columns it takes, in order.
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// Where each of its columns is in a table whose columns are `names`; an error lists
    /// the columns the table lacks.
    pub fn columns(&self, names: &[String]) -> Result<Vec<usize>> {
        let mut missing = Vec::new();
        let cols: Vec<usize> = self
            .features
            .iter()
            .filter_map(|f| {
                let j = names.iter().position(|n| n == f);
                if j.is_none() {
                    missing.push(f.as_str());
                }
                j
            })
            .collect();
        if missing.is_empty() {
            Ok(cols)
        } else {
            Err(config(format!(
                "the feature table lacks {} of its {} columns: {}",
                missing.len(),
                self.features.len(),
                missing.join(", ")
            )))
        }
    }

    /// Class probabilities (Normal, CAP, COVID-19), `n × 3`, of rows whose columns are
    /// [`ScanModel::features`].
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.features.len() {
            return Err(config(format!(
                "{} columns given; it takes {}",
                x.ncols(),
                self.features.len()
            )));
        }
        check_finite(x, &self.features)?;
        Ok(self.trees.predict_proba(x)?)
    }

    /// The model as JSON (trees, columns and recipe).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(&SavedScanModel {
            format: SCAN_FORMAT.to_string(),
            version: SCAN_VERSION,
            model: self.clone(),
        })
        .map_err(Error::json("the scan model"))
    }

    /// A model saved by [`ScanModel::to_json`]; refuses other files and damaged trees.
    pub fn from_json(text: &str) -> Result<ScanModel> {
        let bad = |why: String| Error::model_file("scan model", why);
        let saved: SavedScanModel = SavedKind {
            what: "scan model",
            format: SCAN_FORMAT,
            version: SCAN_VERSION,
        }
        .read(text)?;
        let m = saved.model;
        if m.features.is_empty()
            || m.trees.n_features() != Some(m.features.len())
            || m.trees.n_classes() != Some(3)
        {
            return Err(bad(
                "its trees do not take the listed columns or are not three-class classifiers"
                    .into(),
            ));
        }
        Ok(m)
    }

    /// The model shipped in `ct-pipeline/models/scan_model.json`.
    pub fn shipped() -> Result<ScanModel> {
        <ScanModel as crate::models::ShippedModel>::shipped()
    }
}

/// A run's `features.csv` read back.
#[derive(Debug, Clone)]
pub struct FeatureCsv {
    /// Subject ids.
    pub ids: Vec<String>,
    /// Labels (absent for unlabelled scans).
    pub labels: Vec<Option<Label>>,
    /// Contrast groups (absent when unknown).
    pub contrast: Vec<Option<Contrast>>,
    /// Feature column names.
    pub names: Vec<String>,
    /// Features, one row per subject.
    pub x: Array2<f64>,
}

/// Parses a `features.csv` as the pipeline writes it: `id,label,contrast,<features...>`.
pub fn read_features_csv(text: &str) -> Result<FeatureCsv> {
    let bad = |line: usize, why: String| Error::FeaturesCsv { line, why };
    let t = crate::csv_table::read_csv(text).map_err(|(line, why)| bad(line, why))?;
    let head = &t.header;
    if head.len() < 4 || head[..3] != ["id", "label", "contrast"] {
        return Err(bad(
            1,
            "expected a header id,label,contrast,<features...>".into(),
        ));
    }
    let names: Vec<String> = head[3..].to_vec();
    let (mut ids, mut labels, mut contrast, mut values) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (line, f) in &t.rows {
        let line = *line;
        if f.len() != head.len() {
            return Err(bad(
                line,
                format!("{} fields, the header has {}", f.len(), head.len()),
            ));
        }
        ids.push(f[0].clone());
        labels.push(if f[1].is_empty() {
            None
        } else {
            Some(
                f[1].parse::<Label>()
                    .map_err(|e| bad(line, e.to_string()))?,
            )
        });
        contrast.push(if f[2].is_empty() {
            None
        } else {
            Some(
                f[2].parse::<Contrast>()
                    .map_err(|e| bad(line, e.to_string()))?,
            )
        });
        for (v, n) in f[3..].iter().zip(&names) {
            values.push(
                v.parse::<f64>()
                    .map_err(|_| bad(line, format!("{n} = {v:?} is not a number")))?,
            );
        }
    }
    if ids.is_empty() {
        return Err(bad(2, "no subjects".into()));
    }
    let x = Array2::from_shape_vec((ids.len(), names.len()), values)
        .map_err(|e| bad(0, e.to_string()))?;
    Ok(FeatureCsv {
        ids,
        labels,
        contrast,
        names,
        x,
    })
}

/// Multi-class log-loss of probabilities `p` (rows) for classes `y`, with probabilities
/// clipped at 1e-6.
pub fn log_loss(p: ArrayView2<'_, f64>, y: &[usize]) -> f64 {
    if y.is_empty() {
        return 0.0;
    }
    -y.iter()
        .enumerate()
        .map(|(i, &c)| p[[i, c]].max(1e-6).ln())
        .sum::<f64>()
        / y.len() as f64
}

/// The scan model's weight in the vote: of [`SCAN_WEIGHTS`], the one whose blend
/// `(1 − w)·own + w·scan` has the lowest log-loss for classes `y` (a tie goes to the smaller
/// weight). `own`: the run's own models' out-of-fold probabilities; `scan`: the scan
/// model's. Returns the weight and `(weight, log-loss)` for every weight tried.
pub fn choose_weight(
    own: ArrayView2<'_, f64>,
    scan: ArrayView2<'_, f64>,
    y: &[usize],
) -> (f64, Vec<(f64, f64)>) {
    let losses: Vec<(f64, f64)> = SCAN_WEIGHTS
        .iter()
        .map(|&w| (w, log_loss((&own * (1.0 - w) + &scan * w).view(), y)))
        .collect();
    let best = losses
        .iter()
        .fold(
            (0.0, f64::INFINITY),
            |best, &(w, l)| {
                if l < best.1 { (w, l) } else { best }
            },
        )
        .0;
    (best, losses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn toy(n: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
        // Three classes shifted along different columns, with noise columns.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let y: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let x = Array2::from_shape_fn((n, 4), |(i, j)| {
            let shift = match (y[i], j) {
                (1, 0) | (2, 1) => 2.0,
                _ => 0.0,
            };
            shift + rng.random_range(-1.0..1.0)
        });
        (x, y)
    }

    fn names() -> Vec<String> {
        ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn trains_predicts_and_round_trips() {
        let (x, y) = toy(150, 1);
        let m = ScanModel::train(x.view(), &y, names(), 40, 3, vec!["toy".into()]).unwrap();
        assert_eq!(m.recipe.subjects, [50, 50, 50]);
        let (xt, yt) = toy(90, 2);
        let p = m.predict_proba(xt.view()).unwrap();
        assert_eq!(p.dim(), (90, 3));
        let acc = ensemble::argmax_rows(&p)
            .iter()
            .zip(&yt)
            .filter(|(a, b)| a == b)
            .count() as f64
            / 90.0;
        assert!(acc > 0.8, "held-out accuracy {acc}");
        assert!(log_loss(p.view(), &yt) < 0.6);
        let json = m.to_json().unwrap();
        let back = ScanModel::from_json(&json).unwrap();
        assert_eq!(back.predict_proba(xt.view()).unwrap(), p);
        assert_eq!(back.recipe, m.recipe);
        assert!(ScanModel::from_json("{}").is_err());
        assert!(ScanModel::from_json(&json[..json.len() / 2]).is_err());
        let other = json.replace(SCAN_FORMAT, "covid-ct pattern focus model");
        assert!(ScanModel::from_json(&other).is_err());
        // Columns by name, in the model's order; missing ones are named.
        let table: Vec<String> = ["z", "d", "c", "b", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(m.columns(&table).unwrap(), vec![4, 3, 2, 1]);
        let e = m.columns(&table[..3]).unwrap_err().to_string();
        assert!(e.contains("lacks 2 of its 4 columns: a, b"), "{e}");
        // Wrong width and NaN are errors.
        assert!(m.predict_proba(xt.slice(ndarray::s![.., ..3])).is_err());
        let mut nan = xt.clone();
        nan[[5, 2]] = f64::NAN;
        let e = m.predict_proba(nan.view()).unwrap_err().to_string();
        assert!(e.contains("row 5: feature c"), "{e}");
    }

    #[test]
    fn rejects_bad_training_input() {
        let (x, y) = toy(60, 1);
        let train = |x: ArrayView2<'_, f64>, y: &[usize], n: Vec<String>| {
            ScanModel::train(x, y, n, 5, 1, vec![])
        };
        assert!(train(x.view(), &y[..59], names()).is_err());
        assert!(train(x.view(), &y, names()[..3].to_vec()).is_err());
        let mut twice = names();
        twice[3] = "a".into();
        assert!(train(x.view(), &y, twice).is_err());
        let mut few = y.clone();
        for v in few.iter_mut().filter(|v| **v == 2).skip(4) {
            *v = 0;
        }
        assert!(train(x.view(), &few, names()).is_err());
        let mut four = y.clone();
        four[0] = 3;
        assert!(train(x.view(), &four, names()).is_err());
        let mut inf = x.clone();
        inf[[0, 0]] = f64::INFINITY;
        assert!(train(inf.view(), &y, names()).is_err());
    }

    #[test]
    fn reads_features_csv() {
        let text = "id,label,contrast,a,b\ncap-000,CAP,low,1.5,2\nx-1,,,0,-3e-2\n";
        let t = read_features_csv(text).unwrap();
        assert_eq!(t.ids, vec!["cap-000", "x-1"]);
        assert_eq!(t.labels, vec![Some(Label::Cap), None]);
        assert_eq!(t.contrast, vec![Some(Contrast::Low), None]);
        assert_eq!(t.names, vec!["a", "b"]);
        assert_eq!(t.x, ndarray::array![[1.5, 2.0], [0.0, -0.03]]);
        for bad in [
            "",
            "id,label,a\n",
            "id,label,contrast,a\n",
            "id,label,contrast,a\nx,CAP,low\n",
            "id,label,contrast,a\nx,flu,low,1\n",
            "id,label,contrast,a\nx,CAP,medium,1\n",
            "id,label,contrast,a\nx,CAP,low,one\n",
        ] {
            assert!(read_features_csv(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn log_loss_of_known_probabilities() {
        let p = ndarray::array![[0.5, 0.25, 0.25], [0.0, 1.0, 0.0]];
        assert!((log_loss(p.view(), &[0, 1]) - 0.5f64.ln().abs() / 2.0).abs() < 1e-12);
        assert!(
            (log_loss(p.view(), &[1, 0]) - (-(0.25f64.ln()) - 1e-6f64.ln()) / 2.0).abs() < 1e-9
        );
    }

    #[test]
    fn the_weight_follows_the_scan_models_quality() {
        let y = [0usize, 1, 2, 0, 1, 2];
        let own = Array2::from_shape_fn((6, 3), |(i, k)| if k == y[i] { 0.6 } else { 0.2 });
        // A sharper model that agrees gets the largest weight; one that is always wrong
        // (or uninformative) gets none.
        let good = Array2::from_shape_fn((6, 3), |(i, k)| if k == y[i] { 0.9 } else { 0.05 });
        let wrong = Array2::from_shape_fn(
            (6, 3),
            |(i, k)| if k == (y[i] + 1) % 3 { 0.9 } else { 0.05 },
        );
        let flat = Array2::from_elem((6, 3), 1.0 / 3.0);
        let (w, losses) = choose_weight(own.view(), good.view(), &y);
        assert_eq!(w, 0.5);
        assert_eq!(losses.len(), SCAN_WEIGHTS.len());
        assert!(losses.windows(2).all(|p| p[1].1 < p[0].1), "{losses:?}");
        assert_eq!(choose_weight(own.view(), wrong.view(), &y).0, 0.0);
        assert_eq!(choose_weight(own.view(), flat.view(), &y).0, 0.0);
        // Equal losses: the smaller weight.
        assert_eq!(choose_weight(own.view(), own.view(), &y).0, 0.0);
    }

    #[test]
    fn the_shipped_model_loads() {
        let m = ScanModel::shipped().unwrap();
        // It takes exactly the classifiers' default columns of a default run, so a change
        // of the feature table that would leave it out of the vote fails here.
        let names = crate::preprocess::feature_names(&crate::PipelineConfig::default());
        let default: Vec<String> =
            crate::classify::classifier_columns(&names, crate::FeatureSet::Lesion)
                .into_iter()
                .map(|j| names[j].clone())
                .collect();
        assert_eq!(m.features(), &default[..]);
        assert!(m.recipe.subjects.iter().all(|&n| n >= 100));
    }
}
