//! From HU volumes to the network's input: down-sampling, scaling, crops and batches.

use ndarray::{Array3, ArrayView3};

use super::*;

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
