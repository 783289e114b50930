//! `models/MANIFEST.json`: what each shipped model is, what it was trained on, which models'
//! outputs it learned from (by checksum), and the command that remakes it.
//!
//! The models form a chain: the focus model learns from the pattern U-Net's foci, the scan
//! model from the features every other model yields. Retraining one silently invalidates
//! those downstream; the manifest makes that visible. [`Manifest::problems`] finds a file
//! that differs from its checksum or a model trained on another version of a model it
//! depends on, and [`Manifest::updated`] (what `train_models --update` writes after a
//! retraining) refuses a chain in which a model was retrained and its dependents were not.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::LungRecipe;
use crate::{Error, Result};

/// The manifest's format name.
pub const MANIFEST_FORMAT: &str = "covid-ct model manifest";
/// The manifest's format version.
pub const MANIFEST_VERSION: u32 = 1;

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// The models, each after every model it depends on.
    pub models: Vec<ManifestEntry>,
}

/// One model of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Its name ([`super::ShippedModel::NAME`]).
    pub name: String,
    /// Its file, relative to the manifest's folder.
    pub file: String,
    /// SHA-256 of that file (lower-case hex).
    pub sha256: String,
    /// The models whose outputs it was trained on, with the SHA-256 of the file each had
    /// when it was trained.
    pub trained_with: BTreeMap<String, String>,
    /// The lung recipe of the scans it was trained on, when its inputs depend on the lung
    /// mask.
    pub lung_recipe: Option<LungRecipe>,
    /// Its training data, in words (cohort, seed, size).
    pub training_data: String,
    /// The command that remakes it, run from the workspace root.
    pub command: String,
}

