use ct_core::Spacing;
use ndarray::{Array2, Array3};

use super::*;

fn spacing() -> Spacing {
    Spacing::new(2.0, 1.5, 1.5).expect("valid spacing")
}

#[test]
fn hull_mask_fills_a_lateral_bite_but_not_the_medial_notch() {
    // Two lungs: disks of radius 12 centred at x = 20 and x = 60 (midline x = 40). The
    // right one (image right) has a bite cut from its lateral edge (x >= 66, rows 16..24)
    // and a notch cut from its medial edge (x <= 53, rows 16..24), as the heart does.
    let mut m = Array3::<u8>::zeros((1, 40, 80));
    for y in 0..40 {
        for x in 0..80 {
            let dy = y as f64 - 20.0;
            let left = dy * dy + (x as f64 - 20.0).powi(2) <= 144.0;
            let right = dy * dy + (x as f64 - 60.0).powi(2) <= 144.0
                && !((16..24).contains(&y) && (x >= 66 || x <= 53));
            if left || right {
                m[[0, y, x]] = 1;
            }
        }
    }
    let h = hull_mask(m.view()).expect("hull");
    assert_eq!(m[[0, 20, 70]], 0);
    assert_eq!(h[[0, 20, 70]], 1, "the lateral bite is filled");
    assert_eq!(m[[0, 20, 50]], 0);
    assert_eq!(h[[0, 20, 50]], 0, "the medial notch is not");
    assert_eq!(h[[0, 20, 74]], 0, "beyond the disk stays outside");
    assert_eq!(h[[0, 20, 40]], 0, "the midline stays outside");
    assert_eq!(h[[0, 2, 2]], 0, "corners stay outside");
    assert!(
        h.iter().zip(m.iter()).all(|(a, b)| a >= b),
        "hull contains the mask"
    );
}

/// A synthetic lung (a block of −850 HU with noise-free vessels) with a ground-glass ball.
fn synthetic(lesion: bool) -> (Array3<i16>, Array3<u8>, Array3<u8>) {
    let (nz, ny, nx) = (12, 48, 48);
    let mut hu = Array3::<i16>::from_elem((nz, ny, nx), 40);
    let mut lung = Array3::<u8>::zeros((nz, ny, nx));
    let mut les = Array3::<u8>::zeros((nz, ny, nx));
    for z in 0..nz {
        for y in 6..42 {
            for x in 6..42 {
                lung[[z, y, x]] = 1;
                hu[[z, y, x]] = if x == 20 { -200 } else { -850 };
                let d2 = (z as f64 - 6.0).powi(2) * 1.8
                    + (y as f64 - 28.0).powi(2)
                    + (x as f64 - 30.0).powi(2);
                if lesion && d2 < 36.0 {
                    hu[[z, y, x]] = -450;
                    les[[z, y, x]] = 1;
                }
            }
        }
    }
    (hu, lung, les)
}

#[test]
fn detector_learns_a_ball_and_not_a_vessel() {
    let mut samples = Vec::new();
    for lesion in [true, false, true] {
        let (hu, lung, les) = synthetic(lesion);
        let c = candidates(hu.view(), lung.view(), lung.view(), spacing()).expect("cands");
        assert_eq!(c.features.ncols(), VOXEL_FEATURE_NAMES.len());
        samples.push(sample_training(&c, les.view(), 500).expect("sample"));
    }
    let det = LesionDetector::train(samples, 20, 0).expect("train");
    let (hu, lung, _) = synthetic(true);
    let c = candidates(hu.view(), lung.view(), lung.view(), spacing()).expect("cands");
    let f = det.scan_features(&c, spacing()).expect("features");
    assert_eq!(f.len(), LESION_FEATURE_NAMES.len());
    let pct = f.get("lesion_pct").unwrap();
    assert!(pct > 0.5, "lesion percentage {pct}");
    let (hu0, lung0, _) = synthetic(false);
    let c0 = candidates(hu0.view(), lung0.view(), lung0.view(), spacing()).expect("cands");
    let f0 = det.scan_features(&c0, spacing()).expect("features");
    let pct0 = f0.get("lesion_pct").unwrap();
    assert!(pct0 < 0.05, "normal scan lesion percentage {pct0}");

    // Saved and loaded, it scores every candidate exactly as before.
    let back = LesionDetector::from_json(&det.to_json().expect("json")).expect("load");
    assert_eq!(back.predict(&c).expect("p"), det.predict(&c).expect("p"));
    assert_eq!(back.training_voxels, det.training_voxels);
    // A file made for other features, or no detector at all, is refused with a reason.
    let json = det.to_json().expect("json");
    let renamed = json.replacen("hu_3x3", "hu_5x5", 1);
    let e = LesionDetector::from_json(&renamed).expect_err("other features");
    assert!(
        e.to_string().contains("other voxel or component features"),
        "{e}"
    );
    let e = LesionDetector::from_json("{}").expect_err("not a detector");
    assert!(
        e.to_string()
            .contains("format \"(none)\" version (none), expected \"covid-ct lesion detector\""),
        "{e}"
    );
    let e = LesionDetector::from_json("[1, 2").expect_err("not JSON");
    assert!(
        e.to_string().contains("not a readable lesion detector"),
        "{e}"
    );
    let e = LesionDetector::from_json(&json.replacen("\"version\":1", "\"version\":9", 1))
        .expect_err("version");
    assert!(e.to_string().contains("version 9"), "{e}");
}

