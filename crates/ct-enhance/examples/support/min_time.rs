//! CPU-time timing shared by `examples/enhance_times.rs` and the root `benches/enhance.rs`
//! (`CT_ENHANCE_MIN_TIMES=1`), included by `#[path]` so both report the same statistic as
//! `tools/ct-enhance/bench_python.py`. Not an example of its own (cargo only discovers
//! `examples/*.rs` and `examples/*/main.rs`).

use std::hint::black_box;

/// CPU time of this process (all threads) in ns (`ct_core::process_cpu_ns`, the clock behind
/// Python's `time.process_time_ns`).
pub fn cpu_ns() -> u64 {
    ct_core::process_cpu_ns().unwrap_or(0)
}

/// min / median CPU ms per call over `samples` batches of at least 30 ms of CPU each.
pub fn time<R>(name: &str, samples: usize, mut f: impl FnMut() -> R) {
    // Calibrate on the second call (the first may fault pages in).
    black_box(f());
    let c = cpu_ns();
    black_box(f());
    let one = (cpu_ns() - c).max(1);
    let k = (30_000_000 / one).clamp(1, 10_000) as usize;
    let mut ts: Vec<f64> = (0..samples)
        .map(|_| {
            let c = cpu_ns();
            for _ in 0..k {
                black_box(f());
            }
            (cpu_ns() - c) as f64 / k as f64 / 1e6
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    println!(
        "{name:40} min {:10.3} ms  median {:10.3} ms  ({samples} x {k} calls, CPU time)",
        ts[0],
        ts[samples / 2]
    );
}
