//! Body-first lung segmentation for real chest CT: the seed's step 2, "estimate the lung
//! field", before any lung threshold.
//!
//! [`segment_lung_field`] runs four stages, each composed of the scipy-exact primitives of
//! this crate (threshold, in-plane opening, 3-D components, 2-D hole filling):
//!
//! 1. **Body** ([`body`]): voxels above `body_min_hu`, opened in-plane by about
//!    `body_opening_mm` (cuts the thin bridges to the couch, straps and tubes), the largest
//!    6-connected 3-D component, grown back over the dense voxels it lost to the opening and
//!    filled slice by slice. The couch, its foam mattress (−950…−600 HU), blankets and the air
//!    around the patient are outside it; a body cut off by the field of view still encloses
//!    its lungs.
//! 2. **Lung field**: air below `air_max_hu` inside the filled body, 6-connected components
//!    of at least `min_lung_ml`; a component is lung parenchyma when fewer than
//!    `max_pure_air_fraction` of its voxels are below `pure_air_hu` (measured on real scans:
//!    lungs 0.00–0.01, bowel gas 0.6–0.7, the trachea ~1), which rejects stomach and bowel
//!    gas, the oesophagus and sinuses whatever their size.
//! 3. **Airways** ([`airways`]): the trachea is the long, round, central tube of air below
//!    `airway_hu`; it is followed from its open end to the carina and `airway_depth_mm`
//!    beyond, and grown into the lumen's partial-volume voxels. Label 3.
//! 4. **Sides** ([`sides`]): the lung field without the airways, split into the two lungs
//!    (when they touch at the anterior or posterior junction: eroded in-plane until they
//!    separate, then grown back inside the field), named right and left from the image's
//!    x direction, and filled slice by slice (vessels, nodules).
//!
//! Labels out: 1 right lung, 2 left lung, 3 airways ([`LungMask`]). A volume with no body
//! gives [`Error::NoBody`]; a body without lung parenchyma (head, abdomen, an empty phantom)
//! gives [`Error::NoLung`], never a mask of the couch.

mod airways;
mod body;
mod geometry;
mod sides;

use ct_core::{Meta, Volume};

use crate::{Components, Error, PackedMask, Result, generate_binary_structure};

pub use airways::AirwayReport;

/// Smallest lung cross-section per slice, in mm², that replaces `min_lung_ml` on thin stacks.
pub const MIN_LUNG_AREA_MM2: f64 = 100.0;

/// Label of the right lung in [`LungMask::labels`].
pub const RIGHT_LUNG: u8 = 1;
/// Label of the left lung.
pub const LEFT_LUNG: u8 = 2;
/// Label of the trachea and main bronchi.
pub const AIRWAYS: u8 = 3;

/// Parameters of [`segment_lung_field`]. Defaults hold on contrast and non-contrast CT,
/// 0.5–5 mm slices and 256²–768² images (checked on the real scans of `tools/realct`).
#[derive(Debug, Clone, PartialEq)]
pub struct LungFieldParams {
    /// Body: voxels strictly above this HU. Default −500 (soft tissue and bone; foam, air
    /// and lung stay out).
    pub body_min_hu: i16,
    /// Body: in-plane opening radius in mm (rounded to pixels, at least 1). Default 3.
    pub body_opening_mm: f64,
    /// Lung field: air strictly below this HU inside the body. Default −400.
    pub air_max_hu: i16,
    /// "Pure air" (trachea, bowel gas, outside air): strictly below this HU. Default −950.
    pub pure_air_hu: i16,
    /// A lung component has fewer than this fraction of pure-air voxels. Default 0.25
    /// (measured: real lungs 0.001–0.031, a phantom lung under metal streaks 0.16, bowel gas
    /// 0.33–0.71).
    pub max_pure_air_fraction: f64,
    /// A lung component's mean HU is at most this. Default −600 (aerated lung averages about
    /// −750…−870 below `air_max_hu`; clothing, gel pads and partial-volume seams −450).
    pub max_lung_mean_hu: i16,
    /// Smallest lung component kept, in mL. Default 5; for stacks too thin to hold 5 mL of
    /// lung, [`MIN_LUNG_AREA_MM2`] on each slice instead.
    pub min_lung_ml: f64,
    /// Airway lumen: strictly below this HU. Default −900.
    pub airway_hu: i16,
    /// How far the airways are followed past the carina, in mm. Default 30.
    pub airway_depth_mm: f64,
    /// In-plane closing of each lung by a disk of this radius in mm before its holes are
    /// filled: pulls in consolidation and ground glass denser than `air_max_hu` that bites
    /// into the lung's border (0 = off). Default 0.
    pub border_closing_mm: f64,
    /// Whether the image's x axis (columns) runs toward the patient's left, as in DICOM's
    /// usual ImageOrientationPatient `1\0\0\…`. Default true. Decides which lung is "right".
    pub x_toward_patient_left: bool,
}

