//! Prediction on new scans with a saved run ([`crate::bundle`]): the run's per-scan stages
//! with its configuration and its model files, then its gate and classifiers. A scan of the
//! run's own test split gets exactly the probabilities of the run's `predictions.csv`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ct_core::{Contrast, Label, Scan, Window};
use ndarray::{Array2, Axis};

use crate::bundle::{Bundle, Outside, lung_ml};
use crate::lesion_detector::LesionDetector;
use crate::lesion_patterns::{FocusModel, PatternNet};
use crate::models::{ModelSource, ShippedModel};
use crate::preprocess::{KnownTruth, Processed, ScanRecord, lesion_inclusive_mask, lung_mask};
use crate::scan_model::ScanModel;
use crate::{Error, Result};

/// The fewest slices a scan must have: the per-scan features summarise a volume.
pub const MIN_SLICES: usize = 8;

/// A saved run, loaded and ready to predict.
pub struct Predictor {
    bundle: Bundle,
    dir: PathBuf,
    detector: LesionDetector,
    pattern: Option<(PatternNet, FocusModel)>,
    scan_model: Option<ScanModel>,
}

/// What a prediction found for one scan.
pub struct Prediction {
    /// The scan's id.
    pub id: String,
    /// The predicted class.
    pub label: Label,
    /// Probabilities of Normal, CAP and COVID-19.
    pub proba: [f64; 3],
    /// The gate's decision (`None`: the bundle has no gate).
    pub contrast: Option<Contrast>,
    /// Lung volume (mL) of the lung mask.
    pub lung_ml: f64,
    /// The scan's values outside the range of the run's training subjects: the more there
    /// are, the less the training data speak for this scan.
    pub outside: Vec<Outside>,
    /// The feature-table row and the stages' outputs, as in a run.
    pub processed: Processed,
    /// PNG: the lung mask's outline on up to eight slices.
    pub montage: Option<Vec<u8>>,
    /// Seconds the per-scan stages and the classifiers took.
    pub seconds: f64,
}

impl Prediction {
    /// The feature-table row.
    pub fn record(&self) -> &ScanRecord {
        &self.processed.record
    }
}

fn bundled<M: ShippedModel>(bundle: &Bundle, dir: &Path) -> Result<Option<M>> {
    let Some(f) = bundle.file(M::NAME) else {
        return Ok(None);
    };
    let loaded = M::load(&ModelSource::File(dir.join(&f.file)))?;
    Ok(loaded.map(|l| l.model))
}

impl Predictor {
    /// Loads the bundle in `dir` (a run's `model` folder) and its models.
    pub fn load(dir: &Path) -> Result<Predictor> {
        let (bundle, dir) = Bundle::read(dir)?;
        let need = |name: &str, why: &str| Error::Bundle {
            path: dir.clone(),
            why: format!("it has no {name}, which {why}"),
        };
        let detector = bundled::<LesionDetector>(&bundle, &dir)?
            .ok_or_else(|| need(LesionDetector::NAME, "every run uses"))?;
        let pattern = if bundle.config.pattern_net {
            let net = bundled::<PatternNet>(&bundle, &dir)?
                .ok_or_else(|| need(PatternNet::NAME, "the run's pattern stage used"))?;
            let focus = bundled::<FocusModel>(&bundle, &dir)?
                .ok_or_else(|| need(FocusModel::NAME, "the run's pattern stage used"))?;
            Some((net, focus))
        } else {
            None
        };
        let scan_model = if bundle.model.scan_weight > 0.0 {
            Some(
                bundled::<ScanModel>(&bundle, &dir)?
                    .ok_or_else(|| need(ScanModel::NAME, "has a share of the vote"))?,
            )
        } else {
            None
        };
        Ok(Predictor {
            bundle,
            dir,
            detector,
            pattern,
            scan_model,
        })
    }

    /// The bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The bundle's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs the per-scan stages on `scan` and classifies it. A scan of fewer than
    /// [`MIN_SLICES`] slices is refused ([`Error::NotEnoughData`]).
    pub fn predict(&self, scan: &Scan) -> Result<Prediction> {
        let t = Instant::now();
        let cfg = &self.bundle.config;
        let n = scan.volume.n_slices();
        if n < MIN_SLICES {
            return Err(Error::NotEnoughData(format!(
                "{}: {n} slice(s); a prediction needs a volume of at least {MIN_SLICES} slices \
                 through the chest",
                scan.id
            )));
        }
        let processed = crate::preprocess::process_scan(
            scan,
            &KnownTruth::default(),
            cfg,
            &self.detector,
            self.pattern.as_ref().map(|(p, f)| (p, f)),
        )?;
        let rec = &processed.record;
        let proba = self.proba(rec)?;
        let label = Label::from_index(ensemble::argmax_rows(&proba)[0])?;
        let montage = lung_montage(scan, &rec.removed, cfg.lung_recipe, cfg.close_radius_mm)?;
        Ok(Prediction {
            id: rec.id.clone(),
            label,
            proba: [proba[[0, 0]], proba[[0, 1]], proba[[0, 2]]],
            contrast: self.bundle.model.decide(rec),
            lung_ml: lung_ml(rec),
            outside: self
                .bundle
                .trained_on
                .ranges
                .outside(rec, &self.bundle.feature_names),
            montage: Some(montage),
            processed,
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    /// The bundle's probabilities for one feature-table row (1 × 3).
    pub fn proba(&self, rec: &ScanRecord) -> Result<Array2<f64>> {
        let names = &self.bundle.feature_names;
        let scan = match &self.scan_model {
            Some(m) => {
                let cols = m.columns(names)?;
                let x = Array2::from_shape_fn((1, cols.len()), |(_, j)| rec.features[cols[j]]);
                Some(m.predict_proba(x.view())?)
            }
            None => None,
        };
        self.bundle
            .model
            .predict_proba(&[rec], names, scan.as_ref())
    }
}

/// Longest side of one montage tile (pixels).
const TILE: usize = 256;

/// The lesion-inclusive lung mask's outline on up to eight evenly spaced slices of the
/// cleaned scan that hold lung, in the lung window (PNG).
fn lung_montage(
    scan: &Scan,
    removed: &[usize],
    recipe: crate::config::LungRecipe,
    close_radius_mm: f64,
) -> Result<Vec<u8>> {
    let hu = crate::preprocess::drop_slices(&scan.volume, removed)?;
    let mask = lesion_inclusive_mask(&lung_mask(&hu, &scan.meta, recipe)?, close_radius_mm)?;
    let win = hu.window(Window::LUNG);
    let zs: Vec<usize> = mask
        .axis_iter(Axis(0))
        .enumerate()
        .filter(|(_, m)| m.iter().any(|&v| v != 0))
        .map(|(z, _)| z)
        .collect();
    if zs.is_empty() {
        return Err(ct_morph::Error::NoLung("the lung mask is empty".into()).into());
    }
    let n = zs.len().min(8);
    let (h, w) = (mask.shape()[1], mask.shape()[2]);
    let step = h.max(w).div_ceil(TILE).max(1);
    let tiles = (0..n)
        .map(|k| {
            let z = zs[(k * (zs.len() - 1)) / (n - 1).max(1)];
            let g = win.data().index_axis(Axis(0), z);
            let m = mask.index_axis(Axis(0), z);
            let g = g.slice(ndarray::s![..;step, ..;step]);
            let m = m.slice(ndarray::s![..;step, ..;step]);
            Ok(ct_report::image::overlay_outline(g, m, [255, 80, 0])?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ct_report::image::png_bytes(&ct_report::image::montage(
        &tiles, 4, 2,
    )?)?)
}
