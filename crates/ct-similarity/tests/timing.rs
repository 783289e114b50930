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

/// CPU time of this process in ns (all threads, `ct_core::process_cpu_ns`), as Python's
/// `time.process_time()` reads it: immune to waiting for a core on a loaded machine, which
/// wall-clock time is not (0 where the clock is not available).
fn cpu_ns() -> u64 {
    ct_core::process_cpu_ns().unwrap_or(0)
}

/// `reps` batches of calls (each batch at least ~20 ms, so that reading the CPU clock costs
/// nothing); prints per-call wall min / median and CPU min.
fn time<R, F: FnMut() -> R>(name: &str, reps: usize, mut f: F) {
    let t = Instant::now();
    std::hint::black_box(f());
    let once = t.elapsed().as_secs_f64();
    let inner = ((0.02 / once.max(1e-7)) as usize).clamp(1, 1000);
    let mut wall = Vec::with_capacity(reps);
    let mut cpu = Vec::with_capacity(reps);
    for _ in 0..reps {
        let c0 = cpu_ns();
        let t = Instant::now();
        for _ in 0..inner {
            std::hint::black_box(f());
        }
        wall.push(t.elapsed().as_secs_f64() * 1e3 / inner as f64);
        cpu.push((cpu_ns() - c0) as f64 * 1e-6 / inner as f64);
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "{name:<22} wall min {:>9.3} ms  median {:>9.3} ms  cpu min {:>9.3} ms  ({reps}x{inner})",
        wall[0],
        wall[reps / 2],
        cpu[0]
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
            time("ssim_uniform7", 9, || ssim(a, b, &uni).unwrap());
            time("ssim_gauss1.5", 9, || ssim(a, b, &gauss).unwrap());
            time("ssim_gauss1.5_paper", 9, || ssim(a, b, &paper).unwrap());
            time("psnr", 9, || psnr(a, b, Some(255.0)).unwrap());
            // Memory-speed reference for PSNR: copy the same 2 x 256 KiB it reads.
            let (sa, sb) = (a.as_slice().unwrap(), b.as_slice().unwrap());
            let (mut da, mut db) = (vec![0u8; sa.len()], vec![0u8; sb.len()]);
            time("memcpy_2x256KiB", 9, || {
                da.copy_from_slice(std::hint::black_box(sa));
                db.copy_from_slice(std::hint::black_box(sb));
                da[7] ^ db[11]
            });
            // Out of cache: PSNR of slices 0..63 against 1..64 as two 31.5 MiB images, and
            // a copy of the same bytes.
            let flat = vol.as_slice().unwrap();
            let n = 63 * 512 * 512;
            let va = ndarray::ArrayView2::from_shape((63 * 512, 512), &flat[..n]).unwrap();
            let vb = ndarray::ArrayView2::from_shape((63 * 512, 512), &flat[512 * 512..]).unwrap();
            time("psnr_63_slices", 9, || psnr(va, vb, Some(255.0)).unwrap());
            let mut big = vec![0u8; 2 * n];
            time("memcpy_2x15.75MiB", 9, || {
                big[..n].copy_from_slice(std::hint::black_box(&flat[..n]));
                big[n..].copy_from_slice(std::hint::black_box(&flat[512 * 512..]));
                big[3]
            });
            for k in HashKind::ALL {
                time(k.name(), 9, || k.compute(a, 8).unwrap());
            }
            time("all4_one_slice", 9, || Hashes::of_grey(a, 8).unwrap());
            time("all4_x64_slices", 9, || {
                hashes_volume(vol.view(), 8).unwrap()
            });
        });
    }
}
