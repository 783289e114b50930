//! Conversions between `ndarray` arrays and Burn tensors, and small shape helpers.

use burn::prelude::*;
use ndarray::{Array, ArrayD, Dimension, IxDyn};

use crate::error::{Error, Result};

/// Copies an `ndarray` array (any layout) into a float tensor of the same shape on `device`.
///
/// Errors if the array's rank is not `D`.
pub fn tensor_from_array<const D: usize, S, Dm>(
    array: &ndarray::ArrayBase<S, Dm>,
    device: &Device,
) -> Result<Tensor<D>>
where
    S: ndarray::Data<Elem = f32>,
    Dm: Dimension,
{
    if array.ndim() != D {
        return Err(Error::BadShape {
            what: "array",
            expected: format!("rank {D}"),
            found: array.shape().to_vec(),
        });
    }
    let shape = array.shape().to_vec();
    let data: Vec<f32> = array.iter().copied().collect();
    Ok(Tensor::from_data(TensorData::new(data, shape), device))
}

/// Copies a float tensor back into an `ndarray` array (row-major, dynamic rank).
pub fn array_from_tensor<const D: usize>(tensor: Tensor<D>) -> ArrayD<f32> {
    let dims = tensor.dims().to_vec();
    // `convert` is a no-op for f32 and widens bf16/f16 results of GPU backends.
    let data = tensor.into_data().convert::<f32>();
    let values: Vec<f32> = data
        .as_slice::<f32>()
        .map(|s| s.to_vec())
        .unwrap_or_default();
    Array::from_shape_vec(IxDyn(&dims), values).expect("tensor data length matches its shape")
}

/// Checks a 4-D (N, C, H, W) input's channel count.
pub(crate) fn check_nchw(what: &'static str, x: &Tensor<4>, channels: usize) -> Result<()> {
    let dims = x.dims();
    if dims[1] != channels {
        return Err(Error::ChannelMismatch {
            what,
            expected: channels,
            found: dims[1],
        });
    }
    if dims.contains(&0) {
        return Err(Error::BadShape {
            what,
            expected: "(N, C, H, W) with no empty axis".into(),
            found: dims.to_vec(),
        });
    }
    Ok(())
}

/// Global average pooling (N, C, H, W) -> (N, C).
pub(crate) fn global_avg(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
}

/// Global max pooling (N, C, H, W) -> (N, C).
pub(crate) fn global_max(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).max_dim(2).reshape([n, c])
}
