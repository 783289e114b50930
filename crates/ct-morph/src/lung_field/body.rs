//! Stage 1: the patient's body, filled slice by slice.

use ct_core::Volume;

use super::LungFieldParams;
use crate::{
    Components, Error, MorphParams, PackedMask, Result, generate_binary_structure,
    iterate_structure,
};

/// Smallest body accepted, in mL: a newborn's chest slab of a few slices is far above it,
/// a stray patch of couch or a calibration rod is below it.
const MIN_BODY_ML: f64 = 20.0;
/// On stacks too thin for [`MIN_BODY_ML`], the smallest body cross-section per slice, in mm²
/// (a newborn's chest is about 10 000 mm²).
const MIN_BODY_AREA_MM2: f64 = 1000.0;

/// The filled body mask (see the module docs of `lung_field`, stage 1).
pub(super) fn filled_body(vol: &Volume<i16>, p: &LungFieldParams) -> Result<PackedMask> {
    let sp = vol.spacing();
    let dense = PackedMask::threshold_open(vol.view(), p.body_min_hu, i16::MAX)?;
    let pixel = sp.y.min(sp.x);
    let r = ((p.body_opening_mm / pixel).round() as usize).clamp(1, 16);
    let disk = iterate_structure(&generate_binary_structure(2, 1)?, r)?;
    let opened = dense.open(&disk, &MorphParams::default())?;
    let s6 = generate_binary_structure(3, 1)?;
    let comps = Components::new(&opened, &s6)?;
    let Some(&largest) = comps.largest_labels(1).first() else {
        return Err(no_body(vol, p, 0.0));
    };
    let core = comps.select(|l| l == largest);
    let ml = core.count_ones() as f64 * sp.voxel_volume() / 1000.0;
    let thin_ml = MIN_BODY_AREA_MM2 * sp.z * vol.n_slices() as f64 / 1000.0;
    if ml < MIN_BODY_ML.min(thin_ml) {
        return Err(no_body(vol, p, ml));
    }
    // Grow back the skin and the thin parts the opening removed, but only over dense voxels
    // within the opening's reach: a couch that touched the body through a thin bridge stays
    // outside.
    let grown = core.dilate(&disk, &MorphParams::default())?.and(&dense)?;
    let body = grown.or(&core)?;
    let mut filled = fill_with_open_holes(vol, &body)?;
    // A field of view cut inside the chest leaves the lungs open to the image border; where
    // the body covers most of a slice's border, that border closes the body.
    for z in 0..body.shape()[0] {
        if border_share(&body, z) >= TRUNCATED_BORDER_SHARE {
            fill_slice(&mut filled, z);
        }
    }
    Ok(filled)
}

/// A background region that reaches the rim (image border, or the outside of the scanner's
/// reconstruction circle) along less than this share of its contact with the rim and the
/// body is still a hole: a lung cut by the field of view. Outside air meets the rim along
/// about half its contact, a lung cut by the circle along a short arc.
const MAX_RIM_SHARE: f64 = 0.3;
/// The reconstruction circle is taken as a barrier when at least this share of the pixels
/// outside it (in the middle slice) hold one constant value: the scanner's padding.
const PADDING_SHARE: f64 = 0.9;

/// Fills, slice by slice, the background regions that the body encloses, including those
/// that reach the rim along a short stretch only ([`MAX_RIM_SHARE`]).
fn fill_with_open_holes(vol: &Volume<i16>, body: &PackedMask) -> Result<PackedMask> {
    let cross2 = generate_binary_structure(2, 1)?;
    let rim = rim_zone(vol)?.and(&body.not())?;
    let inner = body.not().and(&rim.not())?;
    let comps = Components::new(&inner, &cross2)?;
    let near_rim = rim.dilate(&cross2, &MorphParams::default())?.and(&inner)?;
    let near_body = body.dilate(&cross2, &MorphParams::default())?.and(&inner)?;
    let mut contact = vec![(0u64, 0u64); comps.len() + 1];
    comps.for_each_run(|z, y, a, b, l| {
        let c = &mut contact[l as usize];
        for x in a..=b {
            c.0 += u64::from(near_rim.get(z, y, x));
            c.1 += u64::from(near_body.get(z, y, x));
        }
    });
    let holes = comps.select(|l| {
        let (r, b) = contact[l as usize];
        r == 0 || (r as f64) < MAX_RIM_SHARE * (r + b) as f64
    });
    body.or(&holes)
}

