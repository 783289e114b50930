//! Attention blocks that slot into a residual block: SE, CBAM, ECA and residual attention.
//!
//! Each block maps (N, C, H, W) to a re-weighted (N, C, H, W) and is applied to the residual
//! branch before the identity is added, as in the SE-ResNet, CBAM and ECA-Net papers.

use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, Linear, LinearConfig, PaddingConfig1d, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::error::{Result, invalid};
use crate::layers::{bn, conv};
use crate::util::{global_avg, global_max};

/// Which attention block a residual block carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttentionKind {
    /// Squeeze-and-excitation (Hu et al. 2018) with this channel reduction ratio (16 in the paper).
    Se {
        /// Reduction ratio r of the bottleneck MLP.
        reduction: usize,
    },
    /// CBAM (Woo et al. 2018): channel attention (shared MLP over average and max pooling,
    /// reduction `reduction`) then spatial attention (a `kernel`×`kernel` conv over the
    /// channel-wise mean and max maps; 7 in the paper).
    Cbam {
        /// Reduction ratio of the channel MLP.
        reduction: usize,
        /// Odd kernel size of the spatial conv.
        kernel: usize,
    },
    /// ECA (Wang et al. 2020): a 1-D conv across channels with the adaptive kernel size
    /// k = |log2(C)/gamma + b/gamma| rounded to odd, gamma = 2, b = 1.
    Eca,
    /// Residual attention (Wang et al. 2017): a bottom-up top-down soft-mask branch M
    /// (`depth` max-poolings, each followed by a pre-activation residual unit, with a skip
    /// unit per intermediate scale; bilinear up-sampling back; BN-ReLU-1×1 conv twice;
    /// sigmoid) applied as attention residual learning, `(1 + M(F)) · F`, to the block's
    /// residual branch F. The paper's stages use depth 3, 2 and 1 as the maps shrink.
    Residual {
        /// Down-samplings in the mask branch (1 to 4).
        depth: usize,
    },
}

impl AttentionKind {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Se { reduction } | Self::Cbam { reduction, .. } if reduction == 0 => {
                Err(invalid("reduction", "must be at least 1"))
            }
            Self::Cbam { kernel, .. } if kernel.is_multiple_of(2) => Err(invalid(
                "kernel",
                format!("spatial kernel must be odd, got {kernel}"),
            )),
            Self::Residual { depth } if !(1..=4).contains(&depth) => Err(invalid(
                "depth",
                format!("mask depth must be 1 to 4, got {depth}"),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn init(&self, channels: usize, device: &Device) -> Attention {
        match *self {
            Self::Se { reduction } => Attention::Se(SeBlock::new(channels, reduction, device)),
            Self::Cbam { reduction, kernel } => {
                Attention::Cbam(Cbam::new(channels, reduction, kernel, device))
            }
            Self::Eca => Attention::Eca(Eca::new(channels, device)),
            Self::Residual { depth } => {
                Attention::Residual(ResidualAttention::new(channels, depth, device))
            }
        }
    }
}

/// An attention block (see [`AttentionKind`]).
// One per residual block and holding only parameter handles: the variants' size difference
// costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Attention {
    /// Squeeze-and-excitation.
    Se(SeBlock),
    /// CBAM.
    Cbam(Cbam),
    /// ECA.
    Eca(Eca),
    /// Residual attention.
    Residual(ResidualAttention),
}

impl Attention {
    /// (N, C, H, W) -> (N, C, H, W).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Se(b) => b.forward(x),
            Self::Cbam(b) => b.forward(x),
            Self::Eca(b) => b.forward(x),
            Self::Residual(b) => b.forward(x),
        }
    }
}

/// Squeeze-and-excitation: x * sigmoid(W2 relu(W1 avgpool(x))).
#[derive(Module, Debug)]
pub struct SeBlock {
    fc1: Linear,
    fc2: Linear,
}

impl SeBlock {
    fn new(channels: usize, reduction: usize, device: &Device) -> Self {
        let hidden = (channels / reduction).max(1);
        Self {
            fc1: LinearConfig::new(channels, hidden).init(device),
            fc2: LinearConfig::new(hidden, channels).init(device),
        }
    }

    /// (N, C, H, W) -> (N, C, H, W).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, _, _] = x.dims();
        let s = sigmoid(
            self.fc2
                .forward(relu(self.fc1.forward(global_avg(x.clone())))),
        );
        x * s.reshape([n, c, 1, 1])
    }
}

/// CBAM: channel attention followed by spatial attention.
#[derive(Module, Debug)]
pub struct Cbam {
    fc1: Linear,
    fc2: Linear,
    spatial: Conv2d,
}

