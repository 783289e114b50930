//! [`ScanDataset`]: the labelled scans of a data set or a phantom cohort, pre-processed by a
//! [`Recipe`] and held in memory (uint16), with the scans that could not be prepared listed
//! rather than aborting the run.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use ct_core::{Contrast, Label, Scan};
use ct_io::dataset::Dataset;
use ct_phantom::CohortConfig;
use ndarray::{Array3, Axis};
use rayon::prelude::*;

use crate::cache::{CachedMeta, QUANT, TensorCache, file_source_key, quantise};
use crate::error::{Error, Result};
use crate::recipe::Recipe;

/// One pre-processed scan.
#[derive(Debug, Clone)]
pub struct ScanItem {
    /// Subject / scan id.
    pub id: String,
    /// Diagnosis, when the data set gives it.
    pub label: Option<Label>,
    /// Contrast group, when the data set gives it.
    pub contrast: Option<Contrast>,
    /// `(slices, size, size)`, [0, 1] stored as uint16 (see [`crate::cache::QUANT`]).
    pub volume: Array3<u16>,
    /// Per slice, whether it shows a lesion, when the source says (phantoms: their lesion
    /// masks): what slice-level training learns from.
    pub lesion_slices: Option<Vec<bool>>,
}

impl ScanItem {
    /// Slices `zs` as [0, 1] floats, `(zs.len(), size, size)`.
    pub fn slices_f32(&self, zs: &[usize]) -> Array3<f32> {
        self.volume
            .select(Axis(0), zs)
            .mapv(|v| f32::from(v) / QUANT)
    }

    /// Slice count.
    pub fn n_slices(&self) -> usize {
        self.volume.dim().0
    }
}

/// A scan that could not be prepared, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The scan id.
    pub id: String,
    /// The error chain.
    pub reason: String,
}

/// Where the pre-processed scans came from and where they are cached.
#[derive(Debug, Clone, Default)]
pub struct PrepareOptions<'a> {
    /// Cache root (`None`: no cache).
    pub cache: Option<&'a Path>,
}

/// The scans of a data set after pre-processing.
#[derive(Debug, Clone)]
pub struct ScanDataset {
    recipe: Recipe,
    items: Vec<ScanItem>,
    skipped: Vec<Skipped>,
    cache_hits: usize,
}

/// One scan to prepare: its identity and how to load it.
struct Source<'a> {
    id: String,
    label: Option<Label>,
    contrast: Option<Contrast>,
    key: String,
    /// The scan and, when known, which of its slices show a lesion.
    load: Box<dyn Fn() -> Result<(Scan, Option<Vec<bool>>)> + Send + Sync + 'a>,
}

impl ScanDataset {
    /// Every entry of a data set on disk (DICOM, NIfTI, .npy, slice folders), read and
    /// prepared in parallel; `progress(done, total)` is called after each scan.
    pub fn from_dataset(
        ds: &Dataset,
        recipe: &Recipe,
        options: &PrepareOptions<'_>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ScanDataset> {
        let sources = ds
            .entries()
            .iter()
            .map(|e| Source {
                id: e.id.clone(),
                label: e.label,
                contrast: e.contrast,
                key: file_source_key(&e.path),
                load: Box::new(move || Ok((ds.load(e).map_err(Error::Dataset)?, None))),
            })
            .collect();
        prepare_all(sources, recipe, options, progress)
    }

    /// The phantom cohort `cfg` (generated scan by scan, in parallel).
    pub fn from_phantoms(
        cfg: &CohortConfig,
        recipe: &Recipe,
        options: &PrepareOptions<'_>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ScanDataset> {
        cfg.validate().map_err(Error::Phantom)?;
        let config = serde_json::to_string(cfg).unwrap_or_default();
        let n = 3 * cfg.n_per_class;
        // Scan i is class i / n_per_class (the generator's order); ids are the generator's.
        let sources = (0..n)
            .map(|i| {
                let label = Label::ALL[i / cfg.n_per_class.max(1)];
                Source {
                    id: phantom_id(label, i % cfg.n_per_class.max(1)),
                    label: Some(label),
                    contrast: None,
                    key: format!("phantom {config} #{i}"),
                    load: Box::new(move || {
                        let p = ct_phantom::generate_scan(cfg, i).map_err(Error::Phantom)?;
                        let flags = p
                            .truth
                            .lesion_mask
                            .outer_iter()
                            .map(|plane| plane.iter().any(|&v| v != 0))
                            .collect();
                        Ok((p.scan, Some(flags)))
                    }),
                }
            })
            .collect();
        prepare_all(sources, recipe, options, progress)
    }

