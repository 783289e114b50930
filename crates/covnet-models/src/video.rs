//! 3-D and video models on (B, C, S, H, W), the seed's stage-1 alternatives to slice-wise 2-D
//! networks: C3D (Tran et al. 2015, "Learning Spatiotemporal Features with 3D Convolutional
//! Networks") and P3D ResNet (Qiu et al. 2017, "Learning Spatio-Temporal Representation with
//! Pseudo-3D Residual Networks").
//!
//! The slice axis S plays the part of video time. Both end in global pooling, so any S, H, W
//! of at least one voxel works (C3D resizes its last map to the paper's 1×4×4 adaptively).

use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::adaptive_avg_pool3d;

use crate::error::{Error, Result, invalid};
use crate::layers::bn;

/// A 3-D convolution with symmetric padding.
fn conv3d(
    device: &Device,
    (cin, cout): (usize, usize),
    kernel: [usize; 3],
    stride: [usize; 3],
    pad: [usize; 3],
    bias: bool,
) -> Conv3d {
    Conv3dConfig::new([cin, cout], kernel)
        .with_stride(stride)
        .with_padding(PaddingConfig3d::Explicit(pad[0], pad[1], pad[2]))
        .with_bias(bias)
        .init(device)
}

/// Batch norm over (B, C, S, H, W) (PyTorch's `BatchNorm3d` defaults).
fn bn3d(device: &Device, channels: usize) -> BatchNorm {
    bn(device, channels)
}

/// Applies a 2-D pooling to every slice of (B, C, S, H, W).
fn per_slice(x: Tensor<5>, pool: &MaxPool2d) -> Tensor<5> {
    let [b, c, s, h, w] = x.dims();
    let y = pool.forward(x.reshape([b, c * s, h, w]));
    let [_, _, h2, w2] = y.dims();
    y.reshape([b, c, s, h2, w2])
}

/// Max pooling over (S, H, W) with kernel = stride = `k`, in ceil mode (a partial window at
/// the end is pooled too, as Caffe's C3D pools).
fn max_pool3d(x: Tensor<5>, k: [usize; 3]) -> Tensor<5> {
    let x = if k[1] > 1 || k[2] > 1 {
        let pool = MaxPool2dConfig::new([k[1], k[2]])
            .with_strides([k[1], k[2]])
            .with_ceil_mode(true)
            .init();
        per_slice(x, &pool)
    } else {
        x
    };
    if k[0] <= 1 {
        return x;
    }
    let [b, c, s, h, w] = x.dims();
    let pad = (k[0] - s % k[0]) % k[0];
    let x = if pad > 0 {
        // Repeating the last slice leaves the maximum of the partial window unchanged.
        let last = x.clone().narrow(2, s - 1, 1);
        let mut parts = vec![x];
        parts.extend(std::iter::repeat_n(last, pad));
        Tensor::cat(parts, 2)
    } else {
        x
    };
    let s2 = (s + pad) / k[0];
    x.reshape([b, c, s2, k[0], h * w])
        .max_dim(3)
        .reshape([b, c, s2, h, w])
}

/// Checks a classifier head's class count and dropout rate.
fn check_head(num_classes: usize, dropout: Option<f64>) -> Result<()> {
    if num_classes < 2 {
        return Err(invalid("num_classes", "must be at least 2"));
    }
    if let Some(p) = dropout
        && !(0.0..1.0).contains(&p)
    {
        return Err(invalid("dropout", format!("must be in [0, 1), got {p}")));
    }
    Ok(())
}

/// Checks (B, C, S, H, W) against the model's channels.
fn check_input(x: &Tensor<5>, channels: usize) -> Result<()> {
    let dims = x.dims();
    if dims[1] != channels {
        return Err(Error::ChannelMismatch {
            what: "x",
            expected: channels,
            found: dims[1],
        });
    }
    if dims[2] == 0 {
        return Err(Error::NoSlices { what: "x" });
    }
    if dims.contains(&0) {
        return Err(Error::BadShape {
            what: "x",
            expected: "(B, C, S, H, W) with no empty axis".into(),
            found: dims.to_vec(),
        });
    }
    Ok(())
}

