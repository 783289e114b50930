//! Training targets and the loss (used by the example `train_pattern_unet`).

use covnet_models::burn::prelude::*;
use covnet_models::burn::tensor::activation::log_softmax;
use ct_core::Label;
use ndarray::{Array3, ArrayView3};

use super::*;

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
