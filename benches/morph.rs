//! ct-morph kernels on the anchors' 64×512×512 HU volume (`/tmp/anchors/data/vol.npy`;
//! override the folder with `ANCHORS_WORK`; a synthetic two-ellipsoid stand-in when missing),
//! in a 1-thread rayon pool ("single") and a pool with every core ("all").
//!
//! ```text
//! cargo bench --bench morph -- --warm-up-time 1 --measurement-time 3
//! ANCHORS_WORK=/tmp/anchors python3 /work/shared/anchors/bench_anchors.py --modes single --only morph3d
//! ```
//! `memcpy_*` rows are the yardstick for "each pass within a small factor of a memory copy".

use std::hint::black_box;
use std::path::PathBuf;

use covid_ct::morph::{
    Components, MorphParams, PackedMask, binary_closing, binary_erosion, generate_binary_structure,
    iterate_structure, label,
};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array3;

fn anchors() -> PathBuf {
    PathBuf::from(std::env::var("ANCHORS_WORK").unwrap_or_else(|_| "/tmp/anchors".into()))
}

/// Minimal .npy v1 reader for a C-ordered little-endian int16 3-D array.
fn read_i16(path: &PathBuf) -> Option<Array3<i16>> {
    let b = std::fs::read(path).ok()?;
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let h = std::str::from_utf8(&b[10..10 + hlen]).ok()?;
    if !h.contains("<i2") || h.contains("'fortran_order': True") {
        return None;
    }
    let shape = h.split("'shape':").nth(1)?.split(['(', ')']).nth(1)?;
    let d = shape
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse().ok())
        .collect::<Option<Vec<usize>>>()?;
    let v: Vec<i16> = b[10 + hlen..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    Array3::from_shape_vec((d[0], d[1], d[2]), v).ok()
}

fn volume() -> Array3<i16> {
    read_i16(&anchors().join("data/vol.npy")).unwrap_or_else(|| {
        Array3::from_shape_fn((64, 512, 512), |(z, y, x)| {
            let (fy, fx) = (y as f64 - 256.0, x as f64 - 256.0);
            let body = (fy / 200.0).powi(2) + (fx / 240.0).powi(2) < 1.0;
            let lung = |cx: f64| {
                ((fy + 10.0) / 150.0).powi(2) + ((fx - cx) / 80.0).powi(2) < 1.0 - (z as f64 / 80.0)
            };
            let n = ((x * 7919 + y * 104_729 + z * 1_299_709) % 61) as i16 - 30;
            if !body {
                -1000 + n / 4
            } else if lung(-110.0) || lung(110.0) {
                -850 + n
            } else {
                40 + n / 2
            }
        })
    })
}

fn benches(c: &mut Criterion) {
    let vol = volume();
    let s6 = generate_binary_structure(3, 1).unwrap();
    let s6x2 = iterate_structure(&s6, 2).unwrap();
    let p = MorphParams::default();
    let m = PackedMask::threshold_open(vol.view(), -950, -400).unwrap();
    let closed = m.close(&s6, &p).unwrap();
    let opened = closed.open(&s6x2, &p).unwrap();
    let mask_bool = m.to_bool();
    let slice = mask_bool.index_axis(ndarray::Axis(0), 32).to_owned();
    let sq3 = generate_binary_structure(2, 2).unwrap();
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (mode, threads) in [("single", 1), ("all", ncpu)] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut g = c.benchmark_group(format!("morph3d_{mode}"));
        g.sample_size(20);
        let run = |f: &(dyn Fn() + Sync)| pool.install(f);
        g.bench_function("memcpy_i16_volume", |b| {
            b.iter(|| run(&|| drop(black_box(vol.clone()))))
        });
        g.bench_function("memcpy_bool_mask", |b| {
            b.iter(|| run(&|| drop(black_box(mask_bool.clone()))))
        });
        g.bench_function("threshold_pack", |b| {
            b.iter(|| {
                run(&|| {
                    drop(black_box(
                        PackedMask::threshold_open(vol.view(), -950, -400).unwrap(),
                    ))
                })
            })
        });
        g.bench_function("close_gbs31_packed", |b| {
            b.iter(|| run(&|| drop(black_box(m.close(&s6, &p).unwrap()))))
        });
        g.bench_function("open_iter2_packed", |b| {
            b.iter(|| run(&|| drop(black_box(closed.open(&s6x2, &p).unwrap()))))
        });
        g.bench_function("erode_gbs31_one_pass_packed", |b| {
            b.iter(|| run(&|| drop(black_box(m.erode(&s6, &p).unwrap()))))
        });
        g.bench_function("label_6conn_runs", |b| {
            b.iter(|| run(&|| drop(black_box(Components::new(&opened, &s6).unwrap()))))
        });
        g.bench_function("largest_unpack_bool", |b| {
            b.iter(|| {
                run(&|| {
                    drop(black_box(
                        Components::new(&opened, &s6).unwrap().largest(1).to_bool(),
                    ))
                })
            })
        });
        g.bench_function("recipe_total", |b| {
            b.iter(|| {
                run(&|| {
                    let m = PackedMask::threshold_open(vol.view(), -950, -400).unwrap();
                    let m = m.close(&s6, &p).unwrap().open(&s6x2, &p).unwrap();
                    black_box(Components::new(&m, &s6).unwrap().largest(1).to_bool());
                })
            })
        });
        // The ndarray-facing API (bool in, bool/u32 out: packing included).
        g.bench_function("binary_closing_bool_api", |b| {
            b.iter(|| {
                run(&|| {
                    drop(black_box(
                        binary_closing(mask_bool.view(), &s6, &p).unwrap(),
                    ))
                })
            })
        });
        g.bench_function("label_u32_array_api", |b| {
            let ob = opened.to_bool();
            b.iter(|| run(&|| drop(black_box(label(ob.view(), &s6).unwrap()))))
        });
        g.bench_function("erosion2d_3x3_512", |b| {
            b.iter(|| run(&|| drop(black_box(binary_erosion(slice.view(), &sq3, &p).unwrap()))))
        });
        g.finish();
    }
}

criterion_group!(morph, benches);
criterion_main!(morph);
