//! Timings on the anchors' inputs (ignored by default; never asserts a time).
//!
//! ```text
//! cargo test -p ct-similarity --release --test timing -- --ignored --nocapture
//! ```
//! Reads `$ANCHORS_WORK/data/vol_u8.npy` (default `/tmp/anchors`); the criterion bench
//! `benches/similarity.rs` measures the same kernels through the facade.

use std::time::Instant;

use ct_similarity::{HashKind, Hashes, SsimParams, hashes_volume, psnr, ssim};
use ndarray::{Array3, Axis};
use ndarray_npy::ReadNpyExt;

fn time<R, F: FnMut() -> R>(name: &str, reps: usize, mut f: F) {
    std::hint::black_box(f());
    let mut ts: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    println!(
        "{name:<28} min {:>9.3} ms  median {:>9.3} ms  ({reps} runs)",
        ts[0],
        ts[reps / 2]
    );
}

#[test]
#[ignore]
fn timing() {
    let dir = std::env::var("ANCHORS_WORK").unwrap_or_else(|_| "/tmp/anchors".into());
    let Ok(f) = std::fs::File::open(format!("{dir}/data/vol_u8.npy")) else {
        eprintln!("no anchors: skipped");
        return;
    };
    let vol = Array3::<u8>::read_npy(f).unwrap();
    let (a, b) = (vol.index_axis(Axis(0), 32), vol.index_axis(Axis(0), 33));
    let uni = SsimParams::default().with_data_range(255.0);
    let gauss = SsimParams {
        gaussian_weights: true,
        ..Default::default()
    }
    .with_data_range(255.0);
    let paper = SsimParams::gaussian().with_data_range(255.0);
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            println!("--- {threads} thread(s)");
            time("ssim_uniform7", 50, || ssim(a, b, &uni).unwrap());
            time("ssim_gauss1.5", 30, || ssim(a, b, &gauss).unwrap());
            time("ssim_gauss1.5_paper", 30, || ssim(a, b, &paper).unwrap());
            time("psnr", 100, || psnr(a, b, Some(255.0)).unwrap());
            for k in HashKind::ALL {
                time(k.name(), 30, || k.compute(a, 8).unwrap());
            }
            time("all4_one_slice", 20, || Hashes::of_grey(a, 8).unwrap());
            time("all4_x64_slices", 5, || {
                hashes_volume(vol.view(), 8).unwrap()
            });
        });
    }
}
