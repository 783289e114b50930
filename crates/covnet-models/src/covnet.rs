//! COVNet (Li et al. 2020): a 2-D backbone applied to every slice of a scan, slice features
//! pooled over the slice axis, a classifier head. Works for any number of slices S ≥ 1.

use burn::nn::conv::Conv2d;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{softmax, tanh};

use crate::densenet::{DenseNet, DenseNetConfig};
use crate::error::{Error, Result, invalid};
use crate::layers::conv;
use crate::resnet::{ResNet, ResNetConfig};
use crate::util::global_avg;
use crate::vgg::{Csrnet, CsrnetConfig};

/// Which 2-D network extracts per-slice features.
#[derive(Debug, Clone, PartialEq)]
pub enum BackboneConfig {
    /// A ResNet (its `fc` is unused).
    ResNet(ResNetConfig),
    /// A DenseNet (its classifier is unused).
    DenseNet(DenseNetConfig),
    /// CSRNet's front and back ends (its output conv is unused).
    Csrnet(CsrnetConfig),
}

impl BackboneConfig {
    fn init(&self, device: &Device) -> Result<Backbone> {
        Ok(match self {
            Self::ResNet(c) => Backbone::ResNet(c.init(device)?),
            Self::DenseNet(c) => Backbone::DenseNet(c.init(device)?),
            Self::Csrnet(c) => Backbone::Csrnet(c.init(device)?),
        })
    }
}

/// A per-slice feature extractor.
#[derive(Module, Debug)]
pub enum Backbone {
    /// ResNet.
    ResNet(ResNet),
    /// DenseNet.
    DenseNet(DenseNet),
    /// CSRNet.
    Csrnet(Csrnet),
}

impl Backbone {
    /// Feature map of a batch of slices: (N, C, H, W) -> (N, F, h, w).
    pub fn features(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        match self {
            Self::ResNet(m) => m.features(x),
            Self::DenseNet(m) => m.features(x),
            Self::Csrnet(m) => m.features(x),
        }
    }

    /// F, the channels of [`Backbone::features`].
    pub fn feature_channels(&self) -> usize {
        match self {
            Self::ResNet(m) => m.feature_channels(),
            Self::DenseNet(m) => m.feature_channels(),
            Self::Csrnet(m) => m.feature_channels(),
        }
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        match self {
            Self::ResNet(m) => m.in_channels(),
            Self::DenseNet(m) => m.in_channels(),
            Self::Csrnet(m) => m.in_channels(),
        }
    }
}

/// How slice features are combined into one scan feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlicePooling {
    /// Element-wise max over slices (COVNet's choice).
    Max,
    /// Mean over slices.
    Mean,
    /// Attention-based MIL pooling (Ilse et al. 2018): a_s = softmax_s(wᵀ tanh(V h_s)),
    /// z = Σ_s a_s h_s, with a hidden width of `hidden`.
    Attention {
        /// Width of V.
        hidden: usize,
    },
}

/// The classifier on the pooled features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadKind {
    /// Spatial average pool per slice, slice pooling, (dropout), linear layer.
    Linear,
    /// Fully convolutional: a 1×1 conv maps each slice's feature map to class maps, which are
    /// averaged spatially and then pooled over slices like the features.
    Fcn,
}

/// Configuration of a [`CovNet`].
#[derive(Debug, Clone, PartialEq)]
pub struct CovNetConfig {
    /// Per-slice backbone.
    pub backbone: BackboneConfig,
    /// Pooling over slices.
    pub pooling: SlicePooling,
    /// Head.
    pub head: HeadKind,
    /// Output classes (3: Normal, CAP, COVID-19).
    pub num_classes: usize,
    /// Dropout before the linear head (`None` for none).
    pub dropout: Option<f64>,
}

impl Default for CovNetConfig {
    /// COVNet as published: ResNet-50 on 3-channel slices, max pooling, linear head, 3 classes.
    fn default() -> Self {
        Self {
            backbone: BackboneConfig::ResNet(ResNetConfig::new(crate::ResNetDepth::R50)),
            pooling: SlicePooling::Max,
            head: HeadKind::Linear,
            num_classes: 3,
            dropout: None,
        }
    }
}

impl CovNetConfig {
    /// Checks the parameters (the backbone's are checked by its own `init`).
    pub fn validate(&self) -> Result<()> {
        if self.num_classes == 0 {
            return Err(invalid("num_classes", "must be at least 1"));
        }
        if let SlicePooling::Attention { hidden: 0 } = self.pooling {
            return Err(invalid("pooling.hidden", "must be at least 1"));
        }
        if let Some(p) = self.dropout
            && !(0.0..1.0).contains(&p)
        {
            return Err(invalid("dropout", format!("must be in [0, 1), got {p}")));
        }
        Ok(())
    }

