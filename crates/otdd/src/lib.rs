#![deny(missing_docs)]
// `!(x > 0.0)` is used on purpose: it also rejects NaN parameters.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
//! # otdd
//!
//! Optimal transport for labelled data sets, checked against POT 0.9.7 and microsoft/otdd:
//!
//! * [`sqeuclidean`]: pairwise squared-Euclidean costs (blocked GEMM, parallel), as `ot.dist`.
//! * [`emd`] / [`emd2`]: exact OT by the network simplex, a port of POT's
//!   `network_simplex_simple.h` (same pivots, same plan on degenerate problems).
//! * [`sinkhorn`] / [`sinkhorn2`]: entropic OT; [`SinkhornMethod::Stabilized`] (log-domain,
//!   ε-scaling) by default, iterate-for-iterate ports of POT's `sinkhorn_knopp` and
//!   `sinkhorn_log` ([`SinkhornMethod::KnoppSingle`]: the Knopp iteration on an f32 kernel),
//!   and geomloss's ε-annealing ([`SinkhornMethod::Annealed`], microsoft/otdd's outer
//!   solver); [`sinkhorn_lazy`] never stores the n×m cost; [`sinkhorn_divergence`]
//!   is the debiased divergence `S_ε(α,β) = OT_ε(α,β) − ½OT_ε(α,α) − ½OT_ε(β,β)`.
//! * [`gaussian_w2_sq`]: `‖μ1−μ2‖² + Bures²(Σ1,Σ2)` with symmetric-eigen square roots.
//! * [`otdd()`]: the Optimal Transport Dataset Distance (Alvarez-Melis & Fusi 2020) with
//!   Gaussian, exact or means-only label distances, exact, entropic or the reference's
//!   geomloss outer problem ([`OuterMethod::Geomloss`]), and [`otdd_matrix`] between several
//!   data sets.
//!
//! Definitions and the differences from the references are written down in `docs/otdd.md`.
//!
//! # Example
//! ```
//! use ndarray::{array, Array1};
//! use otdd::{emd, sqeuclidean, EmdParams, LabeledData, OtddParams, OuterMethod, otdd};
//!
//! let x = array![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
//! let y = array![[0.0, 0.5], [1.0, 0.5], [0.0, 1.5], [1.0, 1.5]];
//! let c = sqeuclidean(x.view(), y.view()).unwrap();
//! let uniform = Array1::<f64>::zeros(0); // empty = uniform weights, as in POT
//! let r = emd(uniform.view(), uniform.view(), c.view(), &EmdParams::default()).unwrap();
//! assert!((r.cost - 0.25).abs() < 1e-12);
//!
//! // A data set is at distance 0 from itself (exact outer problem).
//! let labels = [0_i64, 0, 1, 1];
//! let d = LabeledData::new(x.view(), &labels).unwrap();
//! let p = OtddParams { outer: OuterMethod::Exact, ..OtddParams::default() };
//! assert!(otdd(&d, &d, &p).unwrap().distance.abs() < 1e-9);
//! ```

mod cost;
mod emd;
mod error;
mod gaussian;
mod kernels;
mod otdd;
mod sinkhorn;

pub use cost::{row_sq_norms, sqeuclidean, sqeuclidean_into};
pub use emd::{EmdParams, EmdResult, EmdStatus, emd, emd2};
pub use error::{Error, Result};
pub use gaussian::{EigenCutoff, GaussianStats, gaussian_w2_sq, gaussian_w2_sq_from, sqrtm_psd};
pub use otdd::{
    ClassPolicy, ClassStats, CostScale, InnerMethod, LabeledData, OtddParams, OtddResult,
    OuterMethod, class_stats, label_distances, otdd, otdd_matrix, to_f64,
};
pub use sinkhorn::{
    LazyCost, SinkhornMethod, SinkhornParams, SinkhornResult, sinkhorn, sinkhorn_divergence,
    sinkhorn_lazy, sinkhorn2,
};
