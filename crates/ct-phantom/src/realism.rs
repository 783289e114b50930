//! Realism V2: the surroundings and the acquisition of a real chest CT around V1's patient.
//!
//! Everything here is drawn from the scan's own `Purpose::Realism` stream, after V1's draws,
//! so V1 scans never see it. What it adds (see `docs/ct-phantom.md`, "Realism V2"):
//! a curved couch shell with a foam mattress the body sinks into, pillows, blankets and
//! clothing layers with air gaps, arms up or down, a field of view that cuts the body (and
//! sometimes a lung), CT angiography, band-pass correlated noise, streaks from the spine and
//! from metal, partial-volume blur, breathing blur, bowel and stomach gas with stool.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::anatomy::{Anatomy, SliceGeom, region, sq};
use crate::model::Acquisition;
use crate::rng::{Purpose, rng_for};

/// Where the arms are (realism V2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arms {
    /// Raised beside the head: in the chest only at the apices, anterolateral to the
    /// shoulders.
    Up,
    /// Down beside the trunk with an air gap (a separate body in the image).
    DownApart,
    /// Down beside the trunk, touching or merging with it.
    DownTouching,
}

/// What realism V2 put in a scan (ground truth; absent for V1 scans).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealismInfo {
    /// Uncompressed foam mattress thickness (mm); 0 = no mattress.
    pub mattress_mm: f64,
    /// Mean HU of the mattress foam.
    pub mattress_hu: f64,
    /// Fraction of the mattress thickness left under the body's lowest point.
    pub mattress_left_under_body: f64,
    /// HU of the curved couch shell.
    pub shell_hu: f64,
    /// Clothing layers over the body (each thin, with an air gap under it).
    pub clothing_layers: usize,
    /// A blanket over the front and sides.
    pub blanket: bool,
    /// A pillow under the neck (top slices only).
    pub pillow: bool,
    /// Arm position.
    pub arms: Arms,
    /// The field of view is narrower than the body: its sides touch the image border.
    pub cut_off: bool,
    /// The field of view also cuts into a lung.
    pub lung_cut: bool,
    /// Contrast-enhanced blood (CT angiography).
    pub cta: bool,
    /// Blood HU (heart, great vessels, pulmonary vessels).
    pub blood_hu: f64,
    /// Noise filter: difference of Gaussians, `(sigma1_px, sigma2_px, weight2)`.
    pub noise_dog: [f64; 3],
    /// Number of streak sources (spine, metal) and whether metal is present.
    pub streak_sources: usize,
    /// Metal (sternal wires or ECG electrodes) with strong streaks.
    pub metal: bool,
    /// Partial-volume blur of the anatomy before noise (Gaussian sigma, mm).
    pub blur_mm: f64,
    /// Breathing: the slice is the mean of the anatomy at z and z + this (mm); 0 = none.
    pub breathing_mm: f64,
    /// Gas pockets (stomach, colon) under the diaphragm.
    pub gas_pockets: usize,
}

#[derive(Debug, Clone)]
struct Layer {
    gap: f64,
    th: f64,
    hu: f64,
    /// Only above this y (body frame; the layer does not go under the back).
    y_max_frac: f64,
}

#[derive(Debug, Clone)]
struct Pocket {
    c: [f64; 3],
    r: f64,
    air_frac: f64,
}

#[derive(Debug, Clone)]
struct Source {
    /// Body-frame position; `None` = the vertebral body of the slice.
    pos: Option<[f64; 2]>,
    /// z ranges where it exists (metal) or empty (always).
    z: Vec<(f64, f64)>,
    radius: f64,
    streaks: Vec<(f64, f64, f64)>,
    decay: f64,
    width: f64,
}

/// One scan's V2 scene.
#[derive(Debug, Clone)]
pub(crate) struct Scene {
    pub info: RealismInfo,
    shell_r: f64,
    shell_t: f64,
    couch_half: f64,
    mattress_half: f64,
    clothing: Vec<Layer>,
    blanket: Option<Layer>,
    pillow_hu: f64,
    arm: [f64; 5],
    humerus_r: f64,
    cortex_hu: f64,
    marrow_hu: f64,
    muscle_hu: f64,
    fat_hu: f64,
    pockets: Vec<Pocket>,
    sources: Vec<Source>,
    pub breathing: f64,
    blur_px: f64,
}

