//! The zoo's trainable classifiers by name, with the few knobs a training run sets.

use covnet_models::burn;
use covnet_models::burn::prelude::*;
use covnet_models::burn::store::{BurnpackStore, ModuleSnapshot};
use covnet_models::{
    AttentionKind, BackboneConfig, C3d, C3dConfig, ConvLstmNet, ConvLstmNetConfig, CovNet,
    CovNetConfig, CsrBackend, CsrnetConfig, DenseNetConfig, HeadKind, P3d, P3dConfig, P3dMix,
    ResNetConfig, ResNetDepth, SlicePooling,
};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

use crate::error::{Error, Result, invalid};

/// A classifier of the zoo, by the name the `train` program takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// COVNet on ResNet-18.
    CovnetResnet18,
    /// COVNet on ResNet-50 (the published COVNet).
    CovnetResnet50,
    /// COVNet on DenseNet-169 (the seed's first level).
    CovnetDensenet169,
    /// COVNet on CSRNet (VGG-16 front end, dilated back end B; the seed's high-contrast model).
    CovnetCsrnet,
    /// ConvLSTM over slices of ResNet-18 feature maps.
    Convlstm,
    /// C3D (Tran et al. 2015): 3-D convolutions over the slice stack (the seed's stage-1
    /// video model).
    C3d,
    /// P3D ResNet-50 (Qiu et al. 2017) with blocks cycling A, B, C: pseudo-3-D
    /// (1×3×3 then 3×1×1) bottleneck units over the slice stack.
    P3d,
}

impl ModelKind {
    /// Every kind, in `--help` order.
    pub const ALL: [ModelKind; 7] = [
        ModelKind::CovnetResnet18,
        ModelKind::CovnetResnet50,
        ModelKind::CovnetDensenet169,
        ModelKind::CovnetCsrnet,
        ModelKind::Convlstm,
        ModelKind::C3d,
        ModelKind::P3d,
    ];

    /// The name (`covnet-resnet18`, …).
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::CovnetResnet18 => "covnet-resnet18",
            ModelKind::CovnetResnet50 => "covnet-resnet50",
            ModelKind::CovnetDensenet169 => "covnet-densenet169",
            ModelKind::CovnetCsrnet => "covnet-csrnet",
            ModelKind::Convlstm => "convlstm",
            ModelKind::C3d => "c3d",
            ModelKind::P3d => "p3d",
        }
    }

    /// The kind of a name.
    pub fn parse(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The published width (torchvision's 64; 32 growth for DenseNet-169).
    pub fn paper_width(self) -> usize {
        match self {
            ModelKind::CovnetDensenet169 => 32,
            _ => 64,
        }
    }
}

/// Pooling over slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Element-wise max (COVNet).
    Max,
    /// Mean.
    Mean,
    /// Attention-based MIL pooling.
    Attention,
}

/// Channel attention in every residual block (ResNet backbones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockAttention {
    /// None.
    None,
    /// Squeeze-and-excitation, r = 16.
    Se,
    /// CBAM, r = 16, 7×7 spatial kernel.
    Cbam,
    /// ECA.
    Eca,
    /// Residual attention (Wang et al. 2017) with a one-level mask branch (the paper's
    /// setting for its smallest maps; deeper masks are `covnet_models::AttentionKind`).
    Residual,
}

/// Everything that fixes a model's architecture (part of `config.json`; a checkpoint must
/// match it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Which network.
    pub kind: ModelKind,
    /// Width: ResNet/CSRNet base width, DenseNet growth rate (stem = 2 × growth); the paper's
    /// by default, smaller for CPU runs.
    pub width: usize,
    /// Slice pooling (COVNet kinds).
    pub pooling: Pooling,
    /// Fully convolutional head instead of the linear one (COVNet kinds).
    pub fcn_head: bool,
    /// Attention blocks (ResNet backbones).
    pub attention: BlockAttention,
    /// Dropout before the linear head.
    pub dropout: Option<f64>,
    /// Input channels (1: the slice; 3: the slice repeated, for ImageNet weights).
    pub in_channels: usize,
    /// Output classes.
    pub num_classes: usize,
}

