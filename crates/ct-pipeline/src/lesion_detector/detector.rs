//! The detector itself: voxel trees and the component stage, saved as versioned JSON.

use ct_core::Spacing;
use ensemble::{Classifier, Gbdt};
use serde::{Deserialize, Serialize};

use super::*;
use crate::models::SavedKind;
use crate::named::NamedFeatures;
use crate::{Error, Result};

/// Gradient-boosted trees that score candidate voxels as lesion / not lesion, and a second
/// stage that scores the detected components (false-positive reduction, as in nodule CAD).
///
/// A trained detector saves to JSON ([`LesionDetector::to_json`]) and loads back
/// ([`LesionDetector::from_json`], which checks that it was made for this version's features).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LesionDetector {
    model: Gbdt,
    components: Option<Gbdt>,
    /// Training voxels (lesion, other).
    pub training_voxels: (usize, usize),
    /// Training components of the second stage (lesion, false), `(0, 0)` until
    /// [`LesionDetector::train_components`] ran.
    pub training_components: (usize, usize),
    /// How its phantom training cohort was made, when it was trained on phantoms.
    #[serde(default)]
    pub recipe: Option<DetectorRecipe>,
}

/// The phantom cohort and settings a detector was trained with. Saved with the detector; the
/// pipeline uses a saved detector on phantoms only when its own phantoms match the recipe
/// (same slice size and slice range: the candidates' context features are in millimetres, but
/// small foci look different at another resolution).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorRecipe {
    /// Phantom in-plane size.
    pub phantom_size: usize,
    /// Phantom slice-count range.
    pub phantom_slices: (usize, usize),
    /// Scans per class of the training cohort.
    pub per_class: usize,
    /// Seed of the training cohort (an evaluated cohort with the same seed would be seen).
    pub cohort_seed: u64,
    /// Boosting rounds of the voxel stage.
    pub rounds: usize,
    /// Radius (mm) of the closing that made the lesion-inclusive lung mask.
    pub close_radius_mm: f64,
}

/// The file form of a [`LesionDetector`]: the feature lists it was trained on travel with it.
#[derive(Serialize, Deserialize)]
struct SavedDetector {
    format: String,
    version: u32,
    voxel_features: Vec<String>,
    component_features: Vec<String>,
    detector: LesionDetector,
}

const DETECTOR_FORMAT: &str = "covid-ct lesion detector";

const DETECTOR_VERSION: u32 = 1;

impl LesionDetector {
    /// Trains the trees on labelled voxels sampled from several scans ([`sample_training`]).
    /// Takes the samples by value and frees each as it is copied into the training matrix, so
    /// that the voxels are held once.
    pub fn train(samples: Vec<TrainingSample>, rounds: usize, seed: u64) -> Result<LesionDetector> {
        let samples = samples.into_iter().map(|s| (s.rows, s.labels)).collect();
        let (x, y, n_pos) = stack_samples(samples, VOXEL_FEATURE_NAMES.len(), "training")?;
        if n_pos == 0 || n_pos == y.len() {
            return Err(Error::NotEnoughData(format!(
                "the detector needs lesion and non-lesion voxels; got {n_pos} of {}",
                y.len()
            )));
        }
        Ok(LesionDetector {
            model: fit_trees(&x, &y, rounds, 0.1, 6, seed)?,
            components: None,
            training_voxels: (n_pos, y.len() - n_pos),
            training_components: (0, 0),
            recipe: None,
        })
    }

    /// The detector as JSON (trees, training counts, recipe and the feature names).
    pub fn to_json(&self) -> Result<String> {
        let saved = SavedDetector {
            format: DETECTOR_FORMAT.to_string(),
            version: DETECTOR_VERSION,
            voxel_features: VOXEL_FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            component_features: COMPONENT_FEATURE_NAMES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            detector: self.clone(),
        };
        serde_json::to_string(&saved).map_err(Error::json("the lesion detector"))
    }

