//! The network and its shipped weights.

use covnet_models::burn::prelude::*;
use covnet_models::burn::store::{ModuleSnapshot, SafetensorsStore};
use covnet_models::burn::tensor::activation::softmax;
use covnet_models::{Device, UNet, UNetConfig};
use ndarray::{Array3, Array4};

use super::*;
use crate::{Error, Result};

/// The network's configuration.
pub fn pattern_config() -> UNetConfig {
    UNetConfig {
        in_channels: 3,
        num_classes: 3,
        base_channels: 16,
        depth: 3,
    }
}

fn stage(e: impl Into<crate::error::BoxError>) -> Error {
    Error::network(e)
}

/// The trained network and the device it runs on.
#[derive(Debug)]
pub struct PatternNet {
    net: UNet,
    device: Device,
}

impl PatternNet {
    /// A network with random weights (for training).
    pub fn new(device: &Device) -> Result<PatternNet> {
        Ok(PatternNet {
            net: pattern_config().init(device).map_err(stage)?,
            device: device.clone(),
        })
    }

    /// Wraps a (trained) network.
    pub fn from_net(net: UNet, device: &Device) -> PatternNet {
        PatternNet {
            net,
            device: device.clone(),
        }
    }

    /// Weights from safetensors bytes (as written by [`PatternNet::to_bytes`]); every tensor
    /// of the network must be present with its shape.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<PatternNet> {
        let mut net = pattern_config().init(device).map_err(stage)?;
        let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()));
        let res = net.load_from(&mut store).map_err(stage)?;
        if !res.missing.is_empty() || !res.errors.is_empty() {
            return Err(stage(format!(
                "weights do not fit the network: missing {:?}, errors {:?}",
                res.missing, res.errors
            )));
        }
        Ok(PatternNet {
            net,
            device: device.clone(),
        })
    }

    /// The weights as safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut store = SafetensorsStore::from_bytes(None);
        self.net.save_into(&mut store).map_err(stage)?;
        store.get_bytes().map_err(stage)
    }

    /// The network shipped with this crate (`models/lesion_pattern_unet.safetensors`), on the
    /// CPU.
    pub fn shipped() -> Result<PatternNet> {
        <PatternNet as crate::models::ShippedModel>::shipped()
    }

    /// Class probabilities `[zs.len(), 3, crop.h, crop.w]` for slices `zs` of a
    /// half-resolution volume ([`downsample`]), `batch` slices at a time. `crop.h` and `crop.w`
    /// must be multiples of 8.
    pub fn predict(
        &self,
        vol: &Array3<f32>,
        zs: &[usize],
        crop: Crop,
        batch: usize,
    ) -> Result<Array4<f32>> {
        self.predict_flipped(vol, zs, crop, batch, false)
    }

    /// [`PatternNet::predict`] on the left–right mirrored input, mirrored back (`flip`), so
    /// that its output is aligned with the input like `predict`'s.
    pub fn predict_flipped(
        &self,
        vol: &Array3<f32>,
        zs: &[usize],
        crop: Crop,
        batch: usize,
        flip: bool,
    ) -> Result<Array4<f32>> {
        let mut out = Array4::<f32>::zeros((zs.len(), 3, crop.h, crop.w));
        for (k, chunk) in zs.chunks(batch.max(1)).enumerate() {
            let flips = vec![flip; chunk.len()];
            let x = input_batch(vol, chunk, crop, &flips);
            let x = Tensor::<1>::from_floats(x.as_slice(), &self.device).reshape([
                chunk.len(),
                3,
                crop.h,
                crop.w,
            ]);
            let p = softmax(self.net.forward(x).map_err(stage)?, 1);
            let data = p.into_data().convert::<f32>();
            let v = data
                .as_slice::<f32>()
                .map_err(|e| stage(format!("{e:?}")))?;
            let a = ndarray::ArrayView4::from_shape((chunk.len(), 3, crop.h, crop.w), v)
                .map_err(stage)?;
            let start = k * batch.max(1);
            let a = if flip {
                a.slice_move(ndarray::s![.., .., .., ..;-1])
            } else {
                a
            };
            out.slice_mut(ndarray::s![start..start + chunk.len(), .., .., ..])
                .assign(&a);
        }
        Ok(out)
    }
}
