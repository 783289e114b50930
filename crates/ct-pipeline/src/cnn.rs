//! Lesion-pattern U-Net: a 2.5-D U-Net (`covnet-models`) that labels each lung pixel as
//! background, a CAP-like lesion or a COVID-19-like lesion.
//!
//! The voxel detector of [`crate::lesion`] sees a few millimetres around each candidate and
//! says *lesion or not*; what tells CAP from COVID-19 is the pattern (a lobar or segmental
//! consolidation with air bronchograms against peripheral, multifocal ground glass), which
//! a convolutional network sees over several centimetres. The network here is the model
//! zoo's [`UNet`] (3 input channels: a slice and its two neighbours; 3 classes; 16 base
//! channels; depth 3), run at half the in-plane resolution (2×2 means of HU: 3 mm pixels on
//! the 256² phantoms, which also halves the noise). Its training target is the phantom's
//! lesion mask, coloured by the scan's diagnosis: lesion voxels of CAP scans are class 1,
//! of COVID-19 scans class 2.
//!
//! It is trained once, on its own phantom cohort (seed 2021 + [`PATTERN_SEED_OFFSET`], never
//! an evaluated cohort), by the example `train_pattern_unet` (on a GPU through libtorch, or
//! on the CPU), and shipped: [`PatternNet::shipped`]. Per scan, [`pattern_features`]
//! summarises its probabilities inside the lung search region in [`PATTERN_FEATURE_NAMES`].

use covnet_models::burn::prelude::*;
use covnet_models::burn::store::{ModuleSnapshot, SafetensorsStore};
use covnet_models::burn::tensor::activation::{log_softmax, softmax};
use covnet_models::{Device, UNet, UNetConfig};
use ct_core::{Label, Spacing};
use ct_morph::{Components, PackedMask, generate_binary_structure};
use ndarray::{Array3, Array4, ArrayView3, Axis};

use crate::{Error, Result};

/// Seed offset of the pattern network's training cohort (the evaluated cohort uses the run's
/// seed, the voxel detector's `seed + 0x1e51_0000`).
pub const PATTERN_SEED_OFFSET: u64 = 0x1e52_0000;

/// In-plane down-sampling of the network's input on the phantoms it was trained on (2×2
/// means of 1.2–1.6 mm pixels); other pixel sizes get [`downsample_factor`].
pub const DOWNSAMPLE: usize = 2;

/// The pixel size (mm) the network sees, about (see [`downsample_factor`]).
pub const TARGET_PIXEL_MM: f64 = 2.8;

/// The classes of the network's output.
pub const PATTERN_CLASSES: [&str; 3] = ["background", "cap_like", "covid_like"];

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

/// The network's configuration.
pub fn pattern_config() -> UNetConfig {
    UNetConfig {
        in_channels: 3,
        num_classes: 3,
        base_channels: 16,
        depth: 3,
    }
}

fn stage(e: impl Into<crate::error::BoxError>) -> Error {
    Error::network(e)
}

/// HU to the network's input scale: air −1, aerated lung about −0.6, ground glass about
/// −0.1, soft tissue 1.5 (clipped to −1100…400 HU).
#[inline]
pub fn normalise(hu: f32) -> f32 {
    (hu.clamp(-1100.0, 400.0) + 600.0) / 400.0
}

/// The in-plane down-sampling factor for voxels of `pixel_mm`: the integer that brings the
/// pixel nearest to [`TARGET_PIXEL_MM`] (2 for the 1.2–1.6 mm pixels of the 256² phantoms the
/// network was trained on, 4 for the 0.7 mm of a 512² clinical scan).
pub fn downsample_factor(pixel_mm: f64) -> usize {
    if pixel_mm.is_finite() && pixel_mm > 0.0 {
        ((TARGET_PIXEL_MM / pixel_mm).round() as usize).clamp(1, 16)
    } else {
        DOWNSAMPLE
    }
}

