//! Golden tests against POT 0.9.7.post1 and a numpy transcription of microsoft/otdd
//! (inputs and references from tools/otdd/make_goldens.py).

use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2};
use ndarray_npy::read_npy;
use otdd::*;
use serde_json::Value;

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn npy1(name: &str) -> Array1<f64> {
    let a: ArrayD<f64> = read_npy(data(name)).unwrap();
    a.into_dimensionality::<Ix1>().unwrap()
}

fn npy2(name: &str) -> Array2<f64> {
    let a: ArrayD<f64> = read_npy(data(name)).unwrap();
    a.into_dimensionality::<Ix2>().unwrap()
}

fn f32x2(name: &str) -> Array2<f64> {
    let a: ArrayD<f32> = read_npy(data(name)).unwrap();
    a.into_dimensionality::<Ix2>().unwrap().mapv(f64::from)
}

fn labels(name: &str) -> Vec<i64> {
    let a: ArrayD<i64> = read_npy(data(name)).unwrap();
    a.iter().copied().collect()
}

fn goldens() -> Value {
    serde_json::from_str(&std::fs::read_to_string(data("goldens.json")).unwrap()).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

fn max_abs(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn sqeuclidean_matches_ot_dist() {
    let c = sqeuclidean(npy2("cost_x.npy").view(), npy2("cost_y.npy").view()).unwrap();
    // Same formula as POT (xx + yy - 2xy); only the GEMM summation order differs: 1e-12 abs.
    assert!(max_abs(&c, &npy2("cost_ref.npy")) < 1e-12);
}

/// Exact OT: cost equal to POT to 1e-9 relative; the port takes the same pivots, so the plan
/// matches too (1e-12 absolute: flows are sums/differences of the weights); duals to 1e-9.
#[test]
fn emd_matches_pot() {
    let g = goldens();
    for name in ["emd_rand", "emd_ties", "emd_zeros", "emd_feats", "emd_rect"] {
        let a = npy1(&format!("{name}_a.npy"));
        let b = npy1(&format!("{name}_b.npy"));
        let m = npy2(&format!("{name}_M.npy"));
        let r = emd(a.view(), b.view(), m.view(), &EmdParams::default()).unwrap();
        let want = g["emd"][name]["cost"].as_f64().unwrap();
        assert!(
            rel(r.cost, want) < 1e-9,
            "{name}: cost {} vs {want}",
            r.cost
        );
        assert_eq!(r.status, EmdStatus::Optimal);
        let gp = npy2(&format!("{name}_G.npy"));
        assert!(
            max_abs(&r.plan, &gp) < 1e-12,
            "{name}: plan differs by {}",
            max_abs(&r.plan, &gp)
        );
        let u = npy1(&format!("{name}_u.npy"));
        let v = npy1(&format!("{name}_v.npy"));
        let du =
            r.u.iter()
                .zip(&u)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
        let dv =
            r.v.iter()
                .zip(&v)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
        let scale = m.iter().copied().fold(1.0, f64::max);
        assert!(
            du < 1e-9 * scale && dv < 1e-9 * scale,
            "{name}: duals differ by {du}, {dv}"
        );
        let c2 = emd2(a.view(), b.view(), m.view(), &EmdParams::default()).unwrap();
        assert!(rel(c2, g["emd"][name]["emd2"].as_f64().unwrap()) < 1e-9);
    }
}

/// Iterate-for-iterate ports: same plan to 1e-6 relative to the largest entry (the kernel
/// and the matrix-vector products round differently), same iteration count and cost.
/// `KnoppSingle` (kernel stored in f32 for the iterations) is held to the same tolerances,
/// except the last marginal error, compared in absolute terms (1e-9: f32 rounding of K moves
/// the column sums by ~1e-11 when the error itself is ~1e-10).
#[test]
fn sinkhorn_ports_match_pot() {
    let g = goldens();
    let (a, b, m) = (npy1("sk_a.npy"), npy1("sk_b.npy"), npy2("sk_M.npy"));
    let runs = [
        ("knopp", SinkhornMethod::Knopp),
        ("knopp", SinkhornMethod::KnoppSingle),
        ("log", SinkhornMethod::Log),
        ("knopp_small", SinkhornMethod::Knopp),
        ("knopp_small", SinkhornMethod::KnoppSingle),
        ("knopp_cap", SinkhornMethod::Knopp),
        ("knopp_cap", SinkhornMethod::KnoppSingle),
        ("log_small", SinkhornMethod::Log),
    ];
    for (tag, method) in runs {
        let gg = &g["sinkhorn"][tag];
        let reg = gg["reg"].as_f64().unwrap();
        let p = SinkhornParams {
            max_iter: gg["numItermax"].as_u64().unwrap() as usize,
            ..SinkhornParams::pot(method)
        };
        let r = sinkhorn(a.view(), b.view(), m.view(), reg, &p).unwrap();
        let want_p = npy2(&format!("sk_{tag}_P.npy"));
        let pmax = want_p.iter().copied().fold(0.0, f64::max);
        assert!(
            max_abs(&r.plan, &want_p) < 1e-6 * pmax,
            "{tag}: plan differs by {}",
            max_abs(&r.plan, &want_p)
        );
        assert!(
            rel(r.cost, gg["cost"].as_f64().unwrap()) < 1e-6,
            "{tag}: cost {}",
            r.cost
        );
        assert!(
            rel(r.value, gg["value"].as_f64().unwrap()) < 1e-6,
            "{tag}: value {}",
            r.value
        );
        let errs = gg["err"].as_array().unwrap();
        // POT's log['niter'] is the loop index at exit; we report the number of iterations.
        let niter = gg["niter"].as_i64().unwrap() as usize;
        let expect = niter + 1;
        assert_eq!(r.n_iter, expect, "{tag}: iterations");
        let last = errs.last().unwrap().as_f64().unwrap();
        let err_ok = if method == SinkhornMethod::KnoppSingle {
            (r.err - last).abs() < 1e-9
        } else {
            rel(r.err, last) < 1e-4 || (r.err < 1e-12 && last < 1e-12)
        };
        assert!(err_ok, "{tag} {method:?}: err {} vs {last}", r.err);
        // potentials: defined up to a constant shift (f + c, g - c)
        let (wf, wg) = (
            npy1(&format!("sk_{tag}_f.npy")),
            npy1(&format!("sk_{tag}_g.npy")),
        );
        let shift = r.f[0] - wf[0];
        let df =
            r.f.iter()
                .zip(&wf)
                .map(|(x, y)| (x - y - shift).abs())
                .fold(0.0, f64::max);
        let dg =
            r.g.iter()
                .zip(&wg)
                .map(|(x, y)| (x - y + shift).abs())
                .fold(0.0, f64::max);
        assert!(
            df < 1e-6 && dg < 1e-6,
            "{tag}: potentials differ by {df}, {dg}"
        );
    }
}

/// The default stabilised solver (ε-scaling, log domain) converges to POT's fixed point:
/// 1e-6 relative on ⟨P, C⟩ and the plan.
#[test]
fn stabilized_sinkhorn_matches_pot() {
    let g = goldens();
    let (a, b, m) = (npy1("sk_a.npy"), npy1("sk_b.npy"), npy2("sk_M.npy"));
    for tag in ["knopp", "knopp_small"] {
        let gg = &g["sinkhorn"][tag];
        let reg = gg["reg"].as_f64().unwrap();
        let r = sinkhorn(
            a.view(),
            b.view(),
            m.view(),
            reg,
            &SinkhornParams::default(),
        )
        .unwrap();
        assert!(r.converged);
        assert!(
            rel(r.cost, gg["cost"].as_f64().unwrap()) < 1e-6,
            "{tag}: {}",
            r.cost
        );
        let want_p = npy2(&format!("sk_{tag}_P.npy"));
        let pmax = want_p.iter().copied().fold(0.0, f64::max);
        assert!(max_abs(&r.plan, &want_p) < 1e-6 * pmax);
        // also without ε-scaling: same iterates as POT (count included)
        let p = SinkhornParams {
            eps_scaling: None,
            ..SinkhornParams::default()
        };
        let r2 = sinkhorn(a.view(), b.view(), m.view(), reg, &p).unwrap();
        assert_eq!(r2.n_iter, gg["niter"].as_u64().unwrap() as usize + 1);
        assert!(rel(r2.cost, gg["cost"].as_f64().unwrap()) < 1e-9);
    }
}

/// S_ε with OT_ε = ⟨P,C⟩ + ε KL(P | a⊗b), against POT's log-domain solver run to 1e-13.
#[test]
fn sinkhorn_divergence_matches_reference() {
    let g = &goldens()["divergence"];
    let (x, y) = (npy2("div_x.npy"), npy2("div_y.npy"));
    let cab = sqeuclidean(x.view(), y.view()).unwrap();
    let caa = sqeuclidean(x.view(), x.view()).unwrap();
    let cbb = sqeuclidean(y.view(), y.view()).unwrap();
    let e = Array1::<f64>::zeros(0);
    let p = SinkhornParams {
        stop_thr: 1e-13,
        max_iter: 100_000,
        ..SinkhornParams::default()
    };
    let reg = g["reg"].as_f64().unwrap();
    let s = sinkhorn_divergence(
        e.view(),
        e.view(),
        cab.view(),
        caa.view(),
        cbb.view(),
        reg,
        &p,
    )
    .unwrap();
    assert!(rel(s, g["S"].as_f64().unwrap()) < 1e-6, "S {s}");
    assert!(s > 0.0);
    let saa = sinkhorn_divergence(
        e.view(),
        e.view(),
        caa.view(),
        caa.view(),
        caa.view(),
        reg,
        &p,
    )
    .unwrap();
    assert!(saa.abs() < 1e-12);
}

struct Sets {
    xa: Array2<f64>,
    xb: Array2<f64>,
    ya: Vec<i64>,
    yb: Vec<i64>,
}

fn sets() -> Sets {
    Sets {
        xa: f32x2("otdd_XA.npy"),
        xb: f32x2("otdd_XB.npy"),
        ya: labels("otdd_yA.npy"),
        yb: labels("otdd_yB.npy"),
    }
}

/// Label W² by eigen square roots vs numpy eigh: 1e-8 relative. The classes have 48–120
/// samples in 64 dimensions, so some covariances are rank-deficient: their zero eigenvalues
/// come out as ±1e-15 round-off whose square roots (~3e-8) differ between LAPACK and nalgebra.
#[test]
fn label_distances_match_numpy() {
    let s = sets();
    let (a, b) = (
        LabeledData::new(s.xa.view(), &s.ya).unwrap(),
        LabeledData::new(s.xb.view(), &s.yb).unwrap(),
    );
    let p = OtddParams::default();
    let (sa, sb) = (class_stats(&a, &p).unwrap(), class_stats(&b, &p).unwrap());
    let w = label_distances(&a, &sa, &b, &sb, &p).unwrap();
    let want = npy2("otdd_W.npy");
    for (x, y) in w.iter().zip(&want) {
        assert!(rel(*x, *y) < 1e-8, "{x} vs {y}");
    }
    let pe = OtddParams {
        inner: InnerMethod::Exact,
        ..OtddParams::default()
    };
    let we = label_distances(
        &a,
        &class_stats(&a, &pe).unwrap(),
        &b,
        &class_stats(&b, &pe).unwrap(),
        &pe,
    )
    .unwrap();
    for (x, y) in we.iter().zip(&npy2("otdd_W_exact.npy")) {
        assert!(rel(*x, *y) < 1e-9, "exact inner {x} vs {y}");
    }
}

/// OTDD with exact outer OT: 1e-9 relative to the transcription (same LP, same optimum).
#[test]
fn otdd_exact_matches_transcription() {
    let g = &goldens()["otdd"];
    let s = sets();
    let (a, b) = (
        LabeledData::new(s.xa.view(), &s.ya).unwrap(),
        LabeledData::new(s.xb.view(), &s.yb).unwrap(),
    );
    let base = OtddParams {
        outer: OuterMethod::Exact,
        ..OtddParams::default()
    };
    let cases = [
        (
            "exact_unit_scipy",
            OtddParams {
                scale: CostScale::Unit,
                ..base.clone()
            },
        ),
        (
            "exact_half_ref",
            OtddParams {
                sqrt_cutoff: EigenCutoff::Reference,
                ..base.clone()
            },
        ),
        (
            "exact_unit_means",
            OtddParams {
                scale: CostScale::Unit,
                inner: InnerMethod::MeansOnly,
                ..base.clone()
            },
        ),
        (
            "exact_unit_exactinner",
            OtddParams {
                scale: CostScale::Unit,
                inner: InnerMethod::Exact,
                ..base.clone()
            },
        ),
    ];
    for (key, p) in cases {
        let d = otdd(&a, &b, &p).unwrap().distance;
        let want = g[key].as_f64().unwrap();
        assert!(rel(d, want) < 1e-9, "{key}: {d} vs {want}");
    }
    // a class with one sample is dropped with its sample
    let y1 = labels("otdd_yA_single.npy");
    let a1 = LabeledData::new(s.xa.view(), &y1).unwrap();
    let p = OtddParams {
        sqrt_cutoff: EigenCutoff::Reference,
        ..base.clone()
    };
    let r = otdd(&a1, &b, &p).unwrap();
    assert_eq!(r.classes_a, vec![0, 1, 2]);
    assert_eq!(r.index_a.len(), s.ya.len() - 1);
    assert!(rel(r.distance, g["exact_half_single_dropped"].as_f64().unwrap()) < 1e-9);
}

fn goldens_geomloss() -> Value {
    serde_json::from_str(&std::fs::read_to_string(data("goldens_geomloss.json")).unwrap()).unwrap()
}

/// geomloss's annealed loop (numpy transcription, tools/otdd/make_goldens_geomloss.py) on the
/// committed `sk_` problem: same schedule (7 values of ε), same 9 passes, so the dual value and
/// the potentials agree to round-off (1e-12 relative / 1e-10 absolute: the log-sum-exps are
/// evaluated in another order and shift).
#[test]
fn annealed_sinkhorn_matches_geomloss_transcription() {
    let g = &goldens_geomloss()["sinkhorn_annealed"];
    let (a, b, m) = (npy1("sk_a.npy"), npy1("sk_b.npy"), npy2("sk_M.npy"));
    let eps = g["eps"].as_f64().unwrap();
    let r = sinkhorn(
        a.view(),
        b.view(),
        m.view(),
        eps,
        &SinkhornParams::annealed(),
    )
    .unwrap();
    assert_eq!(r.n_iter, g["n_eps"].as_u64().unwrap() as usize + 2);
    let want = g["dual"].as_f64().unwrap();
    assert!(rel(r.dual, want) < 1e-12, "{} vs {want}", r.dual);
    let (ff, gg) = (npy1("sk_anneal_F.npy"), npy1("sk_anneal_G.npy"));
    for i in 0..a.len() {
        let fi = r.f[i] - eps * a[i].ln();
        assert!((fi - ff[i]).abs() < 1e-10, "F[{i}] {fi} vs {}", ff[i]);
    }
    for j in 0..b.len() {
        let gj = r.g[j] - eps * b[j].ln();
        assert!((gj - gg[j]).abs() < 1e-10, "G[{j}] {gj} vs {}", gg[j]);
    }
    // The annealed plan is not a converged one: its marginal error is reported, not hidden.
    assert!(r.err.is_finite());
}

/// OTDD with the reference's outer solver (geomloss annealing on the augmented points, label
/// coordinate re-indexed as microsoft/otdd does), plain and debiased: 1e-9 relative to the
/// transcription (the only differences are summation orders in costs and log-sum-exps; the
/// label W² enter with their 1e-8 eigen round-off scaled down by the cost).
#[test]
fn otdd_geomloss_matches_transcription() {
    let g = &goldens_geomloss()["otdd_geomloss"];
    let s = sets();
    let (a, b) = (
        LabeledData::new(s.xa.view(), &s.ya).unwrap(),
        LabeledData::new(s.xb.view(), &s.yb).unwrap(),
    );
    for (key, case) in g.as_object().unwrap() {
        let p = OtddParams {
            outer: OuterMethod::Geomloss,
            entreg: case["entreg"].as_f64().unwrap(),
            debiased: case["debiased"].as_bool().unwrap(),
            scale: if case["scale"].as_f64().unwrap() == 1.0 {
                CostScale::Unit
            } else {
                CostScale::Half
            },
            sqrt_cutoff: EigenCutoff::Reference,
            ..OtddParams::default()
        };
        let r = otdd(&a, &b, &p).unwrap();
        let want = case["distance"].as_f64().unwrap();
        assert!(
            rel(r.distance, want) < 1e-9,
            "{key}: {} vs {want}",
            r.distance
        );
        assert_eq!(
            r.n_iter,
            case["n_eps"].as_u64().unwrap() as usize + 2,
            "{key}"
        );
    }
}
