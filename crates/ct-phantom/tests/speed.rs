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
