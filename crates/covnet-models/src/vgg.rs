//! VGG-16 in torchvision's layout (`features`, `avgpool` 7×7, `classifier`), and CSRNet
//! (Li et al. 2018): the first ten VGG-16 convs, a dilated back end A/B/C/D and a 1×1 output
//! conv.

use burn::nn::conv::Conv2d;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::error::{Result, invalid};
use crate::layers::conv;
use crate::util::check_nchw;

/// VGG-16's 13 convs as (output width multiple of `base_width`, max pool after it).
const VGG16: [(usize, bool); 13] = [
    (1, false),
    (1, true),
    (2, false),
    (2, true),
    (4, false),
    (4, false),
    (4, true),
    (8, false),
    (8, false),
    (8, true),
    (8, false),
    (8, false),
    (8, true),
];

/// Index of each VGG-16 conv in torchvision's `features` Sequential (ReLUs and pools between).
pub(crate) const VGG16_SEQ_INDEX: [usize; 13] = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];

/// Configuration of a [`Vgg16`].
#[derive(Debug, Clone, PartialEq)]
pub struct Vgg16Config {
    /// Input channels.
    pub in_channels: usize,
    /// Output classes.
    pub num_classes: usize,
    /// Width of the first conv (64 in torchvision); the stages use 1, 2, 4, 8, 8 times it.
    pub base_width: usize,
    /// Width of the two hidden classifier layers (4096 in torchvision).
    pub hidden: usize,
    /// Dropout probability in the classifier (0.5 in torchvision).
    pub dropout: f64,
}

impl Default for Vgg16Config {
    /// torchvision's `vgg16()`.
    fn default() -> Self {
        Self {
            in_channels: 3,
            num_classes: 1000,
            base_width: 64,
            hidden: 4096,
            dropout: 0.5,
        }
    }
}

impl Vgg16Config {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("in_channels", self.in_channels),
            ("num_classes", self.num_classes),
            ("base_width", self.base_width),
            ("hidden", self.hidden),
        ] {
            if v == 0 {
                return Err(invalid(name, "must be at least 1"));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(invalid(
                "dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        Ok(())
    }

    /// Builds the network with random weights on `device`.
    pub fn init(&self, device: &Device) -> Result<Vgg16> {
        self.validate()?;
        let mut cin = self.in_channels;
        let mut features = Vec::new();
        for (mult, _) in VGG16 {
            let cout = self.base_width * mult;
            features.push(conv(device, cin, cout, 3, 1, 1, 1, true));
            cin = cout;
        }
        let flat = cin * 49;
        Ok(Vgg16 {
            features,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            avgpool: AdaptiveAvgPool2dConfig::new([7, 7]).init(),
            classifier: vec![
                LinearConfig::new(flat, self.hidden).init(device),
                LinearConfig::new(self.hidden, self.hidden).init(device),
                LinearConfig::new(self.hidden, self.num_classes).init(device),
            ],
            dropout: DropoutConfig::new(self.dropout).init(),
            in_channels: self.in_channels,
        })
    }
}

/// VGG-16 (configuration "D"), no batch norm.
#[derive(Module, Debug)]
pub struct Vgg16 {
    features: Vec<Conv2d>,
    pool: MaxPool2d,
    avgpool: AdaptiveAvgPool2d,
    classifier: Vec<Linear>,
    dropout: Dropout,
    in_channels: usize,
}

impl Vgg16 {
    /// Feature map after the fifth pool: (N, C, H, W) -> (N, 8·base, H/32, W/32).
    pub fn features(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        check_nchw("x", &x, self.in_channels)?;
        let mut x = x;
        for (conv, (_, pool)) in self.features.iter().zip(VGG16) {
            x = relu(conv.forward(x));
            if pool {
                x = self.pool.forward(x);
            }
        }
        Ok(x)
    }

    /// Logits: (N, C, H, W) -> (N, classes); H, W ≥ 32.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        let f = self.avgpool.forward(self.features(x)?);
        let [n, c, h, w] = f.dims();
        let mut v = f.reshape([n, c * h * w]);
        let last = self.classifier.len() - 1;
        for (i, fc) in self.classifier.iter().enumerate() {
            v = fc.forward(v);
            if i < last {
                v = self.dropout.forward(relu(v));
            }
        }
        Ok(v)
    }
}

/// CSRNet's dilated back ends (Table 3 of the paper): six 3×3 convs of widths
/// 512, 512, 512, 256, 128, 64 with these dilation rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrBackend {
    /// Dilation 1 everywhere.
    A,
    /// Dilation 2 everywhere (the paper's best).
    B,
    /// Dilation 2, 2, 2, 4, 4, 4.
    C,
    /// Dilation 4 everywhere.
    D,
}

