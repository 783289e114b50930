//! ct-similarity kernels on the anchors' inputs (`/tmp/anchors/data/vol_u8.npy`, override the
//! folder with `ANCHORS_WORK`), or a deterministic synthetic stand-in when it is missing.
//! Single thread (a rayon pool of 1) unless the name ends in `_2t` (2 threads).
//!
//! ```text
//! cargo bench --bench similarity -- --warm-up-time 1 --measurement-time 3
//! ANCHORS_WORK=/tmp/anchors python3 tools/ct-similarity/bench_reference.py
//! ```

use std::hint::black_box;
use std::path::PathBuf;

use covid_ct::similarity::{HashKind, Hashes, SsimParams, hashes_volume, mse, psnr, ssim};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{Array3, Axis};

fn anchors() -> PathBuf {
    PathBuf::from(std::env::var("ANCHORS_WORK").unwrap_or_else(|_| "/tmp/anchors".into()))
}

/// Minimal .npy v1 reader for a C-ordered u1 array.
fn read_npy_u8(path: &PathBuf) -> Option<(Vec<usize>, Vec<u8>)> {
    let b = std::fs::read(path).ok()?;
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let h = std::str::from_utf8(&b[10..10 + hlen]).ok()?;
    if !h.contains("'|u1'") {
        return None;
    }
    let shape = h.split("'shape':").nth(1)?.split(['(', ')']).nth(1)?;
    let dims = shape
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse().ok())
        .collect::<Option<Vec<usize>>>()?;
    Some((dims, b[10 + hlen..].to_vec()))
}

fn volume() -> Array3<u8> {
    if let Some((d, data)) = read_npy_u8(&anchors().join("data/vol_u8.npy")) {
        return Array3::from_shape_vec((d[0], d[1], d[2]), data).unwrap();
    }
    eprintln!("anchors missing: synthetic 64x512x512 stand-in");
    Array3::from_shape_fn((64, 512, 512), |(z, y, x)| {
        ((x * 7 + y * 13 + z * 3 + (x * y) % 97) % 256) as u8
    })
}

fn bench(c: &mut Criterion) {
    let vol = volume();
    let a = vol.index_axis(Axis(0), 32).to_owned();
    let b = vol.index_axis(Axis(0), 33).to_owned();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("similarity");
    g.sample_size(20);
    let uni = SsimParams::default().with_data_range(255.0);
    let gauss = SsimParams {
        gaussian_weights: true,
        ..Default::default()
    }
    .with_data_range(255.0);
    let paper = SsimParams::gaussian().with_data_range(255.0);
    for (name, p) in [
        ("ssim_uniform7", &uni),
        ("ssim_gauss1.5", &gauss),
        ("ssim_gauss1.5_paper", &paper),
    ] {
        g.bench_function(name, |bb| {
            one.install(|| bb.iter(|| ssim(black_box(a.view()), black_box(b.view()), p).unwrap()))
        });
        g.bench_function(format!("{name}_2t"), |bb| {
            two.install(|| bb.iter(|| ssim(black_box(a.view()), black_box(b.view()), p).unwrap()))
        });
    }
    g.bench_function("psnr", |bb| {
        one.install(|| {
            bb.iter(|| psnr(black_box(a.view()), black_box(b.view()), Some(255.0)).unwrap())
        })
    });
    g.bench_function("mse", |bb| {
        one.install(|| bb.iter(|| mse(black_box(a.view()), black_box(b.view())).unwrap()))
    });
    // Memory-speed references for PSNR: a copy of the bytes it reads, in cache (2 slices)
    // and out of it (slices 0..63 against 1..64, two 15.75 MiB images).
    let (sa, sb) = (a.as_slice().unwrap(), b.as_slice().unwrap());
    let (mut da, mut db) = (vec![0u8; sa.len()], vec![0u8; sb.len()]);
    g.bench_function("memcpy_2x256KiB", |bb| {
        bb.iter(|| {
            da.copy_from_slice(black_box(sa));
            db.copy_from_slice(black_box(sb));
        })
    });
    let flat = vol.as_slice().unwrap();
    let n = 63 * 512 * 512;
    let va = ndarray::ArrayView2::from_shape((63 * 512, 512), &flat[..n]).unwrap();
    let vb = ndarray::ArrayView2::from_shape((63 * 512, 512), &flat[512 * 512..]).unwrap();
    g.bench_function("psnr_63_slices", |bb| {
        one.install(|| bb.iter(|| psnr(black_box(va), black_box(vb), Some(255.0)).unwrap()))
    });
    let mut big = vec![0u8; 2 * n];
    g.bench_function("memcpy_2x15.75MiB", |bb| {
        bb.iter(|| {
            big[..n].copy_from_slice(black_box(&flat[..n]));
            big[n..].copy_from_slice(black_box(&flat[512 * 512..]));
        })
    });
    for kind in HashKind::ALL {
        g.bench_function(kind.name(), |bb| {
            one.install(|| bb.iter(|| kind.compute(black_box(a.view()), 8).unwrap()))
        });
    }
    g.bench_function("all4_one_slice", |bb| {
        one.install(|| bb.iter(|| Hashes::of_grey(black_box(a.view()), 8).unwrap()))
    });
    g.sample_size(10);
    g.bench_function("all4_x64_slices", |bb| {
        one.install(|| bb.iter(|| hashes_volume(black_box(vol.view()), 8).unwrap()))
    });
    g.bench_function("all4_x64_slices_2t", |bb| {
        two.install(|| bb.iter(|| hashes_volume(black_box(vol.view()), 8).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
