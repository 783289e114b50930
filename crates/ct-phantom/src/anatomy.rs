//! The patient: body wall, bones, mediastinum, heart, lungs and upper abdomen as analytic
//! shapes whose size and position change along z.
//!
//! Frame (mm): `x` toward the patient's left (image right), `y` posterior (image down), `z`
//! from the lung apex toward the feet. `s = z / len` is the position along the lungs
//! (0 = apex, about 1 = the lowest costophrenic recess).

use std::f64::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// A point in the patient frame (mm).
pub(crate) type P3 = [f64; 3];

#[inline]
pub(crate) fn sq(x: f64) -> f64 {
    x * x
}

#[inline]
pub(crate) fn smoothstep(e0: f64, e1: f64, x: f64) -> f64 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Region codes of the per-pixel region map.
pub(crate) mod region {
    pub const OUTSIDE_FOV: u8 = 0;
    pub const AIR: u8 = 1;
    pub const WALL: u8 = 2;
    pub const MEDIASTINUM: u8 = 3;
    pub const LUNG: u8 = 4;
    /// Realism V2 only: couch, mattress, clothing, blanket, pillow (outside the body).
    pub const COUCH: u8 = 5;
}

/// Lobes, for lobar pneumonia (fissures are respected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lobe {
    RightUpper,
    RightMiddle,
    RightLower,
    LeftUpper,
    LeftLower,
}

impl Lobe {
    pub fn name(self) -> &'static str {
        match self {
            Lobe::RightUpper => "right upper",
            Lobe::RightMiddle => "right middle",
            Lobe::RightLower => "right lower",
            Lobe::LeftUpper => "left upper",
            Lobe::LeftLower => "left lower",
        }
    }
}

/// Per-patient anatomical parameters (mm, HU).
#[derive(Debug, Clone)]
pub(crate) struct Anatomy {
    pub a: f64,
    pub ba: f64,
    pub bp: f64,
    pub fat: f64,
    pub muscle: f64,
    pub rib_w: f64,
    pub len: f64,
    pub med: f64,
    pub heart_scale: f64,
    pub heart_dx: f64,
    pub spine_r: f64,
    pub trachea_r: f64,
    pub carina_s: f64,
    pub lung_hu: f64,
    pub gradient: f64,
    pub rib_pitch: f64,
    pub rib_slope: f64,
    pub rib_z0: f64,
    pub rib_h: f64,
    pub vert_pitch: f64,
    pub vert_phase: f64,
    pub dome_s: [f64; 2],
    pub end_s: [f64; 2],
    /// Pleural effusion depth (mm) at the lung base, per side (0 = none).
    pub effusion: [f64; 2],
    /// Dependent atelectasis band depth (mm) per side (0 = none).
    pub atelectasis: [f64; 2],
    pub atelectasis_hu: f64,
    pub bubble: f64,
    pub fat_hu: f64,
    pub muscle_hu: f64,
    pub liver_hu: f64,
    pub blood_hu: f64,
    pub cortex_hu: f64,
    pub marrow_hu: f64,
    pub table_hu: f64,
}