/// Configuration of [`C3d`]. [`C3dConfig::paper`] is the published network.
#[derive(Debug, Clone, PartialEq)]
pub struct C3dConfig {
    /// Input channels (3 for video; 1 for a CT slice stack).
    pub in_channels: usize,
    /// Channels of the first convolution (64 in the paper); the others are 2, 4 and 8 times.
    pub width: usize,
    /// Width of the two hidden fully connected layers (4096 in the paper).
    pub fc_width: usize,
    /// Output classes (487 for Sports-1M in the paper).
    pub num_classes: usize,
    /// Dropout after fc6 and fc7 (0.5 in the paper).
    pub dropout: Option<f64>,
}

impl C3dConfig {
    /// The paper's C3D: 8 convolutions 3×3×3 (64, 128, 256, 256, 512, 512, 512, 512), 5 max
    /// poolings (1×2×2, then 2×2×2), fc6 and fc7 of 4096, 487 classes.
    pub fn paper() -> C3dConfig {
        C3dConfig {
            in_channels: 3,
            width: 64,
            fc_width: 4096,
            num_classes: 487,
            dropout: Some(0.5),
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 || self.width == 0 || self.fc_width == 0 {
            return Err(invalid("in_channels/width/fc_width", "must be at least 1"));
        }
        check_head(self.num_classes, self.dropout)
    }

    /// Builds the network with random weights.
    pub fn init(&self, device: &Device) -> Result<C3d> {
        self.validate()?;
        let w = self.width;
        let mut cin = self.in_channels;
        let convs = C3D_LAYERS
            .iter()
            .map(|&(mult, _)| {
                // He initialisation: eight ReLU layers without batch norm would otherwise
                // shrink the signal to nothing (PyTorch's default gain 1/√3 loses ~6× in
                // variance per layer).
                let c = Conv3dConfig::new([cin, w * mult], [3; 3])
                    .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
                    .with_initializer(he())
                    .init(device);
                cin = w * mult;
                c
            })
            .collect();
        let flat = 8 * w * C3D_LAST_MAP.iter().product::<usize>();
        Ok(C3d {
            convs,
            fc6: LinearConfig::new(flat, self.fc_width)
                .with_initializer(he())
                .init(device),
            fc7: LinearConfig::new(self.fc_width, self.fc_width)
                .with_initializer(he())
                .init(device),
            fc8: LinearConfig::new(self.fc_width, self.num_classes).init(device),
            dropout: self.dropout.map(|p| DropoutConfig::new(p).init()),
            in_channels: self.in_channels,
        })
    }
}

/// He (Kaiming) normal initialisation for layers followed by a ReLU.
fn he() -> burn::nn::Initializer {
    burn::nn::Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: false,
    }
}

/// C3D's convolutions: width multiple and the pooling after each (if any).
const C3D_LAYERS: [(usize, Option<[usize; 3]>); 8] = [
    (1, Some([1, 2, 2])),
    (2, Some([2, 2, 2])),
    (4, None),
    (4, Some([2, 2, 2])),
    (8, None),
    (8, Some([2, 2, 2])),
    (8, None),
    (8, Some([2, 2, 2])),
];

/// The map fc6 reads: 1×4×4, pool5's output at the paper's 16×112×112 input.
const C3D_LAST_MAP: [usize; 3] = [1, 4, 4];

/// C3D (Tran et al. 2015): (B, C, S, H, W) → logits (B, classes).
#[derive(Module, Debug)]
pub struct C3d {
    convs: Vec<Conv3d>,
    fc6: Linear,
    fc7: Linear,
    fc8: Linear,
    dropout: Option<Dropout>,
    in_channels: usize,
}

impl C3d {
    /// The convolutional features before fc6: (B, 8·width, 1, 4, 4) (resized adaptively
    /// when the input is not the paper's 16×112×112).
    pub fn features(&self, x: Tensor<5>) -> Result<Tensor<5>> {
        check_input(&x, self.in_channels)?;
        let mut x = x;
        for (conv, (_, pool)) in self.convs.iter().zip(C3D_LAYERS) {
            x = relu(conv.forward(x));
            if let Some(k) = pool {
                x = max_pool3d(x, k);
            }
        }
        Ok(adaptive_avg_pool3d(x, C3D_LAST_MAP))
    }

    /// Logits of a batch of volumes.
    pub fn forward(&self, x: Tensor<5>) -> Result<Tensor<2>> {
        let f = self.features(x)?;
        let [b, c, s, h, w] = f.dims();
        let mut y = f.reshape([b, c * s * h * w]);
        for fc in [&self.fc6, &self.fc7] {
            y = relu(fc.forward(y));
            if let Some(d) = &self.dropout {
                y = d.forward(y);
            }
        }
        Ok(self.fc8.forward(y))
    }
}

