//! CPU-time minima of the ct-enhance kernels on the anchors' inputs, single thread: the
//! same statistic as `tools/ct-enhance/bench_python.py` (and `CT_ENHANCE_MIN_TIMES=1
//! cargo bench --bench enhance`), but built from this crate alone, so it compiles in
//! seconds. Run both sides back to back:
//!
//! ```text
//! ANCHORS_WORK=/tmp/anchors python3 tools/ct-enhance/bench_python.py
//! ANCHORS_WORK=/tmp/anchors cargo run --release -p ct-enhance --example enhance_times [FILTER]
//! ```

use std::hint::black_box;
use std::path::PathBuf;

use ct_enhance::{Clahe, Interpolation, equalize_hist, zoom};
use ndarray::{Array2, Array3};
use ndarray_npy::read_npy;

/// CPU time of this process (all threads) in ns: `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`,
/// the clock behind Python's `time.process_time_ns`. (`/proc/self/task/*/schedstat`, used
/// before, lags by up to a scheduler tick for a running thread, which biased short batches.)
fn cpu_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a live, properly laid out timespec (Linux,
    // 64-bit: two i64 fields).
    let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// min / median CPU ms per call over `samples` batches of at least 30 ms of CPU each.
fn time<R>(name: &str, samples: usize, mut f: impl FnMut() -> R) {
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()?;
    let dir =
        PathBuf::from(std::env::var("ANCHORS_WORK").unwrap_or_else(|_| "/tmp/anchors".into()));
    let filter = std::env::args().nth(1).unwrap_or_default();
    let run = |name: &str| name.contains(filter.as_str());
    let img: Array2<u8> = read_npy(dir.join("data/slice512_u8.npy"))?;
    let seed = Clahe::seed();
    if run("equalize_hist 512") {
        time("equalize_hist 512", 15, || {
            equalize_hist(img.view()).unwrap()
        });
    }
    if run("clahe(2,8x8) 512") {
        time("clahe(2,8x8) 512", 15, || seed.apply(img.view()).unwrap());
    }
    if run("he then clahe 512") {
        time("he then clahe 512", 15, || {
            seed.apply_after_he(img.view()).unwrap()
        });
    }
    let vol: Array3<i16> = read_npy(dir.join("data/vol.npy"))?;
    for m in Interpolation::ALL {
        let name = format!("zoom {} -> 96x256x256", m.name());
        if run(&name) {
            let samples = if m == Interpolation::Cubic { 3 } else { 7 };
            time(&name, samples, || {
                zoom(vol.view(), [96, 256, 256], m).unwrap()
            });
        }
    }
    Ok(())
}
