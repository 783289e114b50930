//! Precision / recall of the seed's neighbour rule on the phantom cohort's injected
//! out-of-place slices, for each criterion and threshold (the table of
//! docs/ct-similarity.md). Heavy: ignored by default.
//!
//! ```text
//! cargo test -p ct-similarity --release --test phantom_sweep -- --ignored --nocapture
//! PHANTOM_N=10 PHANTOM_SIZE=256 (scans per class, slice size; defaults 6 and 128)
//! ```

use ct_core::Window;
use ct_phantom::{CohortConfig, generate_cohort};
use ct_similarity::{Criterion, HashKind, SsimParams, flag_outliers};
use rayon::prelude::*;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore]
fn phantom_sweep() {
    let cfg = CohortConfig {
        n_per_class: env("PHANTOM_N", 6),
        size: env("PHANTOM_SIZE", 128),
        inject_fraction: 0.5,
        ..CohortConfig::default()
    };
    let t0 = std::time::Instant::now();
    let cohort = generate_cohort(&cfg).unwrap();
    let scans: Vec<(ndarray::Array3<u8>, Vec<usize>)> = cohort
        .iter()
        .map(|p| {
            (
                p.scan.volume.data().mapv(|v| Window::LUNG.apply(v)),
                p.truth.injected.clone(),
            )
        })
        .collect();
    let injected: usize = scans.iter().map(|s| s.1.len()).sum();
    let slices: usize = scans.iter().map(|s| s.0.dim().0).sum();
    println!(
        "cohort: {} scans ({} per class, seed {}, {}x{}, inject_fraction {}), {slices} slices, {injected} injected; generated in {:.1} s",
        scans.len(),
        cfg.n_per_class,
        cfg.seed,
        cfg.size,
        cfg.size,
        cfg.inject_fraction,
        t0.elapsed().as_secs_f64()
    );
    let table: Vec<(Criterion, Vec<f64>)> = vec![
        (
            Criterion::Hash {
                kind: HashKind::Average,
                hash_size: 8,
            },
            vec![2.0, 3.0, 5.0, 8.0, 10.0, 12.0, 16.0],
        ),
        (
            Criterion::Hash {
                kind: HashKind::Perceptual,
                hash_size: 8,
            },
            vec![5.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0],
        ),
        (
            Criterion::Hash {
                kind: HashKind::Difference,
                hash_size: 8,
            },
            vec![5.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0],
        ),
        (
            Criterion::Hash {
                kind: HashKind::Wavelet,
                hash_size: 8,
            },
            vec![2.0, 3.0, 5.0, 8.0, 10.0, 12.0, 16.0],
        ),
        (
            Criterion::Ssim(SsimParams::default()),
            vec![0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        ),
        (
            Criterion::Ssim(SsimParams::gaussian()),
            vec![0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        ),
        (
            Criterion::Psnr,
            vec![10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 22.0],
        ),
    ];
    println!("| criterion | threshold | TP | FP | FN | precision | recall | F1 |");
    println!("|---|---|---|---|---|---|---|---|");
    for (crit, ts) in table {
        let scores: Vec<Vec<f64>> = scans
            .par_iter()
            .map(|s| crit.neighbour_scores(s.0.view()).unwrap())
            .collect();
        for t in ts {
            let (mut tp, mut fp, mut fnn) = (0usize, 0usize, 0usize);
            for (s, sc) in scans.iter().zip(&scores) {
                let flagged = flag_outliers(sc, &crit, t);
                tp += flagged.iter().filter(|z| s.1.contains(z)).count();
                fp += flagged.iter().filter(|z| !s.1.contains(z)).count();
                fnn += s.1.iter().filter(|z| !flagged.contains(z)).count();
            }
            let p = tp as f64 / (tp + fp).max(1) as f64;
            let r = tp as f64 / (tp + fnn).max(1) as f64;
            let f1 = if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            };
            println!(
                "| {} | {t} | {tp} | {fp} | {fnn} | {p:.3} | {r:.3} | {f1:.3} |",
                crit.name()
            );
        }
    }
}
