//! Behaviour of the generator: determinism, geometry, masks against HU, injected slices,
//! typed errors, and that a one-feature rule cannot diagnose the cohort.

use ct_core::{Contrast, Label};
use ct_phantom::{
    CohortConfig, Error, Format, InjectionKind, PhantomScan, generate_cohort, generate_scan,
};

fn tiny() -> CohortConfig {
    CohortConfig {
        n_per_class: 2,
        slices: (16, 16),
        size: 64,
        ..CohortConfig::default()
    }
}

#[test]
fn deterministic_and_thread_count_independent() {
    let cfg = CohortConfig::small();
    let a = generate_cohort(&cfg).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let b = one.install(|| generate_cohort(&cfg)).unwrap();
    assert_eq!(a.len(), 9);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.scan, y.scan);
        assert_eq!(x.truth, y.truth);
    }
    // Scan i alone equals scan i of the cohort.
    let s4 = generate_scan(&cfg, 4).unwrap();
    assert_eq!(s4.scan, a[4].scan);
    assert_eq!(s4.truth.lesion_mask, a[4].truth.lesion_mask);
    // Another seed gives other scans.
    let other = generate_scan(&CohortConfig { seed: 7, ..cfg }, 4).unwrap();
    assert_ne!(other.scan.volume, a[4].scan.volume);
}

#[test]
fn labels_contrast_groups_and_ids() {
    let cfg = CohortConfig::small();
    let c = generate_cohort(&cfg).unwrap();
    for (i, p) in c.iter().enumerate() {
        let label = Label::ALL[i / 3];
        assert_eq!(p.scan.label, Some(label));
        assert_eq!(p.truth.label, label);
        assert_eq!(p.scan.meta.contrast, Some(p.truth.contrast));
        assert_eq!(p.scan.id, p.truth.id);
    }
    // round(3 · 0.5) = 2 low-contrast scans per class.
    for label in Label::ALL {
        let low = c
            .iter()
            .filter(|p| p.truth.label == label && p.truth.contrast == Contrast::Low)
            .count();
        assert_eq!(low, 2, "{label}");
    }
    let mut ids: Vec<_> = c.iter().map(|p| p.scan.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 9);
}

#[test]
fn shapes_and_spacing_ranges() {
    let cfg = CohortConfig {
        n_per_class: 2,
        size: 48,
        ..CohortConfig::default()
    };
    for i in 0..6 {
        let p = generate_scan(&cfg, i).unwrap();
        let [nz, ny, nx] = p.scan.volume.shape();
        assert!((40..=120).contains(&nz), "{nz} slices");
        assert_eq!((ny, nx), (48, 48));
        let sp = p.scan.volume.spacing();
        assert!((1.0..=5.0).contains(&sp.z), "thickness {}", sp.z);
        assert_eq!(p.scan.meta.slice_thickness, Some(sp.z));
        let p512 = sp.y * 48.0 / 512.0;
        assert!(
            (0.6..=0.8 + 1e-12).contains(&p512),
            "spacing at 512: {p512}"
        );
        assert_eq!(sp.x, sp.y);
        assert_eq!(p.truth.lung_mask.dim(), (nz, 48, 48));
        assert_eq!(p.truth.lesion_mask.dim(), (nz, 48, 48));
        assert_eq!(p.truth.acquisition.n_slices, nz);
    }
}

fn lung_stats(p: &PhantomScan) -> (f64, f64, usize) {
    let (mut sum_lung, mut n_lung, mut sum_les, mut n_les) = (0.0, 0usize, 0.0, 0usize);
    let skip = &p.truth.injected;
    for (k, ((hu, lung), les)) in p
        .scan
        .volume
        .data()
        .outer_iter()
        .zip(p.truth.lung_mask.outer_iter())
        .zip(p.truth.lesion_mask.outer_iter())
        .enumerate()
    {
        if skip.contains(&k) {
            continue;
        }
        for ((&h, &l), &s) in hu.iter().zip(lung.iter()).zip(les.iter()) {
            if s == 1 {
                sum_les += h as f64;
                n_les += 1;
            } else if l == 1 {
                sum_lung += h as f64;
                n_lung += 1;
            }
        }
    }
    (
        sum_lung / n_lung.max(1) as f64,
        sum_les / n_les.max(1) as f64,
        n_les,
    )
}

