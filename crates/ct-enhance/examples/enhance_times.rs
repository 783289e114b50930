//! CPU-time minima of the ct-enhance kernels on the anchors' inputs, single thread: the
//! same statistic as `tools/ct-enhance/bench_python.py` (and `CT_ENHANCE_MIN_TIMES=1
//! cargo bench --bench enhance`), but built from this crate alone, so it compiles in
//! seconds. Run both sides back to back:
//!
//! ```text
//! ANCHORS_WORK=/tmp/anchors python3 tools/ct-enhance/bench_python.py
//! ANCHORS_WORK=/tmp/anchors cargo run --release -p ct-enhance --example enhance_times [FILTER]
//! ```

use std::path::PathBuf;

use ct_enhance::{Clahe, Interpolation, equalize_hist, zoom};
use ndarray::{Array2, Array3};
use ndarray_npy::read_npy;

#[path = "support/min_time.rs"]
mod min_time;
use min_time::time;

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
