//! Foci of the lesion-pattern U-Net: the 3-D groups of pixels it calls lesion, each
//! described by what tells a small ground-glass focus from what the network also fires on
//! in normal lungs (a dependent atelectasis band along the posterior chest wall, a vessel
//! crossing, noise).
//!
//! Per scan, [`pattern_foci`] lists the foci with [`FOCUS_FEATURE_NAMES`]; on phantoms
//! each focus also carries the share of it inside the true lesion mask. The run writes them
//! to `foci.csv` (one row per focus: a findings list).

use ct_morph::{Components, PackedMask, generate_binary_structure};
use ensemble::{Classifier, Gbdt, GbdtParams};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use serde::{Deserialize, Serialize};

use crate::cnn::{PatternMaps, RegionExtent};
use crate::{Error, Result};

/// Lesion probability (CAP-like + COVID-19-like) at which a pixel joins a focus.
pub const FOCUS_THRESHOLD: f32 = 0.5;

/// Features of one focus ([`pattern_foci`]).
pub const FOCUS_FEATURE_NAMES: [&str; 17] = [
    "peak",
    "mean_prob",
    "mass_ml",
    "volume_ml",
    "z_extent_mm",
    "inplane_extent_mm",
    "fill",
    "covid_share",
    "mean_hu",
    "contrast_hu",
    "y_relative",
    "z_relative",
    "lateral",
    "edge_share",
    "mirror_peak",
    "scan_foci",
    "rank",
];

/// One focus of the pattern U-Net.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Focus {
    /// [`FOCUS_FEATURE_NAMES`], in order.
    pub features: Vec<f64>,
    /// Centroid `[z, y, x]` in voxels of the cleaned full-resolution volume.
    pub centroid: [f64; 3],
    /// Share of the focus's pixels inside the true lesion mask (phantoms only).
    #[serde(default)]
    pub lesion_share: Option<f64>,
}

/// Per-focus accumulators.
#[derive(Clone)]
struct Acc {
    n: usize,
    peak: f32,
    sum_p: f64,
    sum_covid: f64,
    sum_hu: f64,
    sum_zyx: [f64; 3],
    lo: [usize; 3],
    hi: [usize; 3],
    edge: usize,
    mirror: f32,
    truth: usize,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            n: 0,
            peak: 0.0,
            sum_p: 0.0,
            sum_covid: 0.0,
            sum_hu: 0.0,
            sum_zyx: [0.0; 3],
            lo: [usize::MAX; 3],
            hi: [0; 3],
            edge: 0,
            mirror: 0.0,
            truth: 0,
        }
    }
}

