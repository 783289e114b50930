//! Pipeline settings (written to `config.json` in every run folder).

use std::path::PathBuf;

use ensemble::VotingKind;
use serde::{Deserialize, Serialize};

use crate::features::FeatureConfig;
use crate::{Error, Result};

/// Which part of the pipeline to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Everything: data, preprocessing, OTDD, classification, report.
    All,
    /// Only preprocessing of shard `I/N`: writes `shards/features-I-of-N.json` and stops.
    Preprocess,
    /// Merge every shard's feature table, then classify and report.
    Merge,
    /// Only train the lesion detector on its phantom cohort and save it to
    /// [`PipelineConfig::save_detector`] (how the shipped detector is made).
    Detector,
}

/// Where a run's lesion detector comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DetectorSource {
    /// The detector shipped with this crate ([`crate::shipped_detector`]) when the run's
    /// phantoms match its recipe (slice size and range, closing radius, cohort size and
    /// rounds; always for a real data set); otherwise one trained at the start of the run.
    #[default]
    Auto,
    /// Always train one at the start of the run, on a phantom cohort from the run's seed.
    Train,
    /// Load a detector saved with `--save-detector` (or [`crate::lesion_detector::LesionDetector::to_json`]).
    File(PathBuf),
}

/// Which lung segmentation the per-scan stages work inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LungRecipe {
    /// Body first, then lung field, airways, right and left (`ct_morph::lung_field`): holds
    /// on real scans (couch, mattress, outside air, bowel gas stay out). Its mask is both
    /// lungs and the airways.
    #[default]
    BodyFirst,
    /// The seed's threshold-and-morphology recipe (`ct_morph::lung::segment`): what the
    /// shipped models were trained with; on real scans it takes the couch's mattress.
    Seed,
}

impl LungRecipe {
    /// Its command-line name (`body-first`, `seed`).
    pub fn name(self) -> &'static str {
        match self {
            LungRecipe::BodyFirst => "body-first",
            LungRecipe::Seed => "seed",
        }
    }
}

/// Which feature columns the classifiers see (the feature table always holds them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureSet {
    /// Every column: radiomic, enhanced-image and lesion features.
    All,
    /// The lesion detector's per-scan features and the lung-shape asymmetry features, and
    /// the lesion-pattern U-Net's features when it runs (measured best on the phantom
    /// cohort: see `docs/pipeline.md`).
    Lesion,
    /// The voxel detector's features alone (the default before the pattern U-Net).
    Detector,
    /// The lesion-pattern U-Net's features alone.
    Pattern,
    /// The radiomic and enhanced-image features alone: every column that no learned model
    /// made (no phantom-trained detector, U-Net or focus model), so the classifiers learn
    /// from the data set's own labels only.
    Radiomic,
}

fn yes() -> bool {
    true
}

fn two() -> usize {
    2
}

