//! Wall-clock fits on the benchmark set, independent of the root package (which depends on
//! every crate). Ignored by default:
//!
//! ```text
//! python3 tools/ensemble/bench.py            # writes /tmp/ensemble-bench/{x,y}.npy
//! RAYON_NUM_THREADS=1 cargo test --release -p ensemble --test timing -- --ignored --nocapture
//! ```

use std::fs::File;
use std::time::Instant;

use ensemble::{Classifier, Gbdt, GbdtParams, Svm, SvmParams, accuracy_score};
use ndarray::{Array1, Array2, s};
use ndarray_npy::ReadNpyExt;

fn load() -> (Array2<f64>, Vec<usize>) {
    let dir = std::env::var("ENSEMBLE_BENCH_DATA").unwrap_or_else(|_| "/tmp/ensemble-bench".into());
    let x = Array2::<f64>::read_npy(
        File::open(format!("{dir}/x.npy")).expect("run tools/ensemble/bench.py"),
    )
    .unwrap();
    let y = Array1::<i64>::read_npy(File::open(format!("{dir}/y.npy")).unwrap()).unwrap();
    (x, y.iter().map(|&v| v as usize).collect())
}

/// CPU seconds (user + system) of this process (`ct_core::process_cpu_ns`): on a loaded
/// shared machine the CPU time of a single-threaded run is steadier than the wall time.
fn cpu_seconds() -> f64 {
    ct_core::process_cpu_ns().unwrap_or(0) as f64 * 1e-9
}

fn time<T>(name: &str, reps: usize, mut f: impl FnMut() -> T) -> T {
    let (mut ts, mut cs) = (Vec::new(), Vec::new());
    let mut out = None;
    for _ in 0..reps {
        let (t, c) = (Instant::now(), cpu_seconds());
        out = Some(f());
        ts.push(t.elapsed().as_secs_f64());
        cs.push(cpu_seconds() - c);
    }
    ts.sort_by(f64::total_cmp);
    cs.sort_by(f64::total_cmp);
    println!(
        "{name}: wall min {:.3} s, median {:.3} s; cpu min {:.2} s, median {:.2} s over {reps} runs (threads {})",
        ts[0],
        ts[reps / 2],
        cs[0],
        cs[reps / 2],
        rayon::current_num_threads()
    );
    out.unwrap()
}

#[test]
#[ignore = "timing run: needs /tmp/ensemble-bench from tools/ensemble/bench.py"]
fn fit_times_on_bench_set() {
    let (x, y) = load();
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    time("svm fit probability=true 1000x512x3", reps, || {
        let mut m = Svm::new(SvmParams::default()).unwrap();
        m.fit(x.view(), &y).unwrap();
    });
    time("gbdt fit 200 rounds 1000x512x3", reps, || {
        let mut m = Gbdt::new(GbdtParams {
            n_estimators: 200,
            ..GbdtParams::default()
        })
        .unwrap();
        m.fit(x.view(), &y).unwrap();
    });
    // Hold-out accuracy on the same data (first 700 rows train, last 300 test), for the docs.
    let (xtr, ytr, xte, yte) = (
        x.slice(s![..700, ..]),
        &y[..700],
        x.slice(s![700.., ..]),
        &y[700..],
    );
    let mut svm = Svm::new(SvmParams::default()).unwrap();
    svm.fit(xtr, ytr).unwrap();
    let mut gb = Gbdt::new(GbdtParams {
        n_estimators: 200,
        ..GbdtParams::default()
    })
    .unwrap();
    gb.fit(xtr, ytr).unwrap();
    println!(
        "hold-out accuracy: svm {:.4}, gbdt {:.4}",
        accuracy_score(yte, &svm.predict(xte).unwrap()).unwrap(),
        accuracy_score(yte, &gb.predict(xte).unwrap()).unwrap()
    );
}
