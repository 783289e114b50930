//! Golden tests against OpenCV 5.0, scikit-image 0.26, scipy 1.17 and Pillow 13, made by
//! `tools/ct-enhance/make_goldens.py` (versions in `tests/data/manifest.json`).

use std::path::PathBuf;

use ct_enhance::{
    Clahe, Interpolation, equalize_hist, equalize_hist_float, equalize_hist_levels, zoom,
};
use ndarray::{Array2, Array3, ArrayD, Ix2, Ix3};
use ndarray_npy::{ReadableElement, read_npy};
use serde_json::Value;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("{name}.npy"))
}

fn load2<T: ReadableElement>(name: &str) -> Array2<T> {
    let a: ArrayD<T> = read_npy(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    a.into_dimensionality::<Ix2>().unwrap()
}

fn load3<T: ReadableElement>(name: &str) -> Array3<T> {
    let a: ArrayD<T> = read_npy(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    a.into_dimensionality::<Ix3>().unwrap()
}

fn manifest() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/manifest.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn clahe_of(c: &Value) -> Clahe {
    Clahe::new(
        c["clip"].as_f64().unwrap(),
        c["tiles_x"].as_u64().unwrap() as usize,
        c["tiles_y"].as_u64().unwrap() as usize,
    )
    .unwrap()
}

fn diff_count<T: PartialEq>(a: &Array2<T>, b: &Array2<T>) -> usize {
    assert_eq!(a.dim(), b.dim());
    a.iter().zip(b.iter()).filter(|(x, y)| x != y).count()
}

/// Tolerance: none. The LUT and the rounding are OpenCV's integer/f32 arithmetic.
#[test]
fn equalize_hist_matches_cv2() {
    for name in ["camera", "coffee", "ctsmall", "slice", "tiny", "flat2"] {
        let img = load2::<u8>(&format!("u8_{name}"));
        let want = load2::<u8>(&format!("he_cv2_{name}"));
        let got = equalize_hist(img.view()).unwrap();
        assert_eq!(diff_count(&got, &want), 0, "{name}");
    }
}

fn max_abs(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Tolerance 1e-12: the same f64 operations as numpy (cumsum / total, `np.interp`); only
/// libm-level differences could remain, and none do in practice.
#[test]
fn equalize_hist_matches_skimage() {
    let cam = load2::<u8>("u8_camsmall");
    let got = equalize_hist_levels(cam.view()).unwrap();
    assert!(max_abs(&got, &load2("he_sk_camsmall")) <= 1e-12);
    let hu = load2::<i16>("i16_hu");
    let got = equalize_hist_levels(hu.view()).unwrap();
    assert!(max_abs(&got, &load2("he_sk_hu_levels")) <= 1e-12);
    let f = load2::<f64>("f64_hu");
    for nbins in [256, 100] {
        let got = equalize_hist_float(f.view(), nbins).unwrap();
        let d = max_abs(&got, &load2(&format!("he_skf_hu_{nbins}")));
        assert!(d <= 1e-12, "nbins {nbins}: {d}");
    }
    let c = load2::<f64>("f64_cam");
    let got = equalize_hist_float(c.view(), 256).unwrap();
    assert!(max_abs(&got, &load2("he_skf_cam_256")) <= 1e-12);
}

/// Tolerance: none (every pixel equal), for every image, clip limit and tile grid,
/// including sizes that are not multiples of the grid (OpenCV's reflect-101 padding).
#[test]
fn clahe_u8_matches_cv2() {
    let m = manifest();
    let mut n = 0;
    for c in m["clahe"].as_array().unwrap() {
        let img = load2::<u8>(&format!("u8_{}", c["image"].as_str().unwrap()));
        let want = load2::<u8>(c["file"].as_str().unwrap());
        let got = clahe_of(c).apply(img.view()).unwrap();
        assert_eq!(diff_count(&got, &want), 0, "{c}");
        n += 1;
    }
    assert!(n >= 20);
}

/// Tolerance: none. `cv2.createCLAHE(2, (8, 8)).apply(cv2.equalizeHist(img))`.
#[test]
fn he_then_clahe_matches_cv2() {
    for c in manifest()["he_clahe"].as_array().unwrap() {
        let img = load2::<u8>(&format!("u8_{}", c["image"].as_str().unwrap()));
        let want = load2::<u8>(c["file"].as_str().unwrap());
        let got = clahe_of(c).apply_after_he(img.view()).unwrap();
        assert_eq!(diff_count(&got, &want), 0, "{c}");
    }
}

/// Tolerance: none. OpenCV's CV_16U path (65536 bins).
#[test]
fn clahe_u16_matches_cv2() {
    for c in manifest()["clahe16"].as_array().unwrap() {
        let img = load2::<u16>(&format!("u16_{}", c["image"].as_str().unwrap()));
        let want = load2::<u16>(c["file"].as_str().unwrap());
        let got = clahe_of(c).apply(img.view()).unwrap();
        assert_eq!(diff_count(&got, &want), 0, "{c}");
    }
}

fn method(order: u64) -> Interpolation {
    match order {
        0 => Interpolation::Nearest,
        1 => Interpolation::Linear,
        _ => Interpolation::Cubic,
    }
}

/// Tolerance 1e-5 absolute on HU-sized values (|v| up to ~1000): scipy sums the 3-D
/// stencil in one loop while we sum axis by axis; the difference is rounding (~1e-12).
/// Nearest must be exact (it copies values).
#[test]
fn zoom_matches_scipy() {
    for c in manifest()["zoom"].as_array().unwrap() {
        let input = load3::<f64>(c["input"].as_str().unwrap());
        let want = load3::<f64>(c["file"].as_str().unwrap());
        let s: Vec<usize> = c["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let order = c["order"].as_u64().unwrap();
        let got = zoom(input.view(), [s[0], s[1], s[2]], method(order)).unwrap();
        assert_eq!(got.dim(), want.dim());
        let d = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let tol = if order == 0 { 0.0 } else { 1e-5 };
        assert!(d <= tol, "{c}: max |diff| {d}");
    }
}

/// Tolerance: none on int16 output (scipy rounds half away from zero; our f64 sums differ
/// from scipy's by ~1e-12, far from a .5 boundary on these inputs).
#[test]
fn zoom_i16_matches_scipy() {
    let input = load3::<i16>("vol_i16");
    for c in manifest()["zoom_i16"].as_array().unwrap() {
        let want = load3::<i16>(c["file"].as_str().unwrap());
        let s: Vec<usize> = c["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let got = zoom(
            input.view(),
            [s[0], s[1], s[2]],
            method(c["order"].as_u64().unwrap()),
        )
        .unwrap();
        assert_eq!(got, want, "{c}");
    }
}

/// Tolerance 2e-3 absolute on values in 0..255: Pillow stores the horizontal pass in f32
/// before the vertical pass; we keep f64 throughout.
#[test]
fn lanczos_and_area_match_pillow() {
    let input = load2::<f32>("f32_pil");
    let (h, w) = input.dim();
    let v3 = input.into_shape_with_order((1, h, w)).unwrap();
    for c in manifest()["pil"].as_array().unwrap() {
        let want = load2::<f32>(c["file"].as_str().unwrap());
        let s: Vec<usize> = c["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let m = match c["method"].as_str().unwrap() {
            "lanczos3" => Interpolation::Lanczos3,
            _ => Interpolation::Area,
        };
        let got = zoom(v3.view(), [1, s[0], s[1]], m).unwrap();
        let got = got.index_axis(ndarray::Axis(0), 0).to_owned();
        let d = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(d <= 2e-3, "{c}: max |diff| {d}");
    }
}
