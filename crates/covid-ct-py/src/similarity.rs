//! Image similarity: SSIM and PSNR (scikit-image's) and the four perceptual hashes
//! (imagehash's).

use ct_similarity::{HashKind, SsimParams};
use image::{DynamicImage, GrayImage, RgbImage, RgbaImage};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::arrays::{dtype_error, dtype_name, kernel_error, value_error};

const PIXEL_DTYPES: &str = "uint8, uint16, int16, float32, float64";

/// Runs `$body` with `$a`, `$b` bound to read-only 2-D views of the arrays' common dtype.
macro_rules! with_pixels {
    ($py:expr, $im1:expr, $im2:expr, |$a:ident, $b:ident| $body:expr) => {{
        let dtype = dtype_name($im1)?;
        let other = dtype_name($im2)?;
        if dtype != other {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "im2: dtype {other} differs from im1's {dtype} (scikit-image needs the same dtype)"
            )));
        }
        match dtype.as_str() {
            "uint8" => with_pixels!(@typed u8, $py, $im1, $im2, |$a, $b| $body),
            "uint16" => with_pixels!(@typed u16, $py, $im1, $im2, |$a, $b| $body),
            "int16" => with_pixels!(@typed i16, $py, $im1, $im2, |$a, $b| $body),
            "float32" => with_pixels!(@typed f32, $py, $im1, $im2, |$a, $b| $body),
            "float64" => with_pixels!(@typed f64, $py, $im1, $im2, |$a, $b| $body),
            other => Err(dtype_error("im1", other, PIXEL_DTYPES)),
        }
    }};
    (@typed $t:ty, $py:expr, $im1:expr, $im2:expr, |$a:ident, $b:ident| $body:expr) => {{
        let x: PyReadonlyArray2<'_, $t> = $im1.extract()?;
        let y: PyReadonlyArray2<'_, $t> = $im2.extract()?;
        let ($a, $b) = (x.as_array(), y.as_array());
        $py.detach(|| $body).map_err(kernel_error)
    }};
}

/// `structural_similarity(im1, im2, ...)`: the mean SSIM, and the full map when `full`.
#[pyfunction]
#[pyo3(signature = (im1, im2, win_size=None, gaussian_weights=false, sigma=1.5, use_sample_covariance=true, k1=0.01, k2=0.03, data_range=None, full=false))]
#[allow(clippy::too_many_arguments)]
fn structural_similarity<'py>(
    py: Python<'py>,
    im1: &Bound<'py, PyAny>,
    im2: &Bound<'py, PyAny>,
    win_size: Option<usize>,
    gaussian_weights: bool,
    sigma: f64,
    use_sample_covariance: bool,
    k1: f64,
    k2: f64,
    data_range: Option<f64>,
    full: bool,
) -> PyResult<(f64, Option<Bound<'py, PyArray2<f64>>>)> {
    let params = SsimParams {
        win_size,
        gaussian_weights,
        sigma,
        use_sample_covariance,
        k1,
        k2,
        data_range,
    };
    let (mean, map) = with_pixels!(py, im1, im2, |a, b| {
        if full {
            ct_similarity::ssim_full(a, b, &params).map(|(m, s)| (m, Some(s)))
        } else {
            ct_similarity::ssim(a, b, &params).map(|m| (m, None))
        }
    })?;
    Ok((mean, map.map(|m| m.into_pyarray(py))))
}

/// `peak_signal_noise_ratio(image_true, image_test, data_range=None)`.
#[pyfunction]
#[pyo3(signature = (image_true, image_test, data_range=None))]
fn peak_signal_noise_ratio<'py>(
    py: Python<'py>,
    image_true: &Bound<'py, PyAny>,
    image_test: &Bound<'py, PyAny>,
    data_range: Option<f64>,
) -> PyResult<f64> {
    with_pixels!(py, image_true, image_test, |a, b| ct_similarity::psnr(
        a, b, data_range
    ))
}

/// A PIL-like image from a uint8 array: (H, W) is mode L, (H, W, 3) RGB, (H, W, 4) RGBA.
fn to_image(image: &Bound<'_, PyAny>) -> PyResult<DynamicImage> {
    let dtype = dtype_name(image)?;
    if dtype != "uint8" {
        return Err(dtype_error(
            "image",
            &dtype,
            "uint8 (a PIL image converted by numpy)",
        ));
    }
    let bad = |shape: &[usize]| {
        value_error(
            "image",
            format!("shape {shape:?}: expected (H, W), (H, W, 3) or (H, W, 4) with H, W > 0"),
        )
    };
    if let Ok(grey) = image.extract::<PyReadonlyArray2<'_, u8>>() {
        let (h, w) = grey.as_array().dim();
        let raw: Vec<u8> = grey.as_array().iter().copied().collect();
        return GrayImage::from_raw(w as u32, h as u32, raw)
            .filter(|_| h > 0 && w > 0)
            .map(DynamicImage::ImageLuma8)
            .ok_or_else(|| bad(&[h, w]));
    }
    let colour: PyReadonlyArray3<'_, u8> = image.extract()?;
    let shape = colour.shape().to_vec();
    let (h, w, c) = (shape[0] as u32, shape[1] as u32, shape[2]);
    let raw: Vec<u8> = colour.as_array().iter().copied().collect();
    let img = match c {
        3 => RgbImage::from_raw(w, h, raw).map(DynamicImage::ImageRgb8),
        4 => RgbaImage::from_raw(w, h, raw).map(DynamicImage::ImageRgba8),
        _ => None,
    };
    img.filter(|_| h > 0 && w > 0).ok_or_else(|| bad(&shape))
}

/// The bits of one of imagehash's hashes of `image`, as a boolean (rows, cols) array.
#[pyfunction]
#[pyo3(signature = (kind, image, hash_size=8))]
fn image_hash<'py>(
    py: Python<'py>,
    kind: &str,
    image: &Bound<'py, PyAny>,
    hash_size: usize,
) -> PyResult<Bound<'py, PyArray2<bool>>> {
    let kind = match kind {
        "average" => HashKind::Average,
        "phash" => HashKind::Perceptual,
        "dhash" => HashKind::Difference,
        "whash" => HashKind::Wavelet,
        other => return Err(value_error("kind", format!("unknown hash {other:?}"))),
    };
    let img = to_image(image)?;
    let hash = py
        .detach(|| ct_similarity::image_hash(&img, kind, hash_size))
        .map_err(kernel_error)?;
    let (rows, cols) = hash.shape();
    let bits = ndarray::Array2::from_shape_vec((rows, cols), hash.bits())
        .map_err(|e| value_error("hash", e))?;
    Ok(bits.into_pyarray(py))
}

pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    parent.add_function(wrap_pyfunction!(structural_similarity, parent)?)?;
    parent.add_function(wrap_pyfunction!(peak_signal_noise_ratio, parent)?)?;
    parent.add_function(wrap_pyfunction!(image_hash, parent)?)?;
    Ok(())
}