    /// A detector saved by [`LesionDetector::to_json`]. Refuses a file that is not one, one
    /// made for other voxel or component features (another version of this crate), or one
    /// whose trees are damaged.
    pub fn from_json(text: &str) -> Result<LesionDetector> {
        let bad = |why: String| Error::model_file("lesion detector", why);
        let saved: SavedDetector = SavedKind {
            what: "lesion detector",
            format: DETECTOR_FORMAT,
            version: DETECTOR_VERSION,
        }
        .read(text)?;
        if saved.voxel_features != VOXEL_FEATURE_NAMES
            || saved.component_features != COMPONENT_FEATURE_NAMES
        {
            return Err(bad(
                "trained on other voxel or component features than this version computes; \
                 retrain it (pipeline --stage detector)"
                    .to_string(),
            ));
        }
        let d = saved.detector;
        let two_class = |m: &Gbdt, n: usize| m.n_features() == Some(n) && m.n_classes() == Some(2);
        if !two_class(&d.model, VOXEL_FEATURE_NAMES.len())
            || d.components
                .as_ref()
                .is_some_and(|m| !two_class(m, COMPONENT_FEATURE_NAMES.len()))
        {
            return Err(bad(
                "its trees do not take the listed features or are not lesion / other classifiers"
                    .to_string(),
            ));
        }
        Ok(d)
    }

    /// Trains the second stage on components detected by this detector in labelled scans
    /// ([`component_table`] with a reference mask, [`ComponentSample::from_table`]). Needs at
    /// least 5 components of each kind; with fewer it returns `Ok(false)` and the stage keeps
    /// scoring a component by its mean voxel probability.
    pub fn train_components(&mut self, samples: Vec<ComponentSample>, seed: u64) -> Result<bool> {
        let samples = samples.into_iter().map(|s| (s.rows, s.labels)).collect();
        let (x, y, n_pos) = stack_samples(samples, COMPONENT_FEATURE_NAMES.len(), "component")?;
        if n_pos < 5 || y.len() - n_pos < 5 {
            return Ok(false);
        }
        self.components = Some(fit_trees(&x, &y, 200, 0.05, 4, seed)?);
        self.training_components = (n_pos, y.len() - n_pos);
        Ok(true)
    }

    /// Lesion score of each component of `t`: the second stage's probability, or the mean
    /// voxel probability when the stage is not trained.
    pub fn component_scores(&self, t: &ComponentTable) -> Result<Vec<f64>> {
        match &self.components {
            _ if t.features.nrows() == 0 => Ok(Vec::new()),
            Some(m) => Ok(m.predict_proba(t.features.view())?.column(1).to_vec()),
            None => Ok(t.features.column(1).to_vec()),
        }
    }

    /// Lesion probability of each candidate.
    pub fn predict(&self, c: &Candidates) -> Result<Vec<f64>> {
        if c.features.nrows() == 0 {
            return Ok(Vec::new());
        }
        let p = self.model.predict_proba(c.features.view())?;
        Ok(p.column(1).to_vec())
    }

    /// The per-scan lesion features ([`LESION_FEATURE_NAMES`]).
    pub fn scan_features(&self, c: &Candidates, spacing: Spacing) -> Result<NamedFeatures> {
        let p = self.predict(c)?;
        self.scan_features_from(c, &p, spacing)
    }

    /// The per-scan lesion features ([`LESION_FEATURE_NAMES`]) from given voxel
    /// probabilities (this detector's, or reference masks' for an oracle run).
    pub fn scan_features_from(
        &self,
        c: &Candidates,
        p: &[f64],
        spacing: Spacing,
    ) -> Result<NamedFeatures> {
        let mut f = lesion_features(c, p, spacing)?;
        let t = component_table(c, p, spacing, None)?;
        let scores = self.component_scores(&t)?;
        f.append(component_scan_features(&t, &scores, c.x_mid));
        Ok(f)
    }
}
