use ndarray::Array3;
use rand::Rng;
use rand::seq::index::sample;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use ct_core::{Contrast, Label, Meta, Scan, Spacing, Volume};

use crate::config::{CohortConfig, ScanPlan, plan, scan_id};
use crate::lesion::LesionInfo;
use crate::model::{Acquisition, Findings, Model};
use crate::realism::RealismInfo;
use crate::rng::{Purpose, key, rng_for};
use crate::{Error, Result};

/// One generated scan and its ground truth.
#[derive(Debug, Clone)]
pub struct PhantomScan {
    /// The scan: HU volume (`i16`), `label`, `meta.contrast`, `meta.slice_thickness`,
    /// spacing and origin set.
    pub scan: Scan,
    /// What is really in it.
    pub truth: Truth,
}

/// How an out-of-place slice got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectionKind {
    /// A slice of another scan of the cohort (another patient, its own acquisition).
    OtherScan,
    /// A slice of the same patient from a distant level (35–120 mm away).
    Shifted,
}

/// One out-of-place slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Injection {
    /// Slice index in this scan.
    pub slice: usize,
    /// Where it came from.
    pub kind: InjectionKind,
    /// The id of the scan it belongs to (this scan's id for [`InjectionKind::Shifted`]).
    pub source_id: String,
    /// The patient-frame z (mm) it was cut at.
    pub source_z_mm: f64,
}

/// Ground truth of one scan. Serialises (masks skipped) into `ground_truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Scan id (`normal-000`, `cap-003`, `covid-017`, ...).
    pub id: String,
    /// Diagnosis.
    pub label: Label,
    /// Export group.
    pub contrast: Contrast,
    /// 1 inside the lungs (parenchyma, lesions, intrapulmonary vessels and bronchi), else
    /// 0; shape `(z, y, x)` like the volume.
    #[serde(skip)]
    pub lung_mask: Array3<u8>,
    /// 1 on lesion voxels (always inside `lung_mask`), else 0.
    #[serde(skip)]
    pub lesion_mask: Array3<u8>,
    /// Realism V2 only: what each voxel is, 0 outside the reconstruction circle, 1 air
    /// outside the body, 2 body wall / abdomen / arms, 3 mediastinum, 4 lung (= `lung_mask`),
    /// 5 couch, mattress, clothing, blanket or pillow. The body is codes 2–4.
    #[serde(skip)]
    pub regions: Option<Array3<u8>>,
    /// Sorted indices of the out-of-place slices.
    pub injected: Vec<usize>,
    /// Details of each out-of-place slice.
    pub injections: Vec<Injection>,
    /// A positive scan with only one or two small, faint lesions.
    pub subtle: bool,
    /// The lesions placed (some may fall partly outside the field of view).
    pub lesions: Vec<LesionInfo>,
    /// Lesion voxels in both lungs.
    pub bilateral: bool,
    /// Voxels of `lung_mask`.
    pub lung_voxels: usize,
    /// Voxels of `lesion_mask`.
    pub lesion_voxels: usize,
    /// `lesion_voxels / lung_voxels`.
    pub lesion_fraction: f64,
    /// Confounders that are not lesions (atelectasis, effusion, nodules, emphysema).
    pub findings: Findings,
    /// Acquisition and export parameters.
    pub acquisition: Acquisition,
    /// What realism V2 added (couch, arms, field of view, noise, ...); absent for V1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realism: Option<RealismInfo>,
}

/// Generates scan `index` of the cohort described by `cfg` (deterministic: the same
/// `(cfg, index)` always gives the same scan, whatever else is generated).
pub fn generate_scan(cfg: &CohortConfig, index: usize) -> Result<PhantomScan> {
    cfg.validate()?;
    let plans = plan(cfg);
    if index >= plans.len() {
        return Err(Error::IndexOutOfRange {
            index,
            len: plans.len(),
        });
    }
    build_scan(cfg, &plans, index)
}

