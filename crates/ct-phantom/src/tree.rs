//! Branching vessel and airway trees: straight tubes (capsules) grown toward sample points
//! that fill each lung, with Murray's-law radii.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::anatomy::{Anatomy, P3, sq};

/// A straight tube from `a` to `b` with radius `r` (mm).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tube {
    pub a: P3,
    pub b: P3,
    pub r: f64,
    pub zmin: f64,
    pub zmax: f64,
}

impl Tube {
    pub fn new(a: P3, b: P3, r: f64) -> Tube {
        Tube {
            a,
            b,
            r,
            zmin: a[2].min(b[2]) - r,
            zmax: a[2].max(b[2]) + r,
        }
    }
}

/// An airway: lumen radius plus wall thickness.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Airway {
    pub tube: Tube,
    pub wall: f64,
}

fn centroid(pts: &[P3]) -> P3 {
    let n = pts.len() as f64;
    let mut c = [0.0; 3];
    for p in pts {
        for k in 0..3 {
            c[k] += p[k] / n;
        }
    }
    c
}

fn lerp(a: P3, b: P3, t: f64) -> P3 {
    [
        a[0] + t * (b[0] - a[0]),
        a[1] + t * (b[1] - a[1]),
        a[2] + t * (b[2] - a[2]),
    ]
}

/// A branch of the centre-line tree with its generation (0 at the root).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Branch {
    pub a: P3,
    pub b: P3,
    pub r: f64,
    pub level: u32,
}

/// Grows a tree from `start` whose leaves end at `pts`: each node goes part of the way
/// toward the centroid of its points, then splits them in two along their widest axis.
fn grow(
    start: P3,
    pts: &mut [P3],
    r: f64,
    level: u32,
    rng: &mut ChaCha8Rng,
    out: &mut Vec<Branch>,
) {
    match pts.len() {
        0 => {}
        1 => out.push(Branch {
            a: start,
            b: pts[0],
            r,
            level,
        }),
        _ => {
            let c = centroid(pts);
            let mid = lerp(start, c, rng.random_range(0.35..0.6));
            out.push(Branch {
                a: start,
                b: mid,
                r,
                level,
            });
            let mut var = [0.0f64; 3];
            for p in pts.iter() {
                for k in 0..3 {
                    var[k] += sq(p[k] - c[k]);
                }
            }
            let axis = (0..3)
                .max_by(|&i, &j| var[i].total_cmp(&var[j]))
                .unwrap_or(0);
            pts.sort_by(|p, q| p[axis].total_cmp(&q[axis]));
            let h = pts.len() / 2;
            let (lo, hi) = pts.split_at_mut(h);
            // Murray's law for a symmetric split: r_child = r · 2^(−1/3).
            let rc = r * 0.794 * rng.random_range(0.95..1.05);
            grow(mid, lo, rc, level + 1, rng, out);
            grow(mid, hi, rc, level + 1, rng, out);
        }
    }
}

/// Points inside lung `side`, at least `margin` mm from its edge in-plane.
pub(crate) fn sample_lung_points(
    an: &Anatomy,
    side: usize,
    n: usize,
    margin: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<P3> {
    let mut out = Vec::with_capacity(n);
    let sign = if side == 0 { -1.0 } else { 1.0 };
    let mut tries = 0;
    while out.len() < n && tries < 200 * n {
        tries += 1;
        let z = rng.random_range(0.02..1.0) * an.len;
        let g = an.at(z);
        let x = sign * rng.random_range(0.0..g.ca);
        let y = rng.random_range(-g.cba..g.cbp);
        let inside = [
            (0.0, 0.0),
            (margin, 0.0),
            (-margin, 0.0),
            (0.0, margin),
            (0.0, -margin),
        ]
        .iter()
        .all(|&(dx, dy)| g.lung_side(x + dx, y + dy) == Some(side));
        if inside {
            out.push([x, y, z]);
        }
    }
    out
}

fn perpendicular(d: P3) -> P3 {
    // d × ẑ, or d × x̂ for near-vertical branches.
    let n = if d[2].abs() < 0.9 * (sq(d[0]) + sq(d[1]) + sq(d[2])).sqrt() {
        [d[1], -d[0], 0.0]
    } else {
        [0.0, d[2], -d[1]]
    };
    let l = (sq(n[0]) + sq(n[1]) + sq(n[2])).sqrt().max(1e-9);
    [n[0] / l, n[1] / l, n[2] / l]
}

/// The vessel and airway trees of one patient.
pub(crate) struct Trees {
    pub vessels: Vec<Tube>,
    pub airways: Vec<Airway>,
    /// Mid-points of segmental-level bronchovascular bundles per lung (for
    /// bronchopneumonia).
    pub bundles: [Vec<P3>; 2],
}

pub(crate) fn build(an: &Anatomy, leaves: usize, rng: &mut ChaCha8Rng) -> Trees {
    let g_car = an.at(an.carina_s * an.len);
    let tr_y = g_car.trachea_y();
    let z_car = an.carina_s * an.len;
    let mut vessels = Vec::new();
    let mut airways = Vec::new();
    let mut bundles = [Vec::new(), Vec::new()];
    // Trachea from the neck to the carina.
    airways.push(Airway {
        tube: Tube::new([0.0, tr_y, -0.6 * an.len], [0.0, tr_y, z_car], an.trachea_r),
        wall: 1.8,
    });
    for side in 0..2 {
        let sign = if side == 0 { -1.0 } else { 1.0 };
        let hilum = [
            sign * (g_car.med + if side == 0 { 12.0 } else { 16.0 }),
            tr_y + 12.0,
            z_car + if side == 0 { 18.0 } else { 26.0 },
        ];
        airways.push(Airway {
            tube: Tube::new([0.0, tr_y, z_car], hilum, 0.7 * an.trachea_r),
            wall: 1.6,
        });
        // Arteries with their bronchi (bronchovascular bundles).
        let mut pts = sample_lung_points(an, side, leaves, 6.0, rng);
        let mut branches = Vec::new();
        grow(hilum, &mut pts, 5.0, 0, rng, &mut branches);
        for b in &branches {
            let d = [b.b[0] - b.a[0], b.b[1] - b.a[1], b.b[2] - b.a[2]];
            let n = perpendicular(d);
            let off = b.r * 1.1 + 0.4;
            let shift = |p: P3, o: f64| [p[0] + o * n[0], p[1] + o * n[1], p[2] + o * n[2]];
            vessels.push(Tube::new(shift(b.a, off), shift(b.b, off), b.r));
            let rb = 0.75 * b.r;
            if b.level <= 5 && rb >= 0.7 {
                airways.push(Airway {
                    tube: Tube::new(shift(b.a, -rb - 0.4), shift(b.b, -rb - 0.4), rb),
                    wall: 0.18 * rb + 0.3,
                });
            }
            if (3..=5).contains(&b.level) {
                bundles[side].push(lerp(b.a, b.b, 0.5));
            }
        }
        // Veins: a second tree draining toward the left atrium, interleaved with the first.
        let root = [sign * (g_car.med + 6.0), tr_y + 30.0, z_car + 0.2 * an.len];
        let mut pts = sample_lung_points(an, side, leaves, 6.0, rng);
        let mut branches = Vec::new();
        grow(root, &mut pts, 4.6, 0, rng, &mut branches);
        vessels.extend(branches.iter().map(|b| Tube::new(b.a, b.b, b.r)));
    }
    Trees {
        vessels,
        airways,
        bundles,
    }
}
