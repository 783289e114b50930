//! The pre-processing recipe on real chest CT: the lung region of interest must hold the
//! reviewed reference lungs (ct-morph's `tests/data/realct/`) and not much more (the margin
//! in z and along the longer in-plane side; the shorter side is widened to a square), on
//! scans with a couch, contrast, a tight field of view and 0.57–1.5 mm pixels.
//!
//! The scans come from `tools/realct/fetch.sh` (`$COVID_CT_REALCT`, else `target/realct`);
//! without them the test prints why and passes, unless `COVID_CT_REALCT_REQUIRED=1` (CI).
//!
//! ```text
//! tools/realct/fetch.sh && cargo test -p ct-train --test realct -- --nocapture
//! ```

use std::path::Path;

use ct_train::{Recipe, ZSampling};

#[path = "../../../tools/realct/cache.rs"]
mod realct_cache;
use realct_cache::cache;

/// Scans whose reference holds both lungs (the others have slivers of lung base only).
const SCANS: [(&str, &str); 4] = [
    ("lidc_0001", "lidc_0001"),
    ("ts_chest_cta", "ts_chest_cta.nii.gz"),
    ("pyrad_lung1", "pyrad_lung1.nii.gz"),
    ("pyrad_lung2", "pyrad_lung2.nii.gz"),
];

/// Share of reference lung voxels that must lie inside the region of interest.
const MIN_INSIDE: f64 = 0.995;
/// How far (mm) past the margin the region may reach beyond the reference lungs' box.
const MAX_EXCESS_MM: f64 = 5.0;

#[test]
fn lung_roi_holds_the_reference_lungs_on_real_ct() {
    let Some(cache) = cache() else { return };
    let refs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ct-morph/tests/data/realct");
    let recipe = Recipe {
        size: 64,
        z: ZSampling::Fixed { slices: 16 },
        ..Recipe::default()
    };
    let margin = match recipe.lung_roi {
        ct_train::LungRoi::BodyFirst { margin_mm } => margin_mm,
        ct_train::LungRoi::Whole => unreachable!(),
    };
    for (name, file) in SCANS {
        let scan = ct_io::read_volume(&cache.join(file)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let reference = ct_io::read_volume(&refs.join(format!("{name}_ref.nii.gz")))
            .unwrap()
            .volume;
        let p = recipe
            .apply(&scan)
            .unwrap_or_else(|e| panic!("{name}: {}", e.chain()));
        assert_eq!(p.data.dim(), (16, 64, 64));
        assert!(p.data.iter().all(|v| (0.0..=1.0).contains(v)));
        let [[z0, z1], [y0, y1], [x0, x1]] = p.roi;
        let (mut inside, mut total) = (0u64, 0u64);
        let mut lo = [usize::MAX; 3];
        let mut hi = [0usize; 3];
        for ((z, y, x), &v) in reference.data().indexed_iter() {
            if v == 1 || v == 2 {
                total += 1;
                inside += u64::from(
                    (z0..z1).contains(&z) && (y0..y1).contains(&y) && (x0..x1).contains(&x),
                );
                for (a, i) in [z, y, x].into_iter().enumerate() {
                    lo[a] = lo[a].min(i);
                    hi[a] = hi[a].max(i + 1);
                }
            }
        }
        let share = inside as f64 / total as f64;
        let sp = scan.volume.spacing().to_array();
        let excess: Vec<f64> = (0..3)
            .map(|a| {
                let before = lo[a].saturating_sub(p.roi[a][0]) as f64 * sp[a];
                let after = p.roi[a][1].saturating_sub(hi[a]) as f64 * sp[a];
                before.max(after)
            })
            .collect();
        println!(
            "{name}: roi z {z0}..{z1} y {y0}..{y1} x {x0}..{x1}; {:.2} % of the reference lungs inside; widest excess per axis (z, y, x) {:.1} / {:.1} / {:.1} mm",
            100.0 * share,
            excess[0],
            excess[1],
            excess[2]
        );
        assert!(
            share >= MIN_INSIDE,
            "{name}: only {:.3} of the lungs inside the ROI",
            share
        );
        // z and the longer in-plane side: the margin and no more. The shorter in-plane side is
        // widened to a square (in mm), unless the image ends first.
        let side = |a: usize| (p.roi[a][1] - p.roi[a][0]) as f64 * sp[a];
        let lung_side = |a: usize| (hi[a] - lo[a]) as f64 * sp[a];
        let longer = if lung_side(1) >= lung_side(2) { 1 } else { 2 };
        for a in [0, longer] {
            assert!(
                excess[a] <= margin + MAX_EXCESS_MM,
                "{name}: axis {a} reaches {:.1} mm past the lungs",
                excess[a]
            );
        }
        let shape = scan.volume.shape();
        let clipped = (1..3).any(|a| p.roi[a] == [0, shape[a]]);
        assert!(
            clipped || (side(1) - side(2)).abs() <= 2.0 * sp[1].max(sp[2]),
            "{name}: in-plane ROI {:.1} × {:.1} mm is not square",
            side(1),
            side(2)
        );
    }
}

/// The whole training path on real files: a class tree of real scans (NIfTI and a DICOM
/// series; the labels are arbitrary, this checks reading, the ROI, the cache and the loop,
/// not accuracy) plus a damaged file that is skipped without stopping the run.
#[test]
fn a_run_on_real_scans_goes_end_to_end_and_skips_a_damaged_one() {
    let Some(cache) = cache() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    for (class, name) in [
        ("normal", "pyrad_lung1.nii.gz"),
        ("normal", "ts_chest_cta.nii.gz"),
        ("covid", "pyrad_lung2.nii.gz"),
        ("covid", "lidc_0001"),
    ] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        std::os::unix::fs::symlink(cache.join(name), root.join(class).join(name)).unwrap();
    }
    std::fs::write(root.join("covid/damaged.nii.gz"), b"not a nifti file").unwrap();
    let ds = ct_io::dataset::Dataset::open(&root).unwrap();
    let mut cfg = ct_train::TrainConfig::new(ct_train::ModelSpec {
        width: 4,
        ..ct_train::ModelSpec::new(ct_train::ModelKind::CovnetResnet18)
    });
    cfg.recipe.size = 32;
    cfg.recipe.z = ZSampling::Fixed { slices: 8 };
    cfg.slices = 4;
    cfg.epochs = 2;
    cfg.folds = 2;
    let cache_dir = tmp.path().join("cache");
    let prep = ct_train::PrepareOptions {
        cache: Some(&cache_dir),
    };
    let data = ct_train::ScanDataset::from_dataset(&ds, &cfg.recipe, &prep, &|_, _| {}).unwrap();
    assert_eq!(data.items().len(), 4);
    assert_eq!(data.skipped().len(), 1);
    assert_eq!(data.skipped()[0].id, "damaged");
    println!("skipped: {}", data.skipped()[0].reason);
    let opts = ct_train::RunOptions {
        out: tmp.path().join("run"),
        resume: false,
        stop_after: None,
        device: covnet_models::cpu_device(),
    };
    let end = ct_train::train_run(&data, &cfg, &opts, &ct_train::Quiet).unwrap();
    let ct_train::RunEnd::Done(summary) = end else {
        panic!("paused")
    };
    assert_eq!(summary.n_predicted, 4);
    assert_eq!(summary.skipped.len(), 1);
    // A second preparation reads every scan from the cache.
    let again = ct_train::ScanDataset::from_dataset(&ds, &cfg.recipe, &prep, &|_, _| {}).unwrap();
    assert_eq!(again.cache_hits(), 4);
    assert_eq!(again.items()[0].volume, data.items()[0].volume);
}
