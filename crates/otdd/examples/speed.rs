//! Timing runs for docs/benchmarks.md (otdd section); builds with the otdd crate alone.
//!
//! ```text
//! cargo run --release -p otdd --example speed -- otdd [N]        # OTDD N×64, 10 classes (5000)
//! cargo run --release -p otdd --example speed -- sinkhorn [N]    # Knopp/stabilised, anchors (2000)
//! cargo run --release -p otdd --example speed -- lazy N D [ITER] [annealed|stabilised|both]
//!                                                                # online Sinkhorn N×N, d = D
//! ```
//! `otdd` reads `/tmp/otdd_sets/{A,B}N_{X,y}.npy` (`python3 tools/otdd/make_sets.py N`) and
//! falls back to seeded sets of the same kind; `sinkhorn` reads the shared anchors
//! (`/tmp/anchors/data/feats.npy`). Every run prints wall times (min of `REPS`, default 3) and
//! the solver's iteration count and marginal error. Use `/usr/bin/time -v` for the peak RSS.

use std::time::Instant;

use ndarray::{Array1, Array2, Array3, Axis, s};
use ndarray_npy::read_npy;
use otdd::{
    LabeledData, LazyCost, OtddParams, SinkhornMethod, SinkhornParams, class_stats,
    label_distances, otdd, sinkhorn, sinkhorn_lazy, sqeuclidean,
};