    /// Builds the network with random weights.
    pub fn init(&self, device: &Device) -> Result<CovNet> {
        self.validate()?;
        let backbone = self.backbone.init(device)?;
        let f = backbone.feature_channels();
        let attention = match self.pooling {
            SlicePooling::Attention { hidden } => Some(AttentionPool {
                v: LinearConfig::new(f, hidden).init(device),
                w: LinearConfig::new(hidden, 1).init(device),
            }),
            _ => None,
        };
        let (fc, fcn) = match self.head {
            HeadKind::Linear => (
                Some(LinearConfig::new(f, self.num_classes).init(device)),
                None,
            ),
            HeadKind::Fcn => (
                None,
                Some(conv(device, f, self.num_classes, 1, 1, 0, 1, true)),
            ),
        };
        Ok(CovNet {
            backbone,
            attention,
            fc,
            fcn,
            dropout: self.dropout.map(|p| DropoutConfig::new(p).init()),
            mean_pool: self.pooling == SlicePooling::Mean,
        })
    }
}

/// Attention MIL pooling weights.
#[derive(Module, Debug)]
pub struct AttentionPool {
    v: Linear,
    w: Linear,
}

impl AttentionPool {
    /// Slice weights: (B, S, F) -> (B, S, 1), summing to 1 over S.
    fn weights(&self, h: Tensor<3>) -> Tensor<3> {
        softmax(self.w.forward(tanh(self.v.forward(h))), 1)
    }
}

/// COVNet: backbone per slice, pooling over slices, head.
#[derive(Module, Debug)]
pub struct CovNet {
    backbone: Backbone,
    attention: Option<AttentionPool>,
    fc: Option<Linear>,
    fcn: Option<Conv2d>,
    dropout: Option<Dropout>,
    mean_pool: bool,
}

impl CovNet {
    /// The backbone.
    pub fn backbone(&self) -> &Backbone {
        &self.backbone
    }

    /// Pools (B, S, K) over S with the configured pooling; `weights` are attention weights.
    fn pool(&self, v: Tensor<3>, weights: Option<Tensor<3>>) -> Tensor<2> {
        let [b, _, k] = v.dims();
        match weights {
            Some(a) => (v * a).sum_dim(1).reshape([b, k]),
            None if self.mean_pool => v.mean_dim(1).reshape([b, k]),
            None => v.max_dim(1).reshape([b, k]),
        }
    }

    /// Attention weights over slices of the attention-pooling variant, (B, S, 1); `None` for
    /// max and mean pooling.
    fn slice_weights(&self, h: &Tensor<3>) -> Option<Tensor<3>> {
        self.attention.as_ref().map(|a| a.weights(h.clone()))
    }

    /// Logits of a batch of scans: (B, S, C, H, W) -> (B, classes), for any S ≥ 1.
    ///
    /// Errors if S = 0, B = 0 or C differs from the backbone's input channels.
    pub fn forward(&self, x: Tensor<5>) -> Result<Tensor<2>> {
        let [b, s, c, h, w] = x.dims();
        if s == 0 {
            return Err(Error::NoSlices { what: "x" });
        }
        if c != self.backbone.in_channels() {
            return Err(Error::ChannelMismatch {
                what: "x",
                expected: self.backbone.in_channels(),
                found: c,
            });
        }
        if b == 0 || h == 0 || w == 0 {
            return Err(Error::BadShape {
                what: "x",
                expected: "(B, S, C, H, W) with B, H, W ≥ 1".into(),
                found: vec![b, s, c, h, w],
            });
        }
        // (B, S, C, H, W) -> (B·S, C, H, W) is a view of the contiguous input (no copy): every
        // slice goes through the backbone in one batch.
        let maps = self.backbone.features(x.reshape([b * s, c, h, w]))?;
        let f = maps.dims()[1];
        match (&self.fc, &self.fcn) {
            (Some(fc), _) => {
                // `maps` is consumed here (no clone kept alive for the FCN branch), so backends
                // may reuse its buffer.
                let pooled = global_avg(maps).reshape([b, s, f]);
                let weights = self.slice_weights(&pooled);
                let mut v = self.pool(pooled, weights);
                if let Some(d) = &self.dropout {
                    v = d.forward(v);
                }
                Ok(fc.forward(v))
            }
            (None, Some(fcn)) => {
                // Attention weights come from the pooled features, the class maps from the
                // feature maps: only this head needs both.
                let weights = self
                    .attention
                    .is_some()
                    .then(|| global_avg(maps.clone()).reshape([b, s, f]))
                    .and_then(|pooled| self.slice_weights(&pooled));
                let class_maps = fcn.forward(maps);
                let k = class_maps.dims()[1];
                Ok(self.pool(global_avg(class_maps).reshape([b, s, k]), weights))
            }
            (None, None) => unreachable!("init builds exactly one head"),
        }
    }

    /// Attention weights over slices (B, S) for the attention-pooling variant, for the
    /// interpretability figures; `None` for max and mean pooling.
    pub fn slice_attention(&self, x: Tensor<5>) -> Result<Option<Tensor<2>>> {
        let [b, s, c, h, w] = x.dims();
        if s == 0 {
            return Err(Error::NoSlices { what: "x" });
        }
        if self.attention.is_none() {
            return Ok(None);
        }
        let maps = self.backbone.features(x.reshape([b * s, c, h, w]))?;
        let f = maps.dims()[1];
        let pooled = global_avg(maps).reshape([b, s, f]);
        Ok(self.slice_weights(&pooled).map(|a| a.reshape([b, s])))
    }
}
