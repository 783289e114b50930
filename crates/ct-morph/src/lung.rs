//! The seed's coarse lung segmentation as a configurable function.
//!
//! Steps: threshold `lung_min < HU < lung_max`; closing with `generate_binary_structure(3,1)`;
//! opening with `iterate_structure(generate_binary_structure(3,1), opening_radius)`; 6-connected
//! components; drop those touching the in-plane border (air outside the body and around the
//! table); keep the largest component and up to `max_lungs - 1` more whose size is at least
//! `second_lung_min_fraction` of the largest (two lungs that touch are one component, so
//! "merged when touching" is automatic); optionally fill holes slice by slice (vessels,
//! nodules); optionally dilate in-plane by a margin; crop to the mask's bounding box with the
//! background set to a chosen HU value.

use ct_core::{Volume, ndarray::s};
use ndarray::Zip;

use crate::{
    Components, Error, MorphParams, PackedMask, Result, generate_binary_structure,
    iterate_structure,
};

/// Parameters of [`segment`]. Defaults follow the seed and the anchor recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct LungParams {
    /// Lower HU bound (exclusive). Default −950: air at −1000 ± noise stays out.
    pub lung_min: i16,
    /// Upper HU bound (exclusive). Default −400.
    pub lung_max: i16,
    /// Closing iterations with the 6-connected cross (0 = no closing). Default 1.
    pub closing_iterations: usize,
    /// Opening element `iterate_structure(cross, opening_radius)` (0 = no opening). Default 2.
    pub opening_radius: usize,
    /// Drop components touching the y/x faces of the volume. Default true.
    pub remove_border_air: bool,
    /// How many components to keep at most. Default 2 (two lungs).
    pub max_lungs: usize,
    /// A further component is kept only if it has at least this fraction of the largest one's
    /// voxels (rejects bowel gas and the trachea). Default 0.1.
    pub second_lung_min_fraction: f64,
    /// In-plane closing of the kept lungs by `iterate_structure(cross2d, r)` (a diamond of
    /// radius `r` voxels) before the hole filling: pulls in dense lesions and vessels that
    /// bite into the lung border (consolidation, ground glass above `lung_max`). 0 = off.
    /// Default 0.
    pub border_closing_radius: usize,
    /// Fill holes in every slice (4-connected background). Default true.
    pub fill_holes_2d: bool,
    /// In-plane dilation of the final mask by this many 4-connected steps. Default 0.
    pub margin: usize,
    /// HU value written outside the mask in the cropped volume. Default −1024.
    pub background: i16,
    /// Replicate the first/last slices along z before the closing and opening (and crop
    /// after), so that scipy's `border_value = 0` does not erode the lungs' end slices when
    /// the scan cuts through them. `false` reproduces the seed's scipy calls exactly.
    /// Default true.
    pub pad_z: bool,
}

impl Default for LungParams {
    fn default() -> Self {
        LungParams {
            lung_min: -950,
            lung_max: -400,
            closing_iterations: 1,
            opening_radius: 2,
            remove_border_air: true,
            max_lungs: 2,
            second_lung_min_fraction: 0.1,
            border_closing_radius: 0,
            fill_holes_2d: true,
            margin: 0,
            background: -1024,
            pad_z: true,
        }
    }
}

impl LungParams {
    /// Rejects an empty HU window, `max_lungs = 0` and fractions outside `[0, 1]`.
    pub fn validate(&self) -> Result<()> {
        if self.lung_min >= self.lung_max - 1 {
            return Err(Error::InvalidParam {
                name: "lung_min/lung_max",
                why: format!(
                    "no HU value lies strictly between {} and {}",
                    self.lung_min, self.lung_max
                ),
            });
        }
        if self.max_lungs == 0 {
            return Err(Error::InvalidParam {
                name: "max_lungs",
                why: "must be at least 1".into(),
            });
        }
        if !(0.0..=1.0).contains(&self.second_lung_min_fraction) {
            return Err(Error::InvalidParam {
                name: "second_lung_min_fraction",
                why: format!("{} is outside [0, 1]", self.second_lung_min_fraction),
            });
        }
        Ok(())
    }
}

/// Inclusive voxel bounding box `[z, y, x]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundingBox {
    /// First voxel.
    pub min: [usize; 3],
    /// Last voxel (inclusive).
    pub max: [usize; 3],
}

impl BoundingBox {
    /// `[z, y, x]` extents.
    pub fn shape(&self) -> [usize; 3] {
        [
            self.max[0] - self.min[0] + 1,
            self.max[1] - self.min[1] + 1,
            self.max[2] - self.min[2] + 1,
        ]
    }
}

/// The result of [`segment`].
#[derive(Debug, Clone)]
pub struct LungSegmentation {
    /// The lung mask (0/1), same geometry as the input.
    pub mask: Volume<u8>,
    /// Bounding box of the mask.
    pub bbox: BoundingBox,
    /// The input inside `bbox`, with voxels outside the mask set to `background`. Its origin
    /// is shifted by `bbox.min * spacing` along the volume axes.
    pub cropped: Volume<i16>,
    /// Voxel counts of the kept components, largest first.
    pub component_voxels: Vec<u64>,
}