impl Anatomy {
    pub fn sample(rng: &mut ChaCha8Rng) -> Anatomy {
        let ba = rng.random_range(95.0..115.0);
        let len = rng.random_range(215.0..275.0);
        let dome_r = rng.random_range(0.64..0.72);
        Anatomy {
            a: rng.random_range(135.0..168.0),
            ba,
            bp: rng.random_range(110.0..128.0),
            fat: rng.random_range(6.0f64..32.0).min(0.22 * ba),
            muscle: rng.random_range(6.0..12.0),
            rib_w: rng.random_range(8.0..10.0),
            len,
            med: rng.random_range(13.0..19.0),
            heart_scale: rng.random_range(0.85..1.15),
            heart_dx: rng.random_range(-6.0..10.0),
            spine_r: rng.random_range(15.0..19.0),
            trachea_r: rng.random_range(7.5..10.5),
            carina_s: rng.random_range(0.34..0.42),
            // Inspiration depth: expiratory scans have denser lungs.
            lung_hu: Normal::new(-835.0f64, 25.0)
                .map_or(-835.0, |d| d.sample(rng))
                .clamp(-890.0, -770.0),
            gradient: rng.random_range(15.0..70.0),
            rib_pitch: len / rng.random_range(9.0..10.5),
            rib_slope: rng.random_range(17.0..24.0),
            rib_z0: -0.12 * len,
            rib_h: rng.random_range(5.0..6.5),
            vert_pitch: rng.random_range(23.0..28.0),
            vert_phase: rng.random_range(0.0..28.0),
            dome_s: [dome_r, dome_r + rng.random_range(0.02..0.06)],
            end_s: [rng.random_range(0.94..0.98), rng.random_range(0.98..1.02)],
            effusion: [0.0; 2],
            atelectasis: [0.0; 2],
            atelectasis_hu: rng.random_range(-600.0..-250.0),
            bubble: rng.random_range(0.0..25.0),
            fat_hu: rng.random_range(-105.0..-80.0),
            muscle_hu: rng.random_range(38.0..55.0),
            liver_hu: rng.random_range(50.0..68.0),
            blood_hu: rng.random_range(34.0..46.0),
            cortex_hu: rng.random_range(750.0..1150.0),
            marrow_hu: rng.random_range(170.0..290.0),
            table_hu: rng.random_range(120.0..260.0),
        }
    }

    /// The geometry of the axial plane at `z`.
    pub fn at(&self, z: f64) -> SliceGeom {
        SliceGeom::new(self, z)
    }

    /// Which lung (0 right, 1 left) holds the point, if any.
    pub fn lung_at(&self, p: P3) -> Option<usize> {
        self.at(p[2]).lung_side(p[0], p[1])
    }

    /// The lobe of a lung point.
    pub fn lobe_at(&self, p: P3) -> Option<Lobe> {
        let g = self.at(p[2]);
        g.lung_side(p[0], p[1]).map(|side| g.lobe(side, p[0], p[1]))
    }
}

/// Everything about one axial plane that does not depend on the pixel.
#[derive(Debug, Clone)]
pub(crate) struct SliceGeom {
    pub z: f64,
    pub s: f64,
    a: f64,
    ba: f64,
    bp: f64,
    ia: f64,
    iba: f64,
    ibp: f64,
    ma: f64,
    mba: f64,
    mbp: f64,
    pub ca: f64,
    pub cba: f64,
    pub cbp: f64,
    pub med: f64,
    /// Heart: centre, inverse squared semi-axes, rotation (cos, sin).
    heart: Option<[f64; 6]>,
    apex: Option<(f64, f64, f64)>,
    dome: [Option<(f64, f64, f64, f64)>; 2],
    lung_on: [bool; 2],
    pub sp_y: f64,
    sp_r: f64,
    canal_y: f64,
    disc: bool,
    circles: Vec<(f64, f64, f64)>,
    bubble: Option<(f64, f64, f64)>,
    effusion: [f64; 2],
    atelectasis: [f64; 2],
    oblique_y: f64,
    below_horizontal: bool,
    sternum: bool,
    scapula: bool,
    ribs_on: bool,
    anat_lung_hu: f64,
    anat_gradient: f64,
}

