//! Loading PyTorch `state_dict`s (torch `.pt`/`.pth` pickles and `.safetensors`) into the
//! torchvision-layout models, with typed errors naming every key and shape that disagrees.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{
    BurnToPyTorchAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore,
    SafetensorsStore,
};

use crate::densenet::{DenseNet, DenseNetConfig};
use crate::error::{Error, KeyProblem, Result};
use crate::resnet::{ResNet, ResNetConfig, ResNetDepth};
use crate::vgg::{VGG16_SEQ_INDEX, Vgg16, Vgg16Config};

/// A model that can take a torchvision `state_dict`: it maps each torchvision key to its own
/// parameter path (`None` drops the key, e.g. `num_batches_tracked`).
pub trait TorchImport: Module + Sized {
    /// torchvision key -> this model's path (in PyTorch naming: `weight`/`bias` for norms).
    fn map_key(key: &str) -> Option<String>;
}

fn drop_buffers(key: &str) -> Option<&str> {
    (!key.ends_with(".num_batches_tracked")).then_some(key)
}

impl TorchImport for ResNet {
    /// `layerX.i.downsample.0/1` -> `layerX.i.downsample.conv/bn`; all else is identical.
    fn map_key(key: &str) -> Option<String> {
        let key = drop_buffers(key)?;
        Some(
            key.replace(".downsample.0.", ".downsample.conv.")
                .replace(".downsample.1.", ".downsample.bn."),
        )
    }
}

/// Parses `prefix{n}` into n.
fn numbered(s: &str, prefix: &str) -> Option<usize> {
    s.strip_prefix(prefix)?.parse().ok()
}

impl TorchImport for DenseNet {
    /// `features.denseblock{b}.denselayer{l}.` -> `blocks.{b-1}.layers.{l-1}.`,
    /// `features.transition{t}.` -> `transitions.{t-1}.`, `features.` dropped elsewhere.
    fn map_key(key: &str) -> Option<String> {
        let key = drop_buffers(key)?;
        let Some(rest) = key.strip_prefix("features.") else {
            return Some(key.to_string());
        };
        let parts: Vec<&str> = rest.split('.').collect();
        if let Some(b) = parts.first().and_then(|p| numbered(p, "denseblock")) {
            let l = parts.get(1).and_then(|p| numbered(p, "denselayer"))?;
            let tail = parts[2..].join(".");
            return Some(format!(
                "blocks.{}.layers.{}.{tail}",
                b.checked_sub(1)?,
                l.checked_sub(1)?
            ));
        }
        if let Some(t) = parts.first().and_then(|p| numbered(p, "transition")) {
            return Some(format!(
                "transitions.{}.{}",
                t.checked_sub(1)?,
                parts[1..].join(".")
            ));
        }
        Some(rest.to_string())
    }
}

impl TorchImport for Vgg16 {
    /// `features.{seq}` -> `features.{conv index}`, `classifier.{0,3,6}` -> `classifier.{0,1,2}`.
    fn map_key(key: &str) -> Option<String> {
        let key = drop_buffers(key)?;
        let parts: Vec<&str> = key.splitn(3, '.').collect();
        if parts.len() == 3 {
            let idx: Option<usize> = parts[1].parse().ok();
            match (parts[0], idx) {
                ("features", Some(i)) => {
                    // Keys at a ReLU/pool position cannot occur; keep them so they are reported
                    // as unexpected.
                    return Some(match VGG16_SEQ_INDEX.iter().position(|&s| s == i) {
                        Some(j) => format!("features.{j}.{}", parts[2]),
                        None => key.to_string(),
                    });
                }
                ("classifier", Some(i)) if i % 3 == 0 => {
                    return Some(format!("classifier.{}.{}", i / 3, parts[2]));
                }
                _ => {}
            }
        }
        Some(key.to_string())
    }
}

fn file_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::WeightFile {
        file: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Reads every tensor of a `.safetensors` file or a torch pickle (`.pt`, `.pth`, anything else).
fn read_tensors(path: &Path) -> Result<BTreeMap<String, PackTensor>> {
    if !path.is_file() {
        return Err(file_err(path, "no such file"));
    }
    let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
    let tensors = if is_safetensors {
        let mut store = SafetensorsStore::from_file(path).map_indices_contiguous(false);
        store
            .get_all_tensors()
            .map_err(|e| file_err(path, e))?
            .clone()
    } else {
        let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
        store
            .get_all_tensors()
            .map_err(|e| file_err(path, e))?
            .clone()
    };
    Ok(tensors)
}

/// Loads a torchvision `state_dict` into `model` (built with the matching configuration).
///
/// Every key of the file must map to a parameter of the model with the same shape and every
/// parameter must be present; otherwise [`Error::WeightMismatch`] lists all problems (missing
/// keys with the expected shape, unexpected keys, shape mismatches).
pub fn load_torch_weights<M: TorchImport>(mut model: M, path: impl AsRef<Path>) -> Result<M> {
    let path = path.as_ref();
    let file = read_tensors(path)?;

    // What the model expects, in PyTorch naming and layout (Linear weights as [out, in]).
    let expected: BTreeMap<String, Vec<usize>> = model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| (t.name.clone(), t.shape.to_vec()))
        .collect();

    let mut problems = Vec::new();
    let mut mapped = Vec::with_capacity(file.len());
    let mut seen = BTreeMap::new();
    for (key, tensor) in file {
        let Some(target) = M::map_key(&key) else {
            continue;
        };
        let shape = tensor.shape.to_vec();
        match expected.get(&target) {
            None => problems.push(KeyProblem::Unexpected {
                key: key.clone(),
                shape,
            }),
            Some(exp) if *exp != shape => problems.push(KeyProblem::Shape {
                key: key.clone(),
                expected: exp.clone(),
                found: shape,
            }),
            Some(_) => {
                seen.insert(target.clone(), ());
                let mut t = tensor;
                t.name = target;
                mapped.push(t);
            }
        }
    }
    for (key, shape) in &expected {
        if !seen.contains_key(key) {
            problems.push(KeyProblem::Missing {
                key: key.clone(),
                expected: shape.clone(),
            });
        }
    }
    // A key reported with a wrong shape is not also reported as missing.
    let shape_targets: Vec<String> = problems
        .iter()
        .filter_map(|p| match p {
            KeyProblem::Shape { key, .. } => M::map_key(key),
            _ => None,
        })
        .collect();
    problems
        .retain(|p| !matches!(p, KeyProblem::Missing { key, .. } if shape_targets.contains(key)));
    if !problems.is_empty() {
        problems.sort_by(|a, b| problem_key(a).cmp(problem_key(b)));
        return Err(Error::WeightMismatch {
            file: path.display().to_string(),
            problems,
        });
    }

    let result = model.apply(mapped, None, Some(Box::new(PyTorchToBurnAdapter)), true);
    if !result.errors.is_empty() || !result.missing.is_empty() {
        let mut msg = String::new();
        for e in &result.errors {
            msg.push_str(&format!("{e}; "));
        }
        for (m, _) in &result.missing {
            msg.push_str(&format!("not applied: {m}; "));
        }
        return Err(file_err(path, msg));
    }
    Ok(model)
}