/// How a P3D block arranges its spatial (1×3×3, S) and temporal (3×1×1, T) filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P3dBlock {
    /// Serial: T(S(x)).
    A,
    /// Parallel: S(x) + T(x).
    B,
    /// Serial with a shortcut: S(x) + T(S(x)).
    C,
}

/// Which block each residual unit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P3dMix {
    /// Every unit the same kind (the paper's P3D-A/B/C ResNet).
    All(P3dBlock),
    /// A, B, C, A, B, C, … over all units in order (the paper's P3D ResNet).
    Cycle,
}

/// Configuration of [`P3d`]: a bottleneck ResNet whose 3×3 convolutions become P3D blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct P3dConfig {
    /// Bottleneck units per stage ([3, 4, 6, 3]: ResNet-50; [3, 8, 36, 3]: ResNet-152).
    pub layers: [usize; 4],
    /// The block arrangement.
    pub mix: P3dMix,
    /// Width of the stem (64 in the paper); stage i has 64·2^i bottleneck channels and four
    /// times that at its output.
    pub base_width: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output classes.
    pub num_classes: usize,
    /// Dropout before the classifier (0.9 in the paper's fine-tuning; `None`: none).
    pub dropout: Option<f64>,
}

impl P3dConfig {
    /// The paper's P3D ResNet: ResNet-152's [3, 8, 36, 3] bottleneck units with blocks
    /// cycling A, B, C; 199 layers; 487 Sports-1M classes.
    pub fn p3d199() -> P3dConfig {
        P3dConfig {
            layers: [3, 8, 36, 3],
            mix: P3dMix::Cycle,
            base_width: 64,
            in_channels: 3,
            num_classes: 487,
            dropout: None,
        }
    }

    /// P3D-A, -B or -C ResNet-50 (the paper's ablation networks).
    pub fn resnet50(block: P3dBlock) -> P3dConfig {
        P3dConfig {
            layers: [3, 4, 6, 3],
            mix: P3dMix::All(block),
            ..P3dConfig::p3d199()
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 || self.base_width == 0 {
            return Err(invalid("in_channels/base_width", "must be at least 1"));
        }
        if self.layers.contains(&0) {
            return Err(invalid("layers", "every stage needs at least one unit"));
        }
        check_head(self.num_classes, self.dropout)
    }

    /// Builds the network with random weights.
    pub fn init(&self, device: &Device) -> Result<P3d> {
        self.validate()?;
        let w = self.base_width;
        let mut units = Vec::new();
        let mut inplanes = w;
        let mut index = 0;
        for (stage, &n) in self.layers.iter().enumerate() {
            let planes = w << stage;
            for u in 0..n {
                let stride = if stage > 0 && u == 0 { 2 } else { 1 };
                let kind = match self.mix {
                    P3dMix::All(k) => k,
                    P3dMix::Cycle => [P3dBlock::A, P3dBlock::B, P3dBlock::C][index % 3],
                };
                units.push(P3dUnit::new(inplanes, planes, stride, kind, device));
                inplanes = planes * 4;
                index += 1;
            }
        }
        Ok(P3d {
            conv1: conv3d(
                device,
                (self.in_channels, w),
                [1, 7, 7],
                [1, 2, 2],
                [0, 3, 3],
                false,
            ),
            bn1: bn3d(device, w),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            units,
            dropout: self.dropout.map(|p| DropoutConfig::new(p).init()),
            fc: LinearConfig::new(inplanes, self.num_classes).init(device),
            in_channels: self.in_channels,
        })
    }
}

/// The projection shortcut of a unit that changes width or stride.
#[derive(Module, Debug)]
pub struct Downsample3d {
    conv: Conv3d,
    bn: BatchNorm,
}

/// One P3D bottleneck unit: 1×1×1 reduce, the P3D block, 1×1×1 expand, plus the shortcut.
#[derive(Module, Debug)]
pub struct P3dUnit {
    conv1: Conv3d,
    bn1: BatchNorm,
    spatial: Conv3d,
    bn_s: BatchNorm,
    temporal: Conv3d,
    bn_t: BatchNorm,
    conv3: Conv3d,
    bn3: BatchNorm,
    downsample: Option<Downsample3d>,
    /// 0 = A, 1 = B, 2 = C.
    kind: usize,
}

impl P3dUnit {
    fn new(inplanes: usize, planes: usize, stride: usize, kind: P3dBlock, device: &Device) -> Self {
        let out = planes * 4;
        let st = [1, stride, stride];
        Self {
            conv1: conv3d(device, (inplanes, planes), [1; 3], [1; 3], [0; 3], false),
            bn1: bn3d(device, planes),
            spatial: conv3d(device, (planes, planes), [1, 3, 3], st, [0, 1, 1], false),
            bn_s: bn3d(device, planes),
            // In B the temporal filter sees the block's input, so it takes the stride too.
            temporal: conv3d(
                device,
                (planes, planes),
                [3, 1, 1],
                if kind == P3dBlock::B { st } else { [1; 3] },
                [1, 0, 0],
                false,
            ),
            bn_t: bn3d(device, planes),
            conv3: conv3d(device, (planes, out), [1; 3], [1; 3], [0; 3], false),
            bn3: bn3d(device, out),
            downsample: (stride != 1 || inplanes != out).then(|| Downsample3d {
                conv: conv3d(device, (inplanes, out), [1; 3], st, [0; 3], false),
                bn: bn3d(device, out),
            }),
            kind: match kind {
                P3dBlock::A => 0,
                P3dBlock::B => 1,
                P3dBlock::C => 2,
            },
        }
    }

