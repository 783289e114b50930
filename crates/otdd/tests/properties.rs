//! Properties and bad-input errors.

use ndarray::{Array1, Array2, array};
use otdd::*;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn cloud(n: usize, d: usize, k: i64, seed: u64) -> (Array2<f64>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let y: Vec<i64> = (0..n).map(|i| i as i64 % k).collect();
    let x = Array2::from_shape_fn((n, d), |(i, j)| {
        rng.random::<f64>() + y[i] as f64 * (j % 2) as f64
    });
    (x, y)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// OTDD of a data set with itself is 0 with the exact outer problem (identity coupling,
    /// W²(y,y) = 0 up to eigen round-off) and ≈ 0 for the debiased divergence.
    #[test]
    fn self_distance_is_zero(seed in 0u64..1000, n in 6usize..40, k in 1i64..4) {
        let (x, y) = cloud(n, 3, k, seed);
        let d = LabeledData::new(x.view(), &y).unwrap();
        let exact = OtddParams { outer: OuterMethod::Exact, ..OtddParams::default() };
        prop_assert!(otdd(&d, &d, &exact).unwrap().distance.abs() < 1e-9);
        let deb = OtddParams { debiased: true, entreg: 0.05, ..OtddParams::default() };
        prop_assert!(otdd(&d, &d, &deb).unwrap().distance.abs() < 1e-8);
    }

    /// Exact OT: the plan has the requested marginals and its cost is ≤ the entropic cost.
    #[test]
    fn emd_plan_is_feasible(seed in 0u64..1000, n in 1usize..30, m in 1usize..30) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let c = Array2::from_shape_fn((n, m), |_| rng.random::<f64>());
        let a = Array1::from_shape_fn(n, |_| rng.random::<f64>() + 0.01);
        let a = &a / a.sum();
        let b = Array1::from_shape_fn(m, |_| rng.random::<f64>() + 0.01);
        let b = &b / b.sum();
        let r = emd(a.view(), b.view(), c.view(), &EmdParams::default()).unwrap();
        for (s, w) in r.plan.sum_axis(ndarray::Axis(1)).iter().zip(&a) { prop_assert!((s - w).abs() < 1e-12); }
        for (s, w) in r.plan.sum_axis(ndarray::Axis(0)).iter().zip(&b) { prop_assert!((s - w).abs() < 1e-12); }
        prop_assert!(r.plan.iter().all(|&p| p >= 0.0));
        // dual feasibility and strong duality: u_i + v_j <= c_ij, <a,u> + <b,v> = cost
        for i in 0..n { for j in 0..m { prop_assert!(r.u[i] + r.v[j] <= c[[i, j]] + 1e-12); } }
        prop_assert!((a.dot(&r.u) + b.dot(&r.v) - r.cost).abs() < 1e-12);
        let s = sinkhorn(a.view(), b.view(), c.view(), 0.05, &SinkhornParams::default()).unwrap();
        prop_assert!(r.cost <= s.cost + 1e-12);
    }
}

#[test]
fn lazy_sinkhorn_equals_stored() {
    let (x, _) = cloud(300, 5, 1, 1);
    let (y, _) = cloud(260, 5, 1, 2);
    let c = sqeuclidean(x.view(), y.view()).unwrap();
    let e = Array1::<f64>::zeros(0);
    let p = SinkhornParams::default();
    let dense = sinkhorn(e.view(), e.view(), c.view(), 0.01, &p).unwrap();
    let lazy = sinkhorn_lazy(
        e.view(),
        e.view(),
        &LazyCost::sqeuclidean(x.view(), y.view(), 1.0).unwrap(),
        0.01,
        &p,
    )
    .unwrap();
    assert!(dense.converged && lazy.converged);
    assert!(
        (dense.cost - lazy.cost).abs() < 1e-9 * dense.cost,
        "{} vs {}",
        dense.cost,
        lazy.cost
    );
    assert_eq!(lazy.plan.len(), 0);
}

