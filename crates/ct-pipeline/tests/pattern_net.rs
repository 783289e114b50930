//! The shipped lesion-pattern U-Net on phantoms it never saw (the evaluated cohort's seed,
//! 2021; it was trained on seed 2021 + `PATTERN_SEED_OFFSET`): COVID-19-like lesion volume
//! where COVID-19 lesions are, CAP-like where CAP's are, little of either in a normal scan.

use ct_core::Label;
use ct_phantom::{CohortConfig, generate_scan};
use ct_pipeline::lesion_patterns::{
    Crop, PATTERN_FEATURE_NAMES, PatternMaps, PatternNet, downsample, downsample_factor,
    downsample_mask, pattern_features,
};

fn features_of(net: &PatternNet, pc: &CohortConfig, i: usize) -> (Label, bool, Vec<f64>) {
    let ps = generate_scan(pc, i).unwrap();
    let sp = ps.scan.volume.spacing();
    let f = downsample_factor(0.5 * (sp.y + sp.x));
    let vol = downsample(ps.scan.volume.view(), f);
    let region = downsample_mask(ps.truth.lung_mask.view(), f);
    let (nz, h, w) = vol.dim();
    let zs: Vec<usize> = (0..nz).step_by(2).collect();
    let crop = Crop { y0: 0, x0: 0, h, w };
    let p = net.predict(&vol, &zs, crop, 8).unwrap();
    let feats = pattern_features(&PatternMaps {
        p: &p,
        vol: &vol,
        region: &region,
        zs: &zs,
        crop,
        spacing: sp,
        factor: f,
        z_step: 2,
    })
    .unwrap();
    (ps.truth.label, ps.truth.subtle, feats.values().to_vec())
}

#[test]
fn shipped_pattern_net_tells_lesion_patterns_apart() {
    let net = PatternNet::shipped().unwrap();
    let pc = CohortConfig {
        n_per_class: 30,
        seed: 2021,
        size: 256,
        slices: (40, 60),
        inject_fraction: 0.0,
        ..CohortConfig::default()
    };
    let col = |name: &str| {
        PATTERN_FEATURE_NAMES
            .iter()
            .position(|n| *n == name)
            .unwrap()
    };
    let (cap_ml, covid_ml) = (col("cnn_cap_ml"), col("cnn_covid_ml"));
    // The first non-subtle scan of each class (scans are ordered normal, CAP, COVID-19).
    let mut seen = Vec::new();
    for class in 0..3 {
        for i in class * 30..(class + 1) * 30 {
            let (label, subtle, f) = features_of(&net, &pc, i);
            if !subtle {
                eprintln!("scan {i} {label:?}: {f:?}");
                seen.push((label, f));
                break;
            }
        }
    }
    let [(l0, normal), (l1, cap), (l2, covid)] = &seen[..] else {
        panic!("expected one scan per class")
    };
    assert_eq!((*l0, *l1, *l2), (Label::Normal, Label::Cap, Label::Covid));
    assert!(
        covid[covid_ml] > 3.0 * covid[cap_ml],
        "COVID-19 scan: {covid:?}"
    );
    assert!(cap[cap_ml] > 3.0 * cap[covid_ml], "CAP scan: {cap:?}");
    let lesion = |f: &Vec<f64>| f[cap_ml] + f[covid_ml];
    assert!(
        lesion(normal) < 0.4 * lesion(cap).min(lesion(covid)),
        "normal {normal:?} vs CAP {cap:?} and COVID-19 {covid:?}"
    );
}