impl Cbam {
    fn new(channels: usize, reduction: usize, kernel: usize, device: &Device) -> Self {
        let hidden = (channels / reduction).max(1);
        Self {
            fc1: LinearConfig::new(channels, hidden)
                .with_bias(false)
                .init(device),
            fc2: LinearConfig::new(hidden, channels)
                .with_bias(false)
                .init(device),
            spatial: conv(device, 2, 1, kernel, 1, kernel / 2, 1, false),
        }
    }

    fn mlp(&self, v: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(relu(self.fc1.forward(v)))
    }

    /// (N, C, H, W) -> (N, C, H, W).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, _, _] = x.dims();
        let ca = sigmoid(self.mlp(global_avg(x.clone())) + self.mlp(global_max(x.clone())));
        let x = x * ca.reshape([n, c, 1, 1]);
        let mean = x.clone().mean_dim(1);
        let max = x.clone().max_dim(1);
        let sa = sigmoid(self.spatial.forward(Tensor::cat(vec![mean, max], 1)));
        x * sa
    }
}

/// ECA: x * sigmoid(conv1d_k(avgpool(x))) with the channel axis as the 1-D axis.
#[derive(Module, Debug)]
pub struct Eca {
    conv: Conv1d,
}

/// ECA's adaptive kernel size for `channels` (gamma = 2, b = 1), always odd.
pub fn eca_kernel_size(channels: usize) -> usize {
    let t = (((channels as f64).log2() + 1.0) / 2.0).abs() as usize;
    if t % 2 == 1 { t } else { t + 1 }
}

impl Eca {
    fn new(channels: usize, device: &Device) -> Self {
        let k = eca_kernel_size(channels);
        Self {
            conv: Conv1dConfig::new(1, 1, k)
                .with_padding(PaddingConfig1d::Explicit(k / 2, k / 2))
                .with_bias(false)
                .init(device),
        }
    }

    /// (N, C, H, W) -> (N, C, H, W).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, _, _] = x.dims();
        let y = global_avg(x.clone()).reshape([n, 1, c]);
        let s = sigmoid(self.conv.forward(y));
        x * s.reshape([n, c, 1, 1])
    }
}

/// A pre-activation residual unit (He et al. 2016) at constant width:
/// x + conv3(relu(bn(conv3(relu(bn(x)))))).
#[derive(Module, Debug)]
pub struct PreActUnit {
    bn1: BatchNorm,
    conv1: Conv2d,
    bn2: BatchNorm,
    conv2: Conv2d,
}

impl PreActUnit {
    fn new(channels: usize, device: &Device) -> Self {
        Self {
            bn1: bn(device, channels),
            conv1: conv(device, channels, channels, 3, 1, 1, 1, false),
            bn2: bn(device, channels),
            conv2: conv(device, channels, channels, 3, 1, 1, 1, false),
        }
    }

    /// (N, C, H, W) -> (N, C, H, W).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.conv1.forward(relu(self.bn1.forward(x.clone())));
        x + self.conv2.forward(relu(self.bn2.forward(y)))
    }
}

/// Residual attention: `x · (1 + M(x))` with M the bottom-up top-down soft mask
/// (see [`AttentionKind::Residual`]).
#[derive(Module, Debug)]
pub struct ResidualAttention {
    pool: MaxPool2d,
    /// One unit after each max-pooling.
    down: Vec<PreActUnit>,
    /// A skip unit at each scale but the deepest, added back on the way up.
    skip: Vec<PreActUnit>,
    /// One unit after each up-sampling but the last.
    up: Vec<PreActUnit>,
    head_bn1: BatchNorm,
    head_conv1: Conv2d,
    head_bn2: BatchNorm,
    head_conv2: Conv2d,
}

impl ResidualAttention {
    fn new(channels: usize, depth: usize, device: &Device) -> Self {
        let units = |n: usize| (0..n).map(|_| PreActUnit::new(channels, device)).collect();
        Self {
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            down: units(depth),
            skip: units(depth - 1),
            up: units(depth - 1),
            head_bn1: bn(device, channels),
            head_conv1: conv(device, channels, channels, 1, 1, 0, 1, false),
            head_bn2: bn(device, channels),
            head_conv2: conv(device, channels, channels, 1, 1, 0, 1, true),
        }
    }