impl ModelSpec {
    /// The published architecture of `kind` on one-channel slices, max pooling, 3 classes.
    pub fn new(kind: ModelKind) -> ModelSpec {
        ModelSpec {
            kind,
            width: kind.paper_width(),
            pooling: Pooling::Max,
            fcn_head: false,
            attention: BlockAttention::None,
            dropout: None,
            in_channels: 1,
            num_classes: 3,
        }
    }

    /// Checks the knobs (the zoo checks the rest when building).
    pub fn validate(&self) -> Result<()> {
        if !(2..=256).contains(&self.width) {
            return Err(invalid(
                "width",
                format!("must be 2–256, got {}", self.width),
            ));
        }
        if !matches!(self.in_channels, 1 | 3) {
            return Err(invalid("channels", "must be 1 or 3"));
        }
        if self.num_classes < 2 {
            return Err(invalid("classes", "must be at least 2"));
        }
        if matches!(self.kind, ModelKind::C3d | ModelKind::P3d)
            && (self.pooling != Pooling::Max || self.fcn_head)
        {
            return Err(invalid(
                "pooling",
                "C3D and P3D convolve over the slices themselves: no slice pooling or FCN head",
            ));
        }
        if self.attention != BlockAttention::None
            && !matches!(
                self.kind,
                ModelKind::CovnetResnet18 | ModelKind::CovnetResnet50 | ModelKind::Convlstm
            )
        {
            return Err(invalid(
                "attention",
                "is available on ResNet backbones only",
            ));
        }
        Ok(())
    }

    fn backbone(&self) -> BackboneConfig {
        let attention = match self.attention {
            BlockAttention::None => None,
            BlockAttention::Se => Some(AttentionKind::Se { reduction: 16 }),
            BlockAttention::Cbam => Some(AttentionKind::Cbam {
                reduction: 16,
                kernel: 7,
            }),
            BlockAttention::Eca => Some(AttentionKind::Eca),
            BlockAttention::Residual => Some(AttentionKind::Residual { depth: 1 }),
        };
        let resnet = |depth| {
            BackboneConfig::ResNet(ResNetConfig {
                in_channels: self.in_channels,
                base_width: self.width,
                attention,
                ..ResNetConfig::new(depth)
            })
        };
        match self.kind {
            ModelKind::CovnetResnet18 | ModelKind::Convlstm | ModelKind::C3d | ModelKind::P3d => {
                resnet(ResNetDepth::R18)
            }
            ModelKind::CovnetResnet50 => resnet(ResNetDepth::R50),
            ModelKind::CovnetDensenet169 => BackboneConfig::DenseNet(DenseNetConfig {
                in_channels: self.in_channels,
                growth_rate: self.width,
                num_init_features: 2 * self.width,
                ..DenseNetConfig::densenet169()
            }),
            ModelKind::CovnetCsrnet => BackboneConfig::Csrnet(CsrnetConfig {
                in_channels: self.in_channels,
                backend: CsrBackend::B,
                base_width: self.width,
                out_channels: 1,
            }),
        }
    }

    /// Builds the network with random weights drawn from `seed`: the same seed gives the
    /// same weights, whatever else runs in the process. (Burn's generator is global per
    /// backend and parameters are initialised lazily, so seeding, building and
    /// materialising every parameter happen under one process-wide lock.)
    pub fn init_seeded(&self, device: &Device, seed: u64) -> Result<Net> {
        let _guard = rng_lock();
        device.seed(seed);
        let net = self.init(device)?;
        // Saving reads every parameter, which initialises the lazy ones now.
        let mut sink = BurnpackStore::from_bytes(None);
        net.save_into(&mut sink).map_err(|e| Error::Record {
            what: "initialising the weights in memory",
            path: std::path::PathBuf::new(),
            source: e.to_string().into(),
        })?;
        Ok(net)
    }

