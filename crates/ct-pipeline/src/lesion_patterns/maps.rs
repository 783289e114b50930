//! The network's probability maps on one scan, the per-scan pattern features and the
//! overlay picture.

use ct_core::Spacing;
use ct_morph::{Components, PackedMask, generate_binary_structure};
use ndarray::{Array3, Array4, Axis};

use super::*;
use crate::named::NamedFeatures;
use crate::{Error, Result};

/// Per-scan features from the network's probabilities ([`pattern_features`]).
pub const PATTERN_FEATURE_NAMES: [&str; 13] = [
    "cnn_lesion_pct",
    "cnn_cap_ml",
    "cnn_covid_ml",
    "cnn_covid_share",
    "cnn_cap_top",
    "cnn_covid_top",
    "cnn_foci",
    "cnn_top1_ml",
    "cnn_top1_covid_share",
    "cnn_bilateral_balance",
    "cnn_lesion_mean_hu",
    "cnn_peripheral_share",
    "cnn_peak",
];

/// A picture of slice `k` of the probabilities `p` over the lung-window slice `gray`
/// (full resolution, `u8`): CAP-like lesion probability tints toward orange, COVID-19-like
/// toward magenta (nearest neighbour up-sampling of the half-resolution output).
pub fn pattern_overlay(
    gray: ndarray::ArrayView2<'_, u8>,
    p: &Array4<f32>,
    k: usize,
    crop: Crop,
    factor: usize,
) -> Result<ct_report::image::RgbImage> {
    let factor = factor.max(1);
    let (h, w) = gray.dim();
    if k >= p.dim().0 || h == 0 || w == 0 {
        return Err(Error::Inconsistent(format!(
            "overlay of slice {k} of {} on a {h}×{w} image",
            p.dim().0
        )));
    }
    let mut img = ct_report::image::RgbImage::new(w as u32, h as u32);
    for ((y, x), &g) in gray.indexed_iter() {
        let (hy, hx) = (y / factor, x / factor);
        let inside =
            hy >= crop.y0 && hx >= crop.x0 && hy - crop.y0 < crop.h && hx - crop.x0 < crop.w;
        let (pc, pv) = if inside {
            (
                p[[k, 1, hy - crop.y0, hx - crop.x0]],
                p[[k, 2, hy - crop.y0, hx - crop.x0]],
            )
        } else {
            (0.0, 0.0)
        };
        let g = f32::from(g);
        let mix = |c: [f32; 3]| -> [u8; 3] {
            let a = (pc + pv).clamp(0.0, 1.0) * 0.7;
            let t = [
                (c[0] * pc + 255.0 * pv) / (pc + pv).max(1e-6),
                (c[1] * pc + 0.0 * pv) / (pc + pv).max(1e-6),
                (c[2] * pc + 255.0 * pv) / (pc + pv).max(1e-6),
            ];
            [0, 1, 2].map(|i| (g * (1.0 - a) + t[i] * a).round().clamp(0.0, 255.0) as u8)
        };
        img.put_pixel(
            x as u32,
            y as u32,
            ct_report::image::Rgb(mix([255.0, 150.0, 0.0])),
        );
    }
    Ok(img)
}

/// The pattern U-Net's output on one scan and what is needed to read it: the probabilities
/// `p` (`[zs.len(), 3, crop.h, crop.w]`, [`PatternNet::predict`]) of slices `zs` of a
/// half-resolution volume `vol` (the network's input scale), the half-resolution search
/// region `region` (the lesion-inclusive lung and its hull), the full-resolution voxel
/// `spacing`, the in-plane down-sampling `factor`, and `z_step`, the spacing of `zs` in
/// slices (each predicted slice stands for that many).
#[derive(Debug, Clone, Copy)]
pub struct PatternMaps<'a> {
    /// Probabilities per predicted slice and class.
    pub p: &'a Array4<f32>,
    /// The half-resolution volume (normalised, [`normalise`]).
    pub vol: &'a Array3<f32>,
    /// The half-resolution search region.
    pub region: &'a Array3<u8>,
    /// The predicted slices.
    pub zs: &'a [usize],
    /// Where `p` lies in the half-resolution plane.
    pub crop: Crop,
    /// Full-resolution voxel spacing.
    pub spacing: Spacing,
    /// In-plane down-sampling.
    pub factor: usize,
    /// Slices each predicted slice stands for.
    pub z_step: usize,
}