#[test]
fn masks_agree_with_hu() {
    let cfg = CohortConfig {
        n_per_class: 4,
        low_contrast_fraction: 0.0,
        subtle_fraction: 0.0,
        ..tiny()
    };
    for p in generate_cohort(&cfg).unwrap() {
        let t = &p.truth;
        assert!(t.lung_voxels > 0, "{}", t.id);
        // Lesion voxels always lie inside the lungs, and only in positives.
        assert!(
            t.lesion_mask
                .iter()
                .zip(&t.lung_mask)
                .all(|(&l, &m)| l <= m)
        );
        assert!(t.lesion_mask.iter().all(|&v| v <= 1) && t.lung_mask.iter().all(|&v| v <= 1));
        let (lung_hu, les_hu, n_les) = lung_stats(&p);
        // Normal parenchyma (with vessels, airways, atelectasis): about −880…−700 HU.
        assert!(
            (-900.0..-650.0).contains(&lung_hu),
            "{}: lung mean {lung_hu}",
            t.id
        );
        match t.label {
            Label::Normal => assert_eq!(t.lesion_voxels, 0),
            Label::Covid => {
                assert!(n_les > 0, "{}", t.id);
                // Ground glass (−700…−300) with some consolidated cores; the soft margin
                // (weight ≥ 0.5) pulls the mean toward the lung.
                assert!(
                    (-760.0..-150.0).contains(&les_hu),
                    "{}: lesion mean {les_hu}",
                    t.id
                );
            }
            Label::Cap => {
                assert!(n_les > 0, "{}", t.id);
                // Consolidation (−100…+50) or dense patches (−450…−50).
                assert!(
                    (-500.0..80.0).contains(&les_hu),
                    "{}: lesion mean {les_hu}",
                    t.id
                );
            }
        }
        assert!((t.lesion_fraction - t.lesion_voxels as f64 / t.lung_voxels as f64).abs() < 1e-12);
    }
}

#[test]
fn injected_slices_are_recorded_and_only_they_change() {
    let with = CohortConfig {
        inject_fraction: 1.0,
        ..tiny()
    };
    let without = CohortConfig {
        inject_fraction: 0.0,
        ..tiny()
    };
    let (a, b) = (
        generate_cohort(&with).unwrap(),
        generate_cohort(&without).unwrap(),
    );
    let mut kinds = [0usize; 2];
    for (p, q) in a.iter().zip(&b) {
        let t = &p.truth;
        assert!(q.truth.injected.is_empty());
        assert!(!t.injected.is_empty() && t.injected.len() <= with.max_injected);
        assert_eq!(
            t.injected,
            t.injections.iter().map(|i| i.slice).collect::<Vec<_>>()
        );
        let n = p.scan.volume.n_slices();
        for w in t.injected.windows(2) {
            assert!(w[1] > w[0] + 1, "adjacent injections {:?}", t.injected);
        }
        for inj in &t.injections {
            assert!(inj.slice >= 1 && inj.slice + 1 < n);
            match inj.kind {
                InjectionKind::OtherScan => {
                    kinds[0] += 1;
                    assert_ne!(inj.source_id, t.id);
                }
                InjectionKind::Shifted => {
                    kinds[1] += 1;
                    assert_eq!(inj.source_id, t.id);
                }
            }
        }
        for k in 0..n {
            let same = p.scan.volume.slice(k).unwrap() == q.scan.volume.slice(k).unwrap();
            assert_eq!(same, !t.injected.contains(&k), "{} slice {k}", t.id);
        }
    }
    assert!(kinds[0] > 0 && kinds[1] > 0, "both kinds occur: {kinds:?}");
}

