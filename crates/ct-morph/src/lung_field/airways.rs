//! Stage 3: the trachea and main bronchi.

use ct_core::Volume;

use super::LungFieldParams;
use super::geometry::{keep_slices, slice_count};
use crate::lung::bounding_box;
use crate::{
    ComponentStats, Components, MorphParams, PackedMask, Result, generate_binary_structure,
    iterate_structure,
};

/// Shortest trachea followed, in mm: a shorter tube of air is not told from bowel gas.
const MIN_TRACHEA_MM: f64 = 20.0;
/// Mean cross-section of a trachea, in mm² (a child's ~50, an adult's up to ~600, with margin).
const TRACHEA_AREA_MM2: (f64, f64) = (40.0, 800.0);
/// The trachea's centre lies within this fraction of the body's width from its middle.
const TRACHEA_CENTRAL: f64 = 0.2;
/// A branch at the carina has at least this cross-section, in mm².
const BRANCH_MIN_MM2: f64 = 10.0;

/// How the airways were found.
#[derive(Debug, Clone, PartialEq)]
pub enum AirwayReport {
    /// The trachea was followed from its open end (`open_end_z`, the slice nearest the neck)
    /// to the carina (`None` when the scan stops before it) and `airway_depth_mm` beyond.
    Found {
        /// Slice of the trachea's open end.
        open_end_z: usize,
        /// Slice where the trachea divides into the main bronchi.
        carina_z: Option<usize>,
    },
    /// No tube of air passed the trachea's tests (a scan of the lung bases, or a trachea that
    /// cannot be told from the lungs); the lungs are then reported without an airway label.
    NotFound(String),
}

/// The airway mask (empty when not found) and how it was found.
pub(super) fn find(
    vol: &Volume<i16>,
    air: &PackedMask,
    field: &PackedMask,
    body: &PackedMask,
    p: &LungFieldParams,
) -> Result<(PackedMask, AirwayReport)> {
    let sp = vol.spacing();
    let pixel = sp.y.min(sp.x);
    let cross2 = generate_binary_structure(2, 1)?;
    let r = ((1.5 / pixel).round() as usize).clamp(1, 4);
    let core = PackedMask::threshold_open(vol.view(), i16::MIN, p.airway_hu)?
        .and(air)?
        .open(&iterate_structure(&cross2, r)?, &MorphParams::default())?;
    let s6 = generate_binary_structure(3, 1)?;
    let comps = Components::new(&core, &s6)?;
    let near_field = field.dilate(&s6, &MorphParams::iterations(2))?;
    let Some(body_box) = bounding_box(body) else {
        return Ok((
            PackedMask::zeros(air.shape())?,
            AirwayReport::NotFound("empty body".into()),
        ));
    };
    let body_mid = (body_box.min[2] + body_box.max[2]) as f64 / 2.0;
    let body_width = (body_box.max[2] - body_box.min[2] + 1) as f64;
    let stats = comps.stats();
    let mut best: Option<&ComponentStats> = None;
    for s in &stats {
        let slices = s.bbox_max[0] - s.bbox_min[0] + 1;
        let area = s.voxels as f64 / slices as f64 * sp.y * sp.x;
        let tube = slices as f64 * sp.z >= MIN_TRACHEA_MM
            && (TRACHEA_AREA_MM2.0..=TRACHEA_AREA_MM2.1).contains(&area)
            && (s.centroid[2] - body_mid).abs() <= TRACHEA_CENTRAL * body_width;
        if tube && best.is_none_or(|b| slices > b.bbox_max[0] - b.bbox_min[0] + 1) {
            let one = comps.select(|l| l == s.label);
            if !one.and(&near_field)?.is_empty() {
                best = Some(s);
            }
        }
    }
    let Some(trachea) = best else {
        let none = PackedMask::zeros(air.shape())?;
        let why = format!(
            "no tube of air below {} HU at least {MIN_TRACHEA_MM} mm long, {}-{} mm² in \
             section and central in the body touches the lungs",
            p.airway_hu, TRACHEA_AREA_MM2.0, TRACHEA_AREA_MM2.1
        );
        return Ok((none, AirwayReport::NotFound(why)));
    };
    let tree = comps.select(|l| l == trachea.label);
    let (z0, z1) = (trachea.bbox_min[0], trachea.bbox_max[0]);
    // The open end is the one with less lung beside it (the neck, not the hila).
    let down = slice_count(field, z0) > slice_count(field, z1);
    let open_end_z = if down { z1 } else { z0 };
    let carina_z = carina(&tree, open_end_z, down, [z0, z1], sp.y * sp.x)?;
    let depth = (p.airway_depth_mm / sp.z).round() as usize;
    let (a, b) = match (carina_z, down) {
        (Some(c), true) => (c.saturating_sub(depth), z1),
        (Some(c), false) => (z0, (c + depth).min(z1)),
        (None, _) => (z0, z1),
    };
    let trunk = keep_slices(&tree, a, b);
    // The lumen's partial-volume voxels (between airway_hu and air_max_hu) join the airway.
    let grow = iterate_structure(&cross2, 2)?;
    let airways = trunk
        .dilate(&grow, &MorphParams::default())?
        .and(air)?
        .or(&trunk)?;
    Ok((
        airways,
        AirwayReport::Found {
            open_end_z,
            carina_z,
        },
    ))
}

/// The first slice, walking from the open end, where the tube has divided into two branches
/// of at least [`BRANCH_MIN_MM2`] each.
fn carina(
    tree: &PackedMask,
    open_end: usize,
    down: bool,
    [z0, z1]: [usize; 2],
    pixel_mm2: f64,
) -> Result<Option<usize>> {
    let cross2 = generate_binary_structure(2, 1)?;
    let min_px = (BRANCH_MIN_MM2 / pixel_mm2).ceil() as u64;
    let order: Vec<usize> = if down {
        (z0..=open_end).rev().collect()
    } else {
        (open_end..=z1).collect()
    };
    let mut seen_one = false;
    for z in order {
        let plane = tree.slice_z(z, z + 1);
        let blobs = Components::new(&plane, &cross2)?
            .sizes()
            .into_iter()
            .filter(|&n| n >= min_px)
            .count();
        match blobs {
            1 => seen_one = true,
            n if n >= 2 && seen_one => return Ok(Some(z)),
            _ => {}
        }
    }
    Ok(None)
}
