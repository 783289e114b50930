//! Benchmarks of the `ensemble` crate: SVM fit (probability=true) and 200 boosting rounds on
//! 1000 × 512, 3 classes, plus the classification report. Inputs: `x.npy`/`y.npy` written
//! by `tools/ensemble/bench.py` into `$ENSEMBLE_BENCH_DATA` (default `/tmp/ensemble-bench`),
//! so both sides time the same data; without them a synthetic set of the same shape is used.
//!
//! ```text
//! python3 tools/ensemble/bench.py
//! RAYON_NUM_THREADS=1 cargo bench --bench ensemble -- --warm-up-time 1 --measurement-time 3
//! ```

use std::fs::File;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use ensemble::{
    Classifier, Gbdt, GbdtParams, ReportOptions, Svm, SvmParams, classification_report,
};
use ndarray::{Array1, Array2};
use ndarray_npy::ReadNpyExt;

fn data() -> (Array2<f64>, Vec<usize>) {
    let dir = PathBuf::from(
        std::env::var("ENSEMBLE_BENCH_DATA").unwrap_or_else(|_| "/tmp/ensemble-bench".into()),
    );
    if let (Ok(fx), Ok(fy)) = (File::open(dir.join("x.npy")), File::open(dir.join("y.npy")))
        && let (Ok(x), Ok(y)) = (Array2::<f64>::read_npy(fx), Array1::<i64>::read_npy(fy))
    {
        return (x, y.iter().map(|&v| v as usize).collect());
    }
    eprintln!(
        "bench data not found in {}: using a synthetic set",
        dir.display()
    );
    // A deterministic LCG keeps the fallback free of extra dependencies.
    let mut s = 0x2545F4914F6CDD1Du64;
    let mut u = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let y: Vec<usize> = (0..1000).map(|i| i % 3).collect();
    let x = Array2::from_shape_fn((1000, 512), |(r, f)| {
        u() + if f < 20 {
            y[r] as f64 * 0.3 * ((f % 3) as f64)
        } else {
            0.0
        }
    });
    (x, y)
}

fn bench(c: &mut Criterion) {
    let (x, y) = data();
    let threads = rayon::current_num_threads();
    let mut g = c.benchmark_group("ensemble");
    g.sample_size(10);
    g.bench_function(format!("svm_fit_probability_1000x512x3_t{threads}"), |b| {
        b.iter(|| {
            let mut m = Svm::new(SvmParams::default()).unwrap();
            m.fit(x.view(), &y).unwrap();
            black_box(m.n_support())
        })
    });
    g.bench_function(format!("gbdt_fit_200_rounds_1000x512x3_t{threads}"), |b| {
        b.iter(|| {
            let mut m = Gbdt::new(GbdtParams {
                n_estimators: 200,
                ..GbdtParams::default()
            })
            .unwrap();
            m.fit(x.view(), &y).unwrap();
            black_box(m.n_rounds())
        })
    });
    let pred: Vec<usize> = y
        .iter()
        .enumerate()
        .map(|(i, &v)| if i % 7 == 0 { (v + 1) % 3 } else { v })
        .collect();
    g.bench_function("classification_report_1000", |b| {
        b.iter(|| {
            black_box(
                classification_report(&y, &pred, &ReportOptions::default())
                    .unwrap()
                    .to_string(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