impl Default for LungFieldParams {
    fn default() -> Self {
        LungFieldParams {
            body_min_hu: -500,
            body_opening_mm: 3.0,
            air_max_hu: -400,
            pure_air_hu: -950,
            max_pure_air_fraction: 0.25,
            max_lung_mean_hu: -600,
            min_lung_ml: 5.0,
            airway_hu: -900,
            airway_depth_mm: 30.0,
            border_closing_mm: 0.0,
            x_toward_patient_left: true,
        }
    }
}

impl LungFieldParams {
    /// The defaults with `x_toward_patient_left` read from a scan's metadata
    /// ([`x_toward_patient_left`]; DICOM's usual orientation when the metadata lacks it).
    pub fn for_meta(meta: &Meta) -> LungFieldParams {
        LungFieldParams {
            x_toward_patient_left: x_toward_patient_left(meta).unwrap_or(true),
            ..LungFieldParams::default()
        }
    }

    /// Rejects empty HU ranges, non-positive sizes and fractions outside `(0, 1]`.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, why: String| Err(Error::InvalidParam { name, why });
        if self.pure_air_hu >= self.air_max_hu || self.airway_hu >= self.air_max_hu {
            return bad(
                "pure_air_hu/airway_hu",
                format!("both must lie below air_max_hu {}", self.air_max_hu),
            );
        }
        if !(self.max_pure_air_fraction > 0.0 && self.max_pure_air_fraction <= 1.0) {
            return bad(
                "max_pure_air_fraction",
                format!("{} is outside (0, 1]", self.max_pure_air_fraction),
            );
        }
        for (name, v) in [
            ("body_opening_mm", self.body_opening_mm),
            ("min_lung_ml", self.min_lung_ml),
            ("airway_depth_mm", self.airway_depth_mm),
            ("border_closing_mm", self.border_closing_mm),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(name, format!("{v} is not a finite size >= 0"));
            }
        }
        Ok(())
    }
}