impl SliceGeom {
    fn new(an: &Anatomy, z: f64) -> SliceGeom {
        let s = z / an.len;
        let a = an.a * (0.95 + 0.05 * (s + 0.2).clamp(0.0, 1.0));
        let ba = an.ba * (0.9 + 0.1 * s.clamp(0.0, 1.0));
        let bp = an.bp;
        let (ia, iba, ibp) = (a - an.fat, ba - an.fat, bp - an.fat);
        let (ma, mba, mbp) = (ia - an.muscle, iba - 0.8 * an.muscle, ibp - 1.8 * an.muscle);
        let (ca, cba, cbp) = (ma - an.rib_w, mba - an.rib_w, mbp - an.rib_w);
        let med =
            an.med * (1.0 + 0.9 * (-sq((s - 0.45) / 0.12)).exp() + 0.35 * smoothstep(0.35, 0.1, s));
        let heart = (s > 0.42 && s < 1.0).then(|| {
            let t = (s - 0.42) / 0.58;
            let f = (PI * t).sin().max(0.0).powf(0.5) * an.heart_scale;
            let (ax, ay) = ((0.42 * ca * f).max(1.0), (0.58 * cba * f).max(1.0));
            let th: f64 = -0.5;
            [
                0.16 * ca + an.heart_dx,
                -0.15 * cba,
                1.0 / (ax * ax),
                1.0 / (ay * ay),
                th.cos(),
                th.sin(),
            ]
        });
        let s_ap = 0.14;
        let apex = (s < 0.4).then(|| {
            let r = 0.62 * (ca - med) * (s.max(0.0) / s_ap).sqrt();
            (med + 0.42 * (ca - med), 0.25 * cbp, r)
        });
        let mut dome = [None, None];
        let mut lung_on = [false; 2];
        for side in 0..2 {
            lung_on[side] = s > 0.0 && s < an.end_s[side];
            if s > an.dome_s[side] {
                let k = ((s - an.dome_s[side]) / (an.end_s[side] - an.dome_s[side])).min(1.0);
                let f = k.powf(0.8);
                dome[side] = Some((0.40 * ca, -0.35 * cba, 0.9 * ca * f, 1.15 * cba * f));
            }
        }
        let sp_r = an.spine_r;
        let sp_y = cbp - 0.55 * sp_r;
        let canal_y = sp_y + sp_r + 6.0;
        let disc = (z - an.vert_phase).rem_euclid(an.vert_pitch) < 5.5;
        let tr_y = sp_y - sp_r - 22.0;
        let mut circles = Vec::new();
        // Mediastinal vessels: descending aorta, ascending aorta, pulmonary trunk, SVC,
        // oesophagus.
        if s > 0.27 {
            circles.push((sp_r + 9.0, sp_y - 0.35 * sp_r, 11.5));
        }
        if (0.27..0.5).contains(&s) {
            circles.push((-8.0, tr_y - 34.0, 15.0));
        }
        if (0.24..0.3).contains(&s) {
            // The arch: a band from the ascending to the descending aorta.
            for k in 0..5 {
                let t = k as f64 / 4.0;
                circles.push((-8.0 + t * (sp_r + 17.0), tr_y - 34.0 + t * 60.0, 12.0));
            }
        }
        if (0.38..0.48).contains(&s) {
            circles.push((14.0, tr_y - 28.0, 13.0));
        }
        if (0.02..0.5).contains(&s) {
            circles.push((-27.0, tr_y - 22.0, 9.0));
        }
        if s < 0.95 {
            circles.push((4.0, tr_y + an.trachea_r + 8.0, 7.0));
        }
        let bubble = (s > an.dome_s[1] + 0.08 && an.bubble > 5.0).then(|| {
            let k = ((s - an.dome_s[1] - 0.08) / 0.3).clamp(0.0, 1.0).sqrt();
            (0.55 * ca, -0.05 * cba, an.bubble * k)
        });
        let mut effusion = [0.0; 2];
        let mut atelectasis = [0.0; 2];
        for side in 0..2 {
            effusion[side] = an.effusion[side] * ((s - 0.3) / 0.5).clamp(0.0, 1.0);
            atelectasis[side] = an.atelectasis[side] * ((s - 0.35) / 0.4).clamp(0.0, 1.0);
        }
        // Oblique fissure: posterior at the top, anterior at the base.
        let t = ((s - 0.22) / 0.68).clamp(0.0, 1.0);
        let oblique_y = cbp + t * (-cba - cbp);
        SliceGeom {
            z,
            s,
            a,
            ba,
            bp,
            ia,
            iba,
            ibp,
            ma,
            mba,
            mbp,
            ca,
            cba,
            cbp,
            med,
            heart,
            apex,
            dome,
            lung_on,
            sp_y,
            sp_r,
            canal_y,
            disc,
            circles,
            bubble,
            effusion,
            atelectasis,
            oblique_y,
            below_horizontal: s > 0.5,
            sternum: (0.02..0.78).contains(&s),
            scapula: (-0.2..0.45).contains(&s),
            ribs_on: true,
            anat_lung_hu: an.lung_hu,
            anat_gradient: an.gradient,
        }
    }