    /// Builds the network with random weights from Burn's generator (see
    /// [`ModelSpec::init_seeded`] for a reproducible start).
    pub fn init(&self, device: &Device) -> Result<Net> {
        self.validate()?;
        Ok(match self.kind {
            ModelKind::C3d => Net::C3d(
                C3dConfig {
                    in_channels: self.in_channels,
                    width: self.width,
                    fc_width: 64 * self.width,
                    num_classes: self.num_classes,
                    dropout: self.dropout,
                }
                .init(device)?,
            ),
            ModelKind::P3d => Net::P3d(
                P3dConfig {
                    layers: [3, 4, 6, 3],
                    mix: P3dMix::Cycle,
                    in_channels: self.in_channels,
                    base_width: self.width,
                    num_classes: self.num_classes,
                    dropout: self.dropout,
                }
                .init(device)?,
            ),
            ModelKind::Convlstm => Net::ConvLstm(
                ConvLstmNetConfig {
                    backbone: self.backbone(),
                    hidden_channels: self.width.max(4),
                    kernel_size: 3,
                    num_classes: self.num_classes,
                }
                .init(device)?,
            ),
            _ => Net::CovNet(
                CovNetConfig {
                    backbone: self.backbone(),
                    pooling: match self.pooling {
                        Pooling::Max => SlicePooling::Max,
                        Pooling::Mean => SlicePooling::Mean,
                        Pooling::Attention => SlicePooling::Attention { hidden: 64 },
                    },
                    head: if self.fcn_head {
                        HeadKind::Fcn
                    } else {
                        HeadKind::Linear
                    },
                    num_classes: self.num_classes,
                    dropout: self.dropout,
                }
                .init(device)?,
            ),
        })
    }
}

/// The lock around Burn's global random generator: held while seeding it and drawing
/// initial weights, so that no other seeding in the process lands in between.
fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static RNG: Mutex<()> = Mutex::new(());
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Seeds Burn's generator of `device` (dropout's draws) under [`rng_lock`]. Runs of one
/// process that use dropout concurrently still share the generator; initial weights never do.
pub(crate) fn seed_device(device: &Device, seed: u64) {
    let _guard = rng_lock();
    device.seed(seed);
}

/// A trainable classifier of scans: `(B, S, C, H, W)` → logits `(B, classes)`.
// One value per run, moved through the optimiser by value: the variants' size gap is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Net {
    /// COVNet (any backbone).
    CovNet(CovNet),
    /// ConvLSTM.
    ConvLstm(ConvLstmNet),
    /// C3D (input permuted to (B, C, S, H, W)).
    C3d(C3d),
    /// P3D ResNet (input permuted to (B, C, S, H, W)).
    P3d(P3d),
}

impl Net {
    /// Logits of a batch of scans.
    pub fn forward(&self, x: Tensor<5>) -> Result<Tensor<2>> {
        Ok(match self {
            Net::CovNet(m) => m.forward(x)?,
            Net::ConvLstm(m) => m.forward(x)?,
            Net::C3d(m) => m.forward(x.swap_dims(1, 2))?,
            Net::P3d(m) => m.forward(x.swap_dims(1, 2))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_every_kind_builds_small() {
        let device = covnet_models::cpu_device();
        for kind in ModelKind::ALL {
            assert_eq!(ModelKind::parse(kind.name()), Some(kind));
            let spec = ModelSpec {
                width: 4,
                ..ModelSpec::new(kind)
            };
            let net = spec.init(&device).unwrap();
            let logits = net
                .forward(Tensor::<5>::zeros([2, 3, 1, 32, 32], &device))
                .unwrap();
            assert_eq!(logits.dims(), [2, 3], "{kind:?}");
        }
        assert_eq!(ModelKind::parse("resnet"), None);
    }

    #[test]
    fn bad_specs_are_refused() {
        let s = ModelSpec::new(ModelKind::CovnetDensenet169);
        assert!(
            ModelSpec {
                width: 0,
                ..s.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            ModelSpec {
                in_channels: 2,
                ..s.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            ModelSpec {
                attention: BlockAttention::Se,
                ..s
            }
            .validate()
            .is_err()
        );
    }
}
