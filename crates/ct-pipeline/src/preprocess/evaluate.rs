//! Evaluation against known truth (phantoms): a separate pass over the stages' outputs.

use ct_core::Volume;
use ndarray::{Array3, Axis};

use super::stages::{Cleaned, Lesions, Lungs, ScanContext};
use super::*;

fn dice_bits(a: &[u64], b: &[u64]) -> f64 {
    let (mut inter, mut sa, mut sb) = (0u64, 0u64, 0u64);
    for (x, y) in a.iter().zip(b) {
        inter += (x & y).count_ones() as u64;
        sa += x.count_ones() as u64;
        sb += y.count_ones() as u64;
    }
    if sa + sb == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (sa + sb) as f64
    }
}

/// Precision and recall of the cleaning rule against known out-of-place slices.
pub fn cleaning_scores(records: &[ScanRecord]) -> Option<(f64, f64, usize, usize)> {
    let (mut tp, mut flagged, mut truth) = (0usize, 0usize, 0usize);
    let mut any = false;
    for r in records {
        let Some(inj) = &r.injected else { continue };
        any = true;
        flagged += r.removed.len();
        truth += inj.len();
        tp += r.removed.iter().filter(|z| inj.contains(z)).count();
    }
    if !any {
        return None;
    }
    let p = if flagged > 0 {
        tp as f64 / flagged as f64
    } else {
        1.0
    };
    let rc = if truth > 0 {
        tp as f64 / truth as f64
    } else {
        1.0
    };
    Some((p, rc, flagged, truth))
}

/// What the evaluation pass measures on one scan, when its truth is known.
pub(super) struct Evaluation {
    /// Dice of the recipe's lung mask against the reference.
    pub lung_dice: Option<f64>,
    /// Dice of the lesion-inclusive mask.
    pub lung_dice_closed: Option<f64>,
    /// Dice of the detected lesion voxels against the reference lesion mask (scans with
    /// lesions).
    pub lesion_dice: Option<f64>,
    /// Each component's score and whether at least half of it is lesion.
    pub lesion_components: Option<Vec<(f64, bool)>>,
}

/// Compares the stages' outputs with the scan's known truth. Masks are compared on the
/// geometry of the scan as read: removed slices count as background.
pub(super) fn evaluate(ctx: &ScanContext<'_>, c: &Cleaned, l: &Lungs, les: &Lesions) -> Evaluation {
    let dims = ctx.scan.volume.data().dim();
    let truth = ctx.truth;
    let lung_dice_of = |m: &Volume<u8>| {
        truth.lung_bits.as_ref().map(|bits| {
            let mut full = Array3::<u8>::zeros(dims);
            for (k, &z) in c.kept.iter().enumerate() {
                full.index_axis_mut(Axis(0), z)
                    .assign(&m.data().index_axis(Axis(0), k));
            }
            dice_bits(&pack_bits(full.view()), bits)
        })
    };
    let lesion_dice = match &truth.lesion_bits {
        Some(bits) if bits.iter().any(|&w| w != 0) => {
            let mut full = Array3::<u8>::zeros(dims);
            for q in &les.detected {
                full[[c.kept[q[0] as usize], q[1] as usize, q[2] as usize]] = 1;
            }
            Some(dice_bits(&pack_bits(full.view()), bits))
        }
        _ => None,
    };
    Evaluation {
        lung_dice: lung_dice_of(&l.segmented),
        lung_dice_closed: lung_dice_of(&l.inclusive),
        lesion_dice,
        lesion_components: les
            .components
            .as_ref()
            .map(|v| v.iter().map(|&(p, s)| (p, s >= 0.5)).collect()),
    }
}
