//! Interpretability figures of a finished run (the seed's): Grad-CAM overlays on the slice
//! that drove the decision for correctly and wrongly classified scans, and per-layer
//! activation histograms of the backbone.

use covnet_models::{Backbone, Device, array_from_tensor};
use ct_core::Label;
use ct_report::image::{ColorMap, png_bytes, to_rgb};
use image::{Rgb, RgbImage};
use ndarray::{Array2, ArrayView2, Ix4};
use rand_chacha::ChaCha8Rng;

use crate::batch::batch_tensor;
use crate::checkpoint::FoldCheckpoints;
use crate::config::TrainConfig;
use crate::dataset::{ScanDataset, ScanItem};
use crate::error::Result;
use crate::model::Net;
use crate::trainer::{FoldOutcome, argmax};

/// One Grad-CAM figure.
#[derive(Debug, Clone)]
pub struct CamFigure {
    /// The scan.
    pub id: String,
    /// Its label.
    pub truth: Label,
    /// What its fold's model predicted (the class the map explains).
    pub predicted: Label,
    /// The slice shown (index among the S slices fed to the network).
    pub slice: usize,
    /// Slice and map side by side, PNG.
    pub png: Vec<u8>,
}

/// Up to `per_kind` correctly and `per_kind` wrongly classified scans (in fold order), each
/// with the Grad-CAM of its predicted class on the slice with the largest map. COVNet
/// models only (`None` for ConvLSTM).
pub fn grad_cam_figures(
    data: &ScanDataset,
    config: &TrainConfig,
    out: &std::path::Path,
    outcomes: &[FoldOutcome],
    device: &Device,
    per_kind: usize,
) -> Result<Option<Vec<CamFigure>>> {
    let mut picks: Vec<(usize, usize, usize)> = Vec::new(); // (fold, item, predicted)
    for want_right in [true, false] {
        let mut n = 0;
        for o in outcomes {
            for (&i, p) in o.val.iter().zip(&o.probabilities) {
                let truth = data.items()[i].label.map_or(0, |l| l.index());
                if n < per_kind && (argmax(p) == truth) == want_right {
                    picks.push((o.fold, i, argmax(p)));
                    n += 1;
                }
            }
        }
    }
    let ad = device.clone().autodiff();
    let mut figures = Vec::new();
    for (fold, i, predicted) in picks {
        let ckpt = FoldCheckpoints::new(out.join("checkpoints").join(format!("fold-{fold}")))?;
        let Net::CovNet(net) = ckpt.load_weights(&config.model, "best", &ad)? else {
            return Ok(None);
        };
        let item = &data.items()[i];
        let x =
            batch_tensor::<ChaCha8Rng>(&[item], config.slices, config.model.in_channels, None, &ad);
        let cam = net.grad_cam_slices(x, predicted)?;
        let cam = array_from_tensor(cam)
            .into_dimensionality::<Ix4>()
            .map_err(|e| crate::error::invalid("grad-cam", e.to_string()))?;
        let sums: Vec<f32> = cam.outer_iter().next().map_or_else(Vec::new, |scan| {
            scan.outer_iter().map(|m| m.sum()).collect()
        });
        let slice = argmax(&sums);
        let map = cam.slice(ndarray::s![0, slice, .., ..]).mapv(f64::from);
        let zs = crate::batch::pick_slices::<ChaCha8Rng>(item.n_slices(), config.slices, None);
        let png = overlay_png(item, zs[slice], map.view())?;
        figures.push(CamFigure {
            id: item.id.clone(),
            truth: item.label.unwrap_or(Label::Normal),
            predicted: Label::ALL[predicted.min(2)],
            slice,
            png,
        });
    }
    Ok(Some(figures))
}