/// Runs the lung recipe on a HU volume (see the module docs).
///
/// Errors: invalid parameters, or [`Error::NoLung`] when nothing survives.
pub fn segment(vol: &Volume<i16>, p: &LungParams) -> Result<LungSegmentation> {
    p.validate()?;
    let s6 = generate_binary_structure(3, 1)?;
    let mut m = PackedMask::threshold_open(vol.view(), p.lung_min, p.lung_max)?;
    let pad = if p.pad_z {
        p.closing_iterations + p.opening_radius
    } else {
        0
    };
    let nz = m.shape()[0];
    m = m.pad_z_replicate(pad);
    if p.closing_iterations > 0 {
        m = m.close(&s6, &MorphParams::iterations(p.closing_iterations))?;
    }
    if p.opening_radius > 0 {
        m = m.open(
            &iterate_structure(&s6, p.opening_radius)?,
            &MorphParams::default(),
        )?;
    }
    m = m.slice_z(pad, pad + nz);
    let comps = Components::new(&m, &s6)?;
    let touch = if p.remove_border_air {
        comps.touching_border([false, true, true])
    } else {
        vec![false; comps.len()]
    };
    let sizes = comps.sizes();
    let mut cand: Vec<u32> = (1..=comps.len() as u32)
        .filter(|&l| !touch[l as usize - 1])
        .collect();
    cand.sort_by(|&a, &b| {
        sizes[b as usize - 1]
            .cmp(&sizes[a as usize - 1])
            .then(a.cmp(&b))
    });
    let Some(&first) = cand.first() else {
        return Err(Error::NoLung(format!(
            "no component inside the body after thresholding {} < HU < {} and morphology ({} components touched the border)",
            p.lung_min,
            p.lung_max,
            comps.len()
        )));
    };
    let big = sizes[first as usize - 1] as f64;
    let keep: Vec<u32> = cand
        .iter()
        .take(p.max_lungs)
        .copied()
        .filter(|&l| sizes[l as usize - 1] as f64 >= p.second_lung_min_fraction * big)
        .collect();
    let component_voxels = keep.iter().map(|&l| sizes[l as usize - 1]).collect();
    let s4 = generate_binary_structure(2, 1)?;
    let mut mask = comps.select(|l| keep.contains(&l));
    if p.border_closing_radius > 0 {
        let d = iterate_structure(&s4, p.border_closing_radius)?;
        mask = mask.close(&d, &MorphParams::default())?;
    }
    if p.fill_holes_2d {
        mask = mask.fill_holes(&s4)?;
    }
    if p.margin > 0 {
        mask = mask.dilate(&s4, &MorphParams::iterations(p.margin))?;
    }
    let bbox = bounding_box(&mask).expect("a kept component is non-empty");
    let mask_u8 = mask.to_bool().mapv(u8::from);
    let [z0, y0, x0] = bbox.min;
    let [z1, y1, x1] = bbox.max;
    let mut crop = vol.data().slice(s![z0..=z1, y0..=y1, x0..=x1]).to_owned();
    Zip::from(&mut crop)
        .and(mask_u8.slice(s![z0..=z1, y0..=y1, x0..=x1]))
        .par_for_each(|v, &m| {
            if m == 0 {
                *v = p.background;
            }
        });
    let sp = vol.spacing();
    let o = vol.origin();
    let origin = [
        o[0] + z0 as f64 * sp.z,
        o[1] + y0 as f64 * sp.y,
        o[2] + x0 as f64 * sp.x,
    ];
    Ok(LungSegmentation {
        mask: vol.with_data(mask_u8)?,
        bbox,
        cropped: Volume::with_origin(crop, sp, origin)?,
        component_voxels,
    })
}

/// Bounding box of a packed mask, `None` when empty.
pub fn bounding_box(m: &PackedMask) -> Option<BoundingBox> {
    let [_, ny, _] = m.shape();
    let wpr = m.words_per_row();
    let mut min = [usize::MAX; 3];
    let mut max = [0usize; 3];
    for r in 0..m.n_rows() {
        let row = m.row(r);
        let Some(first) = row.iter().position(|&w| w != 0) else {
            continue;
        };
        let last = wpr - 1 - row.iter().rev().position(|&w| w != 0).expect("non-empty");
        let xa = first * 64 + row[first].trailing_zeros() as usize;
        let xb = last * 64 + 63 - row[last].leading_zeros() as usize;
        let (z, y) = (r / ny, r % ny);
        for (k, (lo, hi)) in [(z, z), (y, y), (xa, xb)].into_iter().enumerate() {
            min[k] = min[k].min(lo);
            max[k] = max[k].max(hi);
        }
    }
    (min[0] != usize::MAX).then_some(BoundingBox { min, max })
}
