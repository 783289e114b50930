//! The run's lesion detector (shipped, loaded or trained on its own phantom cohort) and the
//! loading of model files the user names.

use std::path::Path;

use ct_phantom::{CohortConfig, generate_scan};
use rayon::prelude::*;

use crate::config::{DetectorSource, PipelineConfig, Stage};
use crate::lesion_detector::{
    Candidates, ComponentSample, DetectorRecipe, LesionDetector, TrainingSample, candidates,
    component_table, hull_mask, sample_training,
};
use crate::lesion_patterns::{FocusModel, PatternNet};
use crate::outputs::io_err;
use crate::preprocess::lesion_inclusive_mask;
use crate::run::bar;
use crate::scan_model::ScanModel;
use crate::{Error, Result};

/// A model read from a file the user named; any error names the file.
fn load_model<T>(
    path: &Path,
    model: &'static str,
    parse: impl FnOnce(&[u8]) -> Result<T>,
) -> Result<T> {
    let named = |e: Error| Error::LoadModel {
        model,
        path: path.to_path_buf(),
        source: Box::new(e),
    };
    let bytes = std::fs::read(path).map_err(|e| named(io_err(path)(e)))?;
    parse(&bytes).map_err(named)
}

/// Seed offset of the lesion detector's training cohort (different patients from the
/// evaluated phantom cohort, which uses `cfg.seed`).
pub const LESION_SEED_OFFSET: u64 = 0x1e51_0000;

/// Generates the detector's training phantoms, segments them as the pipeline does and trains
/// the voxel-level [`LesionDetector`] on their lesion masks.
pub fn train_lesion_detector(cfg: &PipelineConfig) -> Result<LesionDetector> {
    let pc = CohortConfig {
        n_per_class: cfg.lesion_train_per_class,
        seed: cfg.seed.wrapping_add(LESION_SEED_OFFSET),
        size: cfg.phantom_size,
        slices: cfg.phantom_slices,
        inject_fraction: 0.0,
        ..CohortConfig::default()
    };
    pc.validate()?;
    let pb = bar(pc.len() as u64, "lesion model");
    let data: Vec<TrainingSample> = (0..pc.len())
        .into_par_iter()
        .map(|i| {
            let (ps, c) = detector_scan(&pc, i, cfg)?;
            let sample = sample_training(&c, ps.truth.lesion_mask.view(), 3000)?;
            pb.inc(1);
            Ok(sample)
        })
        .collect::<Result<_>>()?;
    pb.finish();
    let mut detector = LesionDetector::train(data, cfg.lesion_rounds, cfg.seed)?;
    // Second stage: the components this detector finds in every other training scan (its
    // in-sample probabilities), labelled by the reference masks.
    let subset: Vec<usize> = (0..pc.len()).step_by(2).collect();
    let pb = bar(subset.len() as u64, "lesion components");
    let samples: Vec<ComponentSample> = subset
        .par_iter()
        .map(|&i| {
            let (ps, c) = detector_scan(&pc, i, cfg)?;
            let p = detector.predict(&c)?;
            let t = component_table(
                &c,
                &p,
                ps.scan.volume.spacing(),
                Some(ps.truth.lesion_mask.view()),
            )?;
            pb.inc(1);
            ComponentSample::from_table(&t)
        })
        .collect::<Result<_>>()?;
    pb.finish();
    detector.train_components(samples, cfg.seed)?;
    detector.recipe = Some(recipe(cfg));
    Ok(detector)
}

/// The recipe of a detector [`train_lesion_detector`] makes for `cfg`.
fn recipe(cfg: &PipelineConfig) -> DetectorRecipe {
    DetectorRecipe {
        phantom_size: cfg.phantom_size,
        phantom_slices: cfg.phantom_slices,
        per_class: cfg.lesion_train_per_class,
        cohort_seed: cfg.seed.wrapping_add(LESION_SEED_OFFSET),
        rounds: cfg.lesion_rounds,
        close_radius_mm: cfg.close_radius_mm,
    }
}