/// The slice in grey beside the slice with the map (viridis, blended where it is high).
fn overlay_png(item: &ScanItem, z: usize, map: ArrayView2<'_, f64>) -> Result<Vec<u8>> {
    let slice = item.slices_f32(&[z]);
    let plane = slice.index_axis(ndarray::Axis(0), 0).mapv(f64::from);
    let (h, w) = plane.dim();
    let up = upsample(map, h, w);
    let peak = up.iter().copied().fold(0.0f64, f64::max);
    let grey =
        to_rgb(plane.view(), 0.0, 1.0, ColorMap::Gray).map_err(crate::error::Error::Report)?;
    let heat = to_rgb(up.view(), 0.0, peak.max(1e-12), ColorMap::Viridis)
        .map_err(crate::error::Error::Report)?;
    let mut img = RgbImage::new(2 * w as u32 + 4, h as u32);
    for y in 0..h as u32 {
        for x in 0..w as u32 {
            let g = grey.get_pixel(x, y).0;
            img.put_pixel(x, y, Rgb(g));
            let a = if peak > 0.0 {
                0.6 * up[[y as usize, x as usize]] / peak
            } else {
                0.0
            };
            let c = heat.get_pixel(x, y).0;
            let mix = [0, 1, 2]
                .map(|k| (f64::from(g[k]) * (1.0 - a) + f64::from(c[k]) * a).round() as u8);
            img.put_pixel(x + w as u32 + 4, y, Rgb(mix));
        }
    }
    png_bytes(&img).map_err(crate::error::Error::Report)
}

/// Bilinear up-sampling of a small map to `h × w` (pixel centres aligned).
fn upsample(m: ArrayView2<'_, f64>, h: usize, w: usize) -> Array2<f64> {
    let (mh, mw) = m.dim();
    Array2::from_shape_fn((h, w), |(y, x)| {
        let sy = ((y as f64 + 0.5) * mh as f64 / h as f64 - 0.5).clamp(0.0, (mh - 1) as f64);
        let sx = ((x as f64 + 0.5) * mw as f64 / w as f64 - 0.5).clamp(0.0, (mw - 1) as f64);
        let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
        let (y1, x1) = ((y0 + 1).min(mh - 1), (x0 + 1).min(mw - 1));
        let (fy, fx) = (sy - y0 as f64, sx - x0 as f64);
        let top = m[[y0, x0]] * (1.0 - fx) + m[[y0, x1]] * fx;
        let bottom = m[[y1, x0]] * (1.0 - fx) + m[[y1, x1]] * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// Activation values per backbone stage for the scans `idx` (evenly spaced slices), each
/// subsampled to at most 20 000 values: the seed's per-layer histograms. `None` for
/// backbones without taps (CSRNet) and for ConvLSTM.
pub fn activation_samples(
    data: &ScanDataset,
    config: &TrainConfig,
    net: &Net,
    idx: &[usize],
    device: &Device,
) -> Result<Option<Vec<(String, Vec<f64>)>>> {
    let Net::CovNet(m) = net else { return Ok(None) };
    let scans: Vec<&ScanItem> = idx.iter().map(|&i| &data.items()[i]).collect();
    if scans.is_empty() {
        return Ok(None);
    }
    let x = batch_tensor::<ChaCha8Rng>(
        &scans,
        config.slices,
        config.model.in_channels,
        None,
        device,
    );
    let [b, s, c, h, w] = x.dims();
    let x = x.reshape([b * s, c, h, w]);
    let taps = match m.backbone() {
        Backbone::ResNet(r) => r.forward_taps(x)?.1,
        Backbone::DenseNet(d) => d.forward_taps(x)?.1,
        Backbone::Csrnet(_) => return Ok(None),
    };
    Ok(Some(
        taps.into_iter()
            .map(|(name, t)| {
                let a = array_from_tensor(t);
                let step = (a.len() / 20_000).max(1);
                (
                    name,
                    a.iter().step_by(step).map(|&v| f64::from(v)).collect(),
                )
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsample_keeps_constants_and_corners() {
        let m = Array2::from_shape_vec((2, 2), vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        let u = upsample(m.view(), 8, 8);
        assert_eq!(u[[0, 0]], 0.0);
        assert_eq!(u[[7, 7]], 3.0);
        let c = upsample(Array2::from_elem((3, 3), 5.0).view(), 7, 9);
        assert!(c.iter().all(|&v| (v - 5.0).abs() < 1e-12));
    }
}
