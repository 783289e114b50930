use super::*;
use ndarray::{Array3, s};

fn lungs(ggo_left: bool, ggo_right: bool) -> (Array3<i16>, Array3<u8>) {
    let mut hu = Array3::<i16>::from_elem((6, 40, 60), 40);
    let mut m = Array3::<u8>::zeros((6, 40, 60));
    m.slice_mut(s![.., 5..35, 5..25]).fill(1);
    m.slice_mut(s![.., 5..35, 35..55]).fill(1);
    hu.slice_mut(s![.., 5..35, 5..25]).fill(-850);
    hu.slice_mut(s![.., 5..35, 35..55]).fill(-850);
    if ggo_left {
        hu.slice_mut(s![1..5, 6..16, 6..14]).fill(-500);
    }
    if ggo_right {
        hu.slice_mut(s![1..5, 20..30, 46..54]).fill(-500);
    }
    (hu, m)
}

fn get(_cfg: &FeatureConfig, f: &NamedFeatures, name: &str) -> f64 {
    f.get(name).unwrap()
}

#[test]
fn normal_lung_has_no_abnormal_fraction() {
    let cfg = FeatureConfig::default();
    let (hu, m) = lungs(false, false);
    let f = scan_features(
        "n",
        hu.view(),
        m.view(),
        Spacing::new(2.0, 0.5, 0.5).unwrap(),
        &cfg,
    )
    .unwrap();
    assert_eq!(f.len(), feature_names(&cfg).len());
    assert_eq!(get(&cfg, &f, "frac_ggo"), 0.0);
    assert_eq!(get(&cfg, &f, "abnormal_frac"), 0.0);
    assert_eq!(get(&cfg, &f, "hu_mean"), -850.0);
    assert_eq!(get(&cfg, &f, "hu_p50"), -850.0);
    // 2 × 30 × 20 × 6 voxels of 0.5 mm³
    assert!((get(&cfg, &f, "lung_volume_ml") - 7200.0 * 0.5 / 1000.0).abs() < 1e-9);
    let hist_sum: f64 = f.values()[SCALAR_NAMES.len()..].iter().sum();
    assert!((hist_sum - 1.0).abs() < 1e-9);
}

#[test]
fn laterality_and_ggo_are_seen() {
    let cfg = FeatureConfig::default();
    // 2 mm pixels: the 3 mm opening disk (radius 2 px) fits inside the 10×8 px lesions.
    let sp = Spacing::new(2.0, 2.0, 2.0).unwrap();
    let (hu1, m1) = lungs(true, false);
    let one = scan_features("a", hu1.view(), m1.view(), sp, &cfg).unwrap();
    let (hu2, m2) = lungs(true, true);
    let both = scan_features("b", hu2.view(), m2.view(), sp, &cfg).unwrap();
    assert!(get(&cfg, &one, "frac_ggo") > 0.0);
    assert!(get(&cfg, &both, "frac_ggo") > get(&cfg, &one, "frac_ggo"));
    assert_eq!(get(&cfg, &one, "abn_min_side"), 0.0);
    assert!(get(&cfg, &both, "abn_min_side") > 0.0);
    assert!(get(&cfg, &one, "abn_asymmetry") > 0.99);
    assert!(get(&cfg, &both, "abn_asymmetry") < 0.2);
    // Lesions touch only slices 1..5 of 0..6.
    assert!((get(&cfg, &both, "involved_slices_frac") - 4.0 / 6.0).abs() < 1e-9);
    assert!((get(&cfg, &both, "abn_z_centroid") - 0.5).abs() < 1e-9);
    // Two lesions, one 3-D component each; the lesion HU is −500 (ground glass).
    assert!(
        get(&cfg, &both, "blob_components_per_litre")
            > get(&cfg, &one, "blob_components_per_litre")
    );
    assert!(get(&cfg, &both, "blob_ggo_frac") > 0.0);
    assert_eq!(get(&cfg, &both, "blob_cons_frac"), 0.0);
}

#[test]
fn bad_input_is_an_error() {
    let cfg = FeatureConfig::default();
    let (hu, _) = lungs(false, false);
    let empty = Array3::<u8>::zeros(hu.dim());
    assert!(matches!(
        scan_features("e", hu.view(), empty.view(), Spacing::default(), &cfg),
        Err(Error::EmptyMask(_))
    ));
    let small = Array3::<u8>::ones((1, 2, 3));
    assert!(matches!(
        scan_features("s", hu.view(), small.view(), Spacing::default(), &cfg),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn border_distance_is_city_block() {
    let mut m = Array2::<u8>::zeros((5, 5));
    m.slice_mut(s![1..4, 1..4]).fill(1);
    let d = cityblock_distance(m.view());
    assert_eq!(d[[2, 2]], 2);
    assert_eq!(d[[1, 1]], 1);
    assert_eq!(d[[0, 0]], 0);
}