/// Generates the whole cohort (`3 · n_per_class` scans: Normal, then CAP, then COVID-19),
/// scans in parallel with rayon; the result does not depend on the number of threads.
pub fn generate_cohort(cfg: &CohortConfig) -> Result<Vec<PhantomScan>> {
    cfg.validate()?;
    let plans = plan(cfg);
    (0..plans.len())
        .into_par_iter()
        .map(|i| build_scan(cfg, &plans, i))
        .collect()
}

struct Planned {
    slice: usize,
    kind: InjectionKind,
    source: usize,
    z: f64,
}

fn plan_injections(
    cfg: &CohortConfig,
    plans: &[ScanPlan],
    index: usize,
    model: &Model,
) -> Vec<Planned> {
    if !plans[index].inject {
        return Vec::new();
    }
    let n = model.acq.n_slices;
    let mut rng = rng_for(cfg.seed, Purpose::Inject, &[index as u64]);
    let want = rng.random_range(1..=cfg.max_injected);
    // Interior, pairwise non-adjacent positions: every out-of-place slice keeps two
    // in-place neighbours (the seed's cleaning rule compares a slice with both).
    let mut chosen: Vec<usize> = Vec::new();
    if n >= 3 {
        for cand in sample(&mut rng, n - 2, (n - 2).min(4 * want))
            .into_iter()
            .map(|k| k + 1)
        {
            if chosen.len() == want {
                break;
            }
            if chosen.iter().all(|&c| c.abs_diff(cand) > 1) {
                chosen.push(cand);
            }
        }
    }
    chosen.sort_unstable();
    chosen
        .into_iter()
        .map(|slice| {
            if plans.len() > 1 && rng.random_bool(0.6) {
                let mut source = rng.random_range(0..plans.len() - 1);
                if source >= index {
                    source += 1;
                }
                Planned {
                    slice,
                    kind: InjectionKind::OtherScan,
                    source,
                    z: f64::NAN,
                }
            } else {
                let off =
                    rng.random_range(35.0..120.0) * if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                let mut z = model.slice_z(slice) + off;
                let len = model.anat.len;
                if !(-0.1 * len..1.05 * len).contains(&z) {
                    z = model.slice_z(slice) - off;
                }
                Planned {
                    slice,
                    kind: InjectionKind::Shifted,
                    source: index,
                    z,
                }
            }
        })
        .collect()
}