/// The image border, and the outside of the reconstruction circle when the scanner padded it
/// with a constant value (square slices only); the same in every slice.
fn rim_zone(vol: &Volume<i16>) -> Result<PackedMask> {
    let [nz, ny, nx] = vol.shape();
    let circle = ny == nx && ny >= 64 && padded_circle(vol);
    let c = (nx as f64 - 1.0) / 2.0;
    let r2 = (nx as f64 / 2.0).powi(2);
    let mut plane = PackedMask::zeros([1, ny, nx])?;
    for y in 0..ny {
        for x in 0..nx {
            let frame = y == 0 || x == 0 || y + 1 == ny || x + 1 == nx;
            let outside = circle && (y as f64 - c).powi(2) + (x as f64 - c).powi(2) > r2;
            if frame || outside {
                plane.set(0, y, x, true);
            }
        }
    }
    let mut rim = PackedMask::zeros([nz, ny, nx])?;
    let words = plane.words().to_vec();
    for slab in rim.words_mut().chunks_exact_mut(words.len()) {
        slab.copy_from_slice(&words);
    }
    Ok(rim)
}

/// Whether the pixels outside the inscribed circle of the middle slice hold one value.
fn padded_circle(vol: &Volume<i16>) -> bool {
    let [nz, n, _] = vol.shape();
    let Ok(s) = vol.slice(nz / 2) else {
        return false;
    };
    let c = (n as f64 - 1.0) / 2.0;
    let r2 = (n as f64 / 2.0).powi(2);
    let mut counts = std::collections::HashMap::<i16, usize>::new();
    for ((y, x), &v) in s.indexed_iter() {
        if (y as f64 - c).powi(2) + (x as f64 - c).powi(2) > r2 {
            *counts.entry(v).or_default() += 1;
        }
    }
    let total: usize = counts.values().sum();
    let mode = counts.values().copied().max().unwrap_or(0);
    total > 0 && mode as f64 >= PADDING_SHARE * total as f64
}

/// A slice whose border is at least this share body is a field of view cut inside the body.
const TRUNCATED_BORDER_SHARE: f64 = 0.5;

/// Share of slice `z`'s border pixels that are set.
fn border_share(m: &PackedMask, z: usize) -> f64 {
    let [_, ny, nx] = m.shape();
    let mut on = 0usize;
    for x in 0..nx {
        on += usize::from(m.get(z, 0, x)) + usize::from(ny > 1 && m.get(z, ny - 1, x));
    }
    for y in 1..ny.saturating_sub(1) {
        on += usize::from(m.get(z, y, 0)) + usize::from(nx > 1 && m.get(z, y, nx - 1));
    }
    let total = if ny == 1 || nx == 1 {
        ny * nx
    } else {
        2 * (nx + ny) - 4
    };
    on as f64 / total as f64
}

/// Sets every voxel of slice `z`.
fn fill_slice(m: &mut PackedMask, z: usize) {
    let [_, ny, nx] = m.shape();
    for y in 0..ny {
        for x in 0..nx {
            m.set(z, y, x, true);
        }
    }
}

fn no_body(vol: &Volume<i16>, p: &LungFieldParams, ml: f64) -> Error {
    Error::NoBody(format!(
        "the largest dense component (HU > {}, opened by {} mm) is {ml:.1} mL, below the \
         {MIN_BODY_ML} mL (or {MIN_BODY_AREA_MM2} mm² a slice) of a patient's body ({:?} voxels)",
        p.body_min_hu,
        p.body_opening_mm,
        vol.shape()
    ))
}