/// Tiny ε relative to the cost: the kernel exp(−C/ε) underflows, the stabilised solver does not.
#[test]
fn stabilized_survives_tiny_eps() {
    let (x, _) = cloud(50, 2, 1, 3);
    let (y, _) = cloud(40, 2, 1, 4);
    let c = sqeuclidean(x.view(), y.view()).unwrap() * 1000.0;
    let e = Array1::<f64>::zeros(0);
    let cmax = c.iter().copied().fold(0.0, f64::max);
    let p = SinkhornParams {
        max_iter: 20_000,
        ..SinkhornParams::default()
    };
    let r = sinkhorn(e.view(), e.view(), c.view(), 2e-4 * cmax, &p).unwrap();
    assert!(
        r.converged && r.cost.is_finite(),
        "{} iterations, err {}",
        r.n_iter,
        r.err
    );
    let knopp = sinkhorn(
        e.view(),
        e.view(),
        c.view(),
        2e-4 * cmax,
        &SinkhornParams::pot(SinkhornMethod::Knopp),
    )
    .unwrap();
    assert!(
        !knopp.converged,
        "exp(-C/eps) underflows, Knopp stops at the numerical-error check"
    );
    let ex = emd(e.view(), e.view(), c.view(), &EmdParams::default()).unwrap();
    assert!(r.cost >= ex.cost - 1e-9 && r.cost < ex.cost * 1.01);
}

#[test]
fn gaussian_w2_known_values() {
    // identical Gaussians: 0; commuting (diagonal) covariances: ‖μ‖² + Σ(√σ1 − √σ2)².
    let m1 = array![0.0, 0.0];
    let m2 = array![1.0, 2.0];
    let s1 = array![[4.0, 0.0], [0.0, 9.0]];
    let s2 = array![[1.0, 0.0], [0.0, 16.0]];
    let d = gaussian_w2_sq_from(m1.view(), s1.view(), m2.view(), s2.view()).unwrap();
    assert!((d - (5.0 + 1.0 + 1.0)).abs() < 1e-12);
    assert!(
        gaussian_w2_sq_from(m1.view(), s1.view(), m1.view(), s1.view())
            .unwrap()
            .abs()
            < 1e-12
    );
    // rank-deficient covariance: negative round-off eigenvalues clamped, no NaN
    let r = sqrtm_psd(
        array![[1.0, 1.0], [1.0, 1.0]].view(),
        EigenCutoff::ClampNegative,
    )
    .unwrap();
    assert!(r.iter().all(|v| v.is_finite()));
    assert!((r.dot(&r)[[0, 1]] - 1.0).abs() < 1e-12);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let e = Array1::<f64>::zeros(0);
    let x = array![[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]];
    let z = Array2::<f64>::zeros((0, 2));
    assert!(matches!(
        sqeuclidean(x.view(), z.view()),
        Err(Error::Empty(_))
    ));
    assert!(matches!(
        sqeuclidean(x.view(), array![[1.0]].view()),
        Err(Error::Shape(_))
    ));
    let mut xn = x.clone();
    xn[[1, 1]] = f64::NAN;
    assert!(matches!(
        sqeuclidean(xn.view(), x.view()),
        Err(Error::NonFinite(_))
    ));
    let c = sqeuclidean(x.view(), x.view()).unwrap();
    assert!(matches!(
        sinkhorn(
            e.view(),
            e.view(),
            c.view(),
            0.0,
            &SinkhornParams::default()
        ),
        Err(Error::Param { .. })
    ));
    assert!(matches!(
        emd(
            array![0.5, 0.5, 0.5].view(),
            e.view(),
            c.view(),
            &EmdParams::default()
        ),
        Err(Error::Marginals(_))
    ));
    assert!(matches!(
        emd(
            array![0.5, 0.5].view(),
            e.view(),
            c.view(),
            &EmdParams::default()
        ),
        Err(Error::Shape(_))
    ));
    // OTDD
    let y = [0_i64, 0, 1];
    assert!(matches!(
        LabeledData::new(xn.view(), &y),
        Err(Error::NonFinite(_))
    ));
    assert!(matches!(
        LabeledData::new(z.view(), &[]),
        Err(Error::Empty(_))
    ));
    assert!(matches!(
        LabeledData::new(x.view(), &[0, 1]),
        Err(Error::Shape(_))
    ));
    let a = LabeledData::new(x.view(), &y).unwrap();
    let x3 = array![[0.0, 1.0, 2.0], [1.0, 0.0, 1.0]];
    let b3 = LabeledData::new(x3.view(), &[0, 0]).unwrap();
    assert!(matches!(
        otdd(&a, &b3, &OtddParams::default()),
        Err(Error::Shape(_))
    ));
    let zero_eps = OtddParams {
        entreg: 0.0,
        ..OtddParams::default()
    };
    assert!(matches!(
        otdd(&a, &a, &zero_eps),
        Err(Error::Param { name: "entreg", .. })
    ));
    // a class present in one set only: allowed by default, an error under RequireSame
    let y2 = [0_i64, 0, 0];
    let b = LabeledData::new(x.view(), &y2).unwrap();
    assert!(
        otdd(
            &a,
            &b,
            &OtddParams {
                outer: OuterMethod::Exact,
                ..OtddParams::default()
            }
        )
        .is_ok()
    );
    let strict = OtddParams {
        class_policy: ClassPolicy::RequireSame,
        ..OtddParams::default()
    };
    // class 1 has one sample in A and is dropped; both sets then have {0}
    assert!(otdd(&a, &b, &strict).is_ok());
    let y3 = [1_i64, 1, 1];
    let c3 = LabeledData::new(x.view(), &y3).unwrap();
    let err = otdd(&b, &c3, &strict).unwrap_err();
    assert!(
        matches!(&err, Error::Labels(m) if m.contains("class 0")),
        "{err}"
    );
    // every class below min_labelcount
    let lone = LabeledData::new(x.view(), &[0, 1, 2]).unwrap();
    assert!(matches!(
        otdd(&lone, &a, &OtddParams::default()),
        Err(Error::Labels(_))
    ));
    let deb_exact = OtddParams {
        debiased: true,
        outer: OuterMethod::Exact,
        ..OtddParams::default()
    };
    assert!(matches!(otdd(&a, &a, &deb_exact), Err(Error::Param { .. })));
}