/// Whether a volume's x axis runs toward the patient's left, from
/// `meta.extra["ImageOrientationPatient"]` (LPS row and column cosines, as ct-io records them
/// for DICOM and NIfTI): the sign of the row direction's x component. `None` when the entry
/// is missing, malformed, or the rows run mostly front-to-back or head-to-foot (not an
/// axial-like slice).
pub fn x_toward_patient_left(meta: &Meta) -> Option<bool> {
    let iop: Vec<f64> = meta
        .extra
        .get("ImageOrientationPatient")?
        .split('\\')
        .map(|v| v.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    let [rx, ry, rz] = [*iop.first()?, *iop.get(1)?, *iop.get(2)?];
    (rx.is_finite() && rx.abs() > ry.abs().max(rz.abs())).then_some(rx > 0.0)
}

/// The result of [`segment_lung_field`].
#[derive(Debug, Clone)]
pub struct LungMask {
    /// 0 background, [`RIGHT_LUNG`], [`LEFT_LUNG`], [`AIRWAYS`]; the input's geometry.
    pub labels: Volume<u8>,
    /// Right lung volume in mL.
    pub right_ml: f64,
    /// Left lung volume in mL.
    pub left_ml: f64,
    /// Trachea and main bronchi volume in mL (0 when the scan does not reach them).
    pub airways_ml: f64,
    /// Filled body volume in mL.
    pub body_ml: f64,
    /// How the airways were found (or why not).
    pub airways: AirwayReport,
    /// The air components inside the body that were weighed as lung (largest first).
    pub air_components: Vec<AirComponent>,
}

/// One air component inside the body, as the lung-field stage weighed it.
#[derive(Debug, Clone, PartialEq)]
pub struct AirComponent {
    /// Volume in mL.
    pub ml: f64,
    /// Share of its voxels below `pure_air_hu`.
    pub pure_air_fraction: f64,
    /// Mean HU of its voxels.
    pub mean_hu: f64,
    /// Whether it was taken as lung parenchyma.
    pub lung: bool,
}

impl LungMask {
    /// Both lungs as a 0/1 mask (airways excluded).
    pub fn lungs(&self) -> Volume<u8> {
        self.labels
            .map(|&v| u8::from(v == RIGHT_LUNG || v == LEFT_LUNG))
    }

    /// Both lungs' volume in mL.
    pub fn lungs_ml(&self) -> f64 {
        self.right_ml + self.left_ml
    }
}

/// Segments the lungs of a HU volume body first (see the module docs).
///
/// Errors: invalid parameters, [`Error::NoBody`] when nothing dense enough to be a patient
/// is in the volume, [`Error::NoLung`] when the body holds no lung parenchyma.
pub fn segment_lung_field(vol: &Volume<i16>, p: &LungFieldParams) -> Result<LungMask> {
    p.validate()?;
    let sp = vol.spacing();
    let voxel_ml = sp.voxel_volume() / 1000.0;
    let body = body::filled_body(vol, p)?;
    let air = PackedMask::threshold_open(vol.view(), i16::MIN, p.air_max_hu)?.and(&body)?;
    let (field, air_components) = lung_field(vol, &air, voxel_ml, p)?;
    let (airway_mask, airways) = airways::find(vol, &air, &field, &body, p)?;
    let lungs = field.and(&airway_mask.not())?;
    let min_voxels = min_lung_voxels(vol, p);
    let [right, left] = sides::split(&lungs, &body, min_voxels, sp.y.min(sp.x), p)?;
    let labels = sides::label_volume(&right, &left, &airway_mask)?;
    let count = |l: u8| labels.iter().filter(|&&v| v == l).count() as f64 * voxel_ml;
    Ok(LungMask {
        right_ml: count(RIGHT_LUNG),
        left_ml: count(LEFT_LUNG),
        airways_ml: count(AIRWAYS),
        body_ml: body.count_ones() as f64 * voxel_ml,
        labels: vol.with_data(labels)?,
        airways,
        air_components,
    })
}

/// Smallest lung component in voxels: `min_lung_ml`, or [`MIN_LUNG_AREA_MM2`] per slice when
/// the stack is too thin for that.
pub(crate) fn min_lung_voxels(vol: &Volume<i16>, p: &LungFieldParams) -> u64 {
    let sp = vol.spacing();
    let by_volume = p.min_lung_ml * 1000.0 / sp.voxel_volume();
    let by_area = MIN_LUNG_AREA_MM2 / (sp.y * sp.x) * vol.n_slices() as f64;
    by_volume.min(by_area).ceil().max(1.0) as u64
}

/// The air components inside the body that look like lung parenchyma (module docs, stage 2).
fn lung_field(
    vol: &Volume<i16>,
    air: &PackedMask,
    voxel_ml: f64,
    p: &LungFieldParams,
) -> Result<(PackedMask, Vec<AirComponent>)> {
    let s6 = generate_binary_structure(3, 1)?;
    let comps = Components::new(air, &s6)?;
    let min_voxels = min_lung_voxels(vol, p);
    let sizes = comps.sizes();
    let pure = PackedMask::threshold_open(vol.view(), i16::MIN, p.pure_air_hu)?.and(air)?;
    let mut kept = Vec::new();
    let mut weighed = Vec::new();
    // The 24 largest are plenty: a chest has two lungs, an abdomen a handful of gas pockets.
    for l in comps.largest_labels(24) {
        let n = sizes[l as usize - 1];
        if n < min_voxels {
            break;
        }
        let one = comps.select(|k| k == l);
        let frac = one.and(&pure)?.count_ones() as f64 / n as f64;
        let mean_hu = geometry::mean_value(vol, &one);
        let lung = frac < p.max_pure_air_fraction && mean_hu <= f64::from(p.max_lung_mean_hu);
        if lung {
            kept.push(l);
        }
        weighed.push(AirComponent {
            ml: n as f64 * voxel_ml,
            pure_air_fraction: frac,
            mean_hu,
            lung,
        });
    }
    if kept.is_empty() {
        let rejected: Vec<String> = weighed
            .iter()
            .map(|c| {
                format!(
                    "{:.1} mL, {:.0}% pure air, mean {:.0} HU",
                    c.ml,
                    100.0 * c.pure_air_fraction,
                    c.mean_hu
                )
            })
            .collect();
        return Err(Error::NoLung(format!(
            "the body holds no air component of at least {:.1} mL that looks like lung \
             parenchyma (fewer than {:.0}% of voxels below {} HU, mean at most {} HU); \
             weighed: [{}]",
            min_voxels as f64 * voxel_ml,
            100.0 * p.max_pure_air_fraction,
            p.pure_air_hu,
            p.max_lung_mean_hu,
            rejected.join(", ")
        )));
    }
    Ok((comps.select(|l| kept.contains(&l)), weighed))
}
