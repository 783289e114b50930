//! The COVNet pre-processing recipe (Li et al. 2020, the seed's stage 1) as one documented
//! chain: lung region of interest, window to [0, 1], optional thick-slab MIP, resampling in z
//! and in-plane resize.
//!
//! Order of the steps, each optional where the seed made it so:
//! 1. **lung ROI** ([`LungRoi::BodyFirst`]): the bounding box (z, y, x) of both lungs from
//!    [`ct_morph::lung_field::segment_lung_field`] (body first, couch removed), widened by a
//!    margin, and in-plane made square in mm (the shorter side widened about its centre,
//!    within the image) so that the resize keeps the aspect ratio; [`LungRoi::Whole`] keeps
//!    the whole volume;
//! 2. **window**: HU → `(hu − (level − width/2)) / width`, clipped to [0, 1] (W1500/L−500 by
//!    default, the lung window);
//! 3. **MIP** over `k` neighbouring slices ([`ct_enhance::mip_slab`]), when asked;
//! 4. **z**: either resample to `mm` spacing and keep every `step`-th slice
//!    ([`ZSampling::Spacing`], the seed's "1 mm, then 5×"), or resample to a fixed slice count
//!    ([`ZSampling::Fixed`]);
//! 5. **resize** every slice to `size × size`.
//!
//! Steps 4 and 5 use one [`Interpolation`] (the seed compared nearest, linear, cubic and area;
//! Lanczos-3 is also offered).

use ct_core::{Scan, Volume};
use ct_enhance::{Interpolation, zoom};
use ct_morph::lung_field::{LungFieldParams, segment_lung_field};
use ndarray::{Array3, Axis, s};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, invalid};

/// Version of the recipe's code: part of the cache key, bumped when the output changes.
pub const RECIPE_VERSION: u32 = 2;

/// Which part of the volume is kept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LungRoi {
    /// The whole volume.
    Whole,
    /// The lungs' bounding box from the body-first lung field, widened by `margin_mm` on
    /// every side (clipped to the volume).
    BodyFirst {
        /// Margin in mm.
        margin_mm: f64,
    },
}

/// How the slice axis is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZSampling {
    /// Resample to `mm` between slices, then keep every `step`-th slice (the seed: 1 mm, 5).
    Spacing {
        /// Target spacing in mm.
        mm: f64,
        /// Keep every `step`-th slice (1 keeps all).
        step: usize,
    },
    /// Resample to exactly `slices` slices.
    Fixed {
        /// Slice count.
        slices: usize,
    },
}

/// A HU window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HuWindow {
    /// Width in HU.
    pub width: f64,
    /// Centre in HU.
    pub level: f64,
}

/// The whole pre-processing chain (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Region kept.
    pub lung_roi: LungRoi,
    /// HU window mapped to [0, 1].
    pub window: HuWindow,
    /// Thick-slab MIP over this many neighbouring slices (`None`: no MIP).
    pub mip_slab: Option<usize>,
    /// Slice-axis sampling.
    pub z: ZSampling,
    /// Rows = columns after resizing.
    pub size: usize,
    /// Interpolation of the z resampling and the resize.
    pub interpolation: Interpolation,
}

impl Default for Recipe {
    /// COVNet's recipe: lung ROI with 5 mm margin, W1500/L−500, no MIP, 1 mm then every 5th
    /// slice, 224 × 224, linear interpolation.
    fn default() -> Self {
        Recipe {
            lung_roi: LungRoi::BodyFirst { margin_mm: 5.0 },
            window: HuWindow {
                width: 1500.0,
                level: -500.0,
            },
            mip_slab: None,
            z: ZSampling::Spacing { mm: 1.0, step: 5 },
            size: 224,
            interpolation: Interpolation::Linear,
        }
    }
}

/// One pre-processed scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `(slices, size, size)`, values in [0, 1].
    pub data: Array3<f32>,
    /// The region kept, `[z0, z1) × [y0, y1) × [x0, x1)` in input voxels.
    pub roi: [[usize; 2]; 3],
    /// Per output slice, whether it shows a lesion (when the input's lesion slices were
    /// given): true when an input slice the output slice is interpolated from is one.
    pub lesion_slices: Option<Vec<bool>>,
}

