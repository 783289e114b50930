//! Small constructors for the layers every model uses.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

/// A 2-D convolution with torchvision's symmetric padding `pad` and `dilation`.
pub(crate) fn conv(
    device: &Device,
    cin: usize,
    cout: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
    bias: bool,
) -> Conv2d {
    Conv2dConfig::new([cin, cout], [kernel, kernel])
        .with_stride([stride, stride])
        .with_dilation([dilation, dilation])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(bias)
        .init(device)
}

/// Batch norm with PyTorch's defaults (eps 1e-5, momentum 0.1).
pub(crate) fn bn(device: &Device, channels: usize) -> BatchNorm {
    BatchNormConfig::new(channels).init(device)
}
