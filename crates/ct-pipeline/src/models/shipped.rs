//! One interface for the four learned models the pipeline ships: where each comes from
//! ([`ModelSource`]), how its file is read, and what it was trained on
//! ([`super::manifest::Manifest`]).

use std::path::PathBuf;
use std::sync::Arc;

use super::manifest::sha256_hex;
use crate::lesion_detector::LesionDetector;
use crate::lesion_patterns::{FocusModel, PatternNet};
use crate::scan_model::ScanModel;
use crate::{Error, Result};

/// A model shipped with this crate under `crates/ct-pipeline/models/`, that can also be
/// read from a file the user names.
pub trait ShippedModel: Sized {
    /// Its name in `models/MANIFEST.json`.
    const NAME: &'static str;
    /// Its file name under `models/` (and in a run's bundle).
    const FILE: &'static str;
    /// The shipped file's bytes (compiled into the crate).
    const SHIPPED: &'static [u8];

    /// Reads a model from a file's bytes; refuses a file that is not one this version can use.
    fn from_bytes(bytes: &[u8]) -> Result<Self>;

    /// The shipped model.
    fn shipped() -> Result<Self> {
        Self::from_bytes(Self::SHIPPED)
    }

    /// The model from `source`, where it came from in words (`shipped` or the file) and the
    /// SHA-256 of its file; `None` for [`ModelSource::Train`], which the caller handles.
    fn load(source: &ModelSource) -> Result<Option<Loaded<Self>>> {
        match source {
            ModelSource::Shipped => Ok(Some(Loaded {
                model: Self::shipped()?,
                source: "shipped".to_string(),
                sha256: sha256_hex(Self::SHIPPED),
                bytes: Arc::new(Self::SHIPPED.to_vec()),
            })),
            ModelSource::File(path) => {
                let named = |e: Error| Error::LoadModel {
                    model: Self::NAME,
                    path: path.clone(),
                    source: Box::new(e),
                };
                let bytes = std::fs::read(path).map_err(|source| {
                    named(Error::Io {
                        path: path.clone(),
                        source,
                    })
                })?;
                Ok(Some(Loaded {
                    model: Self::from_bytes(&bytes).map_err(named)?,
                    source: path.display().to_string(),
                    sha256: sha256_hex(&bytes),
                    bytes: Arc::new(bytes),
                }))
            }
            ModelSource::Train => Ok(None),
        }
    }
}

/// A model read by [`ShippedModel::load`].
#[derive(Debug)]
pub struct Loaded<M> {
    /// The model.
    pub model: M,
    /// `shipped`, or the file it was read from.
    pub source: String,
    /// SHA-256 of its file.
    pub sha256: String,
    /// The file's bytes.
    pub bytes: Arc<Vec<u8>>,
}

/// Where a run takes a model from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The file shipped with the crate.
    Shipped,
    /// A file the user names (a trainer's output).
    File(PathBuf),
    /// Trained in the run (only the lesion detector can be).
    Train,
}

impl ModelSource {
    /// [`ModelSource::File`] when a path is given, else [`ModelSource::Shipped`].
    pub fn file_or_shipped(path: Option<&PathBuf>) -> ModelSource {
        path.map_or(ModelSource::Shipped, |p| ModelSource::File(p.clone()))
    }
}

impl ShippedModel for LesionDetector {
    const NAME: &'static str = "lesion_detector";
    const FILE: &'static str = "lesion_detector.json";
    const SHIPPED: &'static [u8] = include_bytes!("../../models/lesion_detector.json");

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        LesionDetector::from_json(&String::from_utf8_lossy(bytes))
    }
}

impl ShippedModel for PatternNet {
    const NAME: &'static str = "lesion_pattern_unet";
    const FILE: &'static str = "lesion_pattern_unet.safetensors";
    const SHIPPED: &'static [u8] = include_bytes!("../../models/lesion_pattern_unet.safetensors");

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        PatternNet::from_bytes(bytes, &covnet_models::cpu_device())
    }
}

impl ShippedModel for FocusModel {
    const NAME: &'static str = "pattern_focus_model";
    const FILE: &'static str = "pattern_focus_model.json";
    const SHIPPED: &'static [u8] = include_bytes!("../../models/pattern_focus_model.json");

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        FocusModel::from_json(&String::from_utf8_lossy(bytes))
    }
}

impl ShippedModel for ScanModel {
    const NAME: &'static str = "scan_model";
    const FILE: &'static str = "scan_model.json";
    const SHIPPED: &'static [u8] = include_bytes!("../../models/scan_model.json");

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        ScanModel::from_json(&String::from_utf8_lossy(bytes))
    }
}