#[test]
fn shape_mismatch_and_label_free_training_are_errors() {
    let (hu, lung, les) = synthetic(true);
    let small = Array3::<u8>::zeros((2, 2, 2));
    assert!(candidates(hu.view(), small.view(), lung.view(), spacing()).is_err());
    let c = candidates(hu.view(), lung.view(), lung.view(), spacing()).expect("cands");
    assert!(sample_training(&c, small.view(), 10).is_err());
    let none = sample_training(&c, Array3::<u8>::zeros(les.dim()).view(), 10).expect("sample");
    assert!(LesionDetector::train(vec![none], 5, 0).is_err());
    let empty = Array3::<u8>::zeros(lung.dim());
    let c = candidates(hu.view(), empty.view(), empty.view(), spacing()).expect("empty");
    assert_eq!(c.features.nrows(), 0);
}
/// Candidates of a 1 × 10 × 20 slab with every voxel a candidate; voxel feature 0 (HU)
/// is −500 except where `dense`.
fn slab(dense: impl Fn(usize, usize) -> bool) -> Candidates {
    let (ny, nx) = (10, 20);
    let mut rows = Vec::new();
    let mut positions = Vec::new();
    for y in 0..ny {
        for x in 0..nx {
            let mut f = vec![0.0; VOXEL_FEATURE_NAMES.len()];
            f[0] = if dense(y, x) { 0.0 } else { -500.0 };
            f[11] = 12.0;
            rows.extend(f);
            positions.push([0, y as u32, x as u32]);
        }
    }
    Candidates {
        features: Array2::from_shape_vec((ny * nx, VOXEL_FEATURE_NAMES.len()), rows).expect("rows"),
        positions,
        lung_voxels: ny * nx,
        shape: (1, ny, nx),
        x_mid: 10.0,
        shape_features: [1.0, 0.0, 0.0, 0.0],
    }
}