/// Something wrong with a manifest and the files beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file is missing or unreadable.
    MissingFile {
        /// The model.
        model: String,
    },
    /// The file differs from the manifest's checksum (retrained without updating it).
    ChangedFile {
        /// The model.
        model: String,
    },
    /// The model was trained on another version of a model it depends on.
    Stale {
        /// The model.
        model: String,
        /// The dependency that changed since.
        dependency: String,
    },
    /// A dependency that the manifest does not list before the model.
    UnknownDependency {
        /// The model.
        model: String,
        /// The dependency.
        dependency: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::MissingFile { model } => write!(f, "{model}: its file is missing"),
            Problem::ChangedFile { model } => write!(
                f,
                "{model}: the file differs from the manifest's checksum (retrained without \
                 `train_models --update`?)"
            ),
            Problem::Stale { model, dependency } => write!(
                f,
                "{model} was trained on another {dependency} than the one shipped; rebuild it \
                 (train_models --from {dependency})"
            ),
            Problem::UnknownDependency { model, dependency } => write!(
                f,
                "{model} depends on {dependency}, which the manifest does not list before it"
            ),
        }
    }
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Manifest {
    /// The manifest shipped with the crate.
    pub fn shipped() -> Result<Manifest> {
        Manifest::from_json(include_str!("../../models/MANIFEST.json"))
    }

    /// Parses a manifest; refuses another format or version.
    pub fn from_json(text: &str) -> Result<Manifest> {
        super::SavedKind {
            what: "model manifest",
            format: MANIFEST_FORMAT,
            version: MANIFEST_VERSION,
        }
        .read(text)
    }

    /// The manifest in `dir/MANIFEST.json`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join("MANIFEST.json");
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Manifest::from_json(&text)
    }

    /// The manifest as pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self).map_err(Error::json("the model manifest"))? + "\n")
    }

    /// The entry of the model `name`.
    pub fn entry(&self, name: &str) -> Option<&ManifestEntry> {
        self.models.iter().find(|e| e.name == name)
    }

    /// Every problem of the manifest against the current files (`file_bytes` reads a model's
    /// file; `None` when it is missing). Empty: the chain is consistent.
    pub fn problems(&self, file_bytes: impl Fn(&ManifestEntry) -> Option<Vec<u8>>) -> Vec<Problem> {
        let mut out = Vec::new();
        for (i, e) in self.models.iter().enumerate() {
            match file_bytes(e) {
                None => out.push(Problem::MissingFile {
                    model: e.name.clone(),
                }),
                Some(b) if sha256_hex(&b) != e.sha256 => out.push(Problem::ChangedFile {
                    model: e.name.clone(),
                }),
                Some(_) => {}
            }
            for (dep, sha) in &e.trained_with {
                match self.models[..i].iter().find(|d| &d.name == dep) {
                    None => out.push(Problem::UnknownDependency {
                        model: e.name.clone(),
                        dependency: dep.clone(),
                    }),
                    Some(d) if &d.sha256 != sha => out.push(Problem::Stale {
                        model: e.name.clone(),
                        dependency: dep.clone(),
                    }),
                    Some(_) => {}
                }
            }
        }
        out
    }

    /// The model `name` and every model downstream of it, in the order they must be
    /// retrained.
    pub fn rebuild_order(&self, name: &str) -> Result<Vec<&ManifestEntry>> {
        if self.entry(name).is_none() {
            return Err(Error::Config {
                name: "from",
                why: format!(
                    "no model {name:?} in the manifest; it lists {}",
                    self.names().join(", ")
                ),
            });
        }
        let mut dirty = vec![name.to_string()];
        let mut out = Vec::new();
        for e in &self.models {
            if e.name == name || e.trained_with.keys().any(|d| dirty.contains(d)) {
                if e.name != name {
                    dirty.push(e.name.clone());
                }
                out.push(e);
            }
        }
        Ok(out)
    }

    /// The model names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.models.iter().map(|e| e.name.as_str()).collect()
    }

    /// The manifest after a retraining: every checksum from the current files, each
    /// model's `trained_with` set to its dependencies' new checksums, and the lung recipe of
    /// the retrained models that use one set to `lung_recipe`. Refuses (naming the models
    /// and the command to run) when a model changed and a model downstream of it did not:
    /// that one was trained on the old version.
    pub fn updated(
        &self,
        file_bytes: impl Fn(&ManifestEntry) -> Option<Vec<u8>>,
        lung_recipe: LungRecipe,
    ) -> Result<Manifest> {
        let mut new = self.clone();
        let mut changed = Vec::new();
        for e in &mut new.models {
            let bytes = file_bytes(e).ok_or_else(|| Error::Config {
                name: "models",
                why: format!("{}: the file {} is missing", e.name, e.file),
            })?;
            let sha = sha256_hex(&bytes);
            if sha != e.sha256 {
                changed.push(e.name.clone());
                e.sha256 = sha;
                if e.lung_recipe.is_some() {
                    e.lung_recipe = Some(lung_recipe);
                }
            }
        }
        for c in &changed {
            let stale: Vec<&str> = self
                .rebuild_order(c)?
                .into_iter()
                .map(|e| e.name.as_str())
                .filter(|n| !changed.iter().any(|x| x == n))
                .collect();
            if !stale.is_empty() {
                return Err(Error::Config {
                    name: "models",
                    why: format!(
                        "{c} was retrained but {} downstream of it {} not; they learned from \
                         the old {c}: retrain them first (train_models --from {c} --plan)",
                        stale.join(", "),
                        if stale.len() == 1 { "was" } else { "were" }
                    ),
                });
            }
        }
        let shas: BTreeMap<String, String> = new
            .models
            .iter()
            .map(|e| (e.name.clone(), e.sha256.clone()))
            .collect();
        for e in &mut new.models {
            for (dep, sha) in e.trained_with.iter_mut() {
                if let Some(s) = shas.get(dep) {
                    sha.clone_from(s);
                }
            }
        }
        Ok(new)
    }
}