fn problem_key(p: &KeyProblem) -> &str {
    match p {
        KeyProblem::Missing { key, .. }
        | KeyProblem::Unexpected { key, .. }
        | KeyProblem::Shape { key, .. } => key,
    }
}

/// Names and shapes of every tensor in a `.pt`/`.pth`/`.safetensors` `state_dict`.
pub fn torch_shapes(path: impl AsRef<Path>) -> Result<BTreeMap<String, Vec<usize>>> {
    Ok(read_tensors(path.as_ref())?
        .into_iter()
        .map(|(k, t)| (k, t.shape.to_vec()))
        .collect())
}

fn shape_of<'a>(
    shapes: &'a BTreeMap<String, Vec<usize>>,
    key: &str,
    rank: usize,
) -> Result<&'a [usize]> {
    match shapes.get(key) {
        Some(s) if s.len() == rank => Ok(s),
        Some(s) => Err(Error::WeightMismatch {
            file: "<state_dict>".into(),
            problems: vec![KeyProblem::Shape {
                key: key.into(),
                expected: vec![0; rank],
                found: s.clone(),
            }],
        }),
        None => Err(Error::WeightMismatch {
            file: "<state_dict>".into(),
            problems: vec![KeyProblem::Missing {
                key: key.into(),
                expected: vec![],
            }],
        }),
    }
}

impl ResNetConfig {
    /// The configuration a torchvision ResNet `state_dict` was saved from (input channels,
    /// base width and classes read from `conv1` and `fc`), at the given depth.
    pub fn from_torch_shapes(
        shapes: &BTreeMap<String, Vec<usize>>,
        depth: ResNetDepth,
    ) -> Result<Self> {
        let conv1 = shape_of(shapes, "conv1.weight", 4)?;
        let fc = shape_of(shapes, "fc.weight", 2)?;
        Ok(Self {
            depth,
            in_channels: conv1[1],
            base_width: conv1[0],
            num_classes: fc[0],
            ..Self::default()
        })
    }
}

impl DenseNetConfig {
    /// The configuration a torchvision DenseNet `state_dict` was saved from (growth rate,
    /// layers per block, stem width, bottleneck size, classes).
    pub fn from_torch_shapes(shapes: &BTreeMap<String, Vec<usize>>) -> Result<Self> {
        let conv0 = shape_of(shapes, "features.conv0.weight", 4)?;
        let c1 = shape_of(shapes, "features.denseblock1.denselayer1.conv1.weight", 4)?;
        let c2 = shape_of(shapes, "features.denseblock1.denselayer1.conv2.weight", 4)?;
        let fc = shape_of(shapes, "classifier.weight", 2)?;
        let mut block_config = Vec::new();
        for b in 1.. {
            let n = (1..)
                .take_while(|l| {
                    shapes.contains_key(&format!(
                        "features.denseblock{b}.denselayer{l}.conv1.weight"
                    ))
                })
                .count();
            if n == 0 {
                break;
            }
            block_config.push(n);
        }
        let growth_rate = c2[0];
        Ok(Self {
            in_channels: conv0[1],
            num_classes: fc[0],
            growth_rate,
            block_config,
            num_init_features: conv0[0],
            bn_size: c1[0] / growth_rate.max(1),
        })
    }
}

impl Vgg16Config {
    /// The configuration a torchvision VGG-16 `state_dict` was saved from (input channels,
    /// base width, classifier width, classes).
    pub fn from_torch_shapes(shapes: &BTreeMap<String, Vec<usize>>) -> Result<Self> {
        let f0 = shape_of(shapes, "features.0.weight", 4)?;
        let c0 = shape_of(shapes, "classifier.0.weight", 2)?;
        let c6 = shape_of(shapes, "classifier.6.weight", 2)?;
        Ok(Self {
            in_channels: f0[1],
            base_width: f0[0],
            hidden: c0[0],
            num_classes: c6[0],
            ..Self::default()
        })
    }
}