/// `(z, y, x)` HU to the network's input `(z, y/f, x/f)`: f×f means of HU, normalised
/// ([`normalise`]). Rows and columns beyond a whole block are dropped.
pub fn downsample(hu: ArrayView3<'_, i16>, f: usize) -> Array3<f32> {
    let f = f.max(1);
    let (nz, ny, nx) = hu.dim();
    let inv = 1.0 / (f * f) as f32;
    Array3::from_shape_fn((nz, ny / f, nx / f), |(z, y, x)| {
        let mut s = 0f32;
        for dy in 0..f {
            for dx in 0..f {
                s += f32::from(hu[[z, y * f + dy, x * f + dx]]);
            }
        }
        normalise(s * inv)
    })
}

/// A `(z, y, x)` mask down-sampled by `f`: a pixel is set when at least half of its f×f
/// voxels are.
pub fn downsample_mask(m: ArrayView3<'_, u8>, f: usize) -> Array3<u8> {
    let f = f.max(1);
    let (nz, ny, nx) = m.dim();
    Array3::from_shape_fn((nz, ny / f, nx / f), |(z, y, x)| {
        let mut n = 0;
        for dy in 0..f {
            for dx in 0..f {
                n += usize::from(m[[z, y * f + dy, x * f + dx]] != 0);
            }
        }
        u8::from(2 * n >= f * f)
    })
}

/// The training target of one scan, down-sampled by `f`: 0 background, 1 lesion of a CAP
/// scan, 2 lesion of a COVID-19 scan (normal scans have no lesion voxels).
pub fn pattern_target(lesion: ArrayView3<'_, u8>, label: Label, f: usize) -> Array3<u8> {
    let class = match label {
        Label::Normal => 0,
        Label::Cap => 1,
        Label::Covid => 2,
    };
    downsample_mask(lesion, f).mapv(|v| v * class)
}

/// A crop of the half-resolution plane: rows `y0..y0 + h`, columns `x0..x0 + w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    /// First row.
    pub y0: usize,
    /// First column.
    pub x0: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
}

/// Network input for slices `zs` of a half-resolution volume: `[zs.len(), 3, h, w]` values
/// (the slice before, the slice, the slice after; clamped at the ends), row-major. Pixels of
/// the crop outside the volume are air (−1). `flip[i]` mirrors slice `i` left–right.
pub fn input_batch(vol: &Array3<f32>, zs: &[usize], crop: Crop, flip: &[bool]) -> Vec<f32> {
    let (nz, ny, nx) = vol.dim();
    let plane = crop.h * crop.w;
    let mut out = vec![-1.0f32; zs.len() * 3 * plane];
    for (i, &z) in zs.iter().enumerate() {
        let f = flip.get(i).copied().unwrap_or(false);
        for (c, dz) in [-1isize, 0, 1].iter().enumerate() {
            let zz = (z as isize + dz).clamp(0, nz as isize - 1) as usize;
            let base = (i * 3 + c) * plane;
            for y in 0..crop.h {
                let sy = crop.y0 + y;
                if sy >= ny {
                    break;
                }
                for x in 0..crop.w {
                    let sx = crop.x0 + x;
                    if sx >= nx {
                        break;
                    }
                    let dx = if f { crop.w - 1 - x } else { x };
                    out[base + y * crop.w + dx] = vol[[zz, sy, sx]];
                }
            }
        }
    }
    out
}

/// One-hot targets for slices `zs` of a half-resolution target volume, `[n, 3, h, w]`, with
/// the same crop and flips as [`input_batch`].
pub fn target_batch(t: &Array3<u8>, zs: &[usize], crop: Crop, flip: &[bool]) -> Vec<f32> {
    let (_, ny, nx) = t.dim();
    let plane = crop.h * crop.w;
    let mut out = vec![0f32; zs.len() * 3 * plane];
    for (i, &z) in zs.iter().enumerate() {
        let f = flip.get(i).copied().unwrap_or(false);
        for y in 0..crop.h {
            for x in 0..crop.w {
                let (sy, sx) = (crop.y0 + y, crop.x0 + x);
                let class = if sy < ny && sx < nx {
                    t[[z, sy, sx]] as usize
                } else {
                    0
                };
                let dx = if f { crop.w - 1 - x } else { x };
                out[(i * 3 + class.min(2)) * plane + y * crop.w + dx] = 1.0;
            }
        }
    }
    out
}

