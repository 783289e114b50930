//! The built-in data: the phantom cohort written as DICOM in the COVID-CT-MD layout.

use std::collections::BTreeMap;
use std::path::Path;

use ct_core::Label;
use ct_phantom::{CohortConfig, generate_scan};
use rayon::prelude::*;

use crate::config::PipelineConfig;
use crate::outputs::{io_err, write_json};
use crate::preprocess::{KnownTruth, pack_bits};
use crate::{Error, Result};

fn class_folder(l: Label) -> &'static str {
    match l {
        Label::Normal => "Normal subjects",
        Label::Cap => "CAP subjects",
        Label::Covid => "COVID-19 subjects",
    }
}

/// Generates this shard's phantom scans and writes them as DICOM in the COVID-CT-MD layout;
/// returns the ground truth by id.
pub(crate) fn write_phantoms(
    cfg: &PipelineConfig,
    dir: &Path,
) -> Result<BTreeMap<String, KnownTruth>> {
    let pc = CohortConfig {
        n_per_class: cfg.n_per_class,
        seed: cfg.seed,
        size: cfg.phantom_size,
        slices: cfg.phantom_slices,
        ..CohortConfig::default()
    };
    pc.validate()?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
    }
    let (si, sn) = cfg.shard;
    let mine: Vec<usize> = (0..pc.len()).filter(|i| i % sn == si).collect();
    let pb = crate::progress::Progress::bar(mine.len() as u64, "phantoms");
    let truths: Vec<(String, KnownTruth, serde_json::Value)> = mine
        .par_iter()
        .map(|&i| {
            let ps = generate_scan(&pc, i)?;
            let folder = dir.join(class_folder(ps.truth.label)).join(&ps.scan.id);
            ct_io::dicom::write_series(&folder, &ps.scan).map_err(|source| Error::WriteDicom {
                path: folder.clone(),
                source: Box::new(source),
            })?;
            let kt = KnownTruth {
                contrast: Some(ps.truth.contrast),
                injected: Some(ps.truth.injected.clone()),
                lung_bits: Some(pack_bits(ps.truth.lung_mask.view())),
                lesion_bits: Some(pack_bits(ps.truth.lesion_mask.view())),
            };
            let json = serde_json::to_value(&ps.truth).unwrap_or(serde_json::Value::Null);
            pb.inc(1);
            Ok((ps.scan.id.clone(), kt, json))
        })
        .collect::<Result<_>>()?;
    pb.finish();
    let gt: BTreeMap<&str, &serde_json::Value> =
        truths.iter().map(|(id, _, j)| (id.as_str(), j)).collect();
    write_json(&dir.join("ground_truth.json"), &gt)?;
    Ok(truths.into_iter().map(|(id, kt, _)| (id, kt)).collect())
}