fn lcg(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Approximately normal (sum of 4 uniforms, unit variance).
fn normal(r: &mut impl FnMut() -> f64) -> f64 {
    (r() + r() + r() + r() - 2.0) * 3f64.sqrt()
}

fn ten_class(n: usize, d: usize, shift: f64, seed: u64) -> (Array2<f64>, Vec<i64>) {
    let mut r = lcg(seed);
    let y: Vec<i64> = (0..n).map(|i| (i % 10) as i64).collect();
    let x = Array2::from_shape_fn((n, d), |(i, j)| {
        normal(&mut r) + if j / 6 == y[i] as usize { 3.0 } else { 0.0 } + shift
    });
    (x, y)
}

fn load_set(name: &str, n: usize, shift: f64, seed: u64) -> (Array2<f64>, Vec<i64>) {
    let xp = format!("/tmp/otdd_sets/{name}{n}_X.npy");
    let yp = format!("/tmp/otdd_sets/{name}{n}_y.npy");
    match (
        read_npy::<_, Array2<f32>>(&xp),
        read_npy::<_, Array1<i64>>(&yp),
    ) {
        (Ok(x), Ok(y)) => {
            eprintln!("data: {xp}");
            (x.mapv(f64::from), y.to_vec())
        }
        _ => {
            eprintln!("data: seeded synthetic {n}x64 (no {xp})");
            ten_class(n, 64, shift, seed)
        }
    }
}

fn reps() -> usize {
    std::env::var("REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// CPU time of all this process's threads (ns, `ct_core::process_cpu_ns`): on a shared,
/// overloaded machine the CPU time is steadier than the wall time.
fn cpu_ns() -> u64 {
    ct_core::process_cpu_ns().unwrap_or(0)
}

fn time_min<T>(label: &str, mut f: impl FnMut() -> T) -> T {
    let mut best = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    let mut out = None;
    for _ in 0..reps() {
        let c = cpu_ns();
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        best_cpu = best_cpu.min((cpu_ns() - c) as f64 * 1e-9);
        out = Some(v);
    }
    println!(
        "{label:44} min {:9.1} ms wall, min {:9.1} ms CPU",
        best * 1e3,
        best_cpu * 1e3
    );
    out.expect("reps >= 1")
}

fn run_otdd(n: usize) {
    let (xa, ya) = load_set("A", n, 0.0, 1);
    let (xb, yb) = load_set("B", n, 0.3, 2);
    let a = LabeledData::new(xa.view(), &ya).unwrap();
    let b = LabeledData::new(xb.view(), &yb).unwrap();
    let p = OtddParams::default();
    let (sa, sb) = time_min("class stats (mean, cov, sqrt cov) x2", || {
        (class_stats(&a, &p).unwrap(), class_stats(&b, &p).unwrap())
    });
    time_min("label W2 table (Gaussian, 10x10)", || {
        label_distances(&a, &sa, &b, &sb, &p).unwrap()
    });
    time_min("feature cost n x m (GEMM)", || {
        sqeuclidean(xa.view(), xb.view()).unwrap()
    });
    for (name, params) in [
        ("otdd default (Sinkhorn to 1e-6, cap 300)", p.clone()),
        (
            "otdd geomloss outer (reference solver)",
            OtddParams {
                outer: otdd::OuterMethod::Geomloss,
                ..p.clone()
            },
        ),
        (
            "otdd geomloss outer, debiased",
            OtddParams {
                outer: otdd::OuterMethod::Geomloss,
                debiased: true,
                ..p.clone()
            },
        ),
        (
            "otdd exact outer (network simplex)",
            OtddParams {
                outer: otdd::OuterMethod::Exact,
                ..p.clone()
            },
        ),
    ] {
        if (name.contains("exact") || name.contains("cap 300"))
            && std::env::var("SKIP_SLOW").is_ok()
        {
            continue;
        }
        let r = time_min(name, || otdd(&a, &b, &params).unwrap());
        println!(
            "    distance={} outer_iter={} converged={}",
            r.distance, r.n_iter, r.converged
        );
    }
}

fn run_sinkhorn(n: usize) {
    let f: Array3<f32> = read_npy("/tmp/anchors/data/feats.npy").expect("/tmp/anchors/data");
    let xa = f.index_axis(Axis(0), 0).slice(s![..n, ..]).mapv(f64::from);
    let xb = f.index_axis(Axis(0), 1).slice(s![..n, ..]).mapv(f64::from);
    let c = sqeuclidean(xa.view(), xb.view()).unwrap();
    let cn = &c / c.iter().copied().fold(0.0, f64::max);
    let e = Array1::<f64>::zeros(0);
    for (name, m) in [
        ("knopp (POT method='sinkhorn')", SinkhornMethod::Knopp),
        ("knopp, f32 kernel storage", SinkhornMethod::KnoppSingle),
        ("stabilised, no eps-scaling", SinkhornMethod::Stabilized),
    ] {
        if std::env::var("ONLY").is_ok_and(|o| !name.starts_with(o.as_str())) {
            continue;
        }
        let p = SinkhornParams::pot(m);
        let r = time_min(&format!("sinkhorn_{n} {name}"), || {
            sinkhorn(e.view(), e.view(), cn.view(), 0.1, &p).unwrap()
        });
        println!(
            "    cost={} iterations={} err={:.3e}",
            r.cost, r.n_iter, r.err
        );
    }
}

fn run_lazy(n: usize, d: usize, max_iter: usize, which: &str) {
    let mut r = lcg(7);
    let x = Array2::from_shape_fn((n, d), |_| normal(&mut r));
    let y = Array2::from_shape_fn((n, d), |_| normal(&mut r) + 0.5);
    // Cost ½‖x − y‖² (geomloss's p = 2 cost) on unit-variance clouds shifted by 0.5.
    let cost = LazyCost::sqeuclidean(x.view(), y.view(), 0.5).unwrap();
    let e = Array1::<f64>::zeros(0);
    // ε = 0.01·d: blur 0.1·√d, a tenth of the clouds' spread.
    let eps = 0.01 * d as f64;
    let runs = [
        ("annealed", SinkhornParams::annealed()),
        (
            "stabilised",
            SinkhornParams {
                max_iter,
                stop_thr: 1e-6,
                check_every: 1,
                ..SinkhornParams::default()
            },
        ),
    ];
    for (name, p) in runs {
        if which != "both" && which != name {
            continue;
        }
        let c = cpu_ns();
        let t = Instant::now();
        let res = sinkhorn_lazy(e.view(), e.view(), &cost, eps, &p).unwrap();
        let dt = t.elapsed().as_secs_f64();
        let cpu = (cpu_ns() - c) as f64 * 1e-9;
        println!(
            "lazy {name} {n}x{n} d={d} eps={eps}: {dt:.2} s wall, {cpu:.2} s CPU, {} passes/iterations \
             ({:.1} ms each), marginal err={:.3e}, converged={}, cost={}, dual={}",
            res.n_iter,
            dt * 1e3 / res.n_iter as f64,
            res.err,
            res.converged,
            res.cost,
            res.dual
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).map_or(d, |v| v.parse().expect("a number"));
    match args.first().map(String::as_str) {
        Some("otdd") => run_otdd(num(1, 5000)),
        Some("sinkhorn") => run_sinkhorn(num(1, 2000)),
        Some("lazy") => run_lazy(
            num(1, 10_000),
            num(2, 4),
            num(3, 1000),
            args.get(4).map_or("both", String::as_str),
        ),
        _ => eprintln!("usage: speed otdd [N] | sinkhorn [N] | lazy N D [ITER] [WHICH]"),
    }
}