fn build_scan(cfg: &CohortConfig, plans: &[ScanPlan], index: usize) -> Result<PhantomScan> {
    let plan = plans[index];
    let model = Model::build(cfg, plan, index);
    let acq = model.acq.clone();
    let (nz, n) = (acq.n_slices, acq.size);
    let nn = n * n;
    let mut hu = vec![0i16; nz * nn];
    let mut lung = vec![0u8; nz * nn];
    let mut lesion = vec![0u8; nz * nn];
    // Region codes are kept for realism V2 only (V1: one dummy byte per slice).
    let rn = if model.v2.is_some() { nn } else { 1 };
    let mut regions = vec![0u8; nz * rn];
    let planned = plan_injections(cfg, plans, index, &model);
    // Other scans' models, built once per source.
    let mut sources: Vec<(usize, Model)> = Vec::new();
    for p in &planned {
        if p.kind == InjectionKind::OtherScan && !sources.iter().any(|(i, _)| *i == p.source) {
            sources.push((p.source, Model::build(cfg, plans[p.source], p.source)));
        }
    }
    let mut injections = Vec::new();
    let mut jobs: Vec<Option<(&Model, f64)>> = vec![None; nz];
    for p in &planned {
        let (m, z) = match p.kind {
            InjectionKind::Shifted => (&model, p.z),
            InjectionKind::OtherScan => {
                let m = &sources
                    .iter()
                    .find(|(i, _)| *i == p.source)
                    .expect("built above")
                    .1;
                let mut r = rng_for(cfg.seed, Purpose::Inject, &[index as u64, p.slice as u64]);
                let k = r.random_range(0..m.acq.n_slices);
                (m, m.slice_z(k))
            }
        };
        jobs[p.slice] = Some((m, z));
        injections.push(Injection {
            slice: p.slice,
            kind: p.kind,
            source_id: scan_id(plans[p.source].label, plans[p.source].k),
            source_z_mm: z,
        });
    }
    hu.par_chunks_mut(nn)
        .zip(lung.par_chunks_mut(nn))
        .zip(lesion.par_chunks_mut(nn))
        .zip(regions.par_chunks_mut(rn))
        .enumerate()
        .for_each(|(k, (((h, l), les), rg))| {
            let (m, z, extra) = match jobs[k] {
                Some((m, z)) => (m, z, 1u64),
                None => (&model, model.slice_z(k), 0u64),
            };
            let nk = key(cfg.seed, Purpose::Noise, &[index as u64, k as u64, extra]);
            m.render(z, nk, h, l, les, rg);
        });
    let lung_voxels = lung.iter().filter(|&&v| v != 0).count();
    let lesion_voxels = lesion.iter().filter(|&&v| v != 0).count();
    let mut sides = [false; 2];
    for (k, les) in lesion.chunks(nn).enumerate() {
        if jobs[k].is_some() {
            continue;
        }
        for (i, &v) in les.iter().enumerate() {
            if v != 0 {
                let c = i % n;
                let x = (c as f64 + 0.5) * acq.pixel_spacing_mm
                    - 0.5 * n as f64 * acq.pixel_spacing_mm
                    - acq.body_shift_mm[0];
                sides[usize::from(x >= 0.0)] = true;
            }
        }
    }
    let shape = (nz, n, n);
    let hu = Array3::from_shape_vec(shape, hu).expect("sized above");
    let lung_mask = Array3::from_shape_vec(shape, lung).expect("sized above");
    let lesion_mask = Array3::from_shape_vec(shape, lesion).expect("sized above");
    let regions = (rn == nn).then(|| Array3::from_shape_vec(shape, regions).expect("sized above"));
    let px = acq.pixel_spacing_mm;
    let spacing = Spacing::new(acq.slice_thickness_mm, px, px)?;
    // DICOM patient frame (LPS): x to the patient's left, y posterior, z toward the head;
    // slices run from head to feet, so the origin is the top slice and z grows with k in
    // this crate's frame (ImagePositionPatient is written as origin + k · spacing.z).
    let fov = n as f64 * px;
    let origin = [-0.5 * fov + 0.5 * px, -0.5 * fov + 0.5 * px, acq.z_start_mm];
    let volume = Volume::with_origin(hu, spacing, origin)?;
    let id = scan_id(plan.label, plan.k);
    let mut meta = Meta {
        patient_id: Some(id.clone()),
        contrast: Some(plan.contrast),
        slice_thickness: Some(acq.slice_thickness_mm),
        ..Meta::default()
    };
    let ex = &mut meta.extra;
    ex.insert("Modality".into(), "CT".into());
    ex.insert("Manufacturer".into(), "ct-phantom".into());
    ex.insert(
        "KVP".into(),
        if plan.contrast == Contrast::Low {
            "100"
        } else {
            "120"
        }
        .into(),
    );
    ex.insert("Exposure".into(), format!("{:.0}", acq.dose_mas));
    ex.insert("ConvolutionKernel".into(), acq.kernel.to_uppercase());
    ex.insert("PhantomSeed".into(), cfg.seed.to_string());
    let lesion_fraction = if lung_voxels > 0 {
        lesion_voxels as f64 / lung_voxels as f64
    } else {
        0.0
    };
    let truth = Truth {
        id: id.clone(),
        label: plan.label,
        contrast: plan.contrast,
        lung_mask,
        lesion_mask,
        regions,
        injected: injections.iter().map(|i| i.slice).collect(),
        injections,
        subtle: model.subtle,
        lesions: model.lesion_infos(),
        bilateral: sides[0] && sides[1],
        lung_voxels,
        lesion_voxels,
        lesion_fraction,
        findings: model.findings.clone(),
        acquisition: acq,
        realism: model.v2.as_ref().map(|sc| sc.info.clone()),
    };
    Ok(PhantomScan {
        scan: Scan {
            id,
            label: Some(plan.label),
            volume,
            meta,
        },
        truth,
    })
}