/// Class-weighted pixel cross-entropy of logits `[n, 3, h, w]` against one-hot targets of the
/// same shape, normalised by the summed weights.
pub fn pattern_loss(logits: Tensor<4>, onehot: Tensor<4>, weights: [f32; 3]) -> Tensor<1> {
    let device = logits.device();
    let w = Tensor::<1>::from_floats(weights, &device).reshape([1, 3, 1, 1]);
    let wt = onehot.mul(w);
    let num = log_softmax(logits, 1).mul(wt.clone()).sum().neg();
    num.div(wt.sum().add_scalar(1e-6))
}

/// The trained network and the device it runs on.
#[derive(Debug)]
pub struct PatternNet {
    net: UNet,
    device: Device,
}

impl PatternNet {
    /// A network with random weights (for training).
    pub fn new(device: &Device) -> Result<PatternNet> {
        Ok(PatternNet {
            net: pattern_config().init(device).map_err(stage)?,
            device: device.clone(),
        })
    }

    /// Wraps a (trained) network.
    pub fn from_net(net: UNet, device: &Device) -> PatternNet {
        PatternNet {
            net,
            device: device.clone(),
        }
    }

    /// Weights from safetensors bytes (as written by [`PatternNet::to_bytes`]); every tensor
    /// of the network must be present with its shape.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<PatternNet> {
        let mut net = pattern_config().init(device).map_err(stage)?;
        let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()));
        let res = net.load_from(&mut store).map_err(stage)?;
        if !res.missing.is_empty() || !res.errors.is_empty() {
            return Err(stage(format!(
                "weights do not fit the network: missing {:?}, errors {:?}",
                res.missing, res.errors
            )));
        }
        Ok(PatternNet {
            net,
            device: device.clone(),
        })
    }

    /// The weights as safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut store = SafetensorsStore::from_bytes(None);
        self.net.save_into(&mut store).map_err(stage)?;
        store.get_bytes().map_err(stage)
    }

    /// The network shipped with this crate (`models/lesion_pattern_unet.safetensors`), on the
    /// CPU.
    pub fn shipped() -> Result<PatternNet> {
        PatternNet::from_bytes(
            include_bytes!("../models/lesion_pattern_unet.safetensors"),
            &covnet_models::cpu_device(),
        )
    }

    /// Class probabilities `[zs.len(), 3, crop.h, crop.w]` for slices `zs` of a
    /// half-resolution volume ([`downsample`]), `batch` slices at a time. `crop.h` and `crop.w`
    /// must be multiples of 8.
    pub fn predict(
        &self,
        vol: &Array3<f32>,
        zs: &[usize],
        crop: Crop,
        batch: usize,
    ) -> Result<Array4<f32>> {
        self.predict_flipped(vol, zs, crop, batch, false)
    }

    /// [`PatternNet::predict`] on the left–right mirrored input, mirrored back (`flip`), so
    /// that its output is aligned with the input like `predict`'s.
    pub fn predict_flipped(
        &self,
        vol: &Array3<f32>,
        zs: &[usize],
        crop: Crop,
        batch: usize,
        flip: bool,
    ) -> Result<Array4<f32>> {
        let mut out = Array4::<f32>::zeros((zs.len(), 3, crop.h, crop.w));
        for (k, chunk) in zs.chunks(batch.max(1)).enumerate() {
            let flips = vec![flip; chunk.len()];
            let x = input_batch(vol, chunk, crop, &flips);
            let x = Tensor::<1>::from_floats(x.as_slice(), &self.device).reshape([
                chunk.len(),
                3,
                crop.h,
                crop.w,
            ]);
            let p = softmax(self.net.forward(x).map_err(stage)?, 1);
            let data = p.into_data().convert::<f32>();
            let v = data
                .as_slice::<f32>()
                .map_err(|e| stage(format!("{e:?}")))?;
            let a = ndarray::ArrayView4::from_shape((chunk.len(), 3, crop.h, crop.w), v)
                .map_err(stage)?;
            let start = k * batch.max(1);
            let a = if flip {
                a.slice_move(ndarray::s![.., .., .., ..;-1])
            } else {
                a
            };
            out.slice_mut(ndarray::s![start..start + chunk.len(), .., .., ..])
                .assign(&a);
        }
        Ok(out)
    }
}

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
        return Err(stage(format!(
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
pub fn pattern_features(m: &PatternMaps<'_>) -> Result<Vec<f64>> {
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
        return Ok(vec![0.0; PATTERN_FEATURE_NAMES.len()]);
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
        &PackedMask::from_u8(det.view()).map_err(stage)?,
        &generate_binary_structure(3, 3).map_err(stage)?,
    )
    .map_err(stage)?;
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
    Ok(vec![
        100.0 * lesion / region_px,
        cap * voxel_ml,
        covid * voxel_ml,
        covid / (lesion + 1.0),
        cap_top,
        covid_top,
        foci as f64,
        top1,
        top1_covid,
        if hi > 0.0 { lo / hi } else { 0.0 },
        if hu_w > 0.0 {
            // Back from the normalised scale to HU.
            hu_sum / hu_w * 400.0 - 600.0
        } else {
            -900.0
        },
        peripheral / (lesion + 1.0),
        peak,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use covnet_models::burn::optim::GradientsParams;
    use covnet_models::{FusedAdamConfig, cpu_device};
    use ndarray::Array3;

    #[test]
    fn half_resolution_input_and_targets() {
        let mut hu = Array3::<i16>::from_elem((2, 4, 4), -1000);
        hu[[0, 0, 0]] = 600; // the mean is taken first, then clipped
        hu[[1, 2, 2]] = -200;
        hu[[1, 2, 3]] = -200;
        let v = downsample(hu.view(), 2);
        assert_eq!(v.dim(), (2, 2, 2));
        assert!((v[[0, 0, 0]] - normalise((600.0 - 3000.0) / 4.0)).abs() < 1e-6);
        assert!((v[[1, 1, 1]] - normalise(-600.0)).abs() < 1e-6);
        assert!((v[[0, 1, 1]] + 1.0).abs() < 1e-6);
        let mut les = Array3::<u8>::zeros((2, 4, 4));
        les[[1, 2, 2]] = 1;
        les[[1, 2, 3]] = 1; // two of four: set
        les[[0, 0, 0]] = 1; // one of four: not set
        assert_eq!(pattern_target(les.view(), Label::Covid, 2)[[1, 1, 1]], 2);
        assert_eq!(pattern_target(les.view(), Label::Cap, 2)[[1, 1, 1]], 1);
        assert_eq!(pattern_target(les.view(), Label::Cap, 2)[[0, 0, 0]], 0);
        assert_eq!(pattern_target(les.view(), Label::Normal, 2).sum(), 0);
    }

    #[test]
    fn downsampling_follows_the_pixel_size() {
        // The phantoms it was trained on (256²: 1.2–1.6 mm) keep 2; clinical 512² gets 4.
        for mm in [1.2, 1.4, 1.6] {
            assert_eq!(downsample_factor(mm), DOWNSAMPLE);
        }
        assert_eq!(downsample_factor(0.7), 4);
        assert_eq!(downsample_factor(3.0), 1);
        assert_eq!(downsample_factor(f64::NAN), DOWNSAMPLE);
        assert_eq!(downsample_factor(0.0), DOWNSAMPLE);
        let hu = Array3::from_shape_fn((1, 7, 6), |(_, y, x)| (100 * y + x) as i16 - 1000);
        let v = downsample(hu.view(), 3);
        assert_eq!(v.dim(), (1, 2, 2));
        // Block (1, 1): rows 3..6, columns 3..6: mean 100·4 + 4 − 1000.
        assert!((v[[0, 1, 1]] - normalise(-596.0)).abs() < 1e-5);
        let mut m = Array3::<u8>::zeros((1, 6, 6));
        for x in 0..5 {
            m[[0, 0, x]] = 1; // 3 of the 9 voxels of block (0, 0), 2 of block (0, 1)
        }
        m[[0, 1, 0]] = 1;
        m[[0, 1, 1]] = 1; // block (0, 0): 5 of 9
        let d = downsample_mask(m.view(), 3);
        assert_eq!(d[[0, 0, 0]], 1);
        assert_eq!(d[[0, 0, 1]], 0);
    }

    #[test]
    fn batches_hold_neighbours_flips_and_one_hot_targets() {
        let vol = Array3::from_shape_fn((3, 2, 2), |(z, y, x)| (z * 100 + y * 10 + x) as f32);
        let crop = Crop {
            y0: 0,
            x0: 0,
            h: 2,
            w: 3,
        };
        let b = input_batch(&vol, &[0, 2], crop, &[false, true]);
        assert_eq!(b.len(), 2 * 3 * 6);
        // Slice 0: neighbours clamped (0, 0, 1); the third column is outside: air.
        assert_eq!(&b[0..6], &[0.0, 1.0, -1.0, 10.0, 11.0, -1.0]);
        assert_eq!(&b[12..18], &[100.0, 101.0, -1.0, 110.0, 111.0, -1.0]);
        // Slice 2 mirrored: (1, 2, 2); a row reads (air, x=1, x=0).
        assert_eq!(&b[18..24], &[-1.0, 101.0, 100.0, -1.0, 111.0, 110.0]);
        let mut t = Array3::<u8>::zeros((3, 2, 2));
        t[[2, 0, 0]] = 2;
        let y = target_batch(&t, &[2], crop, &[true]);
        // Class 2 at the mirrored position (0, 2); everything else background.
        assert_eq!(y[2 * 6 + 2], 1.0);
        assert_eq!(y[2], 0.0);
        assert_eq!(y.iter().sum::<f32>(), 6.0);
    }

    #[test]
    fn weights_round_trip_and_bad_bytes_are_errors() {
        let dev = cpu_device();
        let net = PatternNet::new(&dev).unwrap();
        let bytes = net.to_bytes().unwrap();
        let back = PatternNet::from_bytes(&bytes, &dev).unwrap();
        let vol = Array3::from_shape_fn((3, 16, 16), |(z, y, x)| ((z + y * x) % 7) as f32 / 7.0);
        let crop = Crop {
            y0: 0,
            x0: 0,
            h: 16,
            w: 16,
        };
        let a = net.predict(&vol, &[0, 1, 2], crop, 2).unwrap();
        let b = back.predict(&vol, &[0, 1, 2], crop, 2).unwrap();
        assert_eq!(a, b);
        let sums = a.sum_axis(Axis(1));
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4));
        assert!(PatternNet::from_bytes(b"not safetensors", &dev).is_err());
        assert!(PatternNet::from_bytes(&bytes[..bytes.len() / 2], &dev).is_err());
    }

    #[test]
    fn mirrored_prediction_is_aligned_with_the_input() {
        // predict_flipped(v) must equal mirror(predict(mirror(v))): the mirrored pass of the
        // test-time augmentation lands on the pixels it describes.
        let dev = cpu_device();
        let net = PatternNet::new(&dev).unwrap();
        let vol = Array3::from_shape_fn((3, 16, 16), |(z, y, x)| {
            ((z * 3 + y * 5 + x * x) % 11) as f32 / 11.0 - 0.5
        });
        let crop = Crop {
            y0: 0,
            x0: 0,
            h: 16,
            w: 16,
        };
        let mirrored = vol.slice(ndarray::s![.., .., ..;-1]).to_owned();
        let a = net
            .predict_flipped(&vol, &[0, 1, 2], crop, 2, true)
            .unwrap();
        let b = net.predict(&mirrored, &[0, 1, 2], crop, 2).unwrap();
        let b = b.slice(ndarray::s![.., .., .., ..;-1]);
        assert!(a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() < 1e-6));
        // The untrained network is not mirror-symmetric, so the two passes differ.
        let plain = net.predict(&vol, &[0, 1, 2], crop, 2).unwrap();
        assert!(
            plain
                .iter()
                .zip(a.iter())
                .any(|(x, y)| (x - y).abs() > 1e-4)
        );
    }

    #[test]
    fn pattern_loss_falls_when_training_on_a_blob() {
        // A bright disc labelled COVID-like in front of noise: a few Adam steps must halve the
        // loss (the real training runs in the example `train_pattern_unet`).
        let dev = cpu_device().autodiff();
        dev.seed(3);
        let mut model = pattern_config().init(&dev).unwrap();
        let mut optim = FusedAdamConfig::default().init();
        let n = 16;
        let mut vol = Array3::<f32>::from_elem((2, n, n), -0.6);
        let mut t = Array3::<u8>::zeros((2, n, n));
        for z in 0..2 {
            for y in 0..n {
                for x in 0..n {
                    let (dy, dx) = (y as f32 - 7.5, x as f32 - 5.0 - 5.0 * z as f32);
                    vol[[z, y, x]] += (((y * 7 + x * 13 + z) % 5) as f32 - 2.0) * 0.05;
                    if dy * dy + dx * dx < 9.0 {
                        vol[[z, y, x]] = 0.4;
                        t[[z, y, x]] = 2;
                    }
                }
            }
        }
        let crop = Crop {
            y0: 0,
            x0: 0,
            h: n,
            w: n,
        };
        let x = input_batch(&vol, &[0, 1], crop, &[]);
        let y = target_batch(&t, &[0, 1], crop, &[]);
        let mut losses = Vec::new();
        for _ in 0..40 {
            let xt = Tensor::<1>::from_floats(x.as_slice(), &dev).reshape([2, 3, n, n]);
            let yt = Tensor::<1>::from_floats(y.as_slice(), &dev).reshape([2, 3, n, n]);
            let loss = pattern_loss(model.forward(xt).unwrap(), yt, [1.0, 3.0, 3.0]);
            losses.push(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(5e-3, model, grads);
        }
        let first = losses[..3].iter().sum::<f32>() / 3.0;
        let last = losses[losses.len() - 3..].iter().sum::<f32>() / 3.0;
        assert!(last < 0.5 * first, "loss {first} -> {last}");
    }

    #[test]
    fn features_of_known_probabilities() {
        // Region: two 4×4 squares (left and right) on 2 slices; COVID-like certainty on the
        // left square of both slices, CAP-like ½ on one pixel on the right.
        let (nz, n) = (2, 16);
        let mut region = Array3::<u8>::zeros((nz, n, n));
        let mut vol = Array3::<f32>::from_elem((nz, n, n), normalise(-850.0));
        let mut p = Array4::<f32>::zeros((nz, 3, n, n));
        p.index_axis_mut(Axis(1), 0).fill(1.0);
        for z in 0..nz {
            for y in 4..8 {
                for x in 2..6 {
                    region[[z, y, x]] = 1;
                    region[[z, y, x + 8]] = 1;
                    p[[z, 0, y, x]] = 0.0;
                    p[[z, 2, y, x]] = 1.0;
                    vol[[z, y, x]] = normalise(-600.0);
                }
            }
        }
        p[[0, 0, 5, 11]] = 0.5;
        p[[0, 1, 5, 11]] = 0.5;
        let crop = Crop {
            y0: 0,
            x0: 0,
            h: n,
            w: n,
        };
        let spacing = Spacing {
            z: 2.5,
            y: 1.0,
            x: 1.0,
        };
        let maps = |region, zs| PatternMaps {
            p: &p,
            vol: &vol,
            region,
            zs,
            crop,
            spacing,
            factor: 2,
            z_step: 1,
        };
        let f = pattern_features(&maps(&region, &[0, 1])).unwrap();
        let get = |name: &str| {
            f[PATTERN_FEATURE_NAMES
                .iter()
                .position(|n| *n == name)
                .unwrap()]
        };
        // 32 certain pixels of 2.5 × 2 × 2 mm³ = 10 µl each.
        assert!((get("cnn_covid_ml") - 0.32).abs() < 1e-9);
        assert!((get("cnn_cap_ml") - 0.005).abs() < 1e-9);
        assert!((get("cnn_lesion_pct") - 100.0 * 32.5 / 64.0).abs() < 1e-9);
        assert_eq!(get("cnn_foci"), 1.0); // 0.32 ml ≥ 0.2 ml; the ½ pixel alone is tiny
        // The ½ pixel on the right is its own (tiny) component.
        assert!((get("cnn_top1_ml") - 0.32).abs() < 1e-9);
        assert_eq!(get("cnn_top1_covid_share"), 1.0);
        // Probability-weighted: 32 pixels at −600 HU, the ½ pixel at −850 HU.
        let hu = (32.0 * -600.0 + 0.5 * -850.0) / 32.5;
        assert!((get("cnn_lesion_mean_hu") - hu).abs() < 1e-3);
        assert!((get("cnn_bilateral_balance") - 0.5 / 32.0).abs() < 1e-9);
        // Lateral beyond 0.6 of the half-width (5.5 px about x = 7.5): x = 2, 3, 4 and 11.
        assert!((get("cnn_peripheral_share") - 24.5 / 33.5).abs() < 1e-9);
        assert!((get("cnn_covid_top") - 0.5).abs() < 1e-9); // 32 ones among the top 64
        assert_eq!(get("cnn_peak"), 1.0);
        // An empty region gives zeros; a shape mismatch is an error.
        let empty = Array3::<u8>::zeros((nz, n, n));
        let z = pattern_features(&maps(&empty, &[0, 1])).unwrap();
        assert!(z.iter().all(|&v| v == 0.0));
        assert!(pattern_features(&maps(&region, &[0])).is_err());
        assert!(pattern_features(&maps(&region, &[0, 9])).is_err());
    }

    #[test]
    fn overlay_tints_by_class() {
        let gray = ndarray::Array2::<u8>::from_elem((4, 4), 100);
        let mut p = Array4::<f32>::zeros((1, 3, 2, 2));
        p[[0, 0, 0, 0]] = 1.0; // background: grey stays
        p[[0, 1, 0, 1]] = 1.0; // CAP-like: orange
        p[[0, 2, 1, 0]] = 1.0; // COVID-19-like: magenta
        p[[0, 0, 1, 1]] = 1.0;
        let crop = Crop {
            y0: 0,
            x0: 0,
            h: 2,
            w: 2,
        };
        let img = pattern_overlay(gray.view(), &p, 0, crop, 2).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [100, 100, 100]);
        let [r, g, b] = img.get_pixel(3, 1).0; // x = 3, y = 1: half-res (0, 1)
        assert!(r > 200 && g > b && b < 50, "{r} {g} {b}");
        let [r, g, b] = img.get_pixel(0, 2).0; // half-res (1, 0)
        assert!(r > 200 && b > 200 && g < 50, "{r} {g} {b}");
        assert!(pattern_overlay(gray.view(), &p, 1, crop, 2).is_err());
    }
}
