//! Masks: the lung mask by recipe, its lesion-inclusive closing, bit packing and slice
//! removal.

use ct_core::{Meta, Volume};
use ct_morph::lung::{LungParams, segment};
use ct_morph::lung_field::{LungFieldParams, segment_lung_field};
use ct_morph::{MorphParams, PackedMask, binary_fill_holes};
use ndarray::{Array3, ArrayView3, Axis};

use crate::Result;
use crate::config::LungRecipe;

/// Drops the slices listed in `removed` (sorted) from a volume.
pub(crate) fn drop_slices<T: Clone>(v: &Volume<T>, removed: &[usize]) -> Result<Volume<T>> {
    if removed.is_empty() {
        return Ok(v.clone());
    }
    let keep: Vec<usize> = (0..v.n_slices())
        .filter(|z| removed.binary_search(z).is_err())
        .collect();
    let data = v.data().select(Axis(0), &keep);
    Ok(Volume::with_origin(data, v.spacing(), v.origin())?)
}

/// Packs a 0/1 mask into bits (raster order).
pub fn pack_bits(mask: ArrayView3<'_, u8>) -> Vec<u64> {
    let mut out = vec![0u64; mask.len().div_ceil(64)];
    for (i, &m) in mask.iter().enumerate() {
        if m != 0 {
            out[i / 64] |= 1 << (i % 64);
        }
    }
    out
}

/// The 0/1 lung mask the per-scan stages work inside, by `recipe` (the body-first recipe's
/// both lungs and airways, or the seed recipe's components).
pub fn lung_mask(hu: &Volume<i16>, meta: &Meta, recipe: LungRecipe) -> Result<Volume<u8>> {
    Ok(match recipe {
        LungRecipe::BodyFirst => {
            let m = segment_lung_field(hu, &LungFieldParams::for_meta(meta))?;
            m.labels.map(|&l| u8::from(l != 0))
        }
        LungRecipe::Seed => segment(hu, &LungParams::default())?.mask,
    })
}

/// The morphology recipe keeps air-like lung (below −400 HU): dense lesions that touch the
/// pleura (COVID-19's subpleural ground glass, CAP's lobar consolidation) fall outside it.
/// Radiomic features need them inside, so close the mask in-plane with a disk of
/// `radius_mm` and fill holes slice by slice: concavities bitten out by juxtapleural lesions
/// are restored, while the lung outline elsewhere is unchanged.
pub fn lesion_inclusive_mask(mask: &Volume<u8>, radius_mm: f64) -> Result<Array3<u8>> {
    if radius_mm <= 0.0 {
        return Ok(mask.data().clone());
    }
    let disk = crate::features::in_plane_disk(radius_mm, mask.spacing())?;
    let closed = PackedMask::from_u8(mask.view())?
        .close(&disk, &MorphParams::default())?
        .to_bool();
    let mut out = Array3::<u8>::zeros(closed.dim());
    for (z, sl) in closed.axis_iter(Axis(0)).enumerate() {
        let filled = binary_fill_holes(sl, None)?;
        out.index_axis_mut(Axis(0), z)
            .assign(&filled.mapv(u8::from));
    }
    Ok(out)
}