    #[inline]
    fn q(x: f64, y: f64, a: f64, ba: f64, bp: f64) -> f64 {
        let b = if y < 0.0 { ba } else { bp };
        sq(x / a) + sq(y / b)
    }

    #[inline]
    fn in_heart(&self, x: f64, y: f64, scale: f64) -> bool {
        match self.heart {
            Some([cx, cy, iax, iay, c, s]) => {
                let (dx, dy) = (x - cx, y - cy);
                let (u, v) = (c * dx + s * dy, -s * dx + c * dy);
                (u * u * iax + v * v * iay) < scale * scale
            }
            None => false,
        }
    }

    /// The lung candidate region before pleural effusion is carved out.
    #[inline]
    fn lung_candidate(&self, x: f64, y: f64, qc: f64) -> Option<usize> {
        if qc >= 1.0 {
            return None;
        }
        let side = usize::from(x >= 0.0);
        if !self.lung_on[side] {
            return None;
        }
        let ax = x.abs();
        // The mediastinum is narrow behind the sternum (anterior junction line) and widest
        // at mid-depth.
        let yr = (y / self.cba).clamp(-1.0, 0.0);
        if ax < self.med * (1.0 + 0.75 * yr) {
            return None;
        }
        if ax < self.sp_r + 12.0 && y > self.sp_y - self.sp_r - 4.0 {
            return None;
        }
        if side == 1
            && let Some(&(cx, cy, r)) = self.circles.first()
            && self.s > 0.27
            && sq(x - cx) + sq(y - cy) < sq(r + 3.0)
        {
            return None;
        }
        if self.in_heart(x, y, 1.08) {
            return None;
        }
        if let Some((cx, cy, r)) = self.apex
            && sq(ax - cx) + sq(y - cy) > r * r
        {
            return None;
        }
        if let Some((cx, cy, rx, ry)) = self.dome[side]
            && sq((ax - cx) / rx) + sq((y - cy) / ry) < 1.0
        {
            return None;
        }
        Some(side)
    }

    #[inline]
    fn wall_depth(&self, x: f64, y: f64, qc: f64) -> f64 {
        let _ = x;
        (1.0 - qc.sqrt()) * if y < 0.0 { self.cba } else { self.cbp }
    }

    #[inline]
    fn effused(&self, side: usize, x: f64, y: f64, qc: f64) -> bool {
        let e = self.effusion[side];
        e > 0.0 && y > 0.0 && self.wall_depth(x, y, qc) < e * (y / self.cbp).powf(1.5)
    }

    /// Which lung (0 right, 1 left) holds `(x, y)`, if any.
    pub fn lung_side(&self, x: f64, y: f64) -> Option<usize> {
        let qc = Self::q(x, y, self.ca, self.cba, self.cbp);
        let side = self.lung_candidate(x, y, qc)?;
        (!self.effused(side, x, y, qc)).then_some(side)
    }

    /// The lobe of a point of lung `side`.
    pub fn lobe(&self, side: usize, x: f64, y: f64) -> Lobe {
        let fy = self.oblique_y + 0.12 * (x.abs() - 0.5 * self.ca);
        let lower = y > fy;
        match (side, lower) {
            (0, true) => Lobe::RightLower,
            (0, false) if self.below_horizontal => Lobe::RightMiddle,
            (0, false) => Lobe::RightUpper,
            (_, true) => Lobe::LeftLower,
            (_, false) => Lobe::LeftUpper,
        }
    }

