//! ResNet-18/34/50 in torchvision's layout, with optional attention blocks and dropout.

use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::attention::{Attention, AttentionKind};
use crate::error::{Result, invalid};
use crate::layers::{bn, conv};
use crate::util::{check_nchw, global_avg};

/// Depth of a ResNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResNetDepth {
    /// BasicBlocks [2, 2, 2, 2].
    R18,
    /// BasicBlocks [3, 4, 6, 3].
    R34,
    /// Bottlenecks [3, 4, 6, 3] (ResNet v1.5: stride on the 3×3 conv, as torchvision).
    R50,
}

impl ResNetDepth {
    fn blocks(self) -> [usize; 4] {
        match self {
            Self::R18 => [2, 2, 2, 2],
            Self::R34 | Self::R50 => [3, 4, 6, 3],
        }
    }
    fn bottleneck(self) -> bool {
        self == Self::R50
    }
}

/// Configuration of a [`ResNet`].
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetConfig {
    /// Depth (18, 34 or 50).
    pub depth: ResNetDepth,
    /// Input channels: 3 (RGB / torchvision weights) or 1 (a CT slice).
    pub in_channels: usize,
    /// Number of output classes (the `fc` layer).
    pub num_classes: usize,
    /// Width of the stem and of the first stage; torchvision uses 64. Smaller values give
    /// the same layout at a fraction of the cost (tests, goldens).
    pub base_width: usize,
    /// Dropout probability before `fc` (the seed's "COVNet-50-dropout-only"); `None` for none.
    pub dropout: Option<f64>,
    /// Attention block inserted in every residual block (SE-ResNet, ResNet-CBAM, ResNet-ECA).
    pub attention: Option<AttentionKind>,
}

impl Default for ResNetConfig {
    /// torchvision's `resnet18()`: 3 channels, 1000 classes, width 64, no dropout.
    fn default() -> Self {
        Self {
            depth: ResNetDepth::R18,
            in_channels: 3,
            num_classes: 1000,
            base_width: 64,
            dropout: None,
            attention: None,
        }
    }
}

impl ResNetConfig {
    /// A configuration of the given depth with otherwise default (torchvision) values.
    pub fn new(depth: ResNetDepth) -> Self {
        Self {
            depth,
            ..Self::default()
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(invalid("in_channels", "must be at least 1"));
        }
        if self.num_classes == 0 {
            return Err(invalid("num_classes", "must be at least 1"));
        }
        if self.base_width == 0 {
            return Err(invalid("base_width", "must be at least 1"));
        }
        if let Some(p) = self.dropout
            && !(0.0..1.0).contains(&p)
        {
            return Err(invalid("dropout", format!("must be in [0, 1), got {p}")));
        }
        if let Some(a) = &self.attention {
            a.validate()?;
        }
        Ok(())
    }

    /// Channels of the last stage's feature map (512 for ResNet-18/34, 2048 for ResNet-50 at
    /// width 64).
    pub fn feature_channels(&self) -> usize {
        self.base_width * 8 * if self.depth.bottleneck() { 4 } else { 1 }
    }

    /// Builds the network with random (Kaiming) weights on `device`.
    pub fn init(&self, device: &Device) -> Result<ResNet> {
        self.validate()?;
        let w = self.base_width;
        let expansion = if self.depth.bottleneck() { 4 } else { 1 };
        let mut inplanes = w;
        let mut layers: Vec<Vec<ResBlock>> = Vec::new();
        for (stage, &n) in self.depth.blocks().iter().enumerate() {
            let planes = w << stage;
            let stride = if stage == 0 { 1 } else { 2 };
            let mut blocks = Vec::with_capacity(n);
            for i in 0..n {
                let s = if i == 0 { stride } else { 1 };
                blocks.push(ResBlock::new(
                    inplanes,
                    planes,
                    s,
                    self.depth.bottleneck(),
                    self.attention,
                    device,
                ));
                inplanes = planes * expansion;
            }
            layers.push(blocks);
        }
        let mut it = layers.into_iter();
        Ok(ResNet {
            conv1: conv(device, self.in_channels, w, 7, 2, 3, 1, false),
            bn1: bn(device, w),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1: it.next().unwrap_or_default(),
            layer2: it.next().unwrap_or_default(),
            layer3: it.next().unwrap_or_default(),
            layer4: it.next().unwrap_or_default(),
            dropout: self.dropout.map(|p| DropoutConfig::new(p).init()),
            fc: LinearConfig::new(inplanes, self.num_classes).init(device),
            in_channels: self.in_channels,
            feature_channels: inplanes,
        })
    }
}

/// Downsampling shortcut: 1×1 conv with stride + batch norm (torchvision's `downsample.0/1`).
#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