#[test]
fn max_samples_is_seeded() {
    let (x, y) = cloud(200, 4, 3, 9);
    let (x2, y2) = cloud(180, 4, 3, 10);
    let (a, b) = (
        LabeledData::new(x.view(), &y).unwrap(),
        LabeledData::new(x2.view(), &y2).unwrap(),
    );
    let p = OtddParams {
        max_samples: Some(50),
        seed: 7,
        outer: OuterMethod::Exact,
        ..OtddParams::default()
    };
    let r1 = otdd(&a, &b, &p).unwrap();
    let r2 = otdd(&a, &b, &p).unwrap();
    assert_eq!(r1.index_a, r2.index_a);
    assert_eq!(r1.index_a.len(), 50);
    assert_eq!(r1.distance, r2.distance);
    let r3 = otdd(&a, &b, &OtddParams { seed: 8, ..p }).unwrap();
    assert_ne!(r1.index_a, r3.index_a);
}

#[test]
fn distance_matrix_is_symmetric() {
    let (x1, y1) = cloud(30, 3, 2, 1);
    let (x2, y2) = cloud(25, 3, 2, 2);
    let (x3, y3) = cloud(20, 3, 3, 3);
    let sets = [
        LabeledData::new(x1.view(), &y1).unwrap(),
        LabeledData::new(x2.view(), &y2).unwrap(),
        LabeledData::new(x3.view(), &y3).unwrap(),
    ];
    let p = OtddParams {
        outer: OuterMethod::Exact,
        ..OtddParams::default()
    };
    let m = otdd_matrix(&sets, &p).unwrap();
    for i in 0..3 {
        assert!(m[[i, i]].abs() < 1e-9);
        for j in 0..3 {
            assert_eq!(m[[i, j]], m[[j, i]]);
        }
    }
    assert!(m[[0, 2]] > 0.0);
}

/// The online (never stored) cost gives the same annealed potentials as the stored one: the
/// tiles are the same expansion `(−2x·y + ‖x‖²) + ‖y‖²`, summed in another order (1e-9
/// relative). d = 5 takes the small-dimension tile kernel, d = 20 the GEMM one.
#[test]
fn lazy_annealed_equals_stored() {
    for d in [5, 20] {
        lazy_annealed_case(d);
    }
}