impl Recipe {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        if let LungRoi::BodyFirst { margin_mm } = self.lung_roi
            && !(margin_mm.is_finite() && (0.0..=200.0).contains(&margin_mm))
        {
            return Err(invalid(
                "roi margin",
                format!("must be 0–200 mm, got {margin_mm}"),
            ));
        }
        let w = self.window;
        if !(w.width.is_finite() && w.width > 0.0 && w.level.is_finite()) {
            return Err(invalid(
                "window",
                "width must be finite and > 0, level finite",
            ));
        }
        if self.mip_slab == Some(0) || self.mip_slab.is_some_and(|k| k > 64) {
            return Err(invalid("mip", "slab must be 1–64 slices"));
        }
        match self.z {
            ZSampling::Spacing { mm, step } => {
                if !(mm.is_finite() && (0.1..=20.0).contains(&mm)) {
                    return Err(invalid("z spacing", format!("must be 0.1–20 mm, got {mm}")));
                }
                if !(1..=50).contains(&step) {
                    return Err(invalid("z step", format!("must be 1–50, got {step}")));
                }
            }
            ZSampling::Fixed { slices } => {
                if !(1..=1024).contains(&slices) {
                    return Err(invalid("slices", format!("must be 1–1024, got {slices}")));
                }
            }
        }
        if !(8..=1024).contains(&self.size) {
            return Err(invalid(
                "size",
                format!("must be 8–1024 pixels, got {}", self.size),
            ));
        }
        Ok(())
    }

    /// A short hex digest of the recipe and [`RECIPE_VERSION`]: the cache key's first part.
    pub fn digest(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(format!("ct-train recipe v{RECIPE_VERSION}\n{text}"));
        h.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Runs the chain on one scan.
    pub fn apply(&self, scan: &Scan) -> Result<Prepared> {
        self.apply_labelled(scan, None)
    }

    /// Runs the chain on one scan whose input slices `lesion_slices` (one flag per input
    /// slice) show a lesion, and carries the flags to the output slices.
    pub fn apply_labelled(&self, scan: &Scan, lesion_slices: Option<&[bool]>) -> Result<Prepared> {
        self.validate()?;
        let stage = |stage: &'static str| {
            let id = scan.id.clone();
            move |e: Box<dyn std::error::Error + Send + Sync>| Error::Scan {
                id,
                stage,
                source: e,
            }
        };
        let roi = self
            .roi(&scan.volume)
            .map_err(|e| stage("lung ROI")(Box::new(e)))?;
        let [[z0, z1], [y0, y1], [x0, x1]] = roi;
        let crop = scan.volume.view().slice_move(s![z0..z1, y0..y1, x0..x1]);
        let lo = self.window.level - self.window.width / 2.0;
        let width = self.window.width;
        let mut unit = crop.mapv(|hu| (((f64::from(hu) - lo) / width).clamp(0.0, 1.0)) as f32);
        if let Some(k) = self.mip_slab.filter(|&k| k > 1) {
            unit = ct_enhance::mip_slab(unit.view(), k).map_err(|e| stage("MIP")(Box::new(e)))?;
        }
        let nz = z1 - z0;
        let sz = scan.volume.spacing().z;
        let (target_z, step) = match self.z {
            ZSampling::Spacing { mm, step } => {
                (((nz as f64 * sz / mm).round() as usize).max(1), step)
            }
            ZSampling::Fixed { slices } => (slices, 1),
        };
        let shape = [target_z, self.size, self.size];
        let data = zoom(unit.view(), shape, self.interpolation)
            .map_err(|e| stage("resample")(Box::new(e)))?;
        let data = if step > 1 {
            data.slice_axis(Axis(0), ndarray::Slice::new(0, None, step as isize))
                .to_owned()
        } else {
            data
        };
        let lesion_slices = lesion_slices.map(|flags| {
            (0..data.dim().0)
                .map(|j| {
                    let pos = self.source_position(j * step, target_z, nz);
                    let (lo, hi) = (pos.floor().max(0.0) as usize, pos.ceil().max(0.0) as usize);
                    (lo..=hi.min(nz - 1)).any(|k| flags.get(z0 + k).copied().unwrap_or(false))
                })
                .collect()
        });
        Ok(Prepared {
            data,
            roi,
            lesion_slices,
        })
    }

    /// Where output slice `j` of `m` sits among `n` input slices (fractional index), by the
    /// interpolation's alignment: corners (nearest, linear, cubic, as scipy's zoom) or pixel
    /// centres (Lanczos-3, area).
    fn source_position(&self, j: usize, m: usize, n: usize) -> f64 {
        let corner = matches!(
            self.interpolation,
            Interpolation::Nearest | Interpolation::Linear | Interpolation::Cubic
        );
        if corner {
            if m > 1 {
                j as f64 * (n - 1) as f64 / (m - 1) as f64
            } else {
                0.0
            }
        } else {
            ((j as f64 + 0.5) * n as f64 / m as f64 - 0.5).max(0.0)
        }
    }

    /// The region kept: the lungs' bounding box plus margin, or the whole volume.
    fn roi(&self, vol: &Volume<i16>) -> std::result::Result<[[usize; 2]; 3], ct_morph::Error> {
        let [nz, ny, nx] = vol.shape();
        let LungRoi::BodyFirst { margin_mm } = self.lung_roi else {
            return Ok([[0, nz], [0, ny], [0, nx]]);
        };
        let lungs = segment_lung_field(vol, &LungFieldParams::default())?.lungs();
        let mut lo = [usize::MAX; 3];
        let mut hi = [0usize; 3];
        for ((z, y, x), &v) in lungs.view().indexed_iter() {
            if v != 0 {
                for (a, i) in [z, y, x].into_iter().enumerate() {
                    lo[a] = lo[a].min(i);
                    hi[a] = hi[a].max(i + 1);
                }
            }
        }
        if lo[0] == usize::MAX {
            return Err(ct_morph::Error::NoLung("the lung mask is empty".into()));
        }
        let sp = vol.spacing().to_array();
        let n = [nz, ny, nx];
        let mut roi = [[0usize; 2]; 3];
        for a in 0..3 {
            let m = (margin_mm / sp[a]).round() as usize;
            roi[a] = [lo[a].saturating_sub(m), (hi[a] + m).min(n[a])];
        }
        square_in_plane(&mut roi, [ny, nx], [sp[1], sp[2]]);
        Ok(roi)
    }
}