/// The detector shipped with this crate (`crates/ct-pipeline/models/lesion_detector.json`,
/// made by `cargo run --release --example pipeline -- --stage detector --detector train
/// --save-detector crates/ct-pipeline/models/lesion_detector.json`): trained on 60 phantoms
/// per class of 256² (seed 2021 + `0x1e51_0000`), so that a default run need not
/// spend two minutes training it.
pub fn shipped_detector() -> Result<LesionDetector> {
    LesionDetector::from_json(include_str!("../models/lesion_detector.json"))
}

/// Writes the detector to `cfg.save_detector`, if set.
pub(crate) fn save_detector(cfg: &PipelineConfig, d: &LesionDetector) -> Result<()> {
    if let Some(path) = &cfg.save_detector {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        std::fs::write(path, d.to_json()? + "\n").map_err(io_err(path))?;
    }
    Ok(())
}

/// The run's detector and where it came from.
pub(crate) fn obtain_detector(cfg: &PipelineConfig) -> Result<(LesionDetector, String)> {
    let trained = || {
        Ok((
            train_lesion_detector(cfg)?,
            "trained in this run".to_string(),
        ))
    };
    match &cfg.detector {
        DetectorSource::Train => trained(),
        DetectorSource::Auto if cfg.stage == Stage::Detector => trained(),
        DetectorSource::File(path) => {
            let d = load_model(path, "lesion detector", |b| {
                LesionDetector::from_json(&String::from_utf8_lossy(b))
            })?;
            Ok((d, path.display().to_string()))
        }
        DetectorSource::Auto => {
            let shipped = shipped_detector()?;
            let fits = match (&cfg.data, &shipped.recipe) {
                (Some(_), _) => true,
                // The run's recipe up to the cohort seed, and its cohort is not the
                // evaluated one.
                (None, Some(r)) => {
                    *r == DetectorRecipe {
                        cohort_seed: r.cohort_seed,
                        ..recipe(cfg)
                    } && r.cohort_seed != cfg.seed
                }
                (None, None) => false,
            };
            if fits {
                Ok((shipped, "shipped".to_string()))
            } else {
                trained()
            }
        }
    }
}

/// One scan of the detector's training cohort, segmented as the pipeline does, and its
/// candidate voxels.
fn detector_scan(
    pc: &CohortConfig,
    i: usize,
    cfg: &PipelineConfig,
) -> Result<(ct_phantom::PhantomScan, Candidates)> {
    let ps = generate_scan(pc, i)?;
    let hu = &ps.scan.volume;
    let seg = crate::preprocess::lung_mask(hu, &ps.scan.meta, cfg.lung_recipe)?;
    let lung = lesion_inclusive_mask(&seg, cfg.close_radius_mm)?;
    let region = hull_mask(lung.view())?;
    let c = candidates(hu.view(), region.view(), lung.view(), hu.spacing())?;
    Ok((ps, c))
}

/// The pretrained scan model of the classifiers' vote and where it came from: shipped, or
/// the file `--scan-model` names; `None` when `--no-scan-model`.
pub(crate) fn scan_model(cfg: &PipelineConfig) -> Result<Option<(ScanModel, String)>> {
    Ok(match (cfg.scan_model, &cfg.scan_model_file) {
        (false, _) => None,
        (true, None) => Some((ScanModel::shipped()?, "shipped".to_string())),
        (true, Some(path)) => Some((
            load_model(path, "scan model", |b| {
                ScanModel::from_json(&String::from_utf8_lossy(b))
            })?,
            path.display().to_string(),
        )),
    })
}

/// The lesion-pattern network and its focus model (shipped, or the files named), when the
/// configuration uses them.
pub(crate) fn pattern_models(cfg: &PipelineConfig) -> Result<Option<(PatternNet, FocusModel)>> {
    if !cfg.pattern_net {
        return Ok(None);
    }
    let net = match &cfg.pattern_weights {
        None => PatternNet::shipped()?,
        Some(path) => load_model(path, "lesion pattern network", |b| {
            PatternNet::from_bytes(b, &covnet_models::cpu_device())
        })?,
    };
    let focus = match &cfg.focus_model {
        None => FocusModel::shipped()?,
        Some(path) => load_model(path, "focus model", |b| {
            FocusModel::from_json(&String::from_utf8_lossy(b))
        })?,
    };
    Ok(Some((net, focus)))
}