fn lazy_annealed_case(d: usize) {
    let (x, _) = cloud(300, d, 1, 3);
    let (y, _) = cloud(260, d, 1, 4);
    let c = sqeuclidean(x.view(), y.view()).unwrap();
    let e = Array1::<f64>::zeros(0);
    let p = SinkhornParams {
        anneal_diameter: Some(2.5),
        ..SinkhornParams::annealed()
    };
    let dense = sinkhorn(e.view(), e.view(), c.view(), 0.01, &p).unwrap();
    let lazy = sinkhorn_lazy(
        e.view(),
        e.view(),
        &LazyCost::sqeuclidean(x.view(), y.view(), 1.0).unwrap(),
        0.01,
        &p,
    )
    .unwrap();
    assert_eq!(dense.n_iter, lazy.n_iter);
    for (v, w) in [
        (dense.dual, lazy.dual),
        (dense.cost, lazy.cost),
        (dense.err, lazy.err),
    ] {
        assert!((v - w).abs() <= 1e-9 * w.abs().max(1e-12), "{v} vs {w}");
    }
    let df = dense.f.iter().zip(&lazy.f).map(|(a, b)| (a - b).abs());
    assert!(df.fold(0.0, f64::max) < 1e-9);
}

/// OTDD through the online solver (dense_limit 0) equals the stored path, for both the
/// stabilised and the annealed outer problems (1e-9 relative). The stabilised solver is run to
/// a 1e-13 marginal error because the two paths start their ε-scaling at different upper
/// bounds of the cost (exact max vs a norm bound), so only their fixed points coincide.
#[test]
fn otdd_online_equals_stored() {
    let (xa, ya) = cloud(120, 4, 3, 5);
    let (xb, yb) = cloud(110, 4, 3, 6);
    let (a, b) = (
        LabeledData::new(xa.view(), &ya).unwrap(),
        LabeledData::new(xb.view(), &yb).unwrap(),
    );
    for outer in [OuterMethod::Sinkhorn, OuterMethod::Geomloss] {
        for debiased in [false, true] {
            let p = OtddParams {
                outer,
                debiased,
                entreg: 0.5,
                sinkhorn: SinkhornParams {
                    stop_thr: 1e-13,
                    max_iter: 20_000,
                    ..OtddParams::default().sinkhorn
                },
                ..OtddParams::default()
            };
            let stored = otdd(&a, &b, &p).unwrap().distance;
            let online = otdd(
                &a,
                &b,
                &OtddParams {
                    dense_limit: 0,
                    ..p.clone()
                },
            )
            .unwrap()
            .distance;
            assert!(
                (stored - online).abs() < 1e-9 * stored.abs().max(1e-9),
                "{outer:?} debiased={debiased}: {stored} vs {online}"
            );
        }
    }
}

/// The debiased geomloss OTDD of a set with itself is 0 (the three problems coincide).
#[test]
fn geomloss_self_distance_is_zero() {
    let (x, y) = cloud(80, 3, 3, 7);
    let d = LabeledData::new(x.view(), &y).unwrap();
    let p = OtddParams {
        outer: OuterMethod::Geomloss,
        debiased: true,
        ..OtddParams::default()
    };
    assert!(otdd(&d, &d, &p).unwrap().distance.abs() < 1e-9);
}

/// New parameters are validated: typed errors, no panic.
#[test]
fn annealing_bad_inputs_are_typed_errors() {
    let c = array![[0.0, 1.0], [1.0, 0.0]];
    let e = Array1::<f64>::zeros(0);
    for p in [
        SinkhornParams {
            anneal_scaling: 1.0,
            ..SinkhornParams::annealed()
        },
        SinkhornParams {
            anneal_scaling: f64::NAN,
            ..SinkhornParams::annealed()
        },
        SinkhornParams {
            anneal_diameter: Some(0.0),
            ..SinkhornParams::annealed()
        },
    ] {
        assert!(matches!(
            sinkhorn(e.view(), e.view(), c.view(), 0.1, &p),
            Err(Error::Param { .. })
        ));
    }
    // All-zero cost: no diameter to anneal from.
    let z = Array2::<f64>::zeros((2, 2));
    assert!(matches!(
        sinkhorn(
            e.view(),
            e.view(),
            z.view(),
            0.1,
            &SinkhornParams::annealed()
        ),
        Err(Error::Numerical(_))
    ));
    // Zero ε with the geomloss outer problem.
    let (x, y) = cloud(10, 2, 2, 1);
    let d = LabeledData::new(x.view(), &y).unwrap();
    let p = OtddParams {
        outer: OuterMethod::Geomloss,
        entreg: 0.0,
        ..OtddParams::default()
    };
    assert!(matches!(otdd(&d, &d, &p), Err(Error::Param { .. })));
}