/// The foci of the network's output on one scan: 3-D groups (26-connected across the
/// predicted slices) of pixels with lesion probability ≥ [`FOCUS_THRESHOLD`] inside the
/// search region. `lesion` is the true lesion mask at full resolution on the cleaned
/// slices, when known; a half-resolution pixel counts as lesion when any of its voxels is.
/// Foci come largest mass first.
pub fn pattern_foci(m: &PatternMaps<'_>, lesion: Option<ArrayView3<'_, u8>>) -> Result<Vec<Focus>> {
    m.check("pattern foci")?;
    let PatternMaps {
        p,
        vol,
        region,
        zs,
        crop,
        spacing,
        factor,
        z_step,
    } = *m;
    let (n, _, h, w) = p.dim();
    let (nz, ny, nx) = vol.dim();
    if let Some(l) = &lesion
        && (l.dim().0 != nz || l.dim().1 < ny * factor || l.dim().2 < nx * factor)
    {
        return Err(Error::Config {
            name: "pattern foci",
            why: format!(
                "lesion mask {:?} does not cover the volume {:?} at factor {factor}",
                l.dim(),
                vol.dim()
            ),
        });
    }
    let Some(RegionExtent {
        x_mid,
        half_width,
        rows: (ymin, ymax),
    }) = m.region_extent()
    else {
        return Ok(Vec::new());
    };
    let rows = ((ymax - ymin) as f64).max(1.0);
    let inside = |z: usize, y: usize, x: usize| {
        let (sy, sx) = (crop.y0 + y, crop.x0 + x);
        sy < ny && sx < nx && region[[z, sy, sx]] != 0
    };
    let lesion_p = |k: usize, y: usize, x: usize| p[[k, 1, y, x]] + p[[k, 2, y, x]];
    let mut det = Array3::<u8>::zeros((n, h, w));
    for (k, &z) in zs.iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                if inside(z, y, x) && lesion_p(k, y, x) >= FOCUS_THRESHOLD {
                    det[[k, y, x]] = 1;
                }
            }
        }
    }
    let comps = Components::new(
        &PackedMask::from_u8(det.view())?,
        &generate_binary_structure(3, 3)?,
    )?;
    let labels = comps.labels();
    let mut acc = vec![Acc::new(); comps.len() + 1];
    let truth_at = |z: usize, sy: usize, sx: usize| -> bool {
        lesion.as_ref().is_some_and(|l| {
            (0..factor)
                .any(|dy| (0..factor).any(|dx| l[[z, sy * factor + dy, sx * factor + dx]] != 0))
        })
    };
    for (k, &z) in zs.iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                let l = labels[[k, y, x]] as usize;
                if l == 0 {
                    continue;
                }
                let (sy, sx) = (crop.y0 + y, crop.x0 + x);
                let a = &mut acc[l];
                let pl = lesion_p(k, y, x);
                a.n += 1;
                a.peak = a.peak.max(pl);
                a.sum_p += f64::from(pl);
                a.sum_covid += f64::from(p[[k, 2, y, x]]);
                a.sum_hu += f64::from(vol[[z, sy, sx]]) * 400.0 - 600.0;
                for (s, v) in a.sum_zyx.iter_mut().zip([k, y, x]) {
                    *s += v as f64;
                }
                for (d, v) in [k, y, x].into_iter().enumerate() {
                    a.lo[d] = a.lo[d].min(v);
                    a.hi[d] = a.hi[d].max(v);
                }
                let on_edge = [(0i64, 1i64), (0, -1), (1, 0), (-1, 0)]
                    .iter()
                    .any(|&(dy, dx)| {
                        let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                        yy < 0
                            || xx < 0
                            || yy >= h as i64
                            || xx >= w as i64
                            || !inside(z, yy as usize, xx as usize)
                    });
                a.edge += usize::from(on_edge);
                // The mirror image about the lung midline (a band along both posterior
                // walls has one; a single focus seldom does).
                let mx = (2.0 * x_mid - sx as f64).round();
                for dx in -1i64..=1 {
                    let xx = mx as i64 + dx - crop.x0 as i64;
                    if xx >= 0 && (xx as usize) < w {
                        a.mirror = a.mirror.max(lesion_p(k, y, xx as usize));
                    }
                }
                a.truth += usize::from(truth_at(z, sy, sx));
            }
        }
    }
    let voxel_ml = m.voxel_ml();
    let pixel_mm = 0.5 * (spacing.y + spacing.x) * factor as f64;
    let mut foci: Vec<(f64, Acc, usize)> = acc
        .into_iter()
        .enumerate()
        .skip(1)
        .filter(|(_, a)| a.n > 0)
        .map(|(l, a)| (a.sum_p, a, l))
        .collect();
    foci.sort_by(|a, b| b.0.total_cmp(&a.0));
    let scan_foci = foci.len() as f64;
    let mut out = Vec::with_capacity(foci.len());
    for (rank, (_, a, l)) in foci.into_iter().enumerate() {
        let nf = a.n as f64;
        let mean_hu = a.sum_hu / nf;
        // Local background: undetected region pixels within 3 pixels of the focus's box.
        let (mut ring, mut ring_n) = (0f64, 0f64);
        for k in a.lo[0]..=a.hi[0] {
            let z = zs[k];
            for y in a.lo[1].saturating_sub(3)..(a.hi[1] + 4).min(h) {
                for x in a.lo[2].saturating_sub(3)..(a.hi[2] + 4).min(w) {
                    if labels[[k, y, x]] as usize != l && det[[k, y, x]] == 0 && inside(z, y, x) {
                        ring += f64::from(vol[[z, crop.y0 + y, crop.x0 + x]]) * 400.0 - 600.0;
                        ring_n += 1.0;
                    }
                }
            }
        }
        let ext = |d: usize| (a.hi[d] - a.lo[d] + 1) as f64;
        let cy = a.sum_zyx[1] / nf + crop.y0 as f64;
        let cx = a.sum_zyx[2] / nf + crop.x0 as f64;
        let ck = a.sum_zyx[0] / nf;
        // Centroid on the full-resolution slices (interpolated between predicted ones).
        let k0 = ck.floor() as usize;
        let k1 = (k0 + 1).min(n - 1);
        let cz = zs[k0] as f64 + (ck - k0 as f64) * (zs[k1] as f64 - zs[k0] as f64);
        out.push(Focus {
            features: vec![
                f64::from(a.peak),
                a.sum_p / nf,
                a.sum_p * voxel_ml,
                nf * voxel_ml,
                ext(0) * z_step as f64 * spacing.z,
                ext(1).max(ext(2)) * pixel_mm,
                nf / (ext(0) * ext(1) * ext(2)),
                a.sum_covid / a.sum_p.max(1e-12),
                mean_hu,
                if ring_n > 0.0 {
                    mean_hu - ring / ring_n
                } else {
                    0.0
                },
                ((cy - ymin as f64) / rows).clamp(0.0, 1.0),
                if n > 1 { ck / (n - 1) as f64 } else { 0.5 },
                ((cx - x_mid).abs() / half_width).min(1.5),
                a.edge as f64 / nf,
                f64::from(a.mirror),
                scan_foci,
                rank as f64,
            ],
            centroid: [
                cz,
                (cy + 0.5) * factor as f64 - 0.5,
                (cx + 0.5) * factor as f64 - 0.5,
            ],
            lesion_share: lesion.as_ref().map(|_| a.truth as f64 / nf),
        });
    }
    Ok(out)
}

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
    pub fn scan_features(&self, foci: &[Focus]) -> Result<Vec<f64>> {
        if foci.is_empty() {
            return Ok(FocusModel::empty_scan_features());
        }
        let s = self.scores(foci)?;
        let covid = FOCUS_FEATURE_NAMES
            .iter()
            .position(|n| *n == "covid_share")
            .unwrap_or(0);
        let sum: f64 = s.iter().sum();
        let weighted: f64 = s.iter().zip(foci).map(|(w, f)| w * f.features[covid]).sum();
        Ok(vec![
            s.iter().copied().fold(0.0, f64::max),
            sum,
            s.iter().filter(|&&v| v >= 0.5).count() as f64,
            if sum > 0.0 { weighted / sum } else { 0.5 },
        ])
    }

    /// [`FOCUS_SCAN_FEATURE_NAMES`] of a scan without foci.
    pub fn empty_scan_features() -> Vec<f64> {
        vec![0.0, 0.0, 0.0, 0.5]
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
        let saved: SavedFocusModel = serde_json::from_str(text).map_err(|e| Error::ModelFile {
            model: "focus model",
            why: "not a readable focus model".into(),
            source: Some(e),
        })?;
        if saved.format != FOCUS_FORMAT || saved.version != FOCUS_VERSION {
            return Err(bad(format!(
                "format {:?} version {}, expected {FOCUS_FORMAT:?} version {FOCUS_VERSION}",
                saved.format, saved.version
            )));
        }
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
        FocusModel::from_json(include_str!("../models/pattern_focus_model.json"))
    }
}

