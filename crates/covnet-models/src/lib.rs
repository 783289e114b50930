#![deny(missing_docs)]
//! # covnet-models
//!
//! The covid-ct model zoo on [Burn](https://burn.dev) 0.22: the same model code runs on the
//! CPU in tests (`flex`, the default feature) and on a GPU (`tch` with libtorch/CUDA, `wgpu`,
//! `cuda`), because Burn 0.22 picks the backend at run time through a [`Device`].
//!
//! - [`ResNet`] 18/34/50 and [`DenseNet`] (169) in torchvision's layout, with optional dropout
//!   and [`AttentionKind`] blocks (SE, CBAM, ECA) in every residual block;
//! - [`Vgg16`] and [`Csrnet`] (VGG-16 front end, dilated back ends A–D, 1×1 output conv);
//! - [`CovNet`]: any of these backbones on every slice of (B, S, C, H, W), max / mean /
//!   attention pooling over slices, linear or fully convolutional head, any S ≥ 1;
//! - [`ConvLstm`] over slices and [`ConvLstmNet`];
//! - 3-D and video models on (B, C, S, H, W): [`C3d`] and [`P3d`] ResNet (blocks A, B, C);
//! - [`UNet`] with overlap-tile inference ([`UNet::predict_tiled`]) for slices of any size;
//! - [`FocalLoss`] and [`weighted_cross_entropy`];
//! - feature taps (`forward_taps`), [`class_activation_map`] and [`grad_cam`];
//! - [`load_torch_weights`]: torchvision `state_dict`s from `.pt` or `.safetensors`.
//!
//! Inputs are `f32` tensors in NCHW order. Batch norm uses batch statistics only when the
//! input lives on an autodiff device (`device.autodiff()`) and the module is in training
//! mode; `model.valid()` or a plain device gives inference behaviour.
//!
//! # Example
//!
//! ```
//! use burn::prelude::*;
//! use covnet_models::{BackboneConfig, CovNetConfig, ResNetConfig, ResNetDepth, SlicePooling};
//!
//! # fn main() -> covnet_models::Result<()> {
//! let device = Device::flex();
//! let config = CovNetConfig {
//!     backbone: BackboneConfig::ResNet(ResNetConfig {
//!         in_channels: 1,
//!         base_width: 4, // torchvision uses 64; small for the example
//!         ..ResNetConfig::new(ResNetDepth::R18)
//!     }),
//!     pooling: SlicePooling::Max,
//!     ..CovNetConfig::default()
//! };
//! let model = config.init(&device)?;
//! // Two scans of five 32×32 slices each: (B, S, C, H, W).
//! let scans = Tensor::<5>::zeros([2, 5, 1, 32, 32], &device);
//! let logits = model.forward(scans)?;
//! assert_eq!(logits.dims(), [2, 3]);
//! // S = 0 is a typed error, not a panic.
//! assert!(model.forward(Tensor::<5>::zeros([2, 0, 1, 32, 32], &device)).is_err());
//! # Ok(())
//! # }
//! ```

mod attention;
mod cam;
mod convlstm;
mod covnet;
mod densenet;
mod error;
mod import;
mod layers;
mod loss;
mod optim;
mod resnet;
mod unet;
mod util;
mod vgg;
mod video;

pub use attention::{Attention, AttentionKind, Cbam, Eca, SeBlock, eca_kernel_size};
pub use cam::{CamModel, class_activation_map, grad_cam};
pub use convlstm::{ConvLstm, ConvLstmConfig, ConvLstmNet, ConvLstmNetConfig};
pub use covnet::{Backbone, BackboneConfig, CovNet, CovNetConfig, HeadKind, SlicePooling};
pub use densenet::{DenseNet, DenseNetConfig};
pub use error::{Error, KeyProblem, Result};
pub use import::{TorchImport, load_torch_weights, torch_shapes};
pub use loss::{FocalLoss, weighted_cross_entropy};
pub use optim::{FusedAdam, FusedAdamConfig};
pub use resnet::{RESNET_TAPS, ResNet, ResNetConfig, ResNetDepth};
pub use unet::{UNet, UNetConfig, mirror_pad};
pub use util::{array_from_tensor, tensor_from_array};
pub use vgg::{CsrBackend, Csrnet, CsrnetConfig, Vgg16, Vgg16Config};
pub use video::{C3d, C3dConfig, Downsample3d, P3d, P3dBlock, P3dConfig, P3dMix, P3dUnit};

/// Burn, re-exported so downstream code uses the same version (`covnet_models::burn::...`).
pub use burn;
/// Burn's run-time backend selector.
pub use burn::tensor::Device;
/// `.npy` reading and writing (re-exported for the example programs).
pub use ndarray_npy;

/// The default device of the enabled CPU backend (`flex`).
#[cfg(feature = "flex")]
pub fn cpu_device() -> Device {
    Device::flex()
}

/// Sets libtorch's intra-op thread count (the `tch` backends' CPU parallelism; PyTorch's
/// `torch.set_num_threads`). Process-wide.
#[cfg(feature = "tch")]
pub fn libtorch_set_num_threads(threads: usize) {
    tch::set_num_threads(i32::try_from(threads.max(1)).unwrap_or(i32::MAX));
}

/// Turns cuDNN autotuning on or off for libtorch (PyTorch's `torch.backends.cudnn.benchmark`).
///
/// burn-tch leaves it off (libtorch's default), while PyTorch training scripts usually turn it
/// on: with fixed input shapes it picks the fastest convolution algorithms after the first
/// call. Process-wide; has no effect without CUDA.
#[cfg(feature = "tch")]
pub fn libtorch_cudnn_benchmark(on: bool) {
    tch::Cuda::cudnn_set_benchmark(on);
}

/// Lets libtorch use TF32 tensor cores for fp32 convolutions (`cudnn`; PyTorch's default is on)
/// and fp32 matrix products (`matmul`; default off). TF32 keeps 10 mantissa bits, so a model
/// on a GPU with it on differs from the CPU by about 1e-3 relative; turn it off to compare
/// backends at fp32 precision. Process-wide; has no effect without CUDA.
#[cfg(feature = "tch")]
pub fn libtorch_allow_tf32(cudnn: bool, matmul: bool) {
    #[allow(deprecated)]
    burn_tch::set_allow_tf32(cudnn, matmul);
}
