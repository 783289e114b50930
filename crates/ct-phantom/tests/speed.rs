//! The speed target: 60 scans of 64 × 256 × 256 in under 10 s on 2 cores (release).
//! Heavy, so ignored by default; run with
//! `cargo test --release -p ct-phantom --test speed -- --ignored --nocapture`
//! (under `/usr/bin/time` to see the CPU time). Timings are printed, never asserted.

use ct_phantom::{CohortConfig, generate_cohort};

#[test]
#[ignore]
fn cohort_60_scans_64x256x256() {
    let cfg = CohortConfig {
        n_per_class: 20,
        slices: (64, 64),
        size: 256,
        ..CohortConfig::default()
    };
    let t = std::time::Instant::now();
    let cohort = generate_cohort(&cfg).unwrap();
    let wall = t.elapsed().as_secs_f64();
    let voxels: usize = cohort.iter().map(|p| p.scan.volume.data().len()).sum();
    eprintln!(
        "60 scans, {voxels} voxels in {wall:.2} s wall ({} rayon threads)",
        rayon::current_num_threads()
    );
    assert_eq!(cohort.len(), 60);
}

/// One 64 × 512 × 512 scan (the anchors' volume size), for the comparison with the numpy
/// generator in `tools/ct-phantom/time_anchor_volume.py`; run with `RAYON_NUM_THREADS=1`
/// for the single-thread figure.
#[test]
#[ignore]
fn one_scan_64x512x512() {
    let cfg = CohortConfig {
        n_per_class: 1,
        slices: (64, 64),
        size: 512,
        inject_fraction: 0.0,
        ..CohortConfig::default()
    };
    let mut times = Vec::new();
    for i in 0..3 {
        let t = std::time::Instant::now();
        let p = ct_phantom::generate_scan(&cfg, i).unwrap();
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(p.scan.volume.shape(), [64, 512, 512]);
    }
    times.sort_by(f64::total_cmp);
    eprintln!(
        "64x512x512 scan: min {:.3} s, median {:.3} s ({} rayon threads)",
        times[0],
        times[1],
        rayon::current_num_threads()
    );
}