/// Where the search region lies over the predicted slices (half-resolution pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionExtent {
    /// Mean column (the lung midline).
    pub x_mid: f64,
    /// Half the column range (at least 1).
    pub half_width: f64,
    /// First and last row.
    pub rows: (usize, usize),
}

impl PatternMaps<'_> {
    /// Checks that the parts fit together.
    pub fn check(&self, what: &'static str) -> Result<()> {
        let (n, c, _, _) = self.p.dim();
        if n != self.zs.len() || c != 3 || self.region.dim() != self.vol.dim() {
            return Err(Error::Config {
                name: what,
                why: format!(
                    "{n} slices × {c} classes of probabilities for {} indices; region {:?} vs volume {:?}",
                    self.zs.len(),
                    self.region.dim(),
                    self.vol.dim()
                ),
            });
        }
        if self.zs.iter().any(|&z| z >= self.vol.dim().0) {
            return Err(Error::Config {
                name: what,
                why: format!(
                    "a predicted slice is beyond the {} slices",
                    self.vol.dim().0
                ),
            });
        }
        Ok(())
    }

    /// Millilitres of one predicted pixel.
    pub fn voxel_ml(&self) -> f64 {
        let s = self.spacing;
        s.z * s.y * s.x * (self.factor * self.factor) as f64 * 1e-3 * self.z_step as f64
    }

    /// The search region's midline, half-width and rows over the predicted slices; `None`
    /// when it is empty there.
    pub fn region_extent(&self) -> Option<RegionExtent> {
        let (mut xs, mut cnt) = (0f64, 0f64);
        let (mut xmin, mut xmax) = (usize::MAX, 0usize);
        let (mut ymin, mut ymax) = (usize::MAX, 0usize);
        for &z in self.zs {
            for ((y, x), &m) in self.region.index_axis(Axis(0), z).indexed_iter() {
                if m != 0 {
                    xs += x as f64;
                    cnt += 1.0;
                    xmin = xmin.min(x);
                    xmax = xmax.max(x);
                    ymin = ymin.min(y);
                    ymax = ymax.max(y);
                }
            }
        }
        (cnt > 0.0).then(|| RegionExtent {
            x_mid: xs / cnt,
            half_width: ((xmax - xmin) as f64 / 2.0).max(1.0),
            rows: (ymin, ymax),
        })
    }
}

