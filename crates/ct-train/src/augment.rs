//! Training-time augmentation of one scan's slices, deterministic from an RNG: left–right
//! flip, small rotation and scale (one affine for all slices of a scan, bilinear, zero
//! outside), intensity gain and offset. Random slice subsets are drawn by
//! [`crate::batch::pick_slices`].

use ndarray::{Array3, Axis};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

/// Augmentation parameters. [`Augment::none`] turns every part off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Mirror left–right with probability 1/2.
    pub flip: bool,
    /// Rotate by a uniform angle in ±`rotate_deg` degrees.
    pub rotate_deg: f32,
    /// Scale by a uniform factor in 1 ± `scale`.
    pub scale: f32,
    /// Multiply by 1 ± `intensity` and add ±`intensity`/2 (uniform), then clip to [0, 1].
    pub intensity: f32,
    /// Train on a random sorted subset of the scan's slices (evaluation always takes evenly
    /// spaced slices).
    pub random_slices: bool,
}

impl Default for Augment {
    /// Flip, ±10°, ±10 % scale, ±10 % intensity, random slice subsets.
    fn default() -> Self {
        Augment {
            flip: true,
            rotate_deg: 10.0,
            scale: 0.1,
            intensity: 0.1,
            random_slices: true,
        }
    }
}

impl Augment {
    /// No augmentation.
    pub fn none() -> Augment {
        Augment {
            flip: false,
            rotate_deg: 0.0,
            scale: 0.0,
            intensity: 0.0,
            random_slices: false,
        }
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        let ok = |v: f32, hi: f32| v.is_finite() && (0.0..=hi).contains(&v);
        if !ok(self.rotate_deg, 180.0) {
            return Err(invalid("rotate", "must be 0–180 degrees"));
        }
        if !ok(self.scale, 0.5) {
            return Err(invalid("scale", "must be 0–0.5"));
        }
        if !ok(self.intensity, 0.5) {
            return Err(invalid("intensity", "must be 0–0.5"));
        }
        Ok(())
    }

    /// Augments `(S, H, W)` slices in place of a copy.
    pub fn apply<R: Rng>(&self, slices: Array3<f32>, rng: &mut R) -> Array3<f32> {
        let flip = self.flip && rng.random_bool(0.5);
        let angle = uniform(rng, self.rotate_deg).to_radians();
        let scale = 1.0 + uniform(rng, self.scale);
        let gain = 1.0 + uniform(rng, self.intensity);
        let offset = uniform(rng, self.intensity / 2.0);
        let mut out = if angle != 0.0 || scale != 1.0 || flip {
            affine(&slices, angle, scale, flip)
        } else {
            slices
        };
        if gain != 1.0 || offset != 0.0 {
            out.mapv_inplace(|v| (v * gain + offset).clamp(0.0, 1.0));
        }
        out
    }
}

fn uniform<R: Rng>(rng: &mut R, half: f32) -> f32 {
    if half > 0.0 {
        rng.random_range(-half..=half)
    } else {
        0.0
    }
}

/// Each slice rotated by `angle` and scaled by `scale` about its centre (then mirrored in x
/// when `flip`), bilinear, zero outside.
fn affine(v: &Array3<f32>, angle: f32, scale: f32, flip: bool) -> Array3<f32> {
    let (s, h, w) = v.dim();
    let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
    let (sin, cos) = angle.sin_cos();
    let mut out = Array3::<f32>::zeros((s, h, w));
    for (src, mut dst) in v.axis_iter(Axis(0)).zip(out.axis_iter_mut(Axis(0))) {
        for y in 0..h {
            for x in 0..w {
                let xo = if flip { w - 1 - x } else { x };
                // Inverse map: output (y, x) samples the input at R⁻¹ (p − c) / s + c.
                let (dy, dx) = (y as f32 - cy, xo as f32 - cx);
                let sy = (cos * dy - sin * dx) / scale + cy;
                let sx = (sin * dy + cos * dx) / scale + cx;
                dst[[y, x]] = bilinear(&src, sy, sx);
            }
        }
    }
    out
}

fn bilinear(img: &ndarray::ArrayView2<'_, f32>, y: f32, x: f32) -> f32 {
    let (h, w) = img.dim();
    if !(y > -1.0 && x > -1.0 && y < h as f32 && x < w as f32) {
        return 0.0;
    }
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let at = |yy: f32, xx: f32| {
        if yy < 0.0 || xx < 0.0 || yy >= h as f32 || xx >= w as f32 {
            0.0
        } else {
            img[[yy as usize, xx as usize]]
        }
    };
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1.0) * fx;
    let bottom = at(y0 + 1.0, x0) * (1.0 - fx) + at(y0 + 1.0, x0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ramp() -> Array3<f32> {
        Array3::from_shape_fn((2, 9, 9), |(z, y, x)| (z * 81 + y * 9 + x) as f32 / 200.0)
    }

    #[test]
    fn none_is_identity_and_flip_mirrors() {
        let v = ramp();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(Augment::none().apply(v.clone(), &mut rng), v);
        let f = affine(&v, 0.0, 1.0, true);
        for y in 0..9 {
            for x in 0..9 {
                assert_eq!(f[[1, y, x]], v[[1, y, 8 - x]]);
            }
        }
    }

    #[test]
    fn quarter_turn_moves_pixels() {
        let v = ramp();
        let r = affine(&v, std::f32::consts::FRAC_PI_2, 1.0, false);
        // Output (y, x) samples input (cy − (x − cx), cx + (y − cy))… for a 90° turn the
        // centre stays and the corners trade places.
        assert!((r[[0, 4, 4]] - v[[0, 4, 4]]).abs() < 1e-5);
        assert!(
            (r[[0, 0, 0]] - v[[0, 8, 0]]).abs() < 1e-5,
            "{} {}",
            r[[0, 0, 0]],
            v[[0, 8, 0]]
        );
    }

    #[test]
    fn same_seed_same_result_and_values_stay_in_range() {
        let a = Augment::default();
        let x = a.apply(ramp(), &mut ChaCha8Rng::seed_from_u64(7));
        let y = a.apply(ramp(), &mut ChaCha8Rng::seed_from_u64(7));
        assert_eq!(x, y);
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(Augment { scale: 2.0, ..a }.validate().is_err());
        assert!(
            Augment {
                rotate_deg: f32::NAN,
                ..a
            }
            .validate()
            .is_err()
        );
    }
}