    /// Scans already prepared (tests, other front ends).
    pub fn from_items(recipe: Recipe, items: Vec<ScanItem>) -> ScanDataset {
        ScanDataset {
            recipe,
            items,
            skipped: Vec::new(),
            cache_hits: 0,
        }
    }

    /// The recipe the scans were prepared with.
    pub fn recipe(&self) -> &Recipe {
        &self.recipe
    }

    /// The prepared scans.
    pub fn items(&self) -> &[ScanItem] {
        &self.items
    }

    /// Scans that could not be prepared.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// How many scans came from the cache.
    pub fn cache_hits(&self) -> usize {
        self.cache_hits
    }

    /// Indices of the scans with a label.
    pub fn labelled(&self) -> Vec<usize> {
        (0..self.items.len())
            .filter(|&i| self.items[i].label.is_some())
            .collect()
    }
}

fn phantom_id(label: Label, k: usize) -> String {
    let prefix = match label {
        Label::Normal => "normal",
        Label::Cap => "cap",
        Label::Covid => "covid",
    };
    format!("{prefix}-{k:03}")
}

enum Outcome {
    Ready(ScanItem, bool),
    Failed(Skipped),
}

fn prepare_all(
    sources: Vec<Source<'_>>,
    recipe: &Recipe,
    options: &PrepareOptions<'_>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ScanDataset> {
    recipe.validate()?;
    let cache = options
        .cache
        .map(|root| TensorCache::new(root, &recipe.digest()));
    let total = sources.len();
    let done = AtomicUsize::new(0);
    let outcomes: Vec<Outcome> = sources
        .par_iter()
        .map(|s| {
            let out = match prepare_one(s, recipe, cache.as_ref()) {
                Ok((item, hit)) => Outcome::Ready(item, hit),
                Err(e) => Outcome::Failed(Skipped {
                    id: s.id.clone(),
                    reason: e.chain(),
                }),
            };
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            out
        })
        .collect();
    let mut ds = ScanDataset::from_items(recipe.clone(), Vec::new());
    for o in outcomes {
        match o {
            Outcome::Ready(item, hit) => {
                ds.cache_hits += usize::from(hit);
                ds.items.push(item);
            }
            Outcome::Failed(s) => ds.skipped.push(s),
        }
    }
    Ok(ds)
}

fn prepare_one(
    s: &Source<'_>,
    recipe: &Recipe,
    cache: Option<&TensorCache>,
) -> Result<(ScanItem, bool)> {
    let path = cache.map(|c| c.path(&s.id, &s.key));
    if let (Some(c), Some(p)) = (cache, &path)
        && let Some((volume, meta)) = c.get(p)
    {
        return Ok((item(s, volume, meta), true));
    }
    let (scan, flags) = (s.load)()?;
    let prepared = recipe.apply_labelled(&scan, flags.as_deref())?;
    let volume = quantise(&prepared.data);
    let meta = CachedMeta {
        contrast: scan.meta.contrast,
        lesion_slices: prepared.lesion_slices,
    };
    if let (Some(c), Some(p)) = (cache, &path) {
        c.put(p, &volume, &meta)?;
    }
    Ok((item(s, volume, meta), false))
}

/// The item of a source; the data set's own contrast column wins over the scan's metadata.
fn item(s: &Source<'_>, volume: Array3<u16>, meta: CachedMeta) -> ScanItem {
    ScanItem {
        id: s.id.clone(),
        label: s.label,
        contrast: s.contrast.or(meta.contrast),
        volume,
        lesion_slices: meta.lesion_slices,
    }
}
