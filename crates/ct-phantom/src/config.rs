use std::fmt;
use std::str::FromStr;

use ct_core::{Contrast, Label};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::rng::{Purpose, rng_for};
use crate::{Error, Result};

/// Parameters of a phantom cohort.
///
/// The cohort holds `3 · n_per_class` scans: scan `i` has class `Label::ALL[i / n_per_class]`
/// (Normal first, then CAP, then COVID-19). Every scan is a pure function of `(config, i)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CohortConfig {
    /// Scans per class (Normal, CAP, COVID-19). Default 20.
    pub n_per_class: usize,
    /// Seed of every random choice. Default 2021 (the SPGC-COVID year).
    pub seed: u64,
    /// Inclusive range of the number of slices per scan. Default `(40, 120)`.
    pub slices: (usize, usize),
    /// Rows = columns of every slice. Default 256.
    pub size: usize,
    /// Fraction of each class exported as the low-contrast group (low dose + compressed,
    /// clipped export). Default 0.5.
    pub low_contrast_fraction: f64,
    /// Fraction of scans that get out-of-place slices. Default 0.3.
    pub inject_fraction: f64,
    /// At most this many out-of-place slices in an injected scan (at least 1). Default 3.
    pub max_injected: usize,
    /// Fraction of the positive (CAP, COVID-19) scans made subtle: one or two small, faint
    /// lesions. Default 0.2.
    pub subtle_fraction: f64,
    /// Range of the in-plane pixel spacing (mm) *at 512 × 512*; the spacing of a `size`-pixel
    /// slice is this times `512 / size`, so the field of view (300–410 mm) is the same at
    /// every `size`. Default `(0.6, 0.8)`.
    pub pixel_spacing_512: (f64, f64),
    /// Range of the slice thickness = slice spacing (mm). Default `(1.0, 5.0)`.
    pub thickness: (f64, f64),
    /// How close to real scans the surroundings and the acquisition are: [`Realism::V1`]
    /// (default, frozen) or [`Realism::V2`] (couch and mattress, clothing, arms, cut-off
    /// bodies, contrast, correlated noise, streaks, blur, bowel gas). Serialised only when
    /// not V1, so V1 configurations serialise as before.
    #[serde(skip_serializing_if = "Realism::is_v1")]
    pub realism: Realism,
}

/// Realism level of a phantom cohort (see `docs/ct-phantom.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Realism {
    /// The original phantom (frozen: byte-for-byte the output the shipped models and the
    /// pipeline's figures were made on).
    #[default]
    V1,
    /// V1's patient in the surroundings of a real chest CT: curved couch shell and foam
    /// mattress, pillows, blankets, clothing, arms up or down, a body cut off by the field of
    /// view, CT angiography, band-pass correlated noise, streaks, partial-volume and
    /// breathing blur, bowel gas. Drawn per scan from its own random stream.
    V2,
}

impl Realism {
    /// True for [`Realism::V1`].
    pub fn is_v1(&self) -> bool {
        *self == Realism::V1
    }
}

impl FromStr for Realism {
    type Err = Error;
    fn from_str(s: &str) -> Result<Realism> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v1" | "1" => Ok(Realism::V1),
            "v2" | "2" => Ok(Realism::V2),
            _ => Err(Error::InvalidConfig {
                param: "realism",
                value: s.to_string(),
                reason: "expected v1 or v2",
            }),
        }
    }
}

impl fmt::Display for Realism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Realism::V1 => "v1",
            Realism::V2 => "v2",
        })
    }
}

impl Default for CohortConfig {
    fn default() -> Self {
        CohortConfig {
            n_per_class: 20,
            seed: 2021,
            slices: (40, 120),
            size: 256,
            low_contrast_fraction: 0.5,
            inject_fraction: 0.3,
            max_injected: 3,
            subtle_fraction: 0.2,
            pixel_spacing_512: (0.6, 0.8),
            thickness: (1.0, 5.0),
            realism: Realism::V1,
        }
    }
}

impl CohortConfig {
    /// A light preset for fast tests: 3 scans per class, 24 slices, 96 × 96.
    pub fn small() -> CohortConfig {
        CohortConfig {
            n_per_class: 3,
            slices: (24, 24),
            size: 96,
            ..CohortConfig::default()
        }
    }

    /// Number of scans in the cohort (`3 · n_per_class`).
    pub fn len(&self) -> usize {
        3 * self.n_per_class
    }

    /// True when the cohort has no scan (never, for a valid config).
    pub fn is_empty(&self) -> bool {
        self.n_per_class == 0
    }