#[test]
fn truth_json_skips_masks_and_round_trips() {
    let p = generate_scan(&tiny(), 5).unwrap();
    let s = serde_json::to_string(&p.truth).unwrap();
    assert!(!s.contains("lung_mask") && s.contains("\"label\":\"covid-19\""));
    let back: ct_phantom::Truth = serde_json::from_str(&s).unwrap();
    assert_eq!(back.id, p.truth.id);
    // serde_json's default float parser may differ in the last bit.
    assert_eq!(back.lesions.len(), p.truth.lesions.len());
    for (a, b) in back.lesions.iter().zip(&p.truth.lesions) {
        assert_eq!(a.kind, b.kind);
        assert!((a.radius_mm - b.radius_mm).abs() < 1e-9);
    }
    assert_eq!(back.injected, p.truth.injected);
    assert_eq!(back.lung_mask.len(), 0);
}

#[test]
fn bad_configs_give_typed_errors() {
    let bad = |f: fn(&mut CohortConfig), param: &str| {
        let mut c = CohortConfig::default();
        f(&mut c);
        match generate_scan(&c, 0) {
            Err(Error::InvalidConfig { param: p, .. }) => assert_eq!(p, param),
            other => panic!("{param}: {other:?}"),
        }
    };
    bad(|c| c.n_per_class = 0, "n_per_class");
    bad(|c| c.slices = (50, 40), "slices");
    bad(|c| c.slices = (2, 40), "slices");
    bad(|c| c.size = 8, "size");
    bad(|c| c.low_contrast_fraction = 1.5, "low_contrast_fraction");
    bad(|c| c.inject_fraction = f64::NAN, "inject_fraction");
    bad(|c| c.subtle_fraction = -0.1, "subtle_fraction");
    bad(|c| c.max_injected = 0, "max_injected");
    bad(|c| c.pixel_spacing_512 = (0.8, 0.6), "pixel_spacing_512");
    bad(|c| c.thickness = (0.0, 5.0), "thickness");
    assert!(
        generate_cohort(&CohortConfig {
            size: 0,
            ..CohortConfig::default()
        })
        .is_err()
    );
    assert!(matches!(
        generate_scan(&CohortConfig::small(), 9),
        Err(Error::IndexOutOfRange { index: 9, len: 9 })
    ));
    let e = "png".parse::<Format>().unwrap_err();
    assert!(matches!(e, Error::UnknownFormat(_)));
    assert!(e.to_string().contains("png"));
    assert_eq!("NIfTI".parse::<Format>().unwrap(), Format::Nifti);
}

#[test]
fn subtle_positives_are_small_and_faint() {
    let cfg = CohortConfig {
        subtle_fraction: 1.0,
        ..tiny()
    };
    for p in generate_cohort(&cfg).unwrap() {
        let t = &p.truth;
        assert_eq!(t.subtle, t.label != Label::Normal, "{}", t.id);
        if t.subtle {
            assert!(
                (1..=2).contains(&t.lesions.len()),
                "{}: {} lesions",
                t.id,
                t.lesions.len()
            );
            assert!(t.lesions.iter().all(|l| l.radius_mm <= 15.0));
        }
    }
}

/// The seed's grey gate counts the pixels equal to the slice maximum of an 8-bit slice:
/// with the lung window, the low-contrast export (clipped in the soft-tissue range)
/// saturates many more pixels than the high-contrast one.
#[test]
fn contrast_groups_differ_in_saturated_pixels() {
    let cfg = CohortConfig {
        n_per_class: 4,
        inject_fraction: 0.0,
        ..tiny()
    };
    let (mut high, mut low) = (Vec::new(), Vec::new());
    for p in generate_cohort(&cfg).unwrap() {
        let mut counts: Vec<usize> = p
            .scan
            .volume
            .slices()
            .map(|s| {
                let u: Vec<u8> = s.iter().map(|&h| ct_core::Window::LUNG.apply(h)).collect();
                let m = *u.iter().max().unwrap();
                u.iter().filter(|&&v| v == m).count()
            })
            .collect();
        counts.sort_unstable();
        let median = counts[counts.len() / 2];
        match p.truth.contrast {
            Contrast::High => high.push(median),
            Contrast::Low => low.push(median),
        }
        // Low-dose scans are noisier.
        let sigma = p.truth.acquisition.noise_sigma_hu;
        assert!(sigma > 4.0 && sigma < 110.0);
    }
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    assert!(
        mean(&low) > 2.0 * mean(&high),
        "low {low:?} vs high {high:?}"
    );
}
