use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ct_core::Label;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cohort::{PhantomScan, Truth};
use crate::config::Format;
use crate::{Error, Result};

/// The COVID-CT-MD class folder of a label.
pub fn class_folder(label: Label) -> &'static str {
    match label {
        Label::Normal => "Normal subjects",
        Label::Cap => "CAP subjects",
        Label::Covid => "COVID-19 subjects",
    }
}

/// One scan's entry in `ground_truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthEntry {
    /// The scan, relative to the cohort folder (a DICOM folder or a `.nii.gz` file).
    pub path: PathBuf,
    /// Its lung mask (`masks/<id>_lung.nii.gz`, u8 0/1).
    pub lung_mask_path: PathBuf,
    /// Its lesion mask (`masks/<id>_lesion.nii.gz`, u8 0/1).
    pub lesion_mask_path: PathBuf,
    /// The ground truth (masks are in the files above, not in the JSON).
    #[serde(flatten)]
    pub truth: Truth,
}

/// The content of `ground_truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// `ct-phantom <version>`.
    pub generator: String,
    /// How the scans were written.
    pub format: Format,
    /// One entry per scan, in cohort order.
    pub scans: Vec<TruthEntry>,
}

/// Writes a cohort under `dir` in the COVID-CT-MD layout:
///
/// ```text
/// dir/COVID-19 subjects/<id>/IM0001.dcm ...   (Format::Dicom; or <id>.nii.gz for Nifti)
/// dir/CAP subjects/...   dir/Normal subjects/...
/// dir/masks/<id>_lung.nii.gz, <id>_lesion.nii.gz   (u8 0/1, same geometry)
/// dir/Index.csv        Folder,Diagnosis,Contrast,Slices,InjectedSlices
/// dir/ground_truth.json  (GroundTruth: every Truth, masks skipped)
/// ```
///
/// Scans are written in parallel; the DICOM and NIfTI encoders are `ct-io`'s, so
/// `ct_io::read_volume` and `ct_io::dataset::Dataset` read the result back.
pub fn write_cohort(dir: &Path, cohort: &[PhantomScan], format: Format) -> Result<()> {
    let masks = dir.join("masks");
    fs::create_dir_all(&masks).map_err(|e| Error::io(&masks, e))?;
    for label in Label::ALL {
        let d = dir.join(class_folder(label));
        fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    }
    let wrap = |path: &Path, e: ct_io::Error| Error::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let entries: Vec<TruthEntry> = cohort
        .par_iter()
        .map(|p| -> Result<TruthEntry> {
            let id = &p.scan.id;
            let folder = PathBuf::from(class_folder(p.truth.label));
            let rel = match format {
                Format::Dicom => folder.join(id),
                Format::Nifti => folder.join(format!("{id}.nii.gz")),
            };
            let path = dir.join(&rel);
            match format {
                Format::Dicom => ct_io::dicom::write_series(&path, &p.scan),
                Format::Nifti => ct_io::nifti::write(&path, &p.scan.volume),
            }
            .map_err(|e| wrap(&path, e))?;
            let lung_rel = PathBuf::from("masks").join(format!("{id}_lung.nii.gz"));
            let lesion_rel = PathBuf::from("masks").join(format!("{id}_lesion.nii.gz"));
            for (rel, mask) in [
                (&lung_rel, &p.truth.lung_mask),
                (&lesion_rel, &p.truth.lesion_mask),
            ] {
                let path = dir.join(rel);
                let vol = p.scan.volume.with_data(mask.clone())?;
                ct_io::nifti::write(&path, &vol).map_err(|e| wrap(&path, e))?;
            }
            Ok(TruthEntry {
                path: rel,
                lung_mask_path: lung_rel,
                lesion_mask_path: lesion_rel,
                truth: p.truth.clone(),
            })
        })
        .collect::<Result<_>>()?;
    let mut csv = String::from("Folder,Diagnosis,Contrast,Slices,InjectedSlices\n");
    for e in &entries {
        let t = &e.truth;
        let inj: Vec<String> = t.injected.iter().map(|k| k.to_string()).collect();
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            t.id,
            t.label.name(),
            t.contrast.name(),
            t.acquisition.n_slices,
            inj.join(" ")
        ));
    }
    let index = dir.join("Index.csv");
    fs::write(&index, csv).map_err(|e| Error::io(&index, e))?;
    let gt = GroundTruth {
        generator: format!("ct-phantom {}", env!("CARGO_PKG_VERSION")),
        format,
        scans: entries,
    };
    let path = dir.join("ground_truth.json");
    let f = fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut w = std::io::BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, &gt).map_err(|source| Error::Json {
        path: path.clone(),
        source,
    })?;
    w.flush().map_err(|e| Error::io(&path, e))?;
    Ok(())
}

/// Reads `ground_truth.json` (the file itself, or the cohort folder holding it).
pub fn read_ground_truth(path: &Path) -> Result<GroundTruth> {
    let path = if path.is_dir() {
        path.join("ground_truth.json")
    } else {
        path.to_path_buf()
    };
    let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json { path, source })
}