    /// The block's arrangement.
    pub fn block(&self) -> P3dBlock {
        [P3dBlock::A, P3dBlock::B, P3dBlock::C][self.kind]
    }

    /// (B, Cin, S, H, W) → (B, 4·planes, S, H/stride, W/stride).
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let y = relu(self.bn1.forward(self.conv1.forward(x)));
        let s = |v: Tensor<5>| relu(self.bn_s.forward(self.spatial.forward(v)));
        let t = |v: Tensor<5>| relu(self.bn_t.forward(self.temporal.forward(v)));
        let y = match self.block() {
            P3dBlock::A => t(s(y)),
            P3dBlock::B => s(y.clone()) + t(y),
            P3dBlock::C => {
                let sy = s(y);
                sy.clone() + t(sy)
            }
        };
        let y = self.bn3.forward(self.conv3.forward(y));
        relu(y + identity)
    }
}

/// P3D ResNet (Qiu et al. 2017): (B, C, S, H, W) → logits (B, classes).
#[derive(Module, Debug)]
pub struct P3d {
    conv1: Conv3d,
    bn1: BatchNorm,
    pool: MaxPool2d,
    units: Vec<P3dUnit>,
    dropout: Option<Dropout>,
    fc: Linear,
    in_channels: usize,
}

impl P3d {
    /// The residual units, in order.
    pub fn units(&self) -> &[P3dUnit] {
        &self.units
    }

    /// The last stage's map: (B, 4·8·base_width, S, H/32, W/32).
    pub fn features(&self, x: Tensor<5>) -> Result<Tensor<5>> {
        check_input(&x, self.in_channels)?;
        let x = relu(self.bn1.forward(self.conv1.forward(x)));
        let mut x = per_slice(x, &self.pool);
        for u in &self.units {
            x = u.forward(x);
        }
        Ok(x)
    }

    /// Logits of a batch of volumes.
    pub fn forward(&self, x: Tensor<5>) -> Result<Tensor<2>> {
        let f = adaptive_avg_pool3d(self.features(x)?, [1, 1, 1]);
        let [b, c, _, _, _] = f.dims();
        let mut y = f.reshape([b, c]);
        if let Some(d) = &self.dropout {
            y = d.forward(y);
        }
        Ok(self.fc.forward(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Tensor<5>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn max_pool3d_takes_window_maxima_in_ceil_mode() {
        let device = crate::cpu_device();
        // (1, 1, 3, 2, 2): slices [0..4), [4..8), [8..12).
        let v: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let x = Tensor::<5>::from_data(TensorData::new(v, [1, 1, 3, 2, 2]), &device);
        let y = max_pool3d(x, [2, 2, 2]);
        assert_eq!(y.dims(), [1, 1, 2, 1, 1]);
        // Window 1: slices 0–1 → 7; window 2: slice 2 alone (ceil mode) → 11.
        assert_eq!(values(y), vec![7.0, 11.0]);
    }
}
