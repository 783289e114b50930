//! ct-enhance kernels, single thread (rayon pool of 1), on the anchors' inputs
//! (`/tmp/anchors/data/slice512_u8.npy`, `vol.npy`; override the folder with
//! `ANCHORS_WORK`), or on a deterministic synthetic stand-in when they are missing.
//!
//! ```text
//! cargo bench --bench enhance -- --warm-up-time 1 --measurement-time 3
//! python3 tools/ct-enhance/bench_python.py     # the Python side, same inputs
//! ```

use std::hint::black_box;
use std::path::PathBuf;

use covid_ct::enhance::{Clahe, Interpolation, equalize_hist, zoom};
use criterion::{Criterion, criterion_group};
use ndarray::{Array2, Array3};

fn anchors() -> PathBuf {
    PathBuf::from(std::env::var("ANCHORS_WORK").unwrap_or_else(|_| "/tmp/anchors".into()))
}

/// Minimal .npy v1 reader for C-ordered little-endian u1/i2 arrays.
fn read_npy(path: &PathBuf) -> Option<(Vec<usize>, Vec<u8>, String)> {
    let b = std::fs::read(path).ok()?;
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let h = std::str::from_utf8(&b[10..10 + hlen]).ok()?.to_string();
    let shape = h.split("'shape':").nth(1)?.split(['(', ')']).nth(1)?;
    let dims = shape
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse().ok())
        .collect::<Option<Vec<usize>>>()?;
    Some((dims, b[10 + hlen..].to_vec(), h))
}

fn slice_u8() -> Array2<u8> {
    if let Some((d, data, _)) = read_npy(&anchors().join("data/slice512_u8.npy")) {
        return Array2::from_shape_vec((d[0], d[1]), data).unwrap();
    }
    Array2::from_shape_fn((512, 512), |(y, x)| {
        ((x * 7 + y * 13 + (x * y) % 97) % 256) as u8
    })
}

fn vol_i16() -> Array3<i16> {
    if let Some((d, data, _)) = read_npy(&anchors().join("data/vol.npy")) {
        let v: Vec<i16> = data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        return Array3::from_shape_vec((d[0], d[1], d[2]), v).unwrap();
    }
    Array3::from_shape_fn((64, 512, 512), |(z, y, x)| {
        ((x * 3 + y * 5 + z * 7) % 2000) as i16 - 1000
    })
}

fn benches(c: &mut Criterion) {
    // Single thread, to compare with OpenCV's setNumThreads(1) and single-threaded scipy.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    let img = slice_u8();
    let mut g = c.benchmark_group("enhance_512");
    g.sample_size(30);
    g.bench_function("equalize_hist", |b| {
        b.iter(|| equalize_hist(black_box(img.view())).unwrap())
    });
    let seed = Clahe::seed();
    g.bench_function("clahe_2.0_8x8", |b| {
        b.iter(|| seed.apply(black_box(img.view())).unwrap())
    });
    g.bench_function("he_then_clahe", |b| {
        b.iter(|| seed.apply_after_he(black_box(img.view())).unwrap())
    });
    g.finish();

    let vol = vol_i16();
    let mut g = c.benchmark_group("zoom_64x512x512_to_96x256x256");
    g.sample_size(10);
    for m in [
        Interpolation::Nearest,
        Interpolation::Linear,
        Interpolation::Cubic,
        Interpolation::Lanczos3,
    ] {
        g.bench_function(m.name(), |b| {
            b.iter(|| zoom(black_box(vol.view()), [96, 256, 256], m).unwrap())
        });
    }
    g.finish();
}

#[path = "../crates/ct-enhance/examples/support/min_time.rs"]
mod min_time;
use min_time::time as t;

/// `CT_ENHANCE_MIN_TIMES=1`: min/median **CPU time** per call over batches (each batch
/// at least 30 ms of CPU), the same statistic as `tools/ct-enhance/bench_python.py`. On a
/// machine shared by many jobs, wall time mostly measures waiting for a core; CPU time of
/// single-threaded code does not.
fn min_times() {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    let img = slice_u8();
    let seed = Clahe::seed();
    t("equalize_hist 512", 15, || {
        equalize_hist(img.view()).unwrap()
    });
    t("clahe(2,8x8) 512", 15, || seed.apply(img.view()).unwrap());
    t("he then clahe 512", 15, || {
        seed.apply_after_he(img.view()).unwrap()
    });
    let vol = vol_i16();
    for m in [
        Interpolation::Nearest,
        Interpolation::Linear,
        Interpolation::Cubic,
        Interpolation::Lanczos3,
    ] {
        t(&format!("zoom {} -> 96x256x256", m.name()), 3, || {
            zoom(vol.view(), [96, 256, 256], m).unwrap()
        });
    }
}

criterion_group!(enhance, benches);

fn main() {
    if std::env::var_os("CT_ENHANCE_MIN_TIMES").is_some() {
        min_times();
        return;
    }
    enhance();
    Criterion::default().configure_from_args().final_summary();
}