    /// Checks every field; the generator calls it first.
    pub fn validate(&self) -> Result<()> {
        fn bad(param: &'static str, value: impl fmt::Debug, reason: &'static str) -> Error {
            Error::InvalidConfig {
                param,
                value: format!("{value:?}"),
                reason,
            }
        }
        if self.n_per_class == 0 || self.n_per_class > 100_000 {
            return Err(bad(
                "n_per_class",
                self.n_per_class,
                "must be in 1..=100000",
            ));
        }
        let (lo, hi) = self.slices;
        if lo < 4 || lo > hi || hi > 4096 {
            return Err(bad(
                "slices",
                self.slices,
                "need 4 <= min <= max <= 4096 slices",
            ));
        }
        if !(32..=2048).contains(&self.size) {
            return Err(bad("size", self.size, "rows/columns must be in 32..=2048"));
        }
        for (name, f) in [
            ("low_contrast_fraction", self.low_contrast_fraction),
            ("inject_fraction", self.inject_fraction),
            ("subtle_fraction", self.subtle_fraction),
        ] {
            if !(f.is_finite() && (0.0..=1.0).contains(&f)) {
                return Err(bad(name, f, "a fraction must be finite and in [0, 1]"));
            }
        }
        if self.max_injected == 0 || self.max_injected > lo / 4 + 1 {
            return Err(bad(
                "max_injected",
                self.max_injected,
                "must be >= 1 and at most min slices / 4 + 1",
            ));
        }
        let (a, b) = self.pixel_spacing_512;
        if !(a.is_finite() && b.is_finite() && a > 0.3 && a <= b && b <= 1.2) {
            return Err(bad(
                "pixel_spacing_512",
                self.pixel_spacing_512,
                "need 0.3 < min <= max <= 1.2 mm",
            ));
        }
        let (a, b) = self.thickness;
        if !(a.is_finite() && b.is_finite() && a >= 0.3 && a <= b && b <= 10.0) {
            return Err(bad(
                "thickness",
                self.thickness,
                "need 0.3 <= min <= max <= 10 mm",
            ));
        }
        Ok(())
    }
}

/// On-disk format of [`crate::write_cohort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One CT Image Storage file per slice (`<class> subjects/<id>/IM0001.dcm`, ...).
    Dicom,
    /// One gzipped NIfTI-1 volume per scan (`<class> subjects/<id>.nii.gz`) plus its
    /// `<id>_lung.nii.gz` and `<id>_lesion.nii.gz` masks.
    Nifti,
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dicom" | "dcm" => Ok(Format::Dicom),
            "nifti" | "nii" | "nii.gz" => Ok(Format::Nifti),
            _ => Err(Error::UnknownFormat(s.to_string())),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Dicom => "dicom",
            Format::Nifti => "nifti",
        })
    }
}

/// What the cohort-level draw decides for one scan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ScanPlan {
    pub label: Label,
    pub contrast: Contrast,
    /// Position within its class.
    pub k: usize,
    pub inject: bool,
}

/// The cohort-level draw: exact counts of low-contrast scans per class and of injected scans,
/// placed by seeded permutations (cheap, so every `generate_scan` recomputes it).
pub(crate) fn plan(cfg: &CohortConfig) -> Vec<ScanPlan> {
    let n = cfg.n_per_class;
    let n_low = (n as f64 * cfg.low_contrast_fraction).round() as usize;
    let mut out = Vec::with_capacity(3 * n);
    for label in Label::ALL {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng_for(
            cfg.seed,
            Purpose::Plan,
            &[label.index() as u64],
        ));
        let mut low = vec![false; n];
        for &k in &order[..n_low.min(n)] {
            low[k] = true;
        }
        for k in 0..n {
            out.push(ScanPlan {
                label,
                contrast: if low[k] {
                    Contrast::Low
                } else {
                    Contrast::High
                },
                k,
                inject: false,
            });
        }
    }
    let total = out.len();
    let n_inj = (total as f64 * cfg.inject_fraction).round() as usize;
    let mut order: Vec<usize> = (0..total).collect();
    order.shuffle(&mut rng_for(cfg.seed, Purpose::Plan, &[99]));
    for &i in &order[..n_inj.min(total)] {
        out[i].inject = true;
    }
    out
}

/// The scan identifier: `normal-003`, `cap-017`, `covid-000`.
pub(crate) fn scan_id(label: Label, k: usize) -> String {
    let prefix = match label {
        Label::Normal => "normal",
        Label::Cap => "cap",
        Label::Covid => "covid",
    };
    format!("{prefix}-{k:03}")
}
