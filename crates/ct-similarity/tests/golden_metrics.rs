//! Golden tests against scikit-image 0.26 (`structural_similarity`,
//! `peak_signal_noise_ratio`, `mean_squared_error`), made by
//! `tools/ct-similarity/make_goldens.py`.
//!
//! Tolerance 1e-9 (absolute on SSIM in [-1, 1], relative on MSE/PSNR): both sides compute in
//! f64; only the summation order differs (scipy's running sums in `uniform_filter`, numpy's
//! pairwise mean), which moves the result by ~1e-15.

use std::path::PathBuf;

use ct_similarity::{Error, SsimParams, mse, psnr, ssim, ssim_full};
use ndarray::{Array2, ArrayView2};
use ndarray_npy::ReadNpyExt;
use serde_json::Value;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn load<T: ndarray_npy::ReadableElement>(name: &str) -> Array2<T> {
    let f = std::fs::File::open(data().join("ssim").join(name)).unwrap();
    Array2::<T>::read_npy(f).unwrap()
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        v => v.as_f64().unwrap(),
    }
}

fn variants() -> Vec<(&'static str, SsimParams)> {
    vec![
        ("uniform", SsimParams::default()),
        (
            "uniform_pop",
            SsimParams {
                use_sample_covariance: false,
                ..Default::default()
            },
        ),
        (
            "uniform_win5",
            SsimParams {
                win_size: Some(5),
                ..Default::default()
            },
        ),
        ("gauss_paper", SsimParams::gaussian()),
        (
            "gauss_sample",
            SsimParams {
                gaussian_weights: true,
                ..Default::default()
            },
        ),
        (
            "gauss_sigma1",
            SsimParams {
                sigma: 1.0,
                ..SsimParams::gaussian()
            },
        ),
    ]
}

fn check_pair<T: ct_similarity::Pixel>(
    name: &str,
    rec: &Value,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
) -> usize {
    let dr = rec["data_range"].as_f64();
    let mut n = 0;
    for (vn, mut p) in variants() {
        let Some(want) = rec.get(format!("ssim_{vn}")) else {
            continue;
        };
        p.data_range = dr;
        let got = ssim(a, b, &p).unwrap();
        assert!(
            (got - num(want)).abs() < 1e-9,
            "{name} {vn}: {got} vs {want}"
        );
        n += 1;
    }
    let m = mse(a, b).unwrap();
    let want = num(&rec["mse"]);
    assert!(
        (m - want).abs() <= 1e-12 * want.max(1e-300),
        "{name} mse {m} vs {want}"
    );
    match rec["psnr"] {
        Value::Null => assert!(
            matches!(psnr(a, b, None), Err(Error::OutOfDtypeRange { .. })),
            "{name}"
        ),
        ref w => {
            let (got, want) = (psnr(a, b, None).unwrap(), num(w));
            assert!(
                got == want || (got - want).abs() < 1e-9 * want.abs(),
                "{name} psnr {got} vs {want}"
            );
        }
    }
    let (got, want) = (psnr(a, b, Some(100.0)).unwrap(), num(&rec["psnr_dr100"]));
    assert!(
        got == want || (got - want).abs() < 1e-9 * want.abs(),
        "{name} psnr dr100 {got} vs {want}"
    );
    n
}

#[test]
fn metrics_match_skimage() {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(data().join("ssim.json")).unwrap()).unwrap();
    let mut checked = 0;
    for (name, rec) in v["pairs"].as_object().unwrap() {
        if name == "anchor_32_33" {
            continue;
        }
        let (fa, fb) = (format!("{name}_a.npy"), format!("{name}_b.npy"));
        checked += match rec["dtype"].as_str().unwrap() {
            "uint8" => check_pair(name, rec, load::<u8>(&fa).view(), load::<u8>(&fb).view()),
            "uint16" => check_pair(name, rec, load::<u16>(&fa).view(), load::<u16>(&fb).view()),
            "int16" => check_pair(name, rec, load::<i16>(&fa).view(), load::<i16>(&fb).view()),
            "float64" => check_pair(name, rec, load::<f64>(&fa).view(), load::<f64>(&fb).view()),
            d => panic!("dtype {d}"),
        };
    }
    assert!(checked >= 40, "{checked}");
}

