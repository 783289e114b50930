//! Lesions: unions of rotated ellipsoids with soft margins, textured, optionally confined
//! to one lobe (lobar pneumonia stops at the fissures).

use std::f64::consts::PI;

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::anatomy::{Anatomy, Lobe, P3, SliceGeom, smoothstep, sq};
use crate::tree::sample_lung_points;

/// The kind of a lesion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LesionKind {
    /// Ground-glass opacity (COVID-19).
    GroundGlass,
    /// Ground glass with a consolidated core (COVID-19).
    Mixed,
    /// Consolidation of a large part of one lobe (CAP).
    Lobar,
    /// Consolidation of one segment, against the pleura (CAP).
    Segmental,
    /// Patchy peribronchial opacities (CAP bronchopneumonia, a COVID-19 mimic).
    Bronchopneumonia,
}

/// One lesion as recorded in the ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LesionInfo {
    /// What it is.
    pub kind: LesionKind,
    /// `right` or `left` lung.
    pub side: String,
    /// The lobe it is confined to, if any.
    pub lobe: Option<String>,
    /// Centre in the patient frame (mm): x toward the patient's left, y posterior, z from
    /// the lung apex toward the feet.
    pub center_mm: [f64; 3],
    /// Nominal radius (mm).
    pub radius_mm: f64,
    /// Target attenuation of its body (HU, before noise and export).
    pub hu: f64,
    /// Attenuation of its consolidated core, if any (HU).
    pub core_hu: Option<f64>,
}

#[derive(Debug, Clone)]
struct Blob {
    c: P3,
    inv: P3,
    cos: f64,
    sin: f64,
}

/// A lesion ready to render.
#[derive(Debug, Clone)]
pub(crate) struct Lesion {
    blobs: Vec<Blob>,
    pub lo: P3,
    pub hi: P3,
    hu: f64,
    halo_hu: f64,
    core_hu: Option<f64>,
    core_from: f64,
    edge: f64,
    lobe: Option<Lobe>,
    tex_amp: f64,
    tex: [f64; 6],
    crazy: Option<(f64, f64, f64)>,
    pub info: LesionInfo,
}

impl Lesion {
    /// Lesion weight in `[0, 1]` at a lung point (1 = fully lesion); `g` is the plane's
    /// geometry (for the lobe test).
    #[inline]
    pub fn weight(&self, g: &SliceGeom, side: usize, x: f64, y: f64, z: f64) -> f64 {
        let mut d2 = f64::INFINITY;
        for b in &self.blobs {
            let (dx, dy, dz) = (x - b.c[0], y - b.c[1], z - b.c[2]);
            let (u, v) = (b.cos * dx + b.sin * dy, -b.sin * dx + b.cos * dy);
            d2 = d2.min(sq(u * b.inv[0]) + sq(v * b.inv[1]) + sq(dz * b.inv[2]));
        }
        if d2 >= 1.0 {
            return 0.0;
        }
        if let Some(lobe) = self.lobe
            && g.lobe(side, x, y) != lobe
        {
            return 0.0;
        }
        ((1.0 - d2.sqrt()) / self.edge).min(1.0)
    }

    /// The attenuation the lesion pulls a voxel toward, at weight `w`.
    #[inline]
    pub fn target(&self, x: f64, y: f64, z: f64, w: f64) -> f64 {
        let t = &self.tex;
        let mut hu = self.halo_hu + (self.hu - self.halo_hu) * smoothstep(0.0, 0.5, w);
        hu +=
            self.tex_amp * (t[0] * x + t[1] * y + t[2]).sin() * (t[3] * y + t[4] * z + t[5]).sin();
        if let Some(core) = self.core_hu {
            hu += (core - hu) * smoothstep(self.core_from, 1.0, w);
        }
        if let Some((c, s, period)) = self.crazy {
            // Crazy paving: a polygonal network of thickened septa inside the ground glass.
            let (u, v) = (c * x + s * y, -s * x + c * y);
            let su = (PI * u / period).sin().abs();
            let sv = (PI * v / period).sin().abs();
            if su < 0.14 || sv < 0.14 {
                hu += 160.0;
            }
        }
        hu
    }
}

struct Builder {
    blobs: Vec<Blob>,
}

