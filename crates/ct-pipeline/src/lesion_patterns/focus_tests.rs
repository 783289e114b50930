use ndarray::{Array2, Array3};

use super::*;

use crate::lesion_patterns::Crop;
use ct_core::Spacing;
use ndarray::Array4;

fn spacing() -> Spacing {
    Spacing {
        z: 2.0,
        y: 1.5,
        x: 1.5,
    }
}

#[test]
fn foci_of_known_probabilities() {
    // 4 predicted slices of 16×16; the region is the whole plane but the border.
    let (n, h, w) = (4, 16, 16);
    let mut region = Array3::<u8>::zeros((8, h, w));
    region.slice_mut(ndarray::s![.., 1..15, 1..15]).fill(1);
    let vol = Array3::<f32>::from_elem((8, h, w), (-850.0 + 600.0) / 400.0);
    let zs = [0, 2, 4, 6];
    let mut p = Array4::<f32>::zeros((n, 3, h, w));
    p.slice_mut(ndarray::s![.., 0, .., ..]).fill(1.0);
    // A COVID-like focus of 2×2 pixels on slices 1 and 2 (lesion probability 0.8, one
    // pixel 0.9), and a CAP-like single pixel (0.7) on slice 1 near its mirror image about
    // the region's midline (x = 7.5).
    for k in 1..3 {
        for y in 5..7 {
            for x in 3..5 {
                p[[k, 0, y, x]] = 0.2;
                p[[k, 1, y, x]] = 0.1;
                p[[k, 2, y, x]] = 0.7;
            }
        }
    }
    p[[1, 0, 5, 3]] = 0.1;
    p[[1, 1, 5, 3]] = 0.0;
    p[[1, 2, 5, 3]] = 0.9;
    p[[1, 0, 5, 11]] = 0.3;
    p[[1, 1, 5, 11]] = 0.7;
    // The true lesion covers the first focus's slice-2 pixels only.
    let mut lesion = Array3::<u8>::zeros((8, 2 * h, 2 * w));
    lesion.slice_mut(ndarray::s![2, 10..14, 6..10]).fill(1);
    let crop = Crop { y0: 0, x0: 0, h, w };
    let maps = PatternMaps {
        p: &p,
        vol: &vol,
        region: &region,
        zs: &zs,
        crop,
        spacing: spacing(),
        factor: 2,
        z_step: 2,
    };
    let foci = pattern_foci(&maps, Some(lesion.view())).unwrap();
    assert_eq!(foci.len(), 2);
    let f = &foci[0].features;
    let get = |name: &str| f[FOCUS_FEATURE_NAMES.iter().position(|n| *n == name).unwrap()];
    assert!((get("peak") - 0.9).abs() < 1e-6, "{f:?}");
    assert!((get("mass_ml") - 6.5 * 2.0 * 1.5 * 1.5 * 4.0 * 1e-3 * 2.0).abs() < 1e-6);
    assert_eq!(get("volume_ml"), 8.0 * 2.0 * 1.5 * 1.5 * 4.0 * 1e-3 * 2.0);
    assert!((get("covid_share") - (0.7 * 7.0 + 0.9) / 6.5).abs() < 1e-6);
    assert_eq!(get("z_extent_mm"), 2.0 * 2.0 * 2.0);
    assert_eq!(get("inplane_extent_mm"), 2.0 * 3.0);
    assert_eq!(get("fill"), 1.0);
    assert!((get("mean_hu") + 850.0).abs() < 1e-3);
    assert!(get("contrast_hu").abs() < 1e-3);
    assert!((get("mirror_peak") - 0.7).abs() < 1e-6);
    assert_eq!(get("edge_share"), 0.0);
    assert_eq!(get("scan_foci"), 2.0);
    assert_eq!(get("rank"), 0.0);
    assert_eq!(foci[0].lesion_share, Some(0.5));
    assert_eq!(foci[0].centroid, [3.0, 11.5, 7.5]);
    let g = &foci[1].features;
    let get = |name: &str| g[FOCUS_FEATURE_NAMES.iter().position(|n| *n == name).unwrap()];
    assert_eq!(get("rank"), 1.0);
    assert!(get("covid_share") < 1e-6, "a CAP-like focus: {g:?}");
    assert!((get("mirror_peak") - 0.9).abs() < 1e-6);
    assert_eq!(foci[1].lesion_share, Some(0.0));
}

#[test]
fn no_region_no_foci_and_bad_shapes_are_errors() {
    let p = Array4::<f32>::zeros((2, 3, 8, 8));
    let vol = Array3::<f32>::zeros((4, 8, 8));
    let region = Array3::<u8>::zeros((4, 8, 8));
    let crop = Crop {
        y0: 0,
        x0: 0,
        h: 8,
        w: 8,
    };
    let maps = |zs| PatternMaps {
        p: &p,
        vol: &vol,
        region: &region,
        zs,
        crop,
        spacing: spacing(),
        factor: 2,
        z_step: 2,
    };
    assert!(pattern_foci(&maps(&[0, 2]), None).unwrap().is_empty());
    assert!(pattern_foci(&maps(&[0]), None).is_err());
    assert!(pattern_foci(&maps(&[0, 7]), None).is_err());
    let small = Array3::<u8>::zeros((4, 8, 8));
    assert!(pattern_foci(&maps(&[0, 2]), Some(small.view())).is_err());
}