impl CsrBackend {
    /// Dilation of each of the six back-end convs.
    pub fn dilations(self) -> [usize; 6] {
        match self {
            Self::A => [1; 6],
            Self::B => [2; 6],
            Self::C => [2, 2, 2, 4, 4, 4],
            Self::D => [4; 6],
        }
    }
}

/// Configuration of a [`Csrnet`].
#[derive(Debug, Clone, PartialEq)]
pub struct CsrnetConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Back end.
    pub backend: CsrBackend,
    /// Width of the first conv (64 in the paper); every width scales with it.
    pub base_width: usize,
    /// Channels of the output map (1 for a density map).
    pub out_channels: usize,
}

impl Default for CsrnetConfig {
    /// The paper's CSRNet-B on RGB input.
    fn default() -> Self {
        Self {
            in_channels: 3,
            backend: CsrBackend::B,
            base_width: 64,
            out_channels: 1,
        }
    }
}

impl CsrnetConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("in_channels", self.in_channels),
            ("base_width", self.base_width),
            ("out_channels", self.out_channels),
        ] {
            if v == 0 {
                return Err(invalid(name, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// Channels of the back end's last conv (64 at base width 64).
    pub fn feature_channels(&self) -> usize {
        self.base_width
    }

    /// Builds the network with random weights.
    pub fn init(&self, device: &Device) -> Result<Csrnet> {
        self.validate()?;
        let w = self.base_width;
        let mut cin = self.in_channels;
        let mut frontend = Vec::new();
        for (mult, _) in VGG16.iter().take(10) {
            frontend.push(conv(device, cin, w * mult, 3, 1, 1, 1, true));
            cin = w * mult;
        }
        let widths = [8 * w, 8 * w, 8 * w, 4 * w, 2 * w, w];
        let mut backend = Vec::new();
        for (cout, d) in widths.into_iter().zip(self.backend.dilations()) {
            backend.push(conv(device, cin, cout, 3, 1, d, d, true));
            cin = cout;
        }
        Ok(Csrnet {
            frontend,
            backend,
            output_layer: conv(device, cin, self.out_channels, 1, 1, 0, 1, true),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            in_channels: self.in_channels,
            feature_channels: w,
        })
    }
}

/// CSRNet: VGG-16 front end (10 convs, 3 pools: output stride 8), dilated back end, 1×1 output.
#[derive(Module, Debug)]
pub struct Csrnet {
    frontend: Vec<Conv2d>,
    backend: Vec<Conv2d>,
    output_layer: Conv2d,
    pool: MaxPool2d,
    in_channels: usize,
    feature_channels: usize,
}

impl Csrnet {
    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Channels of [`Csrnet::features`].
    pub fn feature_channels(&self) -> usize {
        self.feature_channels
    }

    /// Back-end features: (N, C, H, W) -> (N, base, ⌊H/8⌋, ⌊W/8⌋). This is what COVNet uses
    /// as a backbone.
    pub fn features(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        check_nchw("x", &x, self.in_channels)?;
        let mut x = x;
        for (i, (conv, (_, pool))) in self.frontend.iter().zip(VGG16).enumerate() {
            x = relu(conv.forward(x));
            // The front end stops at conv4_3, before VGG's fourth pool.
            if pool && i < 9 {
                x = self.pool.forward(x);
            }
        }
        for conv in &self.backend {
            x = relu(conv.forward(x));
        }
        Ok(x)
    }

    /// Output map (e.g. density): (N, C, H, W) -> (N, out_channels, ⌊H/8⌋, ⌊W/8⌋).
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        Ok(self.output_layer.forward(self.features(x)?))
    }
}