    /// The soft mask M(x) in (0, 1), same shape as `x`.
    pub fn mask(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        // Bottom-up: pool and refine; keep a skip branch at every scale but the deepest.
        let mut skips = Vec::with_capacity(self.skip.len());
        let mut a = self.down[0].forward(self.pool.forward(x));
        for (down, skip) in self.down[1..].iter().zip(&self.skip) {
            skips.push(skip.forward(a.clone()));
            a = down.forward(self.pool.forward(a));
        }
        // Top-down: up-sample to the scale above, add its skip, refine.
        for (s, up) in skips.into_iter().zip(&self.up).rev() {
            let [_, _, sh, sw] = s.dims();
            a = up.forward(upsample(a, [sh, sw]) + s);
        }
        let a = upsample(a, [h, w]);
        let a = self.head_conv1.forward(relu(self.head_bn1.forward(a)));
        sigmoid(self.head_conv2.forward(relu(self.head_bn2.forward(a))))
    }

    /// (N, C, H, W) -> (N, C, H, W): `x · (1 + M(x))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let m = self.mask(x.clone());
        x.clone() + x * m
    }
}

/// Bilinear resize to `size` (half-pixel centres, PyTorch's `align_corners=False`).
fn upsample(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    if x.dims()[2..] == size {
        return x;
    }
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Bilinear)
            .with_align_corners(false)
            .with_output_size(size),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::Distribution;

    fn device() -> Device {
        crate::cpu_device()
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Zero weights make every residual unit the identity.
    fn silence(u: &mut PreActUnit, device: &Device) {
        let shape = u.conv2.weight.val().dims();
        u.conv2.weight = Param::from_tensor(Tensor::zeros(shape, device));
    }

    fn one_by_one(c: usize, identity: bool, bias: Option<f32>, device: &Device) -> Conv2d {
        let mut k = conv(device, c, c, 1, 1, 0, 1, bias.is_some());
        let w = if identity {
            Tensor::<2>::eye(c, device).reshape([c, c, 1, 1])
        } else {
            Tensor::zeros([c, c, 1, 1], device)
        };
        k.weight = Param::from_tensor(w);
        if let Some(b) = bias {
            k.bias = Some(Param::from_tensor(Tensor::full([c], b, device)));
        }
        k
    }

    #[test]
    fn output_is_x_times_one_plus_the_mask_at_any_size() {
        let device = device();
        for depth in 1..=3 {
            let block = ResidualAttention::new(3, depth, &device);
            for (h, w) in [(7, 5), (16, 16), (1, 2)] {
                let x = Tensor::<4>::random([2, 3, h, w], Distribution::Default, &device);
                let m = block.mask(x.clone());
                assert_eq!(m.dims(), [2, 3, h, w]);
                let mv = values(m.clone());
                assert!(mv.iter().all(|&v| v > 0.0 && v < 1.0), "mask in (0, 1)");
                let want = values(x.clone() * (m + 1.0));
                let got = values(block.forward(x));
                // x + x·M and x·(1 + M) differ by one rounding.
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                        "depth {depth}, {h}x{w}"
                    );
                }
            }
        }
        assert!(AttentionKind::Residual { depth: 0 }.validate().is_err());
        assert!(AttentionKind::Residual { depth: 5 }.validate().is_err());
        assert!(AttentionKind::Residual { depth: 2 }.validate().is_ok());
    }

    /// With identity units, an identity 1×1 head and fresh (inference) batch norms, the mask
    /// of a 2×2 map is sigmoid(max(x) / (1 + eps)): one 3×3 stride-2 pooling window covers the
    /// map, and up-sampling a 1×1 map gives a constant.
    #[test]
    fn mask_equation_on_a_two_by_two_map() {
        let device = device();
        let mut block = ResidualAttention::new(1, 1, &device);
        silence(&mut block.down[0], &device);
        block.head_conv1 = one_by_one(1, true, None, &device);
        block.head_conv2 = one_by_one(1, true, Some(0.0), &device);
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![0.5f32, -1.0, 2.0, 0.25], [1, 1, 2, 2]),
            &device,
        );
        let eps = 1e-5f32;
        let m = 1.0 / (1.0 + (-2.0 / (1.0 + eps)).exp());
        let got = values(block.forward(x));
        let want = [0.5f32, -1.0, 2.0, 0.25].map(|v| v * (1.0 + m));
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }

    /// A zero head with bias b gives the constant mask sigmoid(b): out = (1 + sigmoid(b)) x.
    #[test]
    fn a_constant_mask_scales_the_input() {
        let device = device();
        let mut block = ResidualAttention::new(2, 2, &device);
        block.head_conv2 = one_by_one(2, false, Some(-1.5), &device);
        let x = Tensor::<4>::random([1, 2, 9, 6], Distribution::Default, &device);
        let k = 1.0 + 1.0 / (1.0 + 1.5f32.exp());
        let want: Vec<f32> = values(x.clone()).iter().map(|v| v * k).collect();
        for (g, w) in values(block.forward(x)).iter().zip(&want) {
            assert!((g - w).abs() < 1e-6);
        }
    }
}