#[inline]
fn hash2(x: f64, y: f64, salt: u64) -> f64 {
    let xi = (x * 2.0).floor() as i64 as u64;
    let yi = (y * 2.0).floor() as i64 as u64;
    let mut h = xi.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ yi.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= salt;
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl Scene {
    /// Draws the scene of scan `index` and adapts V1's anatomy (blood under contrast) and
    /// acquisition (a narrower field of view).
    pub fn sample(seed: u64, index: usize, an: &mut Anatomy, acq: &mut Acquisition) -> Scene {
        let mut rng = rng_for(seed, Purpose::Realism, &[index as u64]);
        let u = |rng: &mut rand_chacha::ChaCha8Rng, a: f64, b: f64| rng.random_range(a..b);
        // Couch: shell and foam mattress.
        let mattress = rng.random_bool(0.9);
        let mattress_mm = if mattress {
            u(&mut rng, 30.0, 80.0)
        } else {
            0.0
        };
        let mattress_hu = u(&mut rng, -930.0, -650.0);
        let left = u(&mut rng, 0.25, 0.6);
        let shell_hu = u(&mut rng, 100.0, 400.0);
        let shell_t = u(&mut rng, 3.0, 8.0);
        let shell_r = u(&mut rng, 1200.0, 2600.0);
        let couch_half = u(&mut rng, 220.0, 270.0);
        let mattress_half = couch_half - u(&mut rng, 0.0, 25.0);
        // Clothing, blanket, pillow.
        let n_cloth = if rng.random_bool(0.55) {
            rng.random_range(1..=2)
        } else {
            0
        };
        let mut clothing = Vec::new();
        let mut gap = 0.0;
        for _ in 0..n_cloth {
            gap += u(&mut rng, 0.5, 7.0);
            let th = u(&mut rng, 1.5, 4.0);
            clothing.push(Layer {
                gap,
                th,
                hu: u(&mut rng, -300.0, -50.0),
                y_max_frac: u(&mut rng, 0.3, 1.2),
            });
            gap += th;
        }
        let blanket = rng.random_bool(0.3).then(|| Layer {
            gap: gap + u(&mut rng, 0.0, 10.0),
            th: u(&mut rng, 4.0, 14.0),
            hu: u(&mut rng, -200.0, -50.0),
            y_max_frac: u(&mut rng, 0.0, 0.6),
        });
        let pillow = rng.random_bool(0.35);
        let pillow_hu = if rng.random_bool(0.5) {
            u(&mut rng, -900.0, -700.0)
        } else {
            u(&mut rng, -200.0, -60.0)
        };
        // Arms: [rx, ry, fat, gap, y].
        let arms = match rng.random_range(0..4) {
            0 | 1 => Arms::Up,
            2 => Arms::DownApart,
            _ => Arms::DownTouching,
        };
        let arm_gap = match arms {
            Arms::DownApart => u(&mut rng, 4.0, 30.0),
            _ => u(&mut rng, -10.0, 0.0),
        };
        let arm = [
            u(&mut rng, 38.0, 50.0),
            u(&mut rng, 40.0, 55.0),
            u(&mut rng, 5.0, 18.0),
            arm_gap,
            u(&mut rng, -20.0, 30.0),
        ];
        // Field of view.
        let cut_off = rng.random_bool(0.3);
        let lung_cut = cut_off && rng.random_bool(0.3);
        let n = acq.size as f64;
        if cut_off {
            let ca = an.a - an.fat - an.muscle - an.rib_w;
            // A lung cut: the field of view reaches just inside one lung's lateral edge
            // (the body is pushed toward that side).
            let half = if lung_cut {
                ca * u(&mut rng, 0.95, 1.02)
            } else {
                an.a * u(&mut rng, 0.85, 0.99)
            };
            let px = (2.0 * half / n).min(acq.pixel_spacing_mm);
            let k = px / acq.pixel_spacing_mm;
            acq.pixel_spacing_mm = px;
            let side = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            let dx = if lung_cut {
                side * u(&mut rng, 8.0, 20.0)
            } else {
                u(&mut rng, -8.0, 8.0)
            };
            acq.body_shift_mm = [acq.body_shift_mm[0] * k + dx, acq.body_shift_mm[1] * k];
        }
        // Contrast.
        let cta = rng.random_bool(0.3);
        if cta {
            an.blood_hu = u(&mut rng, 150.0, 400.0);
        }
        // Noise: difference of Gaussians (mid-frequency peak); the soft kernel is smoother.
        let soft = acq.kernel == "soft";
        let s1 = if soft {
            u(&mut rng, 0.8, 1.2)
        } else {
            u(&mut rng, 0.45, 0.75)
        };
        let noise_dog = [s1, s1 * u(&mut rng, 2.2, 3.2), u(&mut rng, 0.4, 0.75)];
        // Streaks.
        let mut sources = Vec::new();
        let streaky = rng.random_bool(0.35);
        let metal = streaky && rng.random_bool(0.5);
        if streaky {
            let k = rng.random_range(6..14);
            sources.push(Source {
                pos: None,
                z: Vec::new(),
                radius: 0.0,
                streaks: (0..k)
                    .map(|_| {
                        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                        (
                            u(&mut rng, 0.0, std::f64::consts::PI),
                            sign * u(&mut rng, 10.0, 40.0),
                            0.0,
                        )
                    })
                    .collect(),
                decay: u(&mut rng, 60.0, 140.0),
                width: u(&mut rng, 0.8, 1.8),
            });
        }
        if metal {
            // Sternal wires (every 20–30 mm over the mid chest) or two ECG electrodes.
            let wires = rng.random_bool(0.5);
            let count = if wires { 4 } else { 2 };
            for j in 0..count {
                let (pos, z) = if wires {
                    let zc = an.len * (0.3 + 0.09 * j as f64);
                    ([0.0, -an.ba + an.fat + an.muscle + 0.5 * an.rib_w], zc)
                } else {
                    let phi = u(&mut rng, -2.5, -0.6);
                    (
                        [an.a * phi.cos() * 1.02, an.ba * phi.sin() * 1.02 - 2.0],
                        an.len * u(&mut rng, 0.2, 0.8),
                    )
                };
                let k = rng.random_range(8..18);
                sources.push(Source {
                    pos: Some(pos),
                    z: vec![(z - 2.5, z + 2.5)],
                    radius: u(&mut rng, 1.5, 3.5),
                    streaks: (0..k)
                        .map(|_| {
                            let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                            (
                                u(&mut rng, 0.0, std::f64::consts::PI),
                                sign * u(&mut rng, 60.0, 260.0),
                                0.0,
                            )
                        })
                        .collect(),
                    decay: u(&mut rng, 50.0, 120.0),
                    width: u(&mut rng, 0.7, 1.5),
                });
            }
        }
        let blur_mm = u(&mut rng, 0.35, 0.8);
        let breathing = if rng.random_bool(0.2) {
            u(&mut rng, 3.0, 9.0)
        } else {
            0.0
        };
        // Gas under the diaphragm: stomach and colon pockets with stool.
        let mut pockets = Vec::new();
        if rng.random_bool(0.85) {
            let k = rng.random_range(2..9);
            let ca = an.a - an.fat - an.muscle - an.rib_w;
            let z0 = an.len * an.dome_s[0].min(an.dome_s[1]);
            for _ in 0..k {
                let side = if rng.random_bool(0.6) { 1.0 } else { -1.0 };
                pockets.push(Pocket {
                    c: [
                        side * ca * u(&mut rng, 0.2, 0.8),
                        an.ba * u(&mut rng, -0.85, 0.2),
                        u(&mut rng, z0 + 15.0, an.len * 1.15 + 30.0),
                    ],
                    r: u(&mut rng, 6.0, 22.0),
                    air_frac: u(&mut rng, 0.3, 0.8),
                });
            }
        }
        let info = RealismInfo {
            mattress_mm,
            mattress_hu,
            mattress_left_under_body: left,
            shell_hu,
            clothing_layers: clothing.len(),
            blanket: blanket.is_some(),
            pillow,
            arms,
            cut_off,
            lung_cut,
            cta,
            blood_hu: an.blood_hu,
            noise_dog,
            streak_sources: sources.len(),
            metal,
            blur_mm,
            breathing_mm: breathing,
            gas_pockets: pockets.len(),
        };
        Scene {
            info,
            shell_r,
            shell_t,
            couch_half,
            mattress_half,
            clothing,
            blanket,
            pillow_hu,
            arm,
            humerus_r: u(&mut rng, 9.0, 13.0),
            cortex_hu: an.cortex_hu,
            marrow_hu: an.marrow_hu,
            muscle_hu: an.muscle_hu,
            fat_hu: an.fat_hu,
            pockets,
            sources,
            breathing,
            blur_px: blur_mm / acq.pixel_spacing_mm,
        }
    }

    /// The arm cross-section holding `(x, y)`, if any: tissue HU.
    #[inline]
    fn arm(&self, g: &SliceGeom, x: f64, y: f64) -> Option<f32> {
        let (a, ba, _) = g.body_axes();
        let [rx0, ry0, fat, gap, ay] = self.arm;
        let (cx, cy, k) = match self.info.arms {
            Arms::Up => {
                if g.s >= 0.15 {
                    return None;
                }
                let k = (1.0 - g.s.max(-0.3) / 0.15).sqrt().min(1.0);
                (0.8 * a + 0.3 * rx0, -0.55 * ba - 0.4 * ry0, k)
            }
            _ => (a + gap + rx0, ay, 1.0),
        };
        let (rx, ry) = (rx0 * k, ry0 * k);
        if rx < 3.0 {
            return None;
        }
        let dx = x.abs() - cx;
        let dy = y - cy;
        let e = sq(dx / rx) + sq(dy / ry);
        if e >= 1.0 {
            return None;
        }
        let hr = self.humerus_r * k;
        let dh = (sq(dx + 0.1 * rx) + sq(dy)).sqrt();
        if dh < hr {
            return Some(if dh > hr - 2.5 {
                self.cortex_hu
            } else {
                self.marrow_hu
            } as f32);
        }
        let f = (fat * k) / rx.min(ry);
        Some(if e > sq(1.0 - 2.0 / rx) {
            25.0
        } else if e > sq(1.0 - f) {
            self.fat_hu as f32
        } else {
            self.muscle_hu as f32
        })
    }

    /// Value and region of a point outside V1's body outline (couch, mattress, clothing,
    /// blanket, pillow, arms, air).
    #[inline]
    pub fn outside(&self, g: &SliceGeom, x: f64, y: f64) -> (f32, u8) {
        if let Some(v) = self.arm(g, x, y) {
            return (v, region::WALL);
        }
        let (_, _, bp) = g.body_axes();
        for l in self.clothing.iter().chain(self.blanket.iter()) {
            if y < l.y_max_frac * bp
                && g.body_q(x, y, l.gap) >= 1.0
                && g.body_q(x, y, l.gap + l.th) < 1.0
            {
                let v = l.hu + 40.0 * (hash2(x, y, 7) - 0.5);
                return (v as f32, region::COUCH);
            }
        }
        let info = &self.info;
        let t = info.mattress_mm;
        // The shell's top under the body: the body sinks into the mattress down to
        // `left · t` above the shell.
        let ys = bp + info.mattress_left_under_body * t + x * x / self.shell_r;
        if x.abs() < self.couch_half {
            if y >= ys && y < ys + self.shell_t {
                return (info.shell_hu as f32, region::COUCH);
            }
            if y >= ys + 45.0 && y < ys + 48.0 && x.abs() < 0.8 * self.couch_half {
                return ((0.7 * info.shell_hu) as f32, region::COUCH);
            }
        }
        if t > 0.0 && y < ys && y >= ys - t && x.abs() < self.mattress_half {
            // Foam, a little denser where the body compresses it.
            let depth = (ys - y) / t;
            let v = info.mattress_hu + 60.0 * (1.0 - depth) * 0.5 + 50.0 * (hash2(x, y, 11) - 0.5);
            return (v as f32, region::COUCH);
        }
        if info.pillow && g.s < 0.03 && y < ys - t && y > 0.2 * bp && x.abs() < 110.0 {
            let v = self.pillow_hu + 40.0 * (hash2(x, y, 13) - 0.5);
            return (v as f32, region::COUCH);
        }
        (-1000.0, region::AIR)
    }

    /// Gas or stool at an abdominal point, if a pocket holds it.
    #[inline]
    pub fn gas(&self, x: f64, y: f64, z: f64) -> Option<f32> {
        for p in &self.pockets {
            let dz = z - p.c[2];
            if dz.abs() >= p.r {
                continue;
            }
            let rs2 = p.r * p.r - dz * dz;
            let d2 = sq(x - p.c[0]) + sq((y - p.c[1]) * 1.2);
            if d2 < rs2 * sq(p.air_frac) {
                return Some(-1000.0);
            }
            if d2 < rs2 {
                let h = hash2(x, y, 3);
                return Some(if h < 0.25 {
                    -950.0 + 300.0 * h
                } else {
                    -200.0 + 250.0 * h
                } as f32);
            }
        }
        None
    }

    /// Adds the streaks of this slice to `val` (pixel `(r, c)` at body-frame `fx(c), fy(r)`).
    pub fn streaks(
        &self,
        g: &SliceGeom,
        z: f64,
        n: usize,
        px: f64,
        val: &mut [f32],
        coords: impl Fn(usize, usize) -> (f64, f64),
    ) {
        for s in &self.sources {
            if !s.z.is_empty() && !s.z.iter().any(|&(a, b)| z >= a && z <= b) {
                continue;
            }
            let [ox, oy] = s.pos.unwrap_or([0.0, g.sp_y]);
            let dirs: Vec<(f64, f64, f64)> = s
                .streaks
                .iter()
                .map(|&(th, amp, _)| (th.cos(), th.sin(), amp))
                .collect();
            let w = s.width * px;
            let reach = 4.0 * s.decay;
            for r in 0..n {
                for c in 0..n {
                    let (x, y) = coords(r, c);
                    let (dx, dy) = (x - ox, y - oy);
                    let d = (dx * dx + dy * dy).sqrt();
                    if d > reach {
                        continue;
                    }
                    let i = r * n + c;
                    if d < s.radius {
                        val[i] = 2800.0;
                        continue;
                    }
                    let fall = (-d / s.decay).exp() * (d / (d + 4.0 * px));
                    let mut add = 0.0;
                    for &(cs, sn, amp) in &dirs {
                        let perp = (dx * sn - dy * cs).abs();
                        if perp < 3.0 * w {
                            add += amp * (-sq(perp / w)).exp();
                        }
                    }
                    val[i] += (add * fall) as f32;
                }
            }
        }
    }

    /// Gaussian blur (mm → px sigma given at sampling) of the noise-free slice.
    pub fn blur_px(&self) -> f64 {
        self.blur_px
    }
}

/// Separable Gaussian blur with clamped edges (`sigma` in pixels; no-op below 0.05).
pub(crate) fn gaussian_blur(buf: &mut [f32], n: usize, sigma: f64) {
    if sigma < 0.05 {
        return;
    }
    let rad = (3.0 * sigma).ceil() as isize;
    let mut k: Vec<f32> = (-rad..=rad)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    let mut tmp = vec![0f32; n * n];
    let last = n as isize - 1;
    for r in 0..n {
        let row = &buf[r * n..(r + 1) * n];
        for c in 0..n {
            let mut acc = 0f32;
            for (j, &kv) in k.iter().enumerate() {
                let cc = (c as isize + j as isize - rad).clamp(0, last) as usize;
                acc += kv * row[cc];
            }
            tmp[r * n + c] = acc;
        }
    }
    for r in 0..n {
        for c in 0..n {
            let mut acc = 0f32;
            for (j, &kv) in k.iter().enumerate() {
                let rr = (r as isize + j as isize - rad).clamp(0, last) as usize;
                acc += kv * tmp[rr * n + c];
            }
            buf[r * n + c] = acc;
        }
    }
}

/// Band-pass noise: white minus `w2` times its wider blur, after a narrow blur (difference of
/// Gaussians), normalised to unit standard deviation.
pub(crate) fn dog_noise(white: &mut [f32], n: usize, dog: [f64; 3]) {
    let mut wide = white.to_vec();
    gaussian_blur(white, n, dog[0]);
    gaussian_blur(&mut wide, n, dog[1]);
    let w2 = dog[2] as f32;
    for (a, b) in white.iter_mut().zip(&wide) {
        *a -= w2 * b;
    }
    let m = white.iter().map(|&v| v as f64).sum::<f64>() / white.len() as f64;
    let var = white.iter().map(|&v| sq(v as f64 - m)).sum::<f64>() / white.len() as f64;
    let inv = (1.0 / var.sqrt().max(1e-9)) as f32;
    let m = m as f32;
    white.iter_mut().for_each(|v| *v = (*v - m) * inv);
}

/// Everything V2 needs of the anatomy (kept so the outline of `Anatomy` stays V1's).
pub(crate) fn abdomen_gas(sc: &Scene, g: &SliceGeom, an: &Anatomy, x: f64, y: f64) -> Option<f32> {
    if sc.pockets.is_empty() || !g.abdomen(an, x, y) {
        return None;
    }
    sc.gas(x, y, g.z)
}