#[test]
fn full_maps_match_skimage() {
    let a = load::<u8>("cam_noise_u8_a.npy");
    let b = load::<u8>("cam_noise_u8_b.npy");
    for (file, p) in [
        ("cam_noise_u8_fullmap_uniform.npy", SsimParams::default()),
        ("cam_noise_u8_fullmap_gauss.npy", SsimParams::gaussian()),
    ] {
        let want = load::<f64>(file);
        let (mean, map) = ssim_full(a.view(), b.view(), &p).unwrap();
        assert_eq!(map.dim(), want.dim());
        let worst = map
            .iter()
            .zip(want.iter())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-9, "{file}: max |diff| {worst}");
        assert!((mean - ssim(a.view(), b.view(), &p).unwrap()).abs() < 1e-15);
    }
}

#[test]
fn f32_input_is_close_to_skimage_f64() {
    // skimage computes float32 input in float32; we compute in f64: compare with the f64 golden.
    let a = load::<f64>("cam_f64_a.npy");
    let b = load::<f64>("cam_f64_b.npy");
    let p = SsimParams::default().with_data_range(1.0);
    let s64 = ssim(a.view(), b.view(), &p).unwrap();
    let s32 = ssim(a.mapv(|v| v as f32).view(), b.mapv(|v| v as f32).view(), &p).unwrap();
    assert!((s64 - s32).abs() < 1e-5);
}

#[test]
fn anchor_pair_if_present() {
    // The full 512x512 anchor pair is not committed; /tmp/anchors (shared/anchors) has it.
    let p = PathBuf::from("/tmp/anchors/data/vol_u8.npy");
    if !p.exists() {
        eprintln!("skipped: {p:?} missing");
        return;
    }
    let vol = ndarray::Array3::<u8>::read_npy(std::fs::File::open(p).unwrap()).unwrap();
    let (a, b) = (
        vol.index_axis(ndarray::Axis(0), 32),
        vol.index_axis(ndarray::Axis(0), 33),
    );
    assert!((ssim(a, b, &SsimParams::default()).unwrap() - 0.8791392478982949).abs() < 1e-9);
    assert!((ssim(a, b, &SsimParams::gaussian()).unwrap() - 0.8771728425472021).abs() < 1e-9);
    assert!((psnr(a, b, None).unwrap() - 25.684690641457067).abs() < 1e-9);
}

#[test]
fn bad_input_is_a_typed_error() {
    let a = Array2::<u8>::zeros((10, 12));
    let b = Array2::<u8>::zeros((10, 11));
    assert!(matches!(
        ssim(a.view(), b.view(), &SsimParams::default()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        mse(a.view(), b.view()),
        Err(Error::ShapeMismatch { .. })
    ));
    let small = Array2::<u8>::zeros((6, 20));
    assert!(matches!(
        ssim(small.view(), small.view(), &SsimParams::default()),
        Err(Error::WindowTooLarge { win_size: 7, .. })
    ));
    let ten = Array2::<u8>::zeros((10, 10));
    assert!(matches!(
        ssim(ten.view(), ten.view(), &SsimParams::gaussian()),
        Err(Error::WindowTooLarge { win_size: 11, .. })
    ));
    let even = SsimParams {
        win_size: Some(4),
        ..Default::default()
    };
    assert!(matches!(
        ssim(a.view(), a.view(), &even),
        Err(Error::InvalidParam {
            name: "win_size",
            ..
        })
    ));
    let f = Array2::<f64>::zeros((10, 10));
    assert!(matches!(
        ssim(f.view(), f.view(), &SsimParams::default()),
        Err(Error::DataRangeRequired(_))
    ));
    let mut nan = f.clone();
    nan[[3, 3]] = f64::NAN;
    assert!(matches!(
        ssim(
            nan.view(),
            f.view(),
            &SsimParams::default().with_data_range(1.0)
        ),
        Err(Error::NonFinite(_))
    ));
    assert!(mse(nan.view(), f.view()).is_err());
    assert!(psnr(nan.view(), f.view(), Some(1.0)).is_err());
    // constant identical images: SSIM 1, PSNR +inf (skimage: 1.0 and inf)
    assert_eq!(
        ssim(a.view(), a.view(), &SsimParams::default()).unwrap(),
        1.0
    );
    assert_eq!(psnr(a.view(), a.view(), None).unwrap(), f64::INFINITY);
    let big = Array2::<f64>::from_elem((8, 8), 3.0);
    assert!(matches!(
        psnr(big.view(), big.view(), None),
        Err(Error::OutOfDtypeRange { .. })
    ));
}
