//! OT/OTDD kernels on the shared anchor inputs (/tmp/anchors/data/feats.npy, labels.npy; see
//! /work/shared/anchors/README.md). Falls back to seeded random data of the same shape when the
//! anchors are absent. Compare with POT in the same session:
//! `python3 tools/otdd/bench_pot.py` (docs/benchmarks.md (otdd section)).
//!
//! cargo bench --bench otdd -- --warm-up-time 1 --measurement-time 3

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{Array1, Array2, Array3, Axis, s};
use ndarray_npy::read_npy;
use otdd::{
    CostScale, EmdParams, LabeledData, OtddParams, OuterMethod, SinkhornMethod, SinkhornParams,
    emd, otdd as otdd_fn, sinkhorn, sqeuclidean,
};

fn anchors() -> (Array2<f64>, Array2<f64>, Vec<i64>, Vec<i64>) {
    let f: Result<Array3<f32>, _> = read_npy("/tmp/anchors/data/feats.npy");
    let l: Result<Array2<i64>, _> = read_npy("/tmp/anchors/data/labels.npy");
    if let (Ok(f), Ok(l)) = (f, l) {
        return (
            f.index_axis(Axis(0), 0).mapv(f64::from),
            f.index_axis(Axis(0), 1).mapv(f64::from),
            l.row(0).to_vec(),
            l.row(1).to_vec(),
        );
    }
    eprintln!("anchors missing: using synthetic data of the same shape");
    let mut s = 1u64;
    let mut r = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let a = Array2::from_shape_fn((2000, 64), |_| r() * 4.0);
    let b = Array2::from_shape_fn((2000, 64), |_| r() * 4.0 + 0.5);
    let y: Vec<i64> = (0..2000).map(|i| i % 3).collect();
    (a, b, y.clone(), y)
}

/// Two 5000×64 sets with 10 Gaussian classes (seeded), for the OTDD speed target.
fn ten_class(n: usize, shift: f64, seed: u64) -> (Array2<f64>, Vec<i64>) {
    let mut s = seed;
    let mut r = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let y: Vec<i64> = (0..n).map(|i| (i % 10) as i64).collect();
    let x = Array2::from_shape_fn((n, 64), |(i, j)| {
        let g = (r() + r() + r() - 1.5) * 2.0;
        g + if j % 10 == y[i] as usize { 3.0 } else { 0.0 } + shift
    });
    (x, y)
}

fn bench(c: &mut Criterion) {
    let (xa, xb, ya, yb) = anchors();
    let e = Array1::<f64>::zeros(0);
    let mut g = c.benchmark_group("otdd");
    g.sample_size(10);
    g.bench_function("sqeuclid_cost_2000x2000x64", |b| {
        b.iter(|| sqeuclidean(black_box(xa.view()), xb.view()).unwrap())
    });
    let cm = sqeuclidean(xa.view(), xb.view()).unwrap();
    let cn = &cm / cm.iter().copied().fold(0.0, f64::max);
    let pot = SinkhornParams::pot(SinkhornMethod::Knopp);
    g.bench_function("sinkhorn_2000_knopp", |b| {
        b.iter(|| sinkhorn(e.view(), e.view(), black_box(cn.view()), 0.1, &pot).unwrap())
    });
    let single = SinkhornParams::pot(SinkhornMethod::KnoppSingle);
    g.bench_function("sinkhorn_2000_knopp_single", |b| {
        b.iter(|| sinkhorn(e.view(), e.view(), black_box(cn.view()), 0.1, &single).unwrap())
    });
    let stab = SinkhornParams::pot(SinkhornMethod::Stabilized);
    g.bench_function("sinkhorn_2000_stabilized", |b| {
        b.iter(|| sinkhorn(e.view(), e.view(), black_box(cn.view()), 0.1, &stab).unwrap())
    });
    let c5 = cm.slice(s![..500, ..500]).to_owned();
    g.bench_function("emd2_500", |b| {
        b.iter(|| {
            emd(
                e.view(),
                e.view(),
                black_box(c5.view()),
                &EmdParams::default(),
            )
            .unwrap()
        })
    });
    let (a5, b5) = (
        LabeledData::new(xa.slice(s![..500, ..]), &ya[..500]).unwrap(),
        LabeledData::new(xb.slice(s![..500, ..]), &yb[..500]).unwrap(),
    );
    let pe = OtddParams {
        outer: OuterMethod::Exact,
        scale: CostScale::Unit,
        ..OtddParams::default()
    };
    g.bench_function("otdd_exact_500", |b| {
        b.iter(|| otdd_fn(black_box(&a5), &b5, &pe).unwrap())
    });
    let (x1, y1) = ten_class(5000, 0.0, 1);
    let (x2, y2) = ten_class(5000, 0.3, 2);
    let (d1, d2) = (
        LabeledData::new(x1.view(), &y1).unwrap(),
        LabeledData::new(x2.view(), &y2).unwrap(),
    );
    let ps = OtddParams::default();
    g.bench_function("otdd_sinkhorn_5000x64_10class", |b| {
        b.iter(|| otdd_fn(black_box(&d1), &d2, &ps).unwrap())
    });
    let pg = OtddParams {
        outer: OuterMethod::Geomloss,
        ..OtddParams::default()
    };
    g.bench_function("otdd_geomloss_5000x64_10class", |b| {
        b.iter(|| otdd_fn(black_box(&d1), &d2, &pg).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