/// Foci read back from a run's `foci.csv`: their features (rows of
/// [`FOCUS_FEATURE_NAMES`]) and lesion shares (absent on real data).
pub fn read_foci_csv(text: &str) -> Result<(Array2<f64>, Vec<Option<f64>>)> {
    let bad = |why: String| Error::Config {
        name: "foci.csv",
        why,
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| bad("empty file".into()))?
        .split(',')
        .collect();
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
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != header.len() {
            return Err(bad(format!(
                "row {}: {} fields, the header has {}",
                i + 1,
                f.len(),
                header.len()
            )));
        }
        for &c in &cols {
            let v: f64 = f[c]
                .parse()
                .map_err(|_| bad(format!("row {}: {:?} is not a number", i + 1, f[c])))?;
            if !v.is_finite() {
                return Err(bad(format!("row {}: {:?} is not finite", i + 1, f[c])));
            }
            rows.push(v);
        }
        shares.push(match f[share_col] {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| bad(format!("row {}: lesion share {v:?}", i + 1)))?,
            ),
        });
    }
    let x =
        Array2::from_shape_vec((shares.len(), cols.len()), rows).map_err(|e| bad(e.to_string()))?;
    Ok((x, shares))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cnn::Crop;
    use ct_core::Spacing;
    use ndarray::Array4;

    fn spacing() -> Spacing {
        Spacing {
            z: 2.0,
            y: 1.5,
            x: 1.5,
        }
    }

    #[test]
    fn foci_of_known_probabilities() {
        // 4 predicted slices of 16×16; the region is the whole plane but the border.
        let (n, h, w) = (4, 16, 16);
        let mut region = Array3::<u8>::zeros((8, h, w));
        region.slice_mut(ndarray::s![.., 1..15, 1..15]).fill(1);
        let vol = Array3::<f32>::from_elem((8, h, w), (-850.0 + 600.0) / 400.0);
        let zs = [0, 2, 4, 6];
        let mut p = Array4::<f32>::zeros((n, 3, h, w));
        p.slice_mut(ndarray::s![.., 0, .., ..]).fill(1.0);
        // A COVID-like focus of 2×2 pixels on slices 1 and 2 (lesion probability 0.8, one
        // pixel 0.9), and a CAP-like single pixel (0.7) on slice 1 near its mirror image about
        // the region's midline (x = 7.5).
        for k in 1..3 {
            for y in 5..7 {
                for x in 3..5 {
                    p[[k, 0, y, x]] = 0.2;
                    p[[k, 1, y, x]] = 0.1;
                    p[[k, 2, y, x]] = 0.7;
                }
            }
        }
        p[[1, 0, 5, 3]] = 0.1;
        p[[1, 1, 5, 3]] = 0.0;
        p[[1, 2, 5, 3]] = 0.9;
        p[[1, 0, 5, 11]] = 0.3;
        p[[1, 1, 5, 11]] = 0.7;
        // The true lesion covers the first focus's slice-2 pixels only.
        let mut lesion = Array3::<u8>::zeros((8, 2 * h, 2 * w));
        lesion.slice_mut(ndarray::s![2, 10..14, 6..10]).fill(1);
        let crop = Crop { y0: 0, x0: 0, h, w };
        let maps = PatternMaps {
            p: &p,
            vol: &vol,
            region: &region,
            zs: &zs,
            crop,
            spacing: spacing(),
            factor: 2,
            z_step: 2,
        };
        let foci = pattern_foci(&maps, Some(lesion.view())).unwrap();
        assert_eq!(foci.len(), 2);
        let f = &foci[0].features;
        let get = |name: &str| f[FOCUS_FEATURE_NAMES.iter().position(|n| *n == name).unwrap()];
        assert!((get("peak") - 0.9).abs() < 1e-6, "{f:?}");
        assert!((get("mass_ml") - 6.5 * 2.0 * 1.5 * 1.5 * 4.0 * 1e-3 * 2.0).abs() < 1e-6);
        assert_eq!(get("volume_ml"), 8.0 * 2.0 * 1.5 * 1.5 * 4.0 * 1e-3 * 2.0);
        assert!((get("covid_share") - (0.7 * 7.0 + 0.9) / 6.5).abs() < 1e-6);
        assert_eq!(get("z_extent_mm"), 2.0 * 2.0 * 2.0);
        assert_eq!(get("inplane_extent_mm"), 2.0 * 3.0);
        assert_eq!(get("fill"), 1.0);
        assert!((get("mean_hu") + 850.0).abs() < 1e-3);
        assert!(get("contrast_hu").abs() < 1e-3);
        assert!((get("mirror_peak") - 0.7).abs() < 1e-6);
        assert_eq!(get("edge_share"), 0.0);
        assert_eq!(get("scan_foci"), 2.0);
        assert_eq!(get("rank"), 0.0);
        assert_eq!(foci[0].lesion_share, Some(0.5));
        assert_eq!(foci[0].centroid, [3.0, 11.5, 7.5]);
        let g = &foci[1].features;
        let get = |name: &str| g[FOCUS_FEATURE_NAMES.iter().position(|n| *n == name).unwrap()];
        assert_eq!(get("rank"), 1.0);
        assert!(get("covid_share") < 1e-6, "a CAP-like focus: {g:?}");
        assert!((get("mirror_peak") - 0.9).abs() < 1e-6);
        assert_eq!(foci[1].lesion_share, Some(0.0));
    }

    #[test]
    fn no_region_no_foci_and_bad_shapes_are_errors() {
        let p = Array4::<f32>::zeros((2, 3, 8, 8));
        let vol = Array3::<f32>::zeros((4, 8, 8));
        let region = Array3::<u8>::zeros((4, 8, 8));
        let crop = Crop {
            y0: 0,
            x0: 0,
            h: 8,
            w: 8,
        };
        let maps = |zs| PatternMaps {
            p: &p,
            vol: &vol,
            region: &region,
            zs,
            crop,
            spacing: spacing(),
            factor: 2,
            z_step: 2,
        };
        assert!(pattern_foci(&maps(&[0, 2]), None).unwrap().is_empty());
        assert!(pattern_foci(&maps(&[0]), None).is_err());
        assert!(pattern_foci(&maps(&[0, 7]), None).is_err());
        let small = Array3::<u8>::zeros((4, 8, 8));
        assert!(pattern_foci(&maps(&[0, 2]), Some(small.view())).is_err());
    }

    fn synthetic_foci(n: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
        // Lesion foci peak higher and are less often on the posterior edge; a simple
        // deterministic generator (no external RNG in the library's tests).
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let k = FOCUS_FEATURE_NAMES.len();
        let mut x = Array2::<f64>::zeros((n, k));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let lesion = i % 3 == 0;
            for j in 0..k {
                x[[i, j]] = next();
            }
            x[[i, 0]] = if lesion {
                0.7 + 0.3 * next()
            } else {
                0.5 + 0.4 * next()
            };
            x[[i, 10]] = if lesion { next() } else { 0.6 + 0.4 * next() };
            y.push(lesion);
        }
        (x, y)
    }

    #[test]
    fn focus_model_learns_round_trips_and_refuses_bad_input() {
        let (x, y) = synthetic_foci(300, 1);
        let m = FocusModel::train(x.view(), &y, 60, 7, vec!["synthetic".into()]).unwrap();
        assert_eq!(m.recipe.foci, (100, 200));
        let (xt, yt) = synthetic_foci(300, 2);
        let foci: Vec<Focus> = xt
            .outer_iter()
            .map(|r| Focus {
                features: r.to_vec(),
                centroid: [0.0; 3],
                lesion_share: None,
            })
            .collect();
        let s = m.scores(&foci).unwrap();
        let auc = ensemble::roc_auc_binary(&yt, &s).unwrap();
        assert!(auc > 0.9, "held-out ROC-AUC {auc}");
        // Scan features: max, sum, count ≥ ½, weighted COVID-19 share.
        let f = m.scan_features(&foci[..3]).unwrap();
        let s3 = &s[..3];
        assert_eq!(f[0], s3.iter().copied().fold(0.0, f64::max));
        assert!((f[1] - s3.iter().sum::<f64>()).abs() < 1e-12);
        assert_eq!(f[2], s3.iter().filter(|&&v| v >= 0.5).count() as f64);
        assert_eq!(
            m.scan_features(&[]).unwrap(),
            FocusModel::empty_scan_features()
        );
        // JSON round trip gives the same scores; damaged or foreign files are errors.
        let json = m.to_json().unwrap();
        let back = FocusModel::from_json(&json).unwrap();
        assert_eq!(back.scores(&foci).unwrap(), s);
        assert!(FocusModel::from_json("{}").is_err());
        assert!(FocusModel::from_json(&json[..json.len() / 2]).is_err());
        let renamed = json.replace("\"mirror_peak\"", "\"other\"");
        let e = FocusModel::from_json(&renamed).unwrap_err().to_string();
        assert!(e.contains("other focus features"), "{e}");
        // Too few of one kind, wrong widths, NaN.
        assert!(FocusModel::train(x.view(), &vec![false; 300], 10, 1, vec![]).is_err());
        assert!(FocusModel::train(x.slice(ndarray::s![.., ..3]), &y, 10, 1, vec![]).is_err());
        let mut nan = x.clone();
        nan[[0, 0]] = f64::NAN;
        assert!(FocusModel::train(nan.view(), &y, 10, 1, vec![]).is_err());
        let short = Focus {
            features: vec![0.5; 3],
            centroid: [0.0; 3],
            lesion_share: None,
        };
        assert!(m.scores(&[short]).is_err());
    }

    #[test]
    fn foci_csv_reads_back_and_bad_files_are_errors() {
        let mut header = String::from("id,label,contrast,focus,z,y,x");
        for n in FOCUS_FEATURE_NAMES {
            header.push(',');
            header.push_str(n);
        }
        header.push_str(",lesion_share");
        let row = |share: &str| {
            let mut r = String::from("cap-000,CAP,low,0,1.0,2.0,3.0");
            for j in 0..FOCUS_FEATURE_NAMES.len() {
                r.push_str(&format!(",{}", j as f64 * 0.5));
            }
            r.push_str(&format!(",{share}"));
            r
        };
        let text = format!("{header}\n{}\n{}\n", row("0.75"), row(""));
        let (x, shares) = read_foci_csv(&text).unwrap();
        assert_eq!(x.dim(), (2, FOCUS_FEATURE_NAMES.len()));
        assert_eq!(x[[1, 4]], 2.0);
        assert_eq!(shares, vec![Some(0.75), None]);
        assert!(read_foci_csv("").is_err());
        assert!(read_foci_csv("id,peak\n").is_err());
        let bad = format!("{header}\n{}\n", row("0.5").replacen(",0.5,", ",x,", 1));
        assert!(
            read_foci_csv(&bad)
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        let short = format!("{header}\ncap-000,CAP\n");
        assert!(
            read_foci_csv(&short)
                .unwrap_err()
                .to_string()
                .contains("fields")
        );
        let nan = format!("{header}\n{}\n", row("0.5").replacen(",0.5,", ",NaN,", 1));
        assert!(read_foci_csv(&nan).is_err());
    }
}