/// Everything the run depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineConfig {
    /// Run name: the run folder is `<out>/<name>/`.
    pub name: String,
    /// Parent of run folders.
    pub out: PathBuf,
    /// A real data set (COVID-CT-MD layout or `root/<class>/<subject>/`); `None` = phantoms.
    pub data: Option<PathBuf>,
    /// Phantom scans per class (when `data` is `None`).
    pub n_per_class: usize,
    /// Phantom in-plane size (rows = columns).
    pub phantom_size: usize,
    /// Phantom slice-count range.
    pub phantom_slices: (usize, usize),
    /// Seed of the phantoms, the split, the folds and the models.
    pub seed: u64,
    /// Fraction of subjects held out as the test split (stratified on label × contrast).
    pub test_fraction: f64,
    /// Folds of the stratified k-fold on the training subjects.
    pub folds: usize,
    /// Slice-cleaning threshold: Hamming distance of 8×8 perceptual hashes (the seed used 5
    /// with the average hash; phash at 10 is the measured best on phantoms).
    pub clean_threshold: f64,
    /// Radius (mm) of the in-plane closing that brings juxtapleural lesions into the lung
    /// mask used for features.
    pub close_radius_mm: f64,
    /// The lung segmentation recipe.
    #[serde(default)]
    pub lung_recipe: LungRecipe,
    /// Slices per scan after resampling (the fixed-length input of slice models).
    pub resample_slices: usize,
    /// In-plane size after resampling.
    pub resample_size: usize,
    /// Side of the EDA mean/std images.
    pub eda_size: usize,
    /// Grid-search the SVM over the seed's C × gamma grid (else C = 10, gamma = scale).
    pub grid: bool,
    /// Boosting rounds of the trees.
    pub gbdt_rounds: usize,
    /// Samples per data set in the OTDD stage.
    pub otdd_samples: usize,
    /// Per-scan feature settings.
    pub features: FeatureConfig,
    /// Phantom scans per class in the lesion detector's training cohort.
    pub lesion_train_per_class: usize,
    /// Boosting rounds of the lesion detector.
    pub lesion_rounds: usize,
    /// Feature columns given to the classifiers.
    pub classifier_features: FeatureSet,
    /// One model per contrast group (the seed's design) instead of one model that gets the
    /// gate's decision as a feature. With tens of subjects per group, separate models
    /// overfit: see `docs/pipeline.md` for the measured difference.
    pub gated_models: bool,
    /// How the SVM, the trees and the scan model are combined: `Soft` (the weighted mean of
    /// their probabilities; the default) or `Hard` (a weighted majority of the classes they
    /// predict, ties to the lowest class; the probabilities become vote shares).
    #[serde(default)]
    pub vote: VotingKind,
    /// Diagnostic, phantoms only: score the candidate voxels with the phantom's true lesion
    /// masks instead of the detector. Everything downstream (features, classifiers) is
    /// unchanged, so the run measures the ceiling that a perfect detector would give and
    /// separates detection errors from classification errors.
    #[serde(default)]
    pub oracle_lesions: bool,
    /// Where the lesion detector comes from.
    #[serde(default)]
    pub detector: DetectorSource,
    /// Run the shipped lesion-pattern U-Net ([`crate::lesion_patterns`]) and add its features.
    #[serde(default = "yes")]
    pub pattern_net: bool,
    /// The pattern U-Net runs on every `pattern_z_step`-th slice (its input also holds the
    /// two neighbours of each).
    #[serde(default = "two")]
    pub pattern_z_step: usize,
    /// Test-time augmentation of the pattern U-Net: average its probabilities on each slice
    /// and on the slice mirrored left–right (twice the network's time).
    #[serde(default = "yes")]
    pub pattern_tta: bool,
    /// Weights of the pattern U-Net (safetensors, as written by `train_pattern_unet`) in
    /// place of the shipped ones.
    #[serde(default)]
    pub pattern_weights: Option<PathBuf>,
    /// The focus model (JSON, as written by `train_focus_model`) that scores the pattern
    /// U-Net's foci, in place of the shipped one.
    #[serde(default)]
    pub focus_model: Option<PathBuf>,
    /// Join the pretrained scan model ([`crate::scan_model`]) to the classifiers' vote.
    #[serde(default = "yes")]
    pub scan_model: bool,
    /// The scan model (JSON, as written by `train_scan_model`) in place of the shipped one.
    #[serde(default)]
    pub scan_model_file: Option<PathBuf>,
    /// Also save the run's lesion detector (JSON) here.
    #[serde(default)]
    pub save_detector: Option<PathBuf>,
    /// Shard `(index, count)` of the preprocessing stage.
    pub shard: (usize, usize),
    /// What to run.
    pub stage: Stage,
    /// Worker threads (0 = all cores).
    pub threads: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            name: "default".into(),
            out: PathBuf::from("runs"),
            data: None,
            n_per_class: 30,
            phantom_size: 256,
            phantom_slices: (40, 120),
            seed: 2021,
            test_fraction: 0.3,
            folds: 5,
            clean_threshold: 10.0,
            close_radius_mm: 12.0,
            lung_recipe: LungRecipe::default(),
            resample_slices: 32,
            resample_size: 64,
            eda_size: 128,
            grid: true,
            gbdt_rounds: 150,
            otdd_samples: 600,
            features: FeatureConfig::default(),
            lesion_train_per_class: 60,
            lesion_rounds: 120,
            classifier_features: FeatureSet::Lesion,
            gated_models: false,
            vote: VotingKind::Soft,
            oracle_lesions: false,
            pattern_net: true,
            pattern_z_step: 2,
            pattern_tta: true,
            pattern_weights: None,
            focus_model: None,
            scan_model: true,
            scan_model_file: None,
            detector: DetectorSource::Auto,
            save_detector: None,
            shard: (0, 1),
            stage: Stage::All,
            threads: 0,
        }
    }
}