/// A BasicBlock (conv1/conv2) or a Bottleneck (conv1/conv2/conv3), torchvision naming.
#[derive(Module, Debug)]
pub struct ResBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Option<Conv2d>,
    bn3: Option<BatchNorm>,
    downsample: Option<Downsample>,
    attention: Option<Attention>,
}

impl ResBlock {
    fn new(
        inplanes: usize,
        planes: usize,
        stride: usize,
        bottleneck: bool,
        attention: Option<AttentionKind>,
        device: &Device,
    ) -> Self {
        let expansion = if bottleneck { 4 } else { 1 };
        let out = planes * expansion;
        let downsample = (stride != 1 || inplanes != out).then(|| Downsample {
            conv: conv(device, inplanes, out, 1, stride, 0, 1, false),
            bn: bn(device, out),
        });
        let attention = attention.map(|a| a.init(out, device));
        if bottleneck {
            Self {
                conv1: conv(device, inplanes, planes, 1, 1, 0, 1, false),
                bn1: bn(device, planes),
                conv2: conv(device, planes, planes, 3, stride, 1, 1, false),
                bn2: bn(device, planes),
                conv3: Some(conv(device, planes, out, 1, 1, 0, 1, false)),
                bn3: Some(bn(device, out)),
                downsample,
                attention,
            }
        } else {
            Self {
                conv1: conv(device, inplanes, planes, 3, stride, 1, 1, false),
                bn1: bn(device, planes),
                conv2: conv(device, planes, planes, 3, 1, 1, 1, false),
                bn2: bn(device, planes),
                conv3: None,
                bn3: None,
                downsample,
                attention,
            }
        }
    }

    /// (N, Cin, H, W) -> (N, Cout, H/stride, W/stride).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let mut y = relu(self.bn1.forward(self.conv1.forward(x)));
        y = self.bn2.forward(self.conv2.forward(y));
        if let (Some(c3), Some(b3)) = (&self.conv3, &self.bn3) {
            y = b3.forward(c3.forward(relu(y)));
        }
        if let Some(a) = &self.attention {
            y = a.forward(y);
        }
        relu(y + identity)
    }
}

/// ResNet in torchvision's layout (`conv1, bn1, layer1..layer4, fc`).
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    maxpool: MaxPool2d,
    layer1: Vec<ResBlock>,
    layer2: Vec<ResBlock>,
    layer3: Vec<ResBlock>,
    layer4: Vec<ResBlock>,
    dropout: Option<Dropout>,
    fc: Linear,
    in_channels: usize,
    feature_channels: usize,
}

/// Names of the feature taps of [`ResNet::forward_taps`], in order.
pub const RESNET_TAPS: [&str; 5] = ["stem", "layer1", "layer2", "layer3", "layer4"];

impl ResNet {
    /// Input channels the stem expects.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Channels of the last stage (the input width of `fc`).
    pub fn feature_channels(&self) -> usize {
        self.feature_channels
    }

    fn run(&self, x: Tensor<4>, mut tap: impl FnMut(&'static str, &Tensor<4>)) -> Tensor<4> {
        let mut x = self
            .maxpool
            .forward(relu(self.bn1.forward(self.conv1.forward(x))));
        tap("stem", &x);
        for (name, layer) in [
            ("layer1", &self.layer1),
            ("layer2", &self.layer2),
            ("layer3", &self.layer3),
            ("layer4", &self.layer4),
        ] {
            for block in layer {
                x = block.forward(x);
            }
            tap(name, &x);
        }
        x
    }

    /// Last-stage feature map: (N, C, H, W) -> (N, F, ⌈H/32⌉, ⌈W/32⌉), F = `feature_channels()`.
    pub fn features(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        check_nchw("x", &x, self.in_channels)?;
        Ok(self.run(x, |_, _| {}))
    }

    /// The classifier on a feature map: global average pool, dropout, `fc`:
    /// (N, F, h, w) -> (N, classes).
    pub fn head(&self, features: Tensor<4>) -> Tensor<2> {
        let mut v = global_avg(features);
        if let Some(d) = &self.dropout {
            v = d.forward(v);
        }
        self.fc.forward(v)
    }

    /// Logits: (N, C, H, W) -> (N, classes). Errors on a wrong channel count or empty axis.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        Ok(self.head(self.features(x)?))
    }

    /// Logits and the named intermediate activations [`RESNET_TAPS`] (after the stem's max
    /// pool and after each stage).
    pub fn forward_taps(&self, x: Tensor<4>) -> Result<(Tensor<2>, Vec<(String, Tensor<4>)>)> {
        check_nchw("x", &x, self.in_channels)?;
        let mut taps = Vec::with_capacity(5);
        let f = self.run(x, |name, t| taps.push((name.to_string(), t.clone())));
        Ok((self.head(f), taps))
    }

    /// The final linear layer (for Grad-CAM and CAM).
    pub(crate) fn fc(&self) -> &Linear {
        &self.fc
    }
}