fn synthetic_foci(n: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
    // Lesion foci peak higher and are less often on the posterior edge; a simple
    // deterministic generator (no external RNG in the library's tests).
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let k = FOCUS_FEATURE_NAMES.len();
    let mut x = Array2::<f64>::zeros((n, k));
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let lesion = i % 3 == 0;
        for j in 0..k {
            x[[i, j]] = next();
        }
        x[[i, 0]] = if lesion {
            0.7 + 0.3 * next()
        } else {
            0.5 + 0.4 * next()
        };
        x[[i, 10]] = if lesion { next() } else { 0.6 + 0.4 * next() };
        y.push(lesion);
    }
    (x, y)
}

#[test]
fn focus_model_learns_round_trips_and_refuses_bad_input() {
    let (x, y) = synthetic_foci(300, 1);
    let m = FocusModel::train(x.view(), &y, 60, 7, vec!["synthetic".into()]).unwrap();
    assert_eq!(m.recipe.foci, (100, 200));
    let (xt, yt) = synthetic_foci(300, 2);
    let foci: Vec<Focus> = xt
        .outer_iter()
        .map(|r| Focus {
            features: r.to_vec(),
            centroid: [0.0; 3],
            lesion_share: None,
        })
        .collect();
    let s = m.scores(&foci).unwrap();
    let auc = ensemble::roc_auc_binary(&yt, &s).unwrap();
    assert!(auc > 0.9, "held-out ROC-AUC {auc}");
    // Scan features: max, sum, count ≥ ½, weighted COVID-19 share.
    let f = m.scan_features(&foci[..3]).unwrap();
    let s3 = &s[..3];
    let g = |name: &str| f.get(name).unwrap();
    assert_eq!(g("cnn_focus_max"), s3.iter().copied().fold(0.0, f64::max));
    assert!((g("cnn_focus_sum") - s3.iter().sum::<f64>()).abs() < 1e-12);
    assert_eq!(
        g("cnn_focus_n50"),
        s3.iter().filter(|&&v| v >= 0.5).count() as f64
    );
    assert_eq!(
        m.scan_features(&[]).unwrap(),
        FocusModel::empty_scan_features()
    );
    // JSON round trip gives the same scores; damaged or foreign files are errors.
    let json = m.to_json().unwrap();
    let back = FocusModel::from_json(&json).unwrap();
    assert_eq!(back.scores(&foci).unwrap(), s);
    assert!(FocusModel::from_json("{}").is_err());
    assert!(FocusModel::from_json(&json[..json.len() / 2]).is_err());
    let renamed = json.replace("\"mirror_peak\"", "\"other\"");
    let e = FocusModel::from_json(&renamed).unwrap_err().to_string();
    assert!(e.contains("other focus features"), "{e}");
    // Too few of one kind, wrong widths, NaN.
    assert!(FocusModel::train(x.view(), &vec![false; 300], 10, 1, vec![]).is_err());
    assert!(FocusModel::train(x.slice(ndarray::s![.., ..3]), &y, 10, 1, vec![]).is_err());
    let mut nan = x.clone();
    nan[[0, 0]] = f64::NAN;
    assert!(FocusModel::train(nan.view(), &y, 10, 1, vec![]).is_err());
    let short = Focus {
        features: vec![0.5; 3],
        centroid: [0.0; 3],
        lesion_share: None,
    };
    assert!(m.scores(&[short]).is_err());
}

#[test]
fn foci_csv_reads_back_and_bad_files_are_errors() {
    let mut header = String::from("id,label,contrast,focus,z,y,x");
    for n in FOCUS_FEATURE_NAMES {
        header.push(',');
        header.push_str(n);
    }
    header.push_str(",lesion_share");
    let row = |share: &str| {
        let mut r = String::from("cap-000,CAP,low,0,1.0,2.0,3.0");
        for j in 0..FOCUS_FEATURE_NAMES.len() {
            r.push_str(&format!(",{}", j as f64 * 0.5));
        }
        r.push_str(&format!(",{share}"));
        r
    };
    let text = format!("{header}\n{}\n{}\n", row("0.75"), row(""));
    let (x, shares) = read_foci_csv(&text).unwrap();
    assert_eq!(x.dim(), (2, FOCUS_FEATURE_NAMES.len()));
    assert_eq!(x[[1, 4]], 2.0);
    assert_eq!(shares, vec![Some(0.75), None]);
    assert!(read_foci_csv("").is_err());
    assert!(read_foci_csv("id,peak\n").is_err());
    let bad = format!("{header}\n{}\n", row("0.5").replacen(",0.5,", ",x,", 1));
    assert!(
        read_foci_csv(&bad)
            .unwrap_err()
            .to_string()
            .contains("not a number")
    );
    let short = format!("{header}\ncap-000,CAP\n");
    assert!(
        read_foci_csv(&short)
            .unwrap_err()
            .to_string()
            .contains("fields")
    );
    let nan = format!("{header}\n{}\n", row("0.5").replacen(",0.5,", ",NaN,", 1));
    assert!(read_foci_csv(&nan).is_err());
}
