//! DenseNet (BC) in torchvision's layout; `DenseNetConfig::densenet169()` is torchvision's
//! `densenet169()`.

use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::error::{Result, invalid};
use crate::layers::{bn, conv};
use crate::util::{check_nchw, global_avg};

/// Configuration of a [`DenseNet`] (torchvision's constructor arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct DenseNetConfig {
    /// Input channels (3 for torchvision weights, 1 for CT slices).
    pub in_channels: usize,
    /// Output classes.
    pub num_classes: usize,
    /// Channels each dense layer adds (k = 32).
    pub growth_rate: usize,
    /// Dense layers per block ((6, 12, 32, 32) for DenseNet-169).
    pub block_config: Vec<usize>,
    /// Channels of the stem conv (64).
    pub num_init_features: usize,
    /// Bottleneck multiplier: the 1×1 conv outputs `bn_size * growth_rate` channels (4).
    pub bn_size: usize,
}

impl Default for DenseNetConfig {
    /// DenseNet-169 as torchvision builds it: 3 channels, 1000 classes.
    fn default() -> Self {
        Self::densenet169()
    }
}

impl DenseNetConfig {
    /// torchvision's `densenet169()`.
    pub fn densenet169() -> Self {
        Self {
            in_channels: 3,
            num_classes: 1000,
            growth_rate: 32,
            block_config: vec![6, 12, 32, 32],
            num_init_features: 64,
            bn_size: 4,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("in_channels", self.in_channels),
            ("num_classes", self.num_classes),
            ("growth_rate", self.growth_rate),
            ("num_init_features", self.num_init_features),
            ("bn_size", self.bn_size),
        ] {
            if v == 0 {
                return Err(invalid(name, "must be at least 1"));
            }
        }
        if self.block_config.is_empty() || self.block_config.contains(&0) {
            return Err(invalid(
                "block_config",
                "needs at least one block, each with ≥ 1 layer",
            ));
        }
        Ok(())
    }

    /// Channels of the final feature map (1664 for DenseNet-169).
    pub fn feature_channels(&self) -> usize {
        let mut c = self.num_init_features;
        for (i, &n) in self.block_config.iter().enumerate() {
            c += n * self.growth_rate;
            if i + 1 < self.block_config.len() {
                c /= 2;
            }
        }
        c
    }

    /// Builds the network with random weights on `device`.
    pub fn init(&self, device: &Device) -> Result<DenseNet> {
        self.validate()?;
        let mut c = self.num_init_features;
        let mut blocks = Vec::new();
        let mut transitions = Vec::new();
        for (i, &n) in self.block_config.iter().enumerate() {
            let layers = (0..n)
                .map(|j| {
                    let cin = c + j * self.growth_rate;
                    let mid = self.bn_size * self.growth_rate;
                    DenseLayer {
                        norm1: bn(device, cin),
                        conv1: conv(device, cin, mid, 1, 1, 0, 1, false),
                        norm2: bn(device, mid),
                        conv2: conv(device, mid, self.growth_rate, 3, 1, 1, 1, false),
                    }
                })
                .collect();
            blocks.push(DenseBlock { layers });
            c += n * self.growth_rate;
            if i + 1 < self.block_config.len() {
                transitions.push(Transition {
                    norm: bn(device, c),
                    conv: conv(device, c, c / 2, 1, 1, 0, 1, false),
                    pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
                });
                c /= 2;
            }
        }
        Ok(DenseNet {
            conv0: conv(
                device,
                self.in_channels,
                self.num_init_features,
                7,
                2,
                3,
                1,
                false,
            ),
            norm0: bn(device, self.num_init_features),
            pool0: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            blocks,
            transitions,
            norm5: bn(device, c),
            classifier: LinearConfig::new(c, self.num_classes).init(device),
            in_channels: self.in_channels,
            feature_channels: c,
        })
    }
}

/// BN-ReLU-conv1×1-BN-ReLU-conv3×3 producing `growth_rate` new channels.
#[derive(Module, Debug)]
pub struct DenseLayer {
    norm1: BatchNorm,
    conv1: Conv2d,
    norm2: BatchNorm,
    conv2: Conv2d,
}

impl DenseLayer {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.conv1.forward(relu(self.norm1.forward(x)));
        self.conv2.forward(relu(self.norm2.forward(y)))
    }
}

/// Dense layers whose outputs are concatenated along channels.
#[derive(Module, Debug)]
pub struct DenseBlock {
    layers: Vec<DenseLayer>,
}

impl DenseBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut features = vec![x];
        for layer in &self.layers {
            let input = Tensor::cat(features.clone(), 1);
            features.push(layer.forward(input));
        }
        Tensor::cat(features, 1)
    }
}

/// BN-ReLU-conv1×1 (halving channels)-avgpool 2×2.
#[derive(Module, Debug)]
pub struct Transition {
    norm: BatchNorm,
    conv: Conv2d,
    pool: AvgPool2d,
}

/// DenseNet: `features` (stem, dense blocks, transitions, `norm5`) and `classifier`.
#[derive(Module, Debug)]
pub struct DenseNet {
    conv0: Conv2d,
    norm0: BatchNorm,
    pool0: MaxPool2d,
    blocks: Vec<DenseBlock>,
    transitions: Vec<Transition>,
    norm5: BatchNorm,
    classifier: Linear,
    in_channels: usize,
    feature_channels: usize,
}

/// Names of DenseNet feature taps: `stem`, `denseblock1..n`, `norm5`.
fn tap_name(i: usize) -> String {
    format!("denseblock{}", i + 1)
}

impl DenseNet {
    /// Input channels of the stem.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Channels of the final feature map (1664 for DenseNet-169).
    pub fn feature_channels(&self) -> usize {
        self.feature_channels
    }

    fn run(&self, x: Tensor<4>, mut tap: impl FnMut(String, &Tensor<4>)) -> Tensor<4> {
        let mut x = self
            .pool0
            .forward(relu(self.norm0.forward(self.conv0.forward(x))));
        tap("stem".into(), &x);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            tap(tap_name(i), &x);
            if let Some(t) = self.transitions.get(i) {
                x = t.pool.forward(t.conv.forward(relu(t.norm.forward(x))));
            }
        }
        // torchvision applies the final ReLU in `forward`, after `features` (norm5).
        let x = relu(self.norm5.forward(x));
        tap("norm5".into(), &x);
        x
    }

    /// Final feature map after norm5 and ReLU: (N, C, H, W) -> (N, F, ⌈H/32⌉, ⌈W/32⌉).
    pub fn features(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        check_nchw("x", &x, self.in_channels)?;
        Ok(self.run(x, |_, _| {}))
    }

    /// The linear classifier (for CAM / Grad-CAM).
    pub(crate) fn classifier(&self) -> &Linear {
        &self.classifier
    }

    /// Global average pool and classifier: (N, F, h, w) -> (N, classes).
    pub fn head(&self, features: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(global_avg(features))
    }

    /// Logits: (N, C, H, W) -> (N, classes).
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        Ok(self.head(self.features(x)?))
    }

    /// Logits and named activations (`stem`, `denseblock1`.., `norm5`).
    pub fn forward_taps(&self, x: Tensor<4>) -> Result<(Tensor<2>, Vec<(String, Tensor<4>)>)> {
        check_nchw("x", &x, self.in_channels)?;
        let mut taps = Vec::new();
        let f = self.run(x, |name, t| taps.push((name, t.clone())));
        Ok((self.head(f), taps))
    }
}
