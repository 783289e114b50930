//! The model layer: the four learned models behind one interface ([`ShippedModel`],
//! [`ModelSource`]), their manifest ([`Manifest`]: checksums, training data, what each
//! learned from), and what a run used ([`ModelUse`]); the lesion detector can also be
//! trained in the run, on its own phantom cohort.

mod manifest;
mod saved;
mod shipped;

pub use manifest::{
    MANIFEST_FORMAT, MANIFEST_VERSION, Manifest, ManifestEntry, Problem, sha256_hex,
};
pub(crate) use saved::SavedKind;
pub use shipped::{Loaded, ModelSource, ShippedModel};

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use ct_phantom::{CohortConfig, generate_scan};
use rayon::prelude::*;

use crate::config::{DetectorSource, LungRecipe, PipelineConfig, Stage};
use crate::lesion_detector::{
    Candidates, ComponentSample, DetectorRecipe, LesionDetector, TrainingSample, candidates,
    component_table, hull_mask, sample_training,
};
use crate::lesion_patterns::{FocusModel, PatternNet};
use crate::outputs::io_err;
use crate::preprocess::lesion_inclusive_mask;
use crate::scan_model::ScanModel;
use crate::{Error, Result};

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
    let pb = crate::progress::Progress::bar(pc.len() as u64, "lesion model");
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
    let pb = crate::progress::Progress::bar(subset.len() as u64, "lesion components");
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
    <LesionDetector as ShippedModel>::shipped()
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
pub(crate) fn obtain_detector(cfg: &PipelineConfig) -> Result<(LesionDetector, ModelUse)> {
    let trained = || {
        let d = train_lesion_detector(cfg)?;
        let json = d.to_json()? + "\n";
        Ok((
            d,
            ModelUse::trained::<LesionDetector>(cfg, json.into_bytes()),
        ))
    };
    match &cfg.detector {
        DetectorSource::Train => trained(),
        DetectorSource::Auto if cfg.stage == Stage::Detector => trained(),
        DetectorSource::File(path) => loaded(&ModelSource::File(path.clone()), cfg),
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
                loaded(&ModelSource::Shipped, cfg)
            } else {
                trained()
            }
        }
    }
}

/// A model from a file or the shipped one, with what the run should know about it.
fn loaded<M: ShippedModel>(source: &ModelSource, cfg: &PipelineConfig) -> Result<(M, ModelUse)> {
    let l = M::load(source)?.ok_or_else(|| Error::Config {
        name: "models",
        why: format!("{} cannot be trained in a run", M::NAME),
    })?;
    let use_ = ModelUse::of::<M>(&l, source, cfg)?;
    Ok((l.model, use_))
}

/// What a run used of one model: where it came from, its checksum, and, for a shipped
/// model, what its manifest says it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelUse {
    /// The model's name.
    pub name: String,
    /// `shipped`, `trained in this run`, or the file it was read from.
    pub source: String,
    /// SHA-256 of its file (absent when trained in the run).
    pub sha256: Option<String>,
    /// The lung recipe of its training scans, when known and when its inputs depend on it.
    pub lung_recipe: Option<LungRecipe>,
    /// A warning for the report, e.g. a shipped model trained on another lung recipe than
    /// the run's.
    pub note: Option<String>,
    /// The model's file as this process read or made it (for the run's bundle; not kept in
    /// shard files, so a merged run has none).
    #[serde(skip)]
    pub file: Option<ModelFile>,
}

/// A model file's name (as under `models/`) and bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    /// The file name, e.g. `lesion_detector.json`.
    pub name: &'static str,
    /// Its bytes.
    pub bytes: Arc<Vec<u8>>,
}

impl ModelUse {
    fn trained<M: ShippedModel>(cfg: &PipelineConfig, bytes: Vec<u8>) -> ModelUse {
        ModelUse {
            name: M::NAME.to_string(),
            source: "trained in this run".to_string(),
            sha256: None,
            lung_recipe: Some(cfg.lung_recipe),
            note: None,
            file: Some(ModelFile {
                name: M::FILE,
                bytes: Arc::new(bytes),
            }),
        }
    }

    fn of<M: ShippedModel>(
        l: &Loaded<M>,
        source: &ModelSource,
        cfg: &PipelineConfig,
    ) -> Result<ModelUse> {
        let mut u = ModelUse {
            name: M::NAME.to_string(),
            source: l.source.clone(),
            sha256: Some(l.sha256.clone()),
            lung_recipe: None,
            note: None,
            file: Some(ModelFile {
                name: M::FILE,
                bytes: l.bytes.clone(),
            }),
        };
        if *source == ModelSource::Shipped {
            let manifest = Manifest::shipped()?;
            let entry = manifest.entry(M::NAME);
            u.lung_recipe = entry.and_then(|e| e.lung_recipe);
            if let Some(r) = u.lung_recipe.filter(|r| *r != cfg.lung_recipe) {
                u.note = Some(format!(
                    "the shipped {} was trained on scans segmented by the {} lung recipe; this \
                     run uses {} (retrain the chain: train_models --from {} --plan)",
                    M::NAME,
                    r.name(),
                    cfg.lung_recipe.name(),
                    M::NAME
                ));
            }
        }
        Ok(u)
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

/// The models a run uses, loaded (or the detector trained) before the run folder is
/// touched, so that a bad model file leaves nothing behind.
pub(crate) struct RunModels {
    /// The lesion detector and what the run used (not for a merge).
    pub detector: Option<(LesionDetector, ModelUse)>,
    /// The pattern network and its focus model, when the configuration uses them (per-scan
    /// stages only).
    pub pattern: Option<((PatternNet, FocusModel), [ModelUse; 2])>,
    /// The pretrained scan model (classifying stages only; `None` with `--no-scan-model`).
    pub scan: Option<(ScanModel, ModelUse)>,
}

impl RunModels {
    /// The models `cfg.stage` needs.
    pub(crate) fn load(cfg: &PipelineConfig) -> Result<RunModels> {
        let per_scan = matches!(cfg.stage, Stage::All | Stage::Preprocess);
        Ok(RunModels {
            detector: if per_scan || cfg.stage == Stage::Detector {
                Some(obtain_detector(cfg)?)
            } else {
                None
            },
            pattern: if per_scan { pattern_models(cfg)? } else { None },
            scan: if matches!(cfg.stage, Stage::All | Stage::Merge) {
                scan_model(cfg)?
            } else {
                None
            },
        })
    }
}

/// The pretrained scan model of the classifiers' vote and what the run used; `None` when
/// `--no-scan-model`.
pub(crate) fn scan_model(cfg: &PipelineConfig) -> Result<Option<(ScanModel, ModelUse)>> {
    if !cfg.scan_model {
        return Ok(None);
    }
    let source = ModelSource::file_or_shipped(cfg.scan_model_file.as_ref());
    Ok(Some(loaded(&source, cfg)?))
}

/// The lesion-pattern network and its focus model (shipped, or the files named), when the
/// configuration uses them, and what the run used.
pub(crate) fn pattern_models(
    cfg: &PipelineConfig,
) -> Result<Option<((PatternNet, FocusModel), [ModelUse; 2])>> {
    if !cfg.pattern_net {
        return Ok(None);
    }
    let (net, net_use) = loaded(
        &ModelSource::file_or_shipped(cfg.pattern_weights.as_ref()),
        cfg,
    )?;
    let (focus, focus_use) = loaded(&ModelSource::file_or_shipped(cfg.focus_model.as_ref()), cfg)?;
    Ok(Some(((net, focus), [net_use, focus_use])))
}