    /// Noise-free HU and region code of one point.
    #[inline]
    pub fn pixel(&self, an: &Anatomy, x: f64, y: f64) -> (f32, u8) {
        use region::*;
        let qb = Self::q(x, y, self.a, self.ba, self.bp);
        if qb >= 1.0 {
            // Table: a curved carbon-fibre top under the back and a lower rail.
            let yt = self.bp + 2.0 + x * x / 1200.0;
            if x.abs() < 0.9 * self.a + 30.0 && y > yt && y < yt + 5.0 {
                return (an.table_hu as f32, AIR);
            }
            if x.abs() < 0.7 * self.a && y > yt + 40.0 && y < yt + 43.0 {
                return ((an.table_hu * 0.7) as f32, AIR);
            }
            return (-1000.0, AIR);
        }
        // Spine and posterior elements (override every layer they cross).
        if let Some(v) = self.spine(an, x, y) {
            return (v, WALL);
        }
        let qi = Self::q(x, y, self.ia, self.iba, self.ibp);
        if qi >= 1.0 {
            // Skin (about 2 mm) over subcutaneous fat.
            let skin = qb > sq(1.0 - 2.0 / self.ba);
            return (if skin { 25.0 } else { an.fat_hu as f32 }, WALL);
        }
        let qm = Self::q(x, y, self.ma, self.mba, self.mbp);
        if qm >= 1.0 {
            if self.scapula {
                let ax = x.abs();
                let (cx, cy) = (0.6 * self.ma, 0.72 * self.mbp);
                let (dx, dy) = (ax - cx, y - cy);
                let (c, s) = (0.8f64, 0.6f64);
                let (u, v) = (c * dx - s * dy, s * dx + c * dy);
                let r = sq(u / 34.0) + sq(v / 3.5);
                if r < 1.0 {
                    return (
                        if r > 0.4 {
                            an.cortex_hu * 0.8
                        } else {
                            an.marrow_hu
                        } as f32,
                        WALL,
                    );
                }
            }
            return (an.muscle_hu as f32, WALL);
        }
        let qc = Self::q(x, y, self.ca, self.cba, self.cbp);
        if qc >= 1.0 {
            return (self.chest_wall_ring(an, x, y, qc), WALL);
        }
        // Inside the thoracic cavity.
        if let Some(side) = self.lung_candidate(x, y, qc) {
            if self.effused(side, x, y, qc) {
                return (12.0, WALL);
            }
            let t = ((y + self.cba) / (self.cba + self.cbp)).clamp(0.0, 1.0);
            let mut v = self.anat_lung_hu + self.anat_gradient * t * t.sqrt();
            let at = self.atelectasis[side];
            if at > 0.0 && y > 0.2 * self.cbp {
                let d = self.wall_depth(x, y, qc);
                let w = smoothstep(at, 0.5 * at, d) * (y / self.cbp).clamp(0.0, 1.0);
                v += w * (an.atelectasis_hu - v);
            }
            return (v as f32, LUNG);
        }
        if self.s <= 0.0 {
            // Above the apices: neck and shoulder-girdle soft tissue.
            return ((an.muscle_hu - 8.0) as f32, MEDIASTINUM);
        }
        let side = usize::from(x >= 0.0);
        let below = self.s > an.end_s[side]
            || self.dome[side]
                .is_some_and(|(cx, cy, rx, ry)| sq((x.abs() - cx) / rx) + sq((y - cy) / ry) < 1.0);
        if below && x.abs() > 0.3 * self.med {
            if side == 0 || x < 0.25 * self.ca {
                return (an.liver_hu as f32, WALL);
            }
            if let Some((cx, cy, r)) = self.bubble
                && sq(x - cx) + sq(y - cy) < r * r
            {
                return (-1000.0, WALL);
            }
            return ((an.muscle_hu - 5.0) as f32, WALL);
        }
        if self.in_heart(x, y, 1.0) {
            return (an.blood_hu as f32, MEDIASTINUM);
        }
        if self.in_heart(x, y, 1.08) {
            return (an.fat_hu as f32, MEDIASTINUM);
        }
        for &(cx, cy, r) in &self.circles {
            if sq(x - cx) + sq(y - cy) < r * r {
                return (an.blood_hu as f32, MEDIASTINUM);
            }
        }
        (an.fat_hu as f32 + 10.0, MEDIASTINUM)
    }

