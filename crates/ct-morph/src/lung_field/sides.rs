//! Stage 4: right and left lung.

use ndarray::{Array3, Zip};

use super::geometry::{columns_below, mean_x};
use super::{AIRWAYS, LEFT_LUNG, LungFieldParams, RIGHT_LUNG};
use crate::lung::bounding_box;
use crate::{
    Components, Error, MorphParams, PackedMask, Result, generate_binary_structure,
    iterate_structure,
};

/// A component holds both lungs when at least this share of it lies on each side of the
/// body's middle.
const BOTH_SIDES: f64 = 0.15;
/// The smaller half of an erosion split has at least this share of the larger.
const SPLIT_BALANCE: f64 = 0.1;
/// Deepest in-plane erosion tried to separate the lungs, in mm.
const MAX_SPLIT_MM: f64 = 15.0;

/// `[right, left]` lungs, each filled slice by slice, from the lung field without airways.
pub(super) fn split(
    lungs: &PackedMask,
    body: &PackedMask,
    min_voxels: u64,
    pixel_mm: f64,
    p: &LungFieldParams,
) -> Result<[PackedMask; 2]> {
    let s6 = generate_binary_structure(3, 1)?;
    let comps = Components::new(lungs, &s6)?;
    let sizes = comps.sizes();
    let kept: Vec<u32> = comps
        .largest_labels(comps.len())
        .into_iter()
        .filter(|&l| sizes[l as usize - 1] >= min_voxels)
        .collect();
    let Some(&first) = kept.first() else {
        return Err(Error::NoLung(
            "no lung parenchyma is left once the airways are removed".into(),
        ));
    };
    let bbox = bounding_box(body).ok_or_else(|| Error::NoBody("the body mask is empty".into()))?;
    let mid = (bbox.min[2] + bbox.max[2]) / 2;
    let low_x = columns_below(lungs.shape(), mid);
    let largest = comps.select(|l| l == first);
    let ([mut low, mut high], rest) = if straddles(&largest, &low_x)? {
        (separate(&largest, &low_x, pixel_mm)?, &kept[1..])
    } else {
        let empty = PackedMask::zeros(lungs.shape())?;
        ([empty.clone(), empty], &kept[..])
    };
    for &l in rest {
        let one = comps.select(|k| k == l);
        if mean_x(&one).is_some_and(|x| x < mid as f64) {
            low = low.or(&one)?;
        } else {
            high = high.or(&one)?;
        }
    }
    let cross2 = generate_binary_structure(2, 1)?;
    let r = (p.border_closing_mm / pixel_mm).round() as usize;
    let close = |m: PackedMask| -> Result<PackedMask> {
        if r == 0 {
            return Ok(m);
        }
        let disk = iterate_structure(&cross2, r)?;
        m.close(&disk, &MorphParams::default())
    };
    let (low, high) = (close(low)?, close(high)?);
    let (low, high) = (low.fill_holes(&cross2)?, high.fill_holes(&cross2)?);
    let high = high.and(&low.not())?;
    Ok(if p.x_toward_patient_left {
        [low, high]
    } else {
        [high, low]
    })
}

/// Whether a component has at least [`BOTH_SIDES`] of its voxels on each side.
fn straddles(comp: &PackedMask, low_x: &PackedMask) -> Result<bool> {
    let n = comp.count_ones() as f64;
    let low = comp.and(low_x)?.count_ones() as f64;
    Ok(low >= BOTH_SIDES * n && n - low >= BOTH_SIDES * n)
}

/// Splits a component holding both lungs into `[low x, high x]` halves: eroded in-plane until
/// it falls into two balanced pieces on either side, then grown back inside the component;
/// by the middle column when no erosion separates it.
fn separate(comp: &PackedMask, low_x: &PackedMask, pixel_mm: f64) -> Result<[PackedMask; 2]> {
    let cross2 = generate_binary_structure(2, 1)?;
    let s6 = generate_binary_structure(3, 1)?;
    let max_steps = ((MAX_SPLIT_MM / pixel_mm).round() as usize).clamp(1, 40);
    let mut eroded = comp.clone();
    for step in 1..=max_steps {
        eroded = eroded.erode(&cross2, &MorphParams::default())?;
        let pieces = Components::new(&eroded, &s6)?;
        let two = pieces.largest_labels(2);
        if two.len() < 2 {
            if two.is_empty() {
                break;
            }
            continue;
        }
        let a = pieces.select(|l| l == two[0]);
        let b = pieces.select(|l| l == two[1]);
        let (na, nb) = (a.count_ones() as f64, b.count_ones() as f64);
        let (ha, hb) = (
            a.and(low_x)?.count_ones() as f64,
            b.and(low_x)?.count_ones(),
        );
        let a_low = ha > na / 2.0;
        let b_low = hb as f64 > nb / 2.0;
        if nb >= SPLIT_BALANCE * na && a_low != b_low {
            let (l, h) = if a_low { (a, b) } else { (b, a) };
            return regrow(comp, l, h, low_x, 4 * step + 16);
        }
    }
    Ok([comp.and(low_x)?, comp.and(&low_x.not())?])
}

/// Grows two seeds inside `comp` one 6-connected step at a time (the low seed first in
/// each round) until they stop changing; voxels still unclaimed after `rounds` go by side.
fn regrow(
    comp: &PackedMask,
    mut low: PackedMask,
    mut high: PackedMask,
    low_x: &PackedMask,
    rounds: usize,
) -> Result<[PackedMask; 2]> {
    let s6 = iterate_structure(&generate_binary_structure(3, 1)?, 1)?;
    for _ in 0..rounds {
        let nl = low
            .dilate(&s6, &MorphParams::default())?
            .and(comp)?
            .and(&high.not())?;
        let nh = high
            .dilate(&s6, &MorphParams::default())?
            .and(comp)?
            .and(&nl.not())?;
        let done = nl == low && nh == high;
        (low, high) = (nl, nh);
        if done {
            break;
        }
    }
    let rest = comp.and(&low.or(&high)?.not())?;
    Ok([
        low.or(&rest.and(low_x)?)?,
        high.or(&rest.and(&low_x.not())?)?,
    ])
}

/// The label volume: airways over lungs.
pub(super) fn label_volume(
    right: &PackedMask,
    left: &PackedMask,
    airways: &PackedMask,
) -> Result<Array3<u8>> {
    let [nz, ny, nx] = right.shape();
    let mut out = Array3::<u8>::zeros((nz, ny, nx));
    for (m, v) in [(right, RIGHT_LUNG), (left, LEFT_LUNG), (airways, AIRWAYS)] {
        Zip::from(&mut out).and(&m.to_bool()).par_for_each(|o, &b| {
            if b {
                *o = v;
            }
        });
    }
    Ok(out)
}