impl Manifest {
    /// Rebuilds `from` and every model downstream of it: `run` executes each model's
    /// command in order (stopping at the first failure, which names the model), then the
    /// manifest is [`Manifest::updated`] from the new files.
    pub fn rebuild(
        &self,
        from: &str,
        mut run: impl FnMut(&ManifestEntry) -> Result<()>,
        file_bytes: impl Fn(&ManifestEntry) -> Option<Vec<u8>>,
        lung_recipe: LungRecipe,
    ) -> Result<Manifest> {
        for e in self.rebuild_order(from)? {
            run(e).map_err(|err| Error::Rebuild {
                model: e.name.clone(),
                source: Box::new(err),
            })?;
        }
        self.updated(file_bytes, lung_recipe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lesion_detector::LesionDetector;
    use crate::lesion_patterns::{FocusModel, PatternNet};
    use crate::models::ShippedModel;
    use crate::scan_model::ScanModel;

    fn shipped_bytes(e: &ManifestEntry) -> Option<Vec<u8>> {
        Some(
            match e.name.as_str() {
                LesionDetector::NAME => LesionDetector::SHIPPED,
                PatternNet::NAME => PatternNet::SHIPPED,
                FocusModel::NAME => FocusModel::SHIPPED,
                ScanModel::NAME => ScanModel::SHIPPED,
                _ => return None,
            }
            .to_vec(),
        )
    }

    #[test]
    fn the_shipped_chain_is_consistent() {
        let m = Manifest::shipped().unwrap();
        assert_eq!(
            m.names(),
            [
                "lesion_detector",
                "lesion_pattern_unet",
                "pattern_focus_model",
                "scan_model"
            ]
        );
        let problems = m.problems(shipped_bytes);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(m.updated(shipped_bytes, LungRecipe::BodyFirst).unwrap(), m);
    }

    #[test]
    fn a_retrained_model_makes_its_dependents_stale() {
        let m = Manifest::shipped().unwrap();
        let order: Vec<&str> = m
            .rebuild_order("lesion_pattern_unet")
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(
            order,
            ["lesion_pattern_unet", "pattern_focus_model", "scan_model"]
        );
        assert!(m.rebuild_order("nope").is_err());

        // The U-Net's file changes and nothing else: its file no longer matches, and the
        // update refuses, naming the two models trained on the old one.
        let retrained = |e: &ManifestEntry| {
            let mut b = shipped_bytes(e)?;
            if e.name == "lesion_pattern_unet" {
                b.push(0);
            }
            Some(b)
        };
        assert_eq!(
            m.problems(retrained),
            [Problem::ChangedFile {
                model: "lesion_pattern_unet".into()
            }]
        );
        let e = m
            .updated(retrained, LungRecipe::BodyFirst)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pattern_focus_model, scan_model downstream"),
            "{e}"
        );

        // The whole chain from the U-Net retrained: the update records the new checksums,
        // and the updated manifest has no problems.
        let all = |e: &ManifestEntry| {
            let mut b = shipped_bytes(e)?;
            if e.name != "lesion_detector" {
                b.push(1);
            }
            Some(b)
        };
        let new = m.updated(all, LungRecipe::BodyFirst).unwrap();
        assert_eq!(
            new.entry("scan_model").unwrap().lung_recipe,
            Some(LungRecipe::BodyFirst)
        );
        assert_eq!(new.entry("lesion_pattern_unet").unwrap().lung_recipe, None);
        assert!(new.problems(all).is_empty());
        assert_eq!(
            new.entry("scan_model").unwrap().trained_with["pattern_focus_model"],
            new.entry("pattern_focus_model").unwrap().sha256
        );
        // …and against the old files, the old manifest's dependents read as stale.
        let mut stale = new.clone();
        stale.models[1].sha256 = m.models[1].sha256.clone();
        assert!(stale.problems(all).iter().any(|p| matches!(
            p,
            Problem::Stale { model, .. } if model == "pattern_focus_model"
        )));
    }

    #[test]
    fn a_rebuild_runs_the_chain_in_order_and_records_it() {
        use std::cell::RefCell;
        let m = Manifest::shipped().unwrap();
        let files = RefCell::new(
            m.models
                .iter()
                .map(|e| (e.name.clone(), shipped_bytes(e).unwrap()))
                .collect::<BTreeMap<_, _>>(),
        );
        let ran = RefCell::new(Vec::new());
        let read = |e: &ManifestEntry| files.borrow().get(&e.name).cloned();
        let retrain = |e: &ManifestEntry| {
            ran.borrow_mut().push(e.name.clone());
            files.borrow_mut().get_mut(&e.name).unwrap().push(7);
            Ok(())
        };
        let new = m
            .rebuild("pattern_focus_model", retrain, read, LungRecipe::BodyFirst)
            .unwrap();
        assert_eq!(*ran.borrow(), ["pattern_focus_model", "scan_model"]);
        assert!(new.problems(read).is_empty());
        assert_eq!(new.models[0], m.models[0], "upstream untouched");

        // A failing command stops the chain and names the model.
        ran.borrow_mut().clear();
        let failing = |e: &ManifestEntry| {
            ran.borrow_mut().push(e.name.clone());
            Err(Error::Config {
                name: "command",
                why: "exit status 1".into(),
            })
        };
        let e = m
            .rebuild("lesion_detector", failing, read, LungRecipe::BodyFirst)
            .unwrap_err();
        assert_eq!(*ran.borrow(), ["lesion_detector"]);
        assert!(
            e.chain().starts_with("rebuilding lesion_detector: "),
            "{}",
            e.chain()
        );
    }

    #[test]
    fn other_formats_are_refused() {
        assert!(Manifest::from_json("{}").is_err());
        let mut m = Manifest::shipped().unwrap();
        m.version = 99;
        assert!(Manifest::from_json(&m.to_json().unwrap()).is_err());
    }
}