impl Builder {
    fn new() -> Builder {
        Builder { blobs: Vec::new() }
    }
    fn blob(&mut self, c: P3, r: P3, angle: f64) {
        self.blobs.push(Blob {
            c,
            inv: [
                1.0 / r[0].max(0.5),
                1.0 / r[1].max(0.5),
                1.0 / r[2].max(0.5),
            ],
            cos: angle.cos(),
            sin: angle.sin(),
        });
    }
    #[allow(clippy::too_many_arguments)]
    fn finish(
        self,
        kind: LesionKind,
        side: usize,
        lobe: Option<Lobe>,
        radius: f64,
        hu: f64,
        halo_hu: f64,
        core_hu: Option<f64>,
        edge: f64,
        crazy: bool,
        rng: &mut ChaCha8Rng,
    ) -> Lesion {
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for b in &self.blobs {
            // A rotated ellipse fits in the box of its larger in-plane semi-axis.
            let rxy = (1.0 / b.inv[0]).max(1.0 / b.inv[1]);
            let r = [rxy, rxy, 1.0 / b.inv[2]];
            for k in 0..3 {
                lo[k] = lo[k].min(b.c[k] - r[k]);
                hi[k] = hi[k].max(b.c[k] + r[k]);
            }
        }
        let center = self.blobs[0].c;
        let f = |rng: &mut ChaCha8Rng| rng.random_range(0.15..0.5);
        let tex = [
            f(rng),
            f(rng),
            rng.random_range(0.0..6.3),
            f(rng),
            f(rng),
            rng.random_range(0.0..6.3),
        ];
        let ang: f64 = rng.random_range(0.0..PI);
        Lesion {
            blobs: self.blobs,
            lo,
            hi,
            hu,
            halo_hu,
            core_hu,
            core_from: rng.random_range(0.75..0.9),
            edge,
            lobe,
            tex_amp: rng.random_range(15.0..45.0),
            tex,
            crazy: crazy.then(|| (ang.cos(), ang.sin(), rng.random_range(4.0..7.0))),
            info: LesionInfo {
                kind,
                side: if side == 0 { "right" } else { "left" }.to_string(),
                lobe: lobe.map(|l| l.name().to_string()),
                center_mm: center,
                radius_mm: radius,
                hu,
                core_hu,
            },
        }
    }
}

/// A point against the pleura of lung `side` near height `z`, found by walking from an
/// interior point along a mostly lateral/posterior direction; returns the boundary point
/// and the in-plane outward direction.
fn pleural_point(
    an: &Anatomy,
    side: usize,
    z: f64,
    lobe: Option<Lobe>,
    rng: &mut ChaCha8Rng,
) -> Option<(P3, f64)> {
    let g = an.at(z);
    let sign = if side == 0 { -1.0 } else { 1.0 };
    for _ in 0..60 {
        let x = sign * rng.random_range(0.0..g.ca);
        let y = rng.random_range(-g.cba..g.cbp);
        if g.lung_side(x, y) != Some(side) {
            continue;
        }
        if let Some(l) = lobe
            && g.lobe(side, x, y) != l
        {
            continue;
        }
        // 0 = lateral, π/2 = posterior; anterior directions are rarer.
        let phi: f64 = rng.random_range(-1.0..2.3);
        let (dx, dy) = (sign * phi.cos(), phi.sin());
        let mut t = 0.0;
        while g.lung_side(x + (t + 1.0) * dx, y + (t + 1.0) * dy) == Some(side) && t < 300.0 {
            t += 1.0;
        }
        let angle = dy.atan2(dx);
        return Some(([x + t * dx, y + t * dy, z], angle));
    }
    None
}

/// z (mm) inside the coverage and the lungs, biased toward the bases when `lower`.
fn pick_z(an: &Anatomy, cover: (f64, f64), lower: bool, rng: &mut ChaCha8Rng) -> f64 {
    let lo = cover.0.max(0.12 * an.len);
    let hi = cover.1.min(0.93 * an.len).max(lo + 1.0);
    let u: f64 = rng.random_range(0.0..1.0);
    lo + (hi - lo) * if lower { u.powf(0.7) } else { u }
}