#[test]
fn component_table_counts_sizes_shares_and_sides() {
    // Two detected squares: 3 × 3 at x 2..5 (left of the midline, dense) and 2 × 4 at
    // x 14..18 (right), of which the reference marks half.
    let c = slab(|_, x| x < 5);
    let p: Vec<f64> = c
        .positions
        .iter()
        .map(|q| {
            let (y, x) = (q[1], q[2]);
            let a = (2..5).contains(&y) && (2..5).contains(&x);
            let b = (6..8).contains(&y) && (14..18).contains(&x);
            if a || b { 0.8 } else { 0.1 }
        })
        .collect();
    let mut mask = Array3::<u8>::zeros((1, 10, 20));
    for y in 6..8 {
        for x in 14..16 {
            mask[[0, y, x]] = 1;
        }
    }
    let t = component_table(&c, &p, spacing(), Some(mask.view())).expect("table");
    assert_eq!(t.features.dim(), (2, COMPONENT_FEATURE_NAMES.len()));
    let mut v = t.voxels.clone();
    v.sort_unstable();
    assert_eq!(v, vec![8, 9]);
    let a = t.voxels.iter().position(|&n| n == 9).expect("square");
    let b = 1 - a;
    assert_eq!(t.lesion_share.as_ref().expect("shares")[b], 0.5);
    assert_eq!(t.lesion_share.as_ref().expect("shares")[a], 0.0);
    assert!((t.mean_x[a] - 3.0).abs() < 1e-12);
    assert!((t.features[[a, 1]] - 0.8).abs() < 1e-12, "mean probability");
    assert!(
        (t.features[[a, 8]] - 0.0).abs() < 1e-12,
        "mean HU of the dense square"
    );
    assert!((t.features[[b, 8]] + 500.0).abs() < 1e-12);
    // z extent 1 slice of 2 mm; in-plane extent 4 columns of 1.5 mm; fill 8 / 8.
    assert!((t.features[[b, 3]] - 2.0).abs() < 1e-12);
    assert!((t.features[[b, 4]] - 6.0).abs() < 1e-12);
    assert!((t.features[[b, 5]] - 1.0).abs() < 1e-12);
    let sample = ComponentSample::from_table(&t).expect("labelled");
    assert_eq!(
        sample.labels.iter().sum::<usize>(),
        1,
        "one lesion component"
    );

    // Scores: only the left square is confident.
    let mut scores = vec![0.0; 2];
    scores[a] = 0.9;
    scores[b] = 0.2;
    let f = component_scan_features(&t, &scores, c.x_mid);
    assert_eq!(f.len(), LESION_FEATURE_NAMES.len() - VOXEL_SUMMARY_LEN);
    let g = |name: &str| f.get(name).unwrap();
    assert_eq!(g("comp_max_score"), 0.9);
    assert_eq!(g("comp_confident_count"), 1.0, "one confident component");
    assert_eq!(g("comp_confident_bilateral"), 0.0, "not bilateral");
    assert_eq!(
        g("comp_top_mean_hu"),
        0.0,
        "the best one is the dense square"
    );
    assert!(
        g("comp_scored_consolidation_ml") > 0.0
            && g("comp_scored_ggo_ml") > 0.0
            && g("comp_scored_ml") > g("comp_scored_consolidation_ml")
    );
    scores[b] = 0.7;
    assert_eq!(
        component_scan_features(&t, &scores, c.x_mid).get("comp_confident_bilateral"),
        Some(1.0)
    );

    // Nothing detected: neutral values; mismatched inputs are errors.
    let none = component_table(&c, &vec![0.0; p.len()], spacing(), None).expect("empty");
    assert_eq!(none.features.nrows(), 0);
    assert!(none.lesion_share.is_none());
    assert!(ComponentSample::from_table(&none).is_err());
    assert_eq!(
        component_scan_features(&none, &[], 10.0).get("comp_top_mean_hu"),
        Some(-900.0)
    );
    assert!(component_table(&c, &p[1..], spacing(), None).is_err());
    let small = Array3::<u8>::zeros((1, 2, 2));
    assert!(component_table(&c, &p, spacing(), Some(small.view())).is_err());
}

#[test]
fn component_stage_learns_dense_from_faint_and_needs_both_kinds() {
    let (hu, lung, les) = synthetic(true);
    let c = candidates(hu.view(), lung.view(), lung.view(), spacing()).expect("cands");
    let det0 = LesionDetector::train(
        vec![sample_training(&c, les.view(), 300).expect("sample")],
        10,
        0,
    )
    .expect("train");
    // Hand-made component rows: lesions have mean probability 0.9, false ones 0.3.
    let row = |p: f64| {
        let mut r = vec![0.0; COMPONENT_FEATURE_NAMES.len()];
        r[1] = p;
        r
    };
    let make = |n_pos: usize, n_neg: usize| ComponentSample {
        rows: (0..n_pos)
            .map(|_| row(0.9))
            .chain((0..n_neg).map(|_| row(0.3)))
            .flatten()
            .collect(),
        labels: (0..n_pos).map(|_| 1).chain((0..n_neg).map(|_| 0)).collect(),
    };
    let mut det = det0.clone();
    assert!(!det.train_components(vec![make(3, 40)], 0).expect("too few"));
    assert_eq!(det.training_components, (0, 0));
    assert!(
        det.train_components(vec![make(20, 40)], 0)
            .expect("trained")
    );
    assert_eq!(det.training_components, (20, 40));
    let t = ComponentTable {
        features: Array2::from_shape_vec(
            (2, COMPONENT_FEATURE_NAMES.len()),
            row(0.9).into_iter().chain(row(0.3)).collect(),
        )
        .expect("rows"),
        voxels: vec![10, 10],
        mean_x: vec![0.0, 0.0],
        lesion_share: None,
        voxel_ml: 0.001,
    };
    let s = det.component_scores(&t).expect("scores");
    assert!(s[0] > 0.8 && s[1] < 0.2, "{s:?}");
    // Untrained: the mean voxel probability.
    assert_eq!(det0.component_scores(&t).expect("scores"), vec![0.9, 0.3]);
    let bad = ComponentSample {
        rows: vec![0.0; 3],
        labels: vec![1],
    };
    assert!(det.train_components(vec![bad], 0).is_err());
}