/// Widens the shorter in-plane side of `roi` (in mm) about its centre until both sides are
/// as long as the longer one, within the image, so that resizing to `size × size` keeps the
/// anatomy's aspect ratio.
fn square_in_plane(roi: &mut [[usize; 2]; 3], n: [usize; 2], sp: [f64; 2]) {
    let len = |a: usize, r: &[[usize; 2]; 3]| (r[a + 1][1] - r[a + 1][0]) as f64 * sp[a];
    let target = len(0, roi).max(len(1, roi));
    for a in 0..2 {
        let want = ((target / sp[a]).round() as usize).min(n[a]);
        let [lo, hi] = roi[a + 1];
        let grow = want.saturating_sub(hi - lo);
        let mut new_lo = lo.saturating_sub(grow / 2);
        let new_hi = (new_lo + want).min(n[a]);
        new_lo = new_hi - want;
        roi[a + 1] = [new_lo, new_hi];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_core::Spacing;

    fn scan(nz: usize, n: usize, sz: f64) -> Scan {
        let data = Array3::from_shape_fn((nz, n, n), |(z, y, _)| {
            (-1000 + 10 * z as i32 + y as i32) as i16
        });
        Scan::new(
            "s",
            None,
            Volume::new(data, Spacing::new(sz, 0.7, 0.7).unwrap()).unwrap(),
        )
    }

    #[test]
    fn whole_volume_window_and_shapes() {
        let r = Recipe {
            lung_roi: LungRoi::Whole,
            z: ZSampling::Spacing { mm: 1.0, step: 5 },
            size: 16,
            ..Recipe::default()
        };
        // 40 slices of 2.5 mm: 100 slices at 1 mm, every 5th: 20.
        let p = r.apply(&scan(40, 32, 2.5)).unwrap();
        assert_eq!(p.data.dim(), (20, 16, 16));
        assert_eq!(p.roi, [[0, 40], [0, 32], [0, 32]]);
        // -1000 HU is (−1000 + 1250) / 1500 = 1/6 of the window.
        assert!((p.data[[0, 0, 0]] - 250.0 / 1500.0).abs() < 1e-6);
        assert!(p.data.iter().all(|v| (0.0..=1.0).contains(v)));
        let fixed = Recipe {
            z: ZSampling::Fixed { slices: 7 },
            ..r
        };
        assert_eq!(
            fixed.apply(&scan(40, 32, 2.5)).unwrap().data.dim(),
            (7, 16, 16)
        );
    }

    #[test]
    fn roi_is_squared_in_mm_within_the_image() {
        // 0.5 mm rows, 1 mm columns: 40 rows (20 mm) by 10 columns (10 mm).
        let mut roi = [[0, 5], [10, 50], [30, 40]];
        square_in_plane(&mut roi, [100, 100], [0.5, 1.0]);
        assert_eq!(roi[1], [10, 50]);
        assert_eq!(roi[2], [25, 45]);
        // Against the image edge the box shifts inwards; it never leaves the image.
        let mut edge = [[0, 5], [0, 40], [0, 10]];
        square_in_plane(&mut edge, [40, 30], [1.0, 1.0]);
        assert_eq!(edge[2], [0, 30]);
    }

    #[test]
    fn lesion_slices_follow_the_resampling() {
        let r = Recipe {
            lung_roi: LungRoi::Whole,
            z: ZSampling::Fixed { slices: 5 },
            size: 8,
            ..Recipe::default()
        };
        // 9 input slices onto 5 (corner-aligned positions 0, 2, 4, 6, 8): a lesion on input 3
        // alone lies between two output slices and shows in none.
        let mut flags = vec![false; 9];
        flags[3] = true;
        let p = r.apply_labelled(&scan(9, 8, 1.0), Some(&flags)).unwrap();
        assert_eq!(p.lesion_slices.unwrap(), vec![false; 5]);
        flags[4] = true;
        let p = r.apply_labelled(&scan(9, 8, 1.0), Some(&flags)).unwrap();
        assert_eq!(
            p.lesion_slices.unwrap(),
            vec![false, false, true, false, false]
        );
        // Down to 4 slices: positions 0, 8/3, 16/3, 8; input 3 lies between 2 and 3 → output 1.
        let four = Recipe {
            z: ZSampling::Fixed { slices: 4 },
            ..r
        };
        let p = four.apply_labelled(&scan(9, 8, 1.0), Some(&flags)).unwrap();
        assert_eq!(p.lesion_slices.unwrap(), vec![false, true, false, false]);
        assert!(
            four.apply(&scan(9, 8, 1.0))
                .unwrap()
                .lesion_slices
                .is_none()
        );
    }

    #[test]
    fn digest_follows_every_field() {
        let a = Recipe::default();
        let b = Recipe {
            size: 112,
            ..Recipe::default()
        };
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest(), Recipe::default().digest());
        assert_eq!(a.digest().len(), 16);
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [
            Recipe {
                size: 0,
                ..Recipe::default()
            },
            Recipe {
                mip_slab: Some(0),
                ..Recipe::default()
            },
            Recipe {
                z: ZSampling::Spacing {
                    mm: f64::NAN,
                    step: 5,
                },
                ..Recipe::default()
            },
            Recipe {
                z: ZSampling::Fixed { slices: 0 },
                ..Recipe::default()
            },
            Recipe {
                window: HuWindow {
                    width: 0.0,
                    level: 0.0,
                },
                ..Recipe::default()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(Error::Parameter { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_volume_without_lungs_is_a_scan_error() {
        // Uniform soft tissue: no body outline with air inside, so no lung.
        let data = Array3::from_elem((8, 32, 32), 40i16);
        let s = Scan::new(
            "flat",
            None,
            Volume::new(data, Spacing::new(2.0, 1.0, 1.0).unwrap()).unwrap(),
        );
        let e = Recipe::default().apply(&s).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Scan {
                    stage: "lung ROI",
                    ..
                }
            ),
            "{e}"
        );
    }
}