/// COVID-19: bilateral, peripheral, multifocal ground glass, some with consolidation.
pub(crate) fn covid(
    an: &Anatomy,
    cover: (f64, f64),
    subtle: bool,
    rng: &mut ChaCha8Rng,
) -> Vec<Lesion> {
    let severity: f64 = rng.random_range(0.0..1.0);
    let n = if subtle {
        rng.random_range(1..=2)
    } else if severity < 0.4 {
        rng.random_range(2..=5)
    } else if severity < 0.8 {
        rng.random_range(4..=10)
    } else {
        rng.random_range(8..=16)
    };
    let bilateral = if subtle {
        n == 2
    } else {
        rng.random_bool(0.85)
    };
    let first_side = rng.random_range(0..2usize);
    let mut out = Vec::new();
    for i in 0..n {
        let side = if bilateral {
            (first_side + i) % 2
        } else {
            first_side
        };
        let r_max = if severity >= 0.8 { 45.0f64 } else { 30.0 };
        let radius = if subtle {
            rng.random_range(5.0..10.0)
        } else {
            (rng.random_range(7.0f64.ln()..r_max.ln())).exp()
        };
        let z = pick_z(an, cover, true, rng);
        let Some((p, angle)) = pleural_point(an, side, z, None, rng) else {
            continue;
        };
        let inward = radius * rng.random_range(0.35..0.85);
        let c = [p[0] - inward * angle.cos(), p[1] - inward * angle.sin(), z];
        if an.lung_at(c) != Some(side) {
            continue;
        }
        let mut b = Builder::new();
        // Longer along the pleura than across it (subpleural, band-like).
        let rn = radius * rng.random_range(0.55..0.9);
        let rt = radius * rng.random_range(1.0..1.5);
        let rz = radius * rng.random_range(0.7..1.2);
        b.blob(c, [rn, rt, rz], angle);
        for _ in 0..rng.random_range(0..=3) {
            let off = rng.random_range(-0.8..0.8) * rt;
            let cc = [
                c[0] - off * angle.sin(),
                c[1] + off * angle.cos(),
                c[2] + rng.random_range(-0.6..0.6) * rz,
            ];
            let k = rng.random_range(0.4..0.75);
            b.blob(
                cc,
                [rn * k, rt * k, rz * k],
                angle + rng.random_range(-0.5..0.5),
            );
        }
        let hu = if subtle {
            rng.random_range(-720.0..-620.0)
        } else {
            rng.random_range(-700.0..-300.0)
        };
        let core = (!subtle && rng.random_bool(if severity >= 0.8 { 0.5 } else { 0.2 }))
            .then(|| rng.random_range(-100.0..30.0));
        let kind = if core.is_some() {
            LesionKind::Mixed
        } else {
            LesionKind::GroundGlass
        };
        let crazy = !subtle && rng.random_bool(0.2);
        let edge = rng.random_range(0.35..0.6);
        out.push(b.finish(kind, side, None, radius, hu, hu, core, edge, crazy, rng));
    }
    out
}

/// CAP: lobar or segmental consolidation with air bronchograms (the airways are drawn on
/// top), usually one-sided; sometimes patchy bronchopneumonia.
pub(crate) fn cap(
    an: &Anatomy,
    cover: (f64, f64),
    subtle: bool,
    bundles: &[Vec<P3>; 2],
    rng: &mut ChaCha8Rng,
) -> Vec<Lesion> {
    let mut out = Vec::new();
    let unilateral = subtle || rng.random_bool(0.8);
    let first_side = if rng.random_bool(0.6) { 0 } else { 1 };
    let sides: Vec<usize> = if unilateral {
        vec![first_side]
    } else {
        vec![0, 1]
    };
    let style: f64 = rng.random_range(0.0..1.0);
    for side in sides {
        let lobes: &[Lobe] = if side == 0 {
            &[
                Lobe::RightLower,
                Lobe::RightLower,
                Lobe::RightUpper,
                Lobe::RightMiddle,
            ]
        } else {
            &[Lobe::LeftLower, Lobe::LeftLower, Lobe::LeftUpper]
        };
        let lobe = *lobes.choose(rng).unwrap_or(&Lobe::RightLower);
        let hu = rng.random_range(-100.0..50.0);
        let halo = rng.random_range(-550.0..-350.0);
        if !subtle && style < 0.45 {
            // Lobar: a large ball clipped to the lobe.
            let pts = lobe_points(an, side, lobe, cover, 4, rng);
            let Some(&c) = pts.first() else { continue };
            let radius = rng.random_range(40.0..80.0);
            let mut b = Builder::new();
            b.blob(
                c,
                [radius, radius * rng.random_range(0.8..1.2), radius * 0.9],
                0.0,
            );
            for p in pts.iter().skip(1) {
                b.blob(*p, [radius * 0.6; 3], 0.0);
            }
            let edge = rng.random_range(0.12..0.3);
            out.push(b.finish(
                LesionKind::Lobar,
                side,
                Some(lobe),
                radius,
                hu,
                halo,
                None,
                edge,
                false,
                rng,
            ));
        } else if subtle || style < 0.85 {
            // Segmental: a wedge against the pleura, inside one lobe.
            let radius = if subtle {
                rng.random_range(9.0..15.0)
            } else {
                rng.random_range(15.0..35.0)
            };
            let mut placed = None;
            for _ in 0..20 {
                let z = pick_z(an, cover, true, rng);
                if let Some((p, angle)) = pleural_point(an, side, z, Some(lobe), rng) {
                    let inward = radius * rng.random_range(0.4..0.7);
                    let c = [p[0] - inward * angle.cos(), p[1] - inward * angle.sin(), z];
                    if an.lobe_at(c) == Some(lobe) {
                        placed = Some((c, angle));
                        break;
                    }
                }
            }
            let Some((c, angle)) = placed else { continue };
            let mut b = Builder::new();
            b.blob(c, [radius * 0.8, radius * 1.2, radius], angle);
            let hu = if subtle {
                rng.random_range(-350.0..-100.0)
            } else {
                hu
            };
            let edge = rng.random_range(0.15..0.35);
            out.push(b.finish(
                LesionKind::Segmental,
                side,
                Some(lobe),
                radius,
                hu,
                halo,
                None,
                edge,
                false,
                rng,
            ));
        } else {
            // Bronchopneumonia: patchy nodular opacities around bronchovascular bundles.
            let cands: Vec<P3> = bundles[side]
                .iter()
                .copied()
                .filter(|p| p[2] > cover.0 && p[2] < cover.1 && an.lung_at(*p) == Some(side))
                .collect();
            for _ in 0..rng.random_range(3..=8) {
                let Some(&c) = cands.choose(rng) else { break };
                let radius = rng.random_range(5.0..14.0);
                let mut b = Builder::new();
                b.blob(
                    c,
                    [radius, radius * rng.random_range(0.7..1.3), radius],
                    rng.random_range(0.0..PI),
                );
                let hu = rng.random_range(-450.0..-50.0);
                out.push(b.finish(
                    LesionKind::Bronchopneumonia,
                    side,
                    None,
                    radius,
                    hu,
                    hu,
                    None,
                    0.5,
                    false,
                    rng,
                ));
            }
        }
    }
    out
}

