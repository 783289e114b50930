//! COVNet (Li et al. 2020): a 2-D backbone applied to every slice of a scan, slice features
//! pooled over the slice axis, a classifier head. Works for any number of slices S ≥ 1.

use burn::nn::conv::Conv2d;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax, tanh};

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
        Ok(self.head(maps, b, s, true))
    }

    /// The layers after the backbone: slice pooling and the head, on the backbone's maps
    /// `(B·S, F, h, w)` -> logits `(B, classes)`; `dropout` false skips the dropout layer.
    fn head(&self, maps: Tensor<4>, b: usize, s: usize, dropout: bool) -> Tensor<2> {
        let f = maps.dims()[1];
        match (&self.fc, &self.fcn) {
            (Some(fc), _) => {
                // `maps` is consumed here (no clone kept alive for the FCN branch), so backends
                // may reuse its buffer.
                let pooled = global_avg(maps).reshape([b, s, f]);
                let weights = self.slice_weights(&pooled);
                let mut v = self.pool(pooled, weights);
                if let (Some(d), true) = (&self.dropout, dropout) {
                    v = d.forward(v);
                }
                fc.forward(v)
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
                self.pool(global_avg(class_maps).reshape([b, s, k]), weights)
            }
            (None, None) => unreachable!("init builds exactly one head"),
        }
    }

    /// Grad-CAM (Selvaraju et al. 2017) of a scan-level class through the slice pooling:
    /// for every slice, relu(Σ_k α_k A_k) over the backbone's last maps A with α_k the
    /// spatial mean of ∂score/∂A_k, where the score is the class logit of the whole scan.
    /// `(B, S, C, H, W)` -> `(B, S, h, w)`: slices that did not drive the pooled score get
    /// zero maps (max pooling routes the gradient to one slice per feature).
    ///
    /// The model and `x` must live on an autodiff device; the backbone runs in evaluation
    /// mode and the head without dropout.
    pub fn grad_cam_slices(&self, x: Tensor<5>, class: usize) -> Result<Tensor<4>> {
        if !x.device().is_autodiff() {
            return Err(Error::NeedsAutodiff { what: "Grad-CAM" });
        }
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
        let maps = self
            .valid()
            .backbone
            .features(x.without_autodiff().reshape([b * s, c, h, w]))?;
        let maps = maps.autodiff().require_grad();
        let logits = self.head(maps.clone(), b, s, false);
        let k = logits.dims()[1];
        if class >= k {
            return Err(invalid(
                "class",
                format!("{class} out of range for {k} classes"),
            ));
        }
        let grads = logits.narrow(1, class, 1).sum().backward();
        let g = maps
            .grad(&grads)
            .ok_or(Error::NeedsAutodiff { what: "Grad-CAM" })?;
        let a = maps.without_autodiff();
        let [_, _, mh, mw] = a.dims();
        let alpha = g.mean_dim(3).mean_dim(2);
        Ok(relu((a * alpha).sum_dim(1)).reshape([b, s, mh, mw]))
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

#[cfg(test)]
mod grad_cam_tests {
    use super::*;
    use crate::{ResNetConfig, ResNetDepth};

    fn net(pooling: SlicePooling) -> CovNet {
        CovNetConfig {
            backbone: BackboneConfig::ResNet(ResNetConfig {
                in_channels: 1,
                base_width: 4,
                ..ResNetConfig::new(ResNetDepth::R18)
            }),
            pooling,
            ..CovNetConfig::default()
        }
        .init(&Device::flex().autodiff())
        .unwrap()
    }

    /// With mean pooling and a linear head the score is linear in the maps, so Grad-CAM of
    /// slice s is relu(CAM_s) / (S·h·w), CAM_s = Σ_f W[class, f] A_{s,f}.
    #[test]
    fn mean_pooling_grad_cam_is_the_scaled_cam() {
        let ad = Device::flex().autodiff();
        let m = net(SlicePooling::Mean);
        let x = Tensor::<5>::random([1, 3, 1, 64, 64], burn::tensor::Distribution::Default, &ad);
        let cam = m.grad_cam_slices(x.clone(), 2).unwrap();
        let [_, s, h, w] = cam.dims();
        assert_eq!((s, h, w), (3, 2, 2));
        let a = m
            .valid()
            .backbone
            .features(x.without_autodiff().reshape([3, 1, 64, 64]))
            .unwrap();
        let f = a.dims()[1];
        let wc =
            m.fc.as_ref()
                .unwrap()
                .weight
                .val()
                .without_autodiff()
                .narrow(1, 2, 1)
                .reshape([1, f, 1, 1]);
        let want = relu((a * wc).sum_dim(1)).div_scalar((s * h * w) as f32);
        let got: Vec<f32> = cam.into_data().try_to_vec::<f32>().unwrap();
        let want: Vec<f32> = want.into_data().try_to_vec::<f32>().unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1e-3),
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn bad_calls_are_errors() {
        let m = net(SlicePooling::Max);
        let ad = Device::flex().autodiff();
        let x = Tensor::<5>::zeros([1, 2, 1, 32, 32], &ad);
        assert!(m.grad_cam_slices(x.clone(), 3).is_err());
        assert!(m.grad_cam_slices(x.without_autodiff(), 0).is_err());
        assert!(
            m.grad_cam_slices(Tensor::<5>::zeros([1, 2, 3, 32, 32], &ad), 0)
                .is_err()
        );
    }
}