/// Per-scan features ([`PATTERN_FEATURE_NAMES`]) of the network's output on one scan.
pub fn pattern_features(m: &PatternMaps<'_>) -> Result<NamedFeatures> {
    m.check("pattern features")?;
    let PatternMaps {
        p,
        vol,
        region,
        zs,
        crop,
        ..
    } = *m;
    let (n, _, h, w) = p.dim();
    let (_, ny, nx) = vol.dim();
    let voxel_ml = m.voxel_ml();
    // Lung midline and half-width from the region (for laterality and periphery).
    let Some(RegionExtent {
        x_mid, half_width, ..
    }) = m.region_extent()
    else {
        let mut f = NamedFeatures::new();
        f.push_all(&PATTERN_FEATURE_NAMES, &[0.0; PATTERN_FEATURE_NAMES.len()])?;
        return Ok(f);
    };
    let (mut cap, mut covid, mut peak) = (0f64, 0f64, 0f64);
    let (mut side_mass, mut peripheral) = ([0f64; 2], 0f64);
    let (mut hu_sum, mut hu_w) = (0f64, 0f64);
    let mut cap_p = Vec::new();
    let mut covid_p = Vec::new();
    // Detected pixels (lesion probability ≥ ½) for 3-D grouping, in (slice k, y, x).
    let mut det = Array3::<u8>::zeros((n, h, w));
    for (k, &z) in zs.iter().enumerate() {
        for y in 0..h {
            let sy = crop.y0 + y;
            if sy >= ny {
                break;
            }
            for x in 0..w {
                let sx = crop.x0 + x;
                if sx >= nx || region[[z, sy, sx]] == 0 {
                    continue;
                }
                let (pc, pv) = (p[[k, 1, y, x]] as f64, p[[k, 2, y, x]] as f64);
                cap += pc;
                covid += pv;
                cap_p.push(pc);
                covid_p.push(pv);
                let pl = pc + pv;
                peak = peak.max(pl);
                side_mass[usize::from(sx as f64 > x_mid)] += pl;
                let lateral = ((sx as f64 - x_mid).abs() / half_width).min(1.0);
                if lateral > 0.6 {
                    peripheral += pl;
                }
                if pl >= 0.5 {
                    det[[k, y, x]] = 1 + u8::from(pv > pc);
                    hu_sum += pl * f64::from(vol[[z, sy, sx]]);
                    hu_w += pl;
                }
            }
        }
    }
    let region_px = cap_p.len() as f64;
    let top = |v: &mut Vec<f64>| {
        v.sort_unstable_by(|a, b| b.total_cmp(a));
        let k = v.len().min(64);
        if k == 0 {
            0.0
        } else {
            v[..k].iter().sum::<f64>() / k as f64
        }
    };
    let (cap_top, covid_top) = (top(&mut cap_p), top(&mut covid_p));
    // 3-D components (26-connectivity across the predicted slices) of detected pixels.
    let comps = Components::new(
        &PackedMask::from_u8(det.view())?,
        &generate_binary_structure(3, 3)?,
    )?;
    let labels = comps.labels();
    let mut sizes = vec![(0usize, 0usize); comps.len() + 1];
    for (&l, &d) in labels.iter().zip(det.iter()) {
        if l > 0 {
            sizes[l as usize].0 += 1;
            sizes[l as usize].1 += usize::from(d == 2);
        }
    }
    let mut foci = 0usize;
    let (mut top1, mut top1_covid) = (0f64, 0f64);
    for &(size, covid_px) in sizes.iter().filter(|(n, _)| *n > 0) {
        let ml = size as f64 * voxel_ml;
        if ml >= 0.2 {
            foci += 1;
        }
        if ml > top1 {
            top1 = ml;
            top1_covid = covid_px as f64 / size as f64;
        }
    }
    let lesion = cap + covid;
    let (lo, hi) = (
        side_mass[0].min(side_mass[1]),
        side_mass[0].max(side_mass[1]),
    );
    Ok({
        let mut f = NamedFeatures::new();
        f.push("cnn_lesion_pct", 100.0 * lesion / region_px);
        f.push("cnn_cap_ml", cap * voxel_ml);
        f.push("cnn_covid_ml", covid * voxel_ml);
        f.push("cnn_covid_share", covid / (lesion + 1.0));
        f.push("cnn_cap_top", cap_top);
        f.push("cnn_covid_top", covid_top);
        f.push("cnn_foci", foci as f64);
        f.push("cnn_top1_ml", top1);
        f.push("cnn_top1_covid_share", top1_covid);
        f.push(
            "cnn_bilateral_balance",
            if hi > 0.0 { lo / hi } else { 0.0 },
        );
        f.push(
            "cnn_lesion_mean_hu",
            if hu_w > 0.0 {
                // Back from the normalised scale to HU.
                hu_sum / hu_w * 400.0 - 600.0
            } else {
                -900.0
            },
        );
        f.push("cnn_peripheral_share", peripheral / (lesion + 1.0));
        f.push("cnn_peak", peak);
        f
    })
}
