//! Channel and spatial attention blocks that slot into a residual block: SE, CBAM and ECA.
//!
//! Each block maps (N, C, H, W) to a re-weighted (N, C, H, W) and is applied to the residual
//! branch before the identity is added, as in the SE-ResNet, CBAM and ECA-Net papers.

use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d};
use burn::nn::{Linear, LinearConfig, PaddingConfig1d};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::error::{Result, invalid};
use crate::layers::conv;
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
}

impl Attention {
    /// (N, C, H, W) -> (N, C, H, W).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Se(b) => b.forward(x),
            Self::Cbam(b) => b.forward(x),
            Self::Eca(b) => b.forward(x),
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