impl PipelineConfig {
    /// Rejects settings that cannot work, naming the parameter.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, why: String| Err(Error::Config { name, why });
        if !is_folder_name(&self.name) {
            return bad(
                "name",
                format!(
                    "{:?} must be one plain folder name inside --out (not empty, `.` or `..`, \
                     no `/` or `\\`, no control characters)",
                    self.name
                ),
            );
        }
        if self.pattern_z_step == 0 {
            return bad("pattern_z_step", "must be at least 1".to_string());
        }
        if self.data.is_none() && self.n_per_class < 4 {
            return bad(
                "n_per_class",
                format!(
                    "{} is too few to split and cross-validate (>= 4)",
                    self.n_per_class
                ),
            );
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 0.9) {
            return bad(
                "test_fraction",
                format!("{} must be in (0, 0.9)", self.test_fraction),
            );
        }
        if self.folds < 2 {
            return bad("folds", format!("{} must be >= 2", self.folds));
        }
        let (i, n) = self.shard;
        if n == 0 || i >= n {
            return bad("shard", format!("{i}/{n}: need 0 <= I < N"));
        }
        if self.resample_slices == 0 || self.resample_size < 8 || self.eda_size < 8 {
            return bad("resample", "slices must be > 0 and sizes >= 8".into());
        }
        if self.lesion_train_per_class == 0 || self.lesion_rounds == 0 {
            return bad(
                "lesion_train_per_class / lesion_rounds",
                format!(
                    "{} scans per class and {} rounds: both must be >= 1",
                    self.lesion_train_per_class, self.lesion_rounds
                ),
            );
        }
        if self.oracle_lesions && self.data.is_some() {
            return bad(
                "oracle_lesions",
                "needs the phantom cohort's true lesion masks; a real data set has none".into(),
            );
        }
        if self.stage == Stage::Detector && self.save_detector.is_none() {
            return bad(
                "save_detector",
                "the detector stage trains a detector to save: give --save-detector PATH".into(),
            );
        }
        if self.phantom_size < 64 {
            return bad(
                "phantom_size",
                format!("{} must be >= 64", self.phantom_size),
            );
        }
        self.check_bounds()
    }

    /// Upper bounds on every size and finite, in-range floats: a mistyped `1e9` or `NaN`
    /// is refused here instead of allocating gigabytes or running for ever.
    fn check_bounds(&self) -> Result<()> {
        let sizes: [(&'static str, usize, usize); 13] = [
            ("n_per_class", self.n_per_class, 5_000),
            ("phantom_size", self.phantom_size, 1024),
            ("phantom_slices", self.phantom_slices.1, 1024),
            ("folds", self.folds, 100),
            ("resample_slices", self.resample_slices, 1024),
            ("resample_size", self.resample_size, 1024),
            ("eda_size", self.eda_size, 1024),
            ("gbdt_rounds", self.gbdt_rounds, 10_000),
            ("otdd_samples", self.otdd_samples, 100_000),
            ("lesion_train_per_class", self.lesion_train_per_class, 5_000),
            ("lesion_rounds", self.lesion_rounds, 10_000),
            ("pattern_z_step", self.pattern_z_step, 64),
            ("threads", self.threads, 1024),
        ];
        for (name, value, max) in sizes {
            if value > max {
                return Err(Error::Config {
                    name,
                    why: format!("{value} is more than the {max} this pipeline accepts"),
                });
            }
        }
        if self.phantom_slices.0 == 0 || self.phantom_slices.0 > self.phantom_slices.1 {
            return Err(Error::Config {
                name: "phantom_slices",
                why: format!(
                    "{}-{}: need 1 <= low <= high",
                    self.phantom_slices.0, self.phantom_slices.1
                ),
            });
        }
        let floats: [(&'static str, f64, f64, f64); 2] = [
            ("clean_threshold", self.clean_threshold, 0.0, 64.0),
            ("close_radius_mm", self.close_radius_mm, 0.0, 50.0),
        ];
        for (name, value, lo, hi) in floats {
            if !(lo..=hi).contains(&value) {
                return Err(Error::Config {
                    name,
                    why: format!("{value} must be a number in [{lo}, {hi}]"),
                });
            }
        }
        Ok(())
    }

    /// The run folder.
    pub fn run_dir(&self) -> PathBuf {
        self.out.join(&self.name)
    }
}

/// A single normal path component: the run folder stays inside `out` (`..` would put it,
/// and the phantom data it deletes and rewrites, in the parent).
fn is_folder_name(name: &str) -> bool {
    let mut parts = std::path::Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    ) && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bounded_and_floats_finite() {
        let ok = PipelineConfig::default();
        assert!(ok.validate().is_ok());
        let cases: Vec<(PipelineConfig, &str)> = vec![
            (
                PipelineConfig {
                    close_radius_mm: f64::NAN,
                    ..ok.clone()
                },
                "close_radius_mm",
            ),
            (
                PipelineConfig {
                    close_radius_mm: 1e9,
                    ..ok.clone()
                },
                "close_radius_mm",
            ),
            (
                PipelineConfig {
                    clean_threshold: f64::NAN,
                    ..ok.clone()
                },
                "clean_threshold",
            ),
            (
                PipelineConfig {
                    clean_threshold: -1.0,
                    ..ok.clone()
                },
                "clean_threshold",
            ),
            (
                PipelineConfig {
                    threads: 1_000_000,
                    ..ok.clone()
                },
                "threads",
            ),
            (
                PipelineConfig {
                    n_per_class: 100_000,
                    ..ok.clone()
                },
                "n_per_class",
            ),
            (
                PipelineConfig {
                    phantom_slices: (40, 1_000_000),
                    ..ok.clone()
                },
                "phantom_slices",
            ),
            (
                PipelineConfig {
                    phantom_slices: (50, 40),
                    ..ok.clone()
                },
                "phantom_slices",
            ),
            (
                PipelineConfig {
                    test_fraction: f64::NAN,
                    ..ok.clone()
                },
                "test_fraction",
            ),
        ];
        for (cfg, name) in cases {
            let e = cfg.validate().expect_err(name).to_string();
            assert!(e.contains(name), "{name}: {e}");
        }
    }

    #[test]
    fn a_run_name_is_one_folder_inside_out() {
        for good in ["default", "run 2", "real-ct_v1.2", "ünïcode"] {
            let cfg = PipelineConfig {
                name: good.into(),
                ..PipelineConfig::default()
            };
            assert!(cfg.validate().is_ok(), "{good:?}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a\\b",
            "/abs",
            "tab\there",
            "./",
        ] {
            let cfg = PipelineConfig {
                name: bad.into(),
                ..PipelineConfig::default()
            };
            let e = cfg.validate().expect_err(bad).to_string();
            assert!(e.contains("invalid setting name"), "{bad:?}: {e}");
        }
    }
}