fn lobe_points(
    an: &Anatomy,
    side: usize,
    lobe: Lobe,
    cover: (f64, f64),
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<P3> {
    let mut out = Vec::new();
    for _ in 0..400 {
        if out.len() >= n {
            break;
        }
        let z = rng.random_range(cover.0..cover.1.max(cover.0 + 1.0));
        let g = an.at(z);
        let sign = if side == 0 { -1.0 } else { 1.0 };
        let (x, y) = (
            sign * rng.random_range(0.0..g.ca),
            rng.random_range(-g.cba..g.cbp),
        );
        if g.lung_side(x, y) == Some(side) && g.lobe(side, x, y) == lobe {
            out.push([x, y, z]);
        }
    }
    out
}

/// A small sphere: solid nodules, emphysema holes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spot {
    pub c: P3,
    pub r: f64,
    pub hu: f64,
}

/// Incidental solid nodules (1–3).
pub(crate) fn nodules(an: &Anatomy, rng: &mut ChaCha8Rng) -> Vec<Spot> {
    let n = rng.random_range(1..=3);
    (0..n)
        .filter_map(|_| {
            let side = rng.random_range(0..2);
            sample_lung_points(an, side, 1, 4.0, rng)
                .first()
                .map(|&c| Spot {
                    c,
                    r: rng.random_range(2.0..4.5),
                    hu: rng.random_range(10.0..60.0),
                })
        })
        .collect()
}

/// Centrilobular emphysema: low-attenuation holes in the upper lungs.
pub(crate) fn emphysema(an: &Anatomy, rng: &mut ChaCha8Rng) -> Vec<Spot> {
    let n = rng.random_range(5..=25);
    let mut out = Vec::new();
    for _ in 0..n {
        let side = rng.random_range(0..2);
        if let Some(&c) = sample_lung_points(an, side, 1, 3.0, rng).first()
            && c[2] < 0.55 * an.len
        {
            out.push(Spot {
                c,
                r: rng.random_range(3.0..8.0),
                hu: -985.0,
            });
        }
    }
    out
}

impl Spot {
    pub fn weight(&self, x: f64, y: f64, z: f64) -> f64 {
        let d2 = sq(x - self.c[0]) + sq(y - self.c[1]) + sq(z - self.c[2]);
        if d2 >= sq(self.r) {
            0.0
        } else {
            ((self.r - d2.sqrt()) / 1.0).min(1.0)
        }
    }
}