    #[inline]
    fn spine(&self, an: &Anatomy, x: f64, y: f64) -> Option<f32> {
        let r = self.sp_r;
        if x.abs() > r + 22.0 || y < self.sp_y - r - 1.0 || y > self.canal_y + 34.0 {
            return None;
        }
        let d = (sq(x) + sq(y - self.sp_y)).sqrt();
        if d < r {
            return Some(if self.disc {
                90.0
            } else if d > r - 1.8 {
                an.cortex_hu as f32
            } else {
                an.marrow_hu as f32
            });
        }
        let dc = (sq(x) + sq(y - self.canal_y)).sqrt();
        if dc < 6.5 {
            return Some(25.0);
        }
        if dc < 10.5 && y > self.canal_y - 3.0 {
            return Some((an.cortex_hu * 0.75) as f32);
        }
        if sq(x / 4.5) + sq((y - self.canal_y - 20.0) / 11.0) < 1.0 {
            return Some((an.cortex_hu * 0.7) as f32);
        }
        if !self.disc && sq((x.abs() - r - 9.0) / 9.0) + sq((y - self.canal_y + 2.0) / 4.5) < 1.0 {
            return Some((an.cortex_hu * 0.7) as f32);
        }
        None
    }

    /// Ribs, costal cartilage, sternum and intercostal muscle between the cavity and the
    /// muscle layer.
    #[inline]
    fn chest_wall_ring(&self, an: &Anatomy, x: f64, y: f64, qc: f64) -> f32 {
        let rho = (x * x + y * y).sqrt();
        let depth = (1.0 - 1.0 / qc.sqrt()) * rho;
        let half = 0.5 * an.rib_w;
        if self.sternum && x.abs() < 16.0 && y < 0.0 {
            let v = sq(x / 15.0) + sq((depth - half) / (half - 0.5));
            if v < 1.0 {
                return if v > 0.5 {
                    0.7 * an.cortex_hu
                } else {
                    an.marrow_hu
                } as f32;
            }
        }
        if self.ribs_on {
            let phi = x.abs().atan2(y);
            let u = (self.z - an.rib_z0 - an.rib_slope * phi) / an.rib_pitch;
            let k = u.round();
            if (0.0..=11.0).contains(&k) && phi < 0.93 * PI {
                let dz = (u - k) * an.rib_pitch;
                let rq = sq(dz / an.rib_h) + sq((depth - half) / (half - 0.5));
                if rq < 1.0 {
                    if phi > 0.8 * PI {
                        return 130.0;
                    }
                    return if rq > 0.45 {
                        an.cortex_hu
                    } else {
                        an.marrow_hu
                    } as f32;
                }
            }
        }
        an.muscle_hu as f32 - 5.0
    }

    /// Body half-width, anterior and posterior half-depths at this level (mm).
    pub fn body_axes(&self) -> (f64, f64, f64) {
        (self.a, self.ba, self.bp)
    }

    /// The body outline's ellipse measure with axes grown by `d` mm (< 1 inside).
    #[inline]
    pub fn body_q(&self, x: f64, y: f64, d: f64) -> f64 {
        Self::q(x, y, self.a + d, self.ba + d, self.bp + d)
    }

    /// Whether `(x, y)` lies in the upper abdomen under a diaphragm dome (liver, stomach,
    /// colon), inside the body wall.
    #[inline]
    pub fn abdomen(&self, an: &Anatomy, x: f64, y: f64) -> bool {
        if self.s <= 0.0 || Self::q(x, y, self.ca, self.cba, self.cbp) >= 1.0 {
            return false;
        }
        let side = usize::from(x >= 0.0);
        let below = self.s > an.end_s[side]
            || self.dome[side]
                .is_some_and(|(cx, cy, rx, ry)| sq((x.abs() - cx) / rx) + sq((y - cy) / ry) < 1.0);
        below && x.abs() > 0.3 * self.med
    }

    /// Height of the trachea's centre (y) at this level.
    pub fn trachea_y(&self) -> f64 {
        self.sp_y - self.sp_r - 22.0
    }
}
