//! The on-disk cache of pre-processed scans: one `.npy` per scan (uint16, the [0, 1] values
//! times 65 535), in a folder named by the recipe's digest, so that epochs, folds and later
//! runs do not read DICOM again.
//!
//! A file is keyed by the recipe digest (folder) and by the scan's source (file name: id and
//! a digest of the source's path, size and modification time, or of the phantom
//! configuration). Files are written under a temporary name and renamed, so an interrupted
//! run never leaves half a file under a valid name.

use std::path::{Path, PathBuf};

use ct_core::Contrast;
use ndarray::Array3;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, io, json};

/// What the cache keeps beside the voxels (`<file>.json`): what is known only after reading
/// the scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedMeta {
    /// The contrast group read from the scan (phantom truth, DICOM metadata).
    pub contrast: Option<Contrast>,
    /// Per prepared slice, whether it shows a lesion (when the source says).
    #[serde(default)]
    pub lesion_slices: Option<Vec<bool>>,
}

/// Quantisation of [0, 1] values to uint16 (1/65 535: 0.02 HU in a 1500 HU window).
pub const QUANT: f32 = 65535.0;

/// [0, 1] floats to the stored uint16.
pub fn quantise(v: &Array3<f32>) -> Array3<u16> {
    v.mapv(|x| (x.clamp(0.0, 1.0) * QUANT).round() as u16)
}

/// A cache folder for one recipe.
#[derive(Debug, Clone)]
pub struct TensorCache {
    dir: PathBuf,
}

impl TensorCache {
    /// The cache of `recipe_digest` under `root` (created on first write).
    pub fn new(root: &Path, recipe_digest: &str) -> TensorCache {
        TensorCache {
            dir: root.join(recipe_digest),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of scan `id` whose source is described by `source_key`.
    pub fn path(&self, id: &str, source_key: &str) -> PathBuf {
        let mut h = Sha256::new();
        h.update(source_key.as_bytes());
        let digest: String = h
            .finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("{}-{digest}.npy", file_stem(id)))
    }

    /// The cached scan, or `None` when absent or unreadable (it is then made again).
    pub fn get(&self, path: &Path) -> Option<(Array3<u16>, CachedMeta)> {
        let meta = std::fs::read(path.with_extension("json")).ok()?;
        let meta: CachedMeta = serde_json::from_slice(&meta).ok()?;
        match ct_io::npy::read(path).ok()? {
            ct_io::AnyArray::U16(a) => Some((a, meta)),
            _ => None,
        }
    }

    /// Stores a scan (temporary names, then renames: the metadata last, so a scan counts as
    /// cached only when both files are complete).
    pub fn put(&self, path: &Path, data: &Array3<u16>, meta: &CachedMeta) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        ct_io::npy::write(&tmp, data.view()).map_err(Error::Dataset)?;
        std::fs::rename(&tmp, path).map_err(io(path))?;
        let meta_path = path.with_extension("json");
        let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
        let text = serde_json::to_vec(meta).map_err(json(&meta_path))?;
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &meta_path).map_err(io(&meta_path))
    }
}

/// `id` with every character but ASCII letters, digits, `-` and `_` replaced by `_`: safe
/// as part of a file name.
pub(crate) fn file_stem(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The source key of a file or folder: its path, byte size and modification time (a folder:
/// of every file in it), so that a changed scan is prepared again.
pub fn file_source_key(path: &Path) -> String {
    let mut key = path.display().to_string();
    let mut add = |p: &Path| {
        if let Ok(m) = std::fs::metadata(p) {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            key.push_str(&format!("|{}:{}:{t}", p.display(), m.len()));
        }
    };
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in &files {
            add(f);
        }
    } else {
        add(path);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let c = TensorCache::new(dir.path(), "abc");
        let p = c.path("covid/001", "src-a");
        assert_ne!(p, c.path("covid/001", "src-b"));
        assert!(
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("covid_001-")
        );
        assert!(c.get(&p).is_none());
        let v = Array3::from_shape_fn((2, 3, 4), |(z, y, x)| (z + y + x) as f32 / 7.0);
        let q = quantise(&v);
        let meta = CachedMeta {
            contrast: Some(Contrast::Low),
            lesion_slices: Some(vec![false, true]),
        };
        c.put(&p, &q, &meta).unwrap();
        assert_eq!(c.get(&p).unwrap(), (q, meta));
        // A damaged file is a miss, not an error.
        std::fs::write(&p, b"junk").unwrap();
        assert!(c.get(&p).is_none());
    }
}
