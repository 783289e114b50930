//! Entropic optimal transport: POT-compatible Sinkhorn–Knopp and log-domain iterations, a
//! log-stabilised solver with ε-scaling, a cost that is never stored (online), and the
//! debiased Sinkhorn divergence.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use crate::cost::{row_sq_norms, sqeuclidean_block};
use crate::error::{Error, Result, check_finite, param};
use crate::kernels::dispatch;

/// Which Sinkhorn iteration to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SinkhornMethod {
    /// Log-domain potentials updated with a shifted kernel (no overflow or underflow for any
    /// ε), warm-started along an ε-scaling schedule. The default.
    #[default]
    Stabilized,
    /// POT's `method='sinkhorn'` (`sinkhorn_knopp`): scaling vectors `u, v` and the kernel
    /// `K = exp(−M/ε)`, iterate for iterate. Underflows when `max M / ε` exceeds ~700.
    Knopp,
    /// POT's `method='sinkhorn_log'`: log-sum-exp updates of log-scalings, iterate for
    /// iterate.
    Log,
    /// [`SinkhornMethod::Knopp`] with the kernel `K` stored in single precision for the
    /// iterations (scalings, sums and the returned plan stay f64; the plan uses the f64
    /// kernel). Half the memory traffic of the memory-bound iteration, and a 2000×2000 kernel
    /// fits a 32 MB L3; the iterates differ from POT's by the f32 rounding of `K` (relative
    /// 6e-8 per entry, ~1e-9 on the sums), far below the 1e-6 tolerances used for Sinkhorn.
    /// Falls back to the f64 kernel when an entry of `K` is below f32's normal range
    /// (`max C / ε` above ~87).
    KnoppSingle,
    /// geomloss's ε-annealing (`SamplesLoss('sinkhorn', p=2, scaling=q)`, the outer solver of
    /// microsoft/otdd): ε runs from `D²` down to ε by factors `q²`, one symmetrised
    /// (averaged) update of both potentials per ε, then a final extrapolation; no stopping
    /// rule (`max_iter`, `stop_thr` and `check_every` are ignored). `D` is
    /// [`SinkhornParams::anneal_diameter`] (default `√max C`), `q` is
    /// [`SinkhornParams::anneal_scaling`]. Its value is geomloss's dual objective
    /// [`SinkhornResult::dual`].
    Annealed,
}

/// Sinkhorn parameters; the defaults are POT's (`numItermax=1000`, `stopThr=1e-9`, marginal
/// error checked every 10 iterations).
#[derive(Debug, Clone, PartialEq)]
pub struct SinkhornParams {
    /// The iteration.
    pub method: SinkhornMethod,
    /// Iteration cap (`numItermax`), counted over all ε-scaling stages.
    pub max_iter: usize,
    /// Stop when ‖P^T 1 − b‖₂ < `stop_thr` (`stopThr`).
    pub stop_thr: f64,
    /// Check the marginal error at iterations 0, k, 2k, … (POT: 10).
    pub check_every: usize,
    /// ε-scaling factor q in (0, 1) for [`SinkhornMethod::Stabilized`]: stages
    /// ε_k = max(ε, q^k · max C); `None` starts directly at ε (then the iterates are POT's).
    pub eps_scaling: Option<f64>,
    /// Marginal error that ends an intermediate ε-scaling stage.
    pub stage_thr: f64,
    /// Iteration cap of one intermediate stage.
    pub stage_max_iter: usize,
    /// [`SinkhornMethod::Annealed`]: geomloss's `scaling` (blur factor per step; ε shrinks
    /// by its square). Default 0.5, geomloss's default.
    pub anneal_scaling: f64,
    /// [`SinkhornMethod::Annealed`]: geomloss's `diameter` (the schedule starts at
    /// ε = diameter²); `None` uses `√max C`.
    pub anneal_diameter: Option<f64>,
}

impl Default for SinkhornParams {
    fn default() -> Self {
        Self {
            method: SinkhornMethod::Stabilized,
            max_iter: 1000,
            stop_thr: 1e-9,
            check_every: 10,
            eps_scaling: Some(0.5),
            stage_thr: 1e-3,
            stage_max_iter: 50,
            anneal_scaling: 0.5,
            anneal_diameter: None,
        }
    }
}

impl SinkhornParams {
    /// POT's `ot.sinkhorn` defaults with the given method and no ε-scaling.
    pub fn pot(method: SinkhornMethod) -> Self {
        Self {
            method,
            eps_scaling: None,
            ..Self::default()
        }
    }

    /// geomloss's annealed solver ([`SinkhornMethod::Annealed`], scaling 0.5).
    pub fn annealed() -> Self {
        Self {
            method: SinkhornMethod::Annealed,
            ..Self::default()
        }
    }

    /// Rejects invalid settings.
    pub fn validate(&self) -> Result<()> {
        if !(self.anneal_scaling > 0.0 && self.anneal_scaling < 1.0) {
            return Err(param(
                "anneal_scaling",
                format!("{} is not in (0, 1)", self.anneal_scaling),
            ));
        }
        if let Some(d) = self.anneal_diameter
            && (!(d > 0.0) || !d.is_finite())
        {
            return Err(param(
                "anneal_diameter",
                format!("{d} must be finite and > 0"),
            ));
        }
        if self.max_iter == 0 {
            return Err(param("max_iter", "must be >= 1"));
        }
        if !(self.stop_thr >= 0.0) {
            return Err(param("stop_thr", "must be >= 0"));
        }
        if self.check_every == 0 {
            return Err(param("check_every", "must be >= 1"));
        }
        if let Some(q) = self.eps_scaling
            && !(q > 0.0 && q < 1.0)
        {
            return Err(param("eps_scaling", format!("{q} is not in (0, 1)")));
        }
        if !(self.stage_thr >= 0.0) || self.stage_max_iter == 0 {
            return Err(param(
                "stage_thr/stage_max_iter",
                "stage_thr >= 0 and stage_max_iter >= 1",
            ));
        }
        Ok(())
    }
}

/// Result of a Sinkhorn solve.
#[derive(Debug, Clone)]
pub struct SinkhornResult {
    /// Entropic plan `P_ij = exp((f_i + g_j − C_ij)/ε)` (empty 0×0 for the online solver).
    pub plan: Array2<f64>,
    /// Transport cost ⟨P, C⟩ (what `ot.sinkhorn2` returns).
    pub cost: f64,
    /// Entropic OT value OT_ε = ⟨P, C⟩ + ε·KL(P ‖ a⊗b) of the returned plan.
    pub value: f64,
    /// Dual objective `⟨a, F⟩ + ⟨b, G⟩` with `F = f − ε log a`, `G = g − ε log b` (geomloss's
    /// potentials): what geomloss returns for `debias=False`. Equal to `value` at
    /// convergence; for [`SinkhornMethod::Annealed`] (a fixed number of updates) it is the
    /// reference's number.
    pub dual: f64,
    /// Source potential `f = ε·log u` (POT: `reg * log['log_u']`).
    pub f: Array1<f64>,
    /// Target potential `g = ε·log v`.
    pub g: Array1<f64>,
    /// Iterations run (POT's `log['niter']` is the index of the last one).
    pub n_iter: usize,
    /// Last marginal error computed (`‖Pᵀ1 − b‖₂`; for [`SinkhornMethod::Annealed`] that of
    /// the returned potentials).
    pub err: f64,
    /// Whether `err < stop_thr` was reached (false: cap hit or numerical stop).
    pub converged: bool,
}

fn weights(w: ArrayView1<'_, f64>, n: usize, name: &str) -> Result<Vec<f64>> {
    if w.is_empty() {
        return Ok(vec![1.0 / n as f64; n]);
    }
    if w.len() != n {
        return Err(Error::Shape(format!(
            "{name} has {} entries, cost has {n} on that side",
            w.len()
        )));
    }
    check_finite(name, w.iter().copied())?;
    if w.iter().any(|&x| x <= 0.0) {
        return Err(Error::Marginals(format!(
            "{name} must be strictly positive for Sinkhorn (drop zero-weight points first)"
        )));
    }
    Ok(w.to_vec())
}

fn check_reg(reg: f64) -> Result<()> {
    if !(reg > 0.0) || !reg.is_finite() {
        return Err(param(
            "reg",
            format!("entropic regularisation must be finite and > 0, got {reg}"),
        ));
    }
    Ok(())
}

fn check_mass(a: &[f64], b: &[f64]) -> Result<()> {
    let (sa, sb): (f64, f64) = (a.iter().sum(), b.iter().sum());
    if (sa - sb).abs() > 1e-6 * sa.max(sb) {
        return Err(Error::Marginals(format!(
            "a sums to {sa} but b sums to {sb}"
        )));
    }
    Ok(())
}

/// Entropic OT between histograms `a`, `b` (empty = uniform) for the cost `m`, as
/// `ot.sinkhorn(a, b, m, reg)` (plan) and `ot.sinkhorn2` (the `cost` field).
pub fn sinkhorn(
    a: ArrayView1<'_, f64>,
    b: ArrayView1<'_, f64>,
    m: ArrayView2<'_, f64>,
    reg: f64,
    params: &SinkhornParams,
) -> Result<SinkhornResult> {
    params.validate()?;
    check_reg(reg)?;
    let (n, mm) = m.dim();
    if n == 0 || mm == 0 {
        return Err(Error::Empty(format!("cost matrix is {n}x{mm}")));
    }
    let a = weights(a, n, "a")?;
    let b = weights(b, mm, "b")?;
    check_mass(&a, &b)?;
    check_finite("cost matrix", m.iter().copied())?;
    let m = m.as_standard_layout();
    let dense = DenseCost {
        c: m.as_slice().expect("standard layout"),
        n,
        m: mm,
    };
    match params.method {
        SinkhornMethod::Knopp => knopp(&a, &b, &dense, reg, params, false),
        SinkhornMethod::KnoppSingle => knopp(&a, &b, &dense, reg, params, true),
        SinkhornMethod::Log => log_domain(&a, &b, &dense, reg, params),
        SinkhornMethod::Stabilized | SinkhornMethod::Annealed => {
            solve_source(&a, &b, &dense, reg, params, true)
        }
    }
}

/// ⟨P, C⟩ of the entropic plan, as `ot.sinkhorn2`.
pub fn sinkhorn2(
    a: ArrayView1<'_, f64>,
    b: ArrayView1<'_, f64>,
    m: ArrayView2<'_, f64>,
    reg: f64,
    params: &SinkhornParams,
) -> Result<f64> {
    sinkhorn(a, b, m, reg, params).map(|r| r.cost)
}

/// Debiased Sinkhorn divergence
/// `S_ε(α, β) = OT_ε(α, β) − ½·OT_ε(α, α) − ½·OT_ε(β, β)` with
/// `OT_ε(α, β) = ⟨P, C⟩ + ε·KL(P ‖ a⊗b)` for the entropic plan `P` (Feydy et al. 2019; the
/// value geomloss returns with `debias=True`). `c_ab`, `c_aa`, `c_bb` are the cross and
/// self cost matrices. It is ≥ 0 for a positive-definite kernel and 0 when α = β.
pub fn sinkhorn_divergence(
    a: ArrayView1<'_, f64>,
    b: ArrayView1<'_, f64>,
    c_ab: ArrayView2<'_, f64>,
    c_aa: ArrayView2<'_, f64>,
    c_bb: ArrayView2<'_, f64>,
    reg: f64,
    params: &SinkhornParams,
) -> Result<f64> {
    let (n, m) = c_ab.dim();
    if c_aa.dim() != (n, n) || c_bb.dim() != (m, m) {
        return Err(Error::Shape(format!(
            "c_ab is {n}x{m} but c_aa is {:?} and c_bb is {:?}",
            c_aa.dim(),
            c_bb.dim()
        )));
    }
    let ab = sinkhorn(a, b, c_ab, reg, params)?.value;
    let aa = sinkhorn(a, a, c_aa, reg, params)?.value;
    let bb = sinkhorn(b, b, c_bb, reg, params)?.value;
    Ok(ab - 0.5 * aa - 0.5 * bb)
}

// ---------------------------------------------------------------------------------------------
// Cost sources: a stored matrix or one recomputed block by block.

/// Rows of a cost matrix, stored or computed on the fly.
pub(crate) trait CostSource: Sync {
    fn shape(&self) -> (usize, usize);
    /// An upper bound of the cost (starts the ε-scaling schedule).
    fn max_cost(&self) -> f64;
    /// Rows `r0..r0+nr`, columns `c0..c0+nc`, row-major with stride `nc`; may borrow `buf`.
    fn tile<'s>(
        &'s self,
        r0: usize,
        nr: usize,
        c0: usize,
        nc: usize,
        buf: &'s mut Vec<f64>,
    ) -> Tile<'s>;
    /// True when a full row is contiguous in memory (the fused single-pass update applies).
    fn stored(&self) -> Option<&[f64]>;
}

/// A tile: `data[i*stride + j]` for the tile's rows and columns.
pub(crate) struct Tile<'s> {
    data: &'s [f64],
    stride: usize,
}

pub(crate) struct DenseCost<'a> {
    c: &'a [f64],
    n: usize,
    m: usize,
}

impl CostSource for DenseCost<'_> {
    fn shape(&self) -> (usize, usize) {
        (self.n, self.m)
    }
    fn max_cost(&self) -> f64 {
        self.c.iter().copied().fold(0.0, f64::max)
    }
    fn tile<'s>(
        &'s self,
        r0: usize,
        _nr: usize,
        c0: usize,
        _nc: usize,
        _buf: &'s mut Vec<f64>,
    ) -> Tile<'s> {
        Tile {
            data: &self.c[r0 * self.m + c0..],
            stride: self.m,
        }
    }
    fn stored(&self) -> Option<&[f64]> {
        Some(self.c)
    }
}

/// A cost that is never stored: `C_ij = w_x·‖x_i − y_j‖² + L[l_i, l'_j]`, recomputed tile by
/// tile with a GEMM (for problems whose n×m matrix does not fit in memory).
#[derive(Debug, Clone)]
pub struct LazyCost<'a> {
    x: ArrayView2<'a, f64>,
    y: ArrayView2<'a, f64>,
    xx: Vec<f64>,
    yy: Vec<f64>,
    feature_weight: f64,
    labels: Option<(Vec<usize>, Vec<usize>, Array2<f64>)>,
    /// `y` transposed (d × m, row-major) when d ≤ [`SMALL_D`]: tiles are then built by
    /// d vectorised multiply-adds per entry instead of a GEMM, whose packing and k-loop
    /// overhead dominate for a handful of features.
    yt: Option<Vec<f64>>,
}

/// Feature dimension up to which the online cost skips the GEMM.
const SMALL_D: usize = 16;

impl<'a> LazyCost<'a> {
    /// `C_ij = weight·‖x_i − y_j‖²`.
    pub fn sqeuclidean(
        x: ArrayView2<'a, f64>,
        y: ArrayView2<'a, f64>,
        weight: f64,
    ) -> Result<Self> {
        if x.nrows() == 0 || y.nrows() == 0 {
            return Err(Error::Empty(format!(
                "lazy cost inputs have {} and {} rows",
                x.nrows(),
                y.nrows()
            )));
        }
        if x.ncols() != y.ncols() {
            return Err(Error::Shape(format!(
                "x has {} features but y has {}",
                x.ncols(),
                y.ncols()
            )));
        }
        check_finite("x", x.iter().copied())?;
        check_finite("y", y.iter().copied())?;
        if !(weight >= 0.0) || !weight.is_finite() {
            return Err(param("weight", "must be finite and >= 0"));
        }
        let yt = (x.ncols() <= SMALL_D).then(|| y.t().iter().copied().collect());
        Ok(Self {
            xx: row_sq_norms(x).to_vec(),
            yy: row_sq_norms(y).to_vec(),
            x,
            y,
            feature_weight: weight,
            labels: None,
            yt,
        })
    }

    /// Adds a label term `L[lx_i, ly_j]` (already weighted) to every entry.
    pub fn with_label_cost(
        mut self,
        lx: Vec<usize>,
        ly: Vec<usize>,
        table: Array2<f64>,
    ) -> Result<Self> {
        if lx.len() != self.x.nrows() || ly.len() != self.y.nrows() {
            return Err(Error::Shape(
                "label vectors must match the feature rows".into(),
            ));
        }
        if lx.iter().any(|&l| l >= table.nrows()) || ly.iter().any(|&l| l >= table.ncols()) {
            return Err(Error::Shape(
                "label index outside the label-cost table".into(),
            ));
        }
        check_finite("label cost", table.iter().copied())?;
        self.labels = Some((lx, ly, table));
        Ok(self)
    }

    /// Number of rows and columns.
    pub fn shape(&self) -> (usize, usize) {
        (self.x.nrows(), self.y.nrows())
    }
}

impl CostSource for LazyCost<'_> {
    fn shape(&self) -> (usize, usize) {
        (self.x.nrows(), self.y.nrows())
    }
    fn max_cost(&self) -> f64 {
        let mx = self.xx.iter().copied().fold(0.0, f64::max).sqrt();
        let my = self.yy.iter().copied().fold(0.0, f64::max).sqrt();
        let lab = self
            .labels
            .as_ref()
            .map_or(0.0, |(_, _, t)| t.iter().copied().fold(0.0, f64::max));
        self.feature_weight * (mx + my).powi(2) + lab
    }
    fn tile<'s>(
        &'s self,
        r0: usize,
        nr: usize,
        c0: usize,
        nc: usize,
        buf: &'s mut Vec<f64>,
    ) -> Tile<'s> {
        buf.resize(nr * nc, 0.0);
        {
            let mut out =
                ndarray::ArrayViewMut2::from_shape((nr, nc), &mut buf[..]).expect("tile shape");
            if let Some(yt) = &self.yt {
                let m = self.y.nrows();
                for (k, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
                    let xi = self.x.row(r0 + k);
                    small_d_row::run(
                        xi.as_slice().map_or(&xi.to_vec()[..], |s| s),
                        self.xx[r0 + k],
                        yt,
                        m,
                        c0,
                        &self.yy[c0..c0 + nc],
                        self.feature_weight,
                        row.as_slice_mut().expect("tile rows are contiguous"),
                    );
                }
            } else {
                let xb = self.x.slice(ndarray::s![r0..r0 + nr, ..]);
                let yb = self.y.slice(ndarray::s![c0..c0 + nc, ..]);
                sqeuclidean_block(
                    xb,
                    &self.xx[r0..r0 + nr],
                    yb,
                    &self.yy[c0..c0 + nc],
                    self.feature_weight,
                    &mut out,
                );
            }
            if let Some((lx, ly, t)) = &self.labels {
                for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
                    let trow = t.row(lx[r0 + i]);
                    for (j, v) in row.iter_mut().enumerate() {
                        *v += trow[ly[c0 + j]];
                    }
                }
            }
        }
        Tile {
            data: &buf[..],
            stride: nc,
        }
    }
    fn stored(&self) -> Option<&[f64]> {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels.

dispatch!(exp_row(c: &[f64], g: &[f64], s: f64, inv_eps: f64, e: &mut [f64]) -> f64 {
    for ((ev, &cv), &gv) in e.iter_mut().zip(c).zip(g) {
        *ev = crate::kernels::exp::<F>((s + gv - cv) * inv_eps);
    }
    crate::kernels::sum(e)
});

dispatch!(axpy_row(alpha: f64, x: &[f64], y: &mut [f64]) -> () {
    crate::kernels::axpy(alpha, x, y)
});

dispatch!(knopp_row(k: &[f64], v: &[f64]) -> f64 {
    crate::kernels::dot(k, v)
});

dispatch!(small_d_row(xi: &[f64], xxi: f64, yt: &[f64], m: usize, c0: usize, yy: &[f64], w: f64, out: &mut [f64]) -> () {
    // out_j = w·max(0, (−2·Σ_k x_ik y_jk + ‖x_i‖²) + ‖y_j‖²), the GEMM path's association.
    let nc = out.len().min(yy.len());
    out[..nc].fill(0.0);
    for (k, &xk) in xi.iter().enumerate() {
        let yrow = &yt[k * m + c0..k * m + c0 + nc];
        for (o, &yv) in out[..nc].iter_mut().zip(yrow) {
            *o = crate::kernels::fmadd::<F>(xk, yv, *o);
        }
    }
    for (o, &yj) in out[..nc].iter_mut().zip(yy) {
        let v = (-2.0 * *o + xxi) + yj;
        *o = if v < 0.0 { 0.0 } else { v } * w;
    }
});

dispatch!(axpy_prefetch(alpha: f64, x: &[f64], y: &mut [f64], next: &[f64]) -> () {
    let n = x.len().min(y.len());
    let mut j = 0;
    while j + 8 <= n {
        #[cfg(target_arch = "x86_64")]
        if j < next.len() {
            // SAFETY: prefetch is a hint; the address is inside `next`.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    next.as_ptr().add(j) as *const i8,
                )
            };
        }
        for t in 0..8 {
            y[j + t] += alpha * x[j + t];
        }
        j += 8;
    }
    while j < n {
        y[j] += alpha * x[j];
        j += 1;
    }
});

dispatch!(axpy_prefetch32(alpha: f64, x: &[f32], y: &mut [f64], next: &[f32]) -> () {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &mut y[..n]);
    let mut cx = x.chunks_exact(16);
    let mut cy = y.chunks_exact_mut(16);
    for (j, (xs, ys)) in (&mut cx).zip(&mut cy).enumerate() {
        #[cfg(target_arch = "x86_64")]
        if j * 16 < next.len() {
            // SAFETY: prefetch is a hint; the address is inside `next`.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    next.as_ptr().add(j * 16) as *const i8,
                )
            };
        }
        for t in 0..16 {
            ys[t] += alpha * f64::from(xs[t]);
        }
    }
    for (yv, &xv) in cy.into_remainder().iter_mut().zip(cx.remainder()) {
        *yv += alpha * f64::from(xv);
    }
});

dispatch!(knopp_row32(k: &[f32], v: &[f64]) -> f64 {
    // Same 8-accumulator order as `kernels::dot`, widening each f32 kernel entry
    // (chunks_exact so the bounds checks go and the loop vectorises).
    let n = k.len().min(v.len());
    let (k, v) = (&k[..n], &v[..n]);
    let mut acc = [0.0f64; 8];
    let ck = k.chunks_exact(8);
    let cv = v.chunks_exact(8);
    let (rk, rv) = (ck.remainder(), cv.remainder());
    for (x, y) in ck.zip(cv) {
        for t in 0..8 {
            acc[t] += f64::from(x[t]) * y[t];
        }
    }
    let mut tail = 0.0;
    for (x, y) in rk.iter().zip(rv) {
        tail += f64::from(*x) * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
});

dispatch!(axpy_row32(alpha: f64, x: &[f32], y: &mut [f64]) -> () {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += alpha * f64::from(xv);
    }
});

dispatch!(plan_row(k: &mut [f64], c: &[f64], ui: f64, v: &[f64], lu_ai: f64, lv_b: &[f64], inv_eps: f64) -> (f64, f64) {
    // k_j ← u_i·k_j·v_j; returns (Σ_j P_ij C_ij, Σ_j P_ij (lu_ai + lv_b_j − C_ij/ε)).
    let n = k.len().min(c.len()).min(v.len()).min(lv_b.len());
    let (k, c, v, lv_b) = (&mut k[..n], &c[..n], &v[..n], &lv_b[..n]);
    let mut pc = [0.0f64; 8];
    let mut kl = [0.0f64; 8];
    let mut ck = k.chunks_exact_mut(8);
    let mut cc = c.chunks_exact(8);
    let mut cv = v.chunks_exact(8);
    let mut cl = lv_b.chunks_exact(8);
    for (((kx, cx), vx), lx) in (&mut ck).zip(&mut cc).zip(&mut cv).zip(&mut cl) {
        for t in 0..8 {
            let p = ui * kx[t] * vx[t];
            kx[t] = p;
            pc[t] += p * cx[t];
            kl[t] += p * (lu_ai + lx[t] - cx[t] * inv_eps);
        }
    }
    let (mut pt, mut kt) = (0.0, 0.0);
    let rest = ck
        .into_remainder()
        .iter_mut()
        .zip(cc.remainder())
        .zip(cv.remainder())
        .zip(cl.remainder());
    for (((kx, cx), vx), lx) in rest {
        let p = ui * *kx * vx;
        *kx = p;
        pt += p * cx;
        kt += p * (lu_ai + lx - cx * inv_eps);
    }
    (pc.iter().sum::<f64>() + pt, kl.iter().sum::<f64>() + kt)
});

dispatch!(exp_scale(c: &[f64], inv_neg_reg: f64, k: &mut [f64]) -> () {
    for (kv, &cv) in k.iter_mut().zip(c) {
        *kv = crate::kernels::exp::<F>(cv * inv_neg_reg);
    }
});

/// Contiguous row ranges, one per rayon thread (fixed split, so sums are deterministic).
fn row_ranges(n: usize) -> Vec<(usize, usize)> {
    let t = rayon::current_num_threads().max(1).min(n);
    (0..t).map(|k| (k * n / t, (k + 1) * n / t)).collect()
}

fn sum_partials(parts: Vec<Vec<f64>>, m: usize) -> Vec<f64> {
    let mut out = vec![0.0; m];
    for p in parts {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
    out
}

const TILE_R: usize = 32;
const TILE_C: usize = 1024;

/// Column sums `c_j = Σ_i exp((f_i + g_j − C_ij)/ε)`.
fn col_sums(cost: &dyn CostSource, f: &[f64], g: &[f64], eps: f64) -> Vec<f64> {
    let (n, m) = cost.shape();
    let inv = 1.0 / eps;
    let parts: Vec<Vec<f64>> = row_ranges(n)
        .into_par_iter()
        .map(|(lo, hi)| {
            let mut c = vec![0.0; m];
            let mut buf = Vec::new();
            let mut e = vec![0.0; TILE_C.min(m)];
            let mut r0 = lo;
            while r0 < hi {
                let nr = TILE_R.min(hi - r0);
                let mut c0 = 0;
                while c0 < m {
                    let nc = TILE_C.min(m - c0);
                    let t = cost.tile(r0, nr, c0, nc, &mut buf);
                    for i in 0..nr {
                        let crow = &t.data[i * t.stride..i * t.stride + nc];
                        exp_row::run(crow, &g[c0..c0 + nc], f[r0 + i], inv, &mut e[..nc]);
                        axpy_row::run(1.0, &e[..nc], &mut c[c0..c0 + nc]);
                    }
                    c0 += nc;
                }
                r0 += nr;
            }
            c
        })
        .collect();
    sum_partials(parts, m)
}

/// Exact row update `f_i = ε log a_i − ε log Σ_j exp((g_j − C_ij)/ε)` with a max shift; the
/// slow path for rows whose shifted sum underflowed.
fn exact_row(cost: &dyn CostSource, i: usize, g: &[f64], eps: f64, ln_a: f64) -> f64 {
    let (_, m) = cost.shape();
    let mut buf = Vec::new();
    let t = cost.tile(i, 1, 0, m, &mut buf);
    softmin_update(&t.data[..m], g, eps, ln_a)
}

/// `ε·ln w − ε·log Σ_k exp((p_k − c_k)/ε)`, max-shifted: the exact log-domain update of one
/// potential from one row or column of costs `c` and the other side's potential `p`.
fn softmin_update(c: &[f64], p: &[f64], eps: f64, ln_w: f64) -> f64 {
    let mx = c
        .iter()
        .zip(p)
        .map(|(&c, &pv)| pv - c)
        .fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = c
        .iter()
        .zip(p)
        .map(|(&c, &pv)| ((pv - c - mx) / eps).exp())
        .sum();
    eps * ln_w - mx - eps * s.ln()
}

/// Exact column update for column `j` (slow path for underflowed columns).
fn exact_col(cost: &dyn CostSource, j: usize, f: &[f64], eps: f64, ln_b: f64) -> f64 {
    let (n, _) = cost.shape();
    let mut buf = Vec::new();
    let mut col = Vec::with_capacity(n);
    for i in 0..n {
        let t = cost.tile(i, 1, j, 1, &mut buf);
        col.push(t.data[0]);
    }
    softmin_update(&col, f, eps, ln_b)
}

/// Smallest row/column sum trusted before falling back to the exact log-sum-exp.
const TINY: f64 = 1e-280;

/// Row update of `f` (rows exactly `a`), then the column sums of the updated plan.
fn row_update(cost: &dyn CostSource, a: &[f64], f: &mut [f64], g: &[f64], eps: f64) -> Vec<f64> {
    let (n, m) = cost.shape();
    let inv = 1.0 / eps;
    if let Some(c) = cost.stored() {
        // Fused: one pass over C computes the row sums, the new f_i, and adds the updated
        // plan row (e_ij · a_i / r_i) to the column sums while the row is still in cache.
        let ranges = row_ranges(n);
        let fs: Vec<&mut [f64]> = split_ranges(f, &ranges);
        let parts: Vec<(Vec<f64>, Vec<usize>)> = ranges
            .par_iter()
            .zip(fs)
            .map(|(&(lo, hi), fch)| {
                let mut col = vec![0.0; m];
                let mut e = vec![0.0; m];
                let mut bad = Vec::new();
                for i in lo..hi {
                    let crow = &c[i * m..(i + 1) * m];
                    let s = fch[i - lo];
                    let r = exp_row::run(crow, g, s, inv, &mut e);
                    if !(r > TINY) || !r.is_finite() {
                        bad.push(i);
                        continue;
                    }
                    fch[i - lo] = s + eps * (a[i].ln() - r.ln());
                    axpy_row::run(a[i] / r, &e, &mut col);
                }
                (col, bad)
            })
            .collect();
        let bad: Vec<usize> = parts.iter().flat_map(|p| p.1.iter().copied()).collect();
        let mut colsum = sum_partials(parts.into_iter().map(|p| p.0).collect(), m);
        if !bad.is_empty() {
            let mut e = vec![0.0; m];
            for i in bad {
                f[i] = exact_row(cost, i, g, eps, a[i].ln());
                let crow = &c[i * m..(i + 1) * m];
                exp_row::run(crow, g, f[i], inv, &mut e);
                axpy_row::run(1.0, &e, &mut colsum);
            }
        }
        colsum
    } else {
        // Online: one pass over recomputed tiles. A block of rows keeps its exponentials
        // (rows × m, about 2 MB per thread, never the n×m matrix) until its row sums are
        // complete; then the new f_i and the block's contribution e_ij·a_i/r_i to the column
        // sums follow without recomputing the tile (the dense path's fusion, blocked).
        let ranges = row_ranges(n);
        let block = (BLOCK_BYTES / (8 * m)).clamp(1, TILE_R);
        let fs: Vec<&mut [f64]> = split_ranges(f, &ranges);
        let parts: Vec<(Vec<f64>, Vec<usize>)> = ranges
            .par_iter()
            .zip(fs)
            .map(|(&(lo, hi), fch)| {
                let mut buf = Vec::new();
                let mut e = vec![0.0; block * m];
                let mut r = vec![0.0; block];
                let mut col = vec![0.0; m];
                let mut bad = Vec::new();
                let mut r0 = lo;
                while r0 < hi {
                    let nr = block.min(hi - r0);
                    r[..nr].fill(0.0);
                    let mut c0 = 0;
                    while c0 < m {
                        let nc = TILE_C.min(m - c0);
                        let t = cost.tile(r0, nr, c0, nc, &mut buf);
                        for k in 0..nr {
                            let crow = &t.data[k * t.stride..k * t.stride + nc];
                            r[k] += exp_row::run(
                                crow,
                                &g[c0..c0 + nc],
                                fch[r0 + k - lo],
                                inv,
                                &mut e[k * m + c0..k * m + c0 + nc],
                            );
                        }
                        c0 += nc;
                    }
                    for k in 0..nr {
                        let i = r0 + k;
                        if !(r[k] > TINY) || !r[k].is_finite() {
                            bad.push(i);
                        } else {
                            fch[i - lo] += eps * (a[i].ln() - r[k].ln());
                            axpy_row::run(a[i] / r[k], &e[k * m..(k + 1) * m], &mut col);
                        }
                    }
                    r0 += nr;
                }
                (col, bad)
            })
            .collect();
        let bad: Vec<usize> = parts.iter().flat_map(|p| p.1.iter().copied()).collect();
        let mut colsum = sum_partials(parts.into_iter().map(|p| p.0).collect(), m);
        if !bad.is_empty() {
            let mut e = vec![0.0; m];
            let mut buf = Vec::new();
            for i in bad {
                f[i] = exact_row(cost, i, g, eps, a[i].ln());
                let t = cost.tile(i, 1, 0, m, &mut buf);
                exp_row::run(&t.data[..m], g, f[i], inv, &mut e);
                axpy_row::run(1.0, &e, &mut colsum);
            }
        }
        colsum
    }
}

/// Per-thread buffer of exponentials kept by the online row update.
const BLOCK_BYTES: usize = 2 << 20;

fn split_ranges<'s>(mut v: &'s mut [f64], ranges: &[(usize, usize)]) -> Vec<&'s mut [f64]> {
    let mut out = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges {
        let (head, tail) = v.split_at_mut(hi - lo);
        out.push(head);
        v = tail;
    }
    out
}

fn marginal_err(c: &[f64], b: &[f64]) -> f64 {
    c.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

pub(crate) struct Potentials {
    f: Vec<f64>,
    g: Vec<f64>,
    n_iter: usize,
    err: f64,
    converged: bool,
}

/// Log-stabilised Sinkhorn with optional ε-scaling; returns the potentials.
pub(crate) fn stabilized(
    a: &[f64],
    b: &[f64],
    cost: &dyn CostSource,
    reg: f64,
    params: &SinkhornParams,
) -> Result<Potentials> {
    let (n, m) = cost.shape();
    // POT's start u = 1/n, v = 1/m, i.e. f = ε log(1/n), g = ε log(1/m).
    let mut schedule = Vec::new();
    if let Some(q) = params.eps_scaling {
        let mut e = cost.max_cost().max(reg);
        while e > reg {
            schedule.push(e);
            e *= q;
        }
    }
    schedule.push(reg);
    let e0 = schedule[0];
    let mut f = vec![e0 * (1.0 / n as f64).ln(); n];
    let mut g = vec![e0 * (1.0 / m as f64).ln(); m];
    let ln_b: Vec<f64> = b.iter().map(|v| v.ln()).collect();
    let mut total = 0;
    let mut err = f64::INFINITY;
    let mut converged = false;
    for (si, &eps) in schedule.iter().enumerate() {
        let last = si + 1 == schedule.len();
        let mut c = col_sums(cost, &f, &g, eps);
        let mut it = 0;
        loop {
            // g update (POT's v = b / K^T u)
            for j in 0..m {
                if c[j] > TINY && c[j].is_finite() {
                    g[j] += eps * (ln_b[j] - c[j].ln());
                } else {
                    g[j] = exact_col(cost, j, &f, eps, ln_b[j]);
                }
            }
            // f update (u = a / K v) and the new column marginal
            c = row_update(cost, a, &mut f, &g, eps);
            if f.iter().chain(g.iter()).any(|v| !v.is_finite()) {
                return Err(Error::Numerical(format!(
                    "non-finite potential at iteration {total} (eps {eps})"
                )));
            }
            total += 1;
            if last {
                if it % params.check_every == 0 {
                    err = marginal_err(&c, b);
                    if err < params.stop_thr {
                        converged = true;
                        break;
                    }
                }
            } else {
                err = marginal_err(&c, b);
                if err < params.stage_thr.max(params.stop_thr) || it + 1 >= params.stage_max_iter {
                    break;
                }
            }
            it += 1;
            if total >= params.max_iter {
                break;
            }
        }
        if total >= params.max_iter && !converged {
            if !last {
                // Spend no more iterations: jump to the target ε for the final plan.
                let _ = si;
            }
            break;
        }
    }
    if !converged && total >= params.max_iter && schedule.len() > 1 {
        // The cap was hit before the last stage: the potentials belong to a larger ε. Report
        // honestly through `converged = false`; the plan is built at the target ε below.
    }
    Ok(Potentials {
        f,
        g,
        n_iter: total,
        err,
        converged,
    })
}

/// Builds plan (if `want_plan`), ⟨P,C⟩, OT_ε, the dual value and the column marginal of
/// the plan from potentials. With `recheck_err` the returned `err` is the marginal error of
/// these potentials (one more pass; the annealed solver has no stopping check of its own).
fn finish(
    a: &[f64],
    b: &[f64],
    cost: &dyn CostSource,
    eps: f64,
    p: Potentials,
    want_plan: bool,
    recheck_err: bool,
) -> SinkhornResult {
    let (n, m) = cost.shape();
    let inv = 1.0 / eps;
    let ln_a: Vec<f64> = a.iter().map(|v| v.ln()).collect();
    let ln_b: Vec<f64> = b.iter().map(|v| v.ln()).collect();
    let mut plan = if want_plan {
        Array2::<f64>::zeros((n, m))
    } else {
        Array2::<f64>::zeros((0, 0))
    };
    let (f, g) = (&p.f, &p.g);
    let ranges = row_ranges(n);
    // Per thread: (Σ P·C, Σ P·log(P/ab), column sums of P) over its rows.
    let parts: Vec<(f64, f64, Vec<f64>)> = if want_plan {
        let ps = plan.as_slice_mut().expect("fresh");
        let chunks = split_ranges_len(ps, &ranges, m);
        ranges
            .par_iter()
            .zip(chunks)
            .map(|(&(lo, hi), pch)| {
                let mut buf = Vec::new();
                let mut col = vec![0.0; m];
                let (mut pc, mut kl) = (0.0, 0.0);
                for i in lo..hi {
                    let prow = &mut pch[(i - lo) * m..(i - lo + 1) * m];
                    let t = cost.tile(i, 1, 0, m, &mut buf);
                    let crow = &t.data[..m];
                    exp_row::run(crow, g, f[i], inv, prow);
                    let (x, y) = row_terms(prow, crow, f[i], g, &ln_b, ln_a[i], eps);
                    pc += x;
                    kl += y;
                    axpy_row::run(1.0, prow, &mut col);
                }
                (pc, kl, col)
            })
            .collect()
    } else {
        ranges
            .par_iter()
            .map(|&(lo, hi)| {
                let mut buf = Vec::new();
                let mut e = vec![0.0; m];
                let mut col = vec![0.0; m];
                let (mut pc, mut kl) = (0.0, 0.0);
                for i in lo..hi {
                    let t = cost.tile(i, 1, 0, m, &mut buf);
                    let crow = &t.data[..m];
                    exp_row::run(crow, g, f[i], inv, &mut e);
                    let (x, y) = row_terms(&e, crow, f[i], g, &ln_b, ln_a[i], eps);
                    pc += x;
                    kl += y;
                    axpy_row::run(1.0, &e, &mut col);
                }
                (pc, kl, col)
            })
            .collect()
    };
    let cost_sum: f64 = parts.iter().map(|r| r.0).sum();
    let kl: f64 = parts.iter().map(|r| r.1).sum();
    let colsum = sum_partials(parts.into_iter().map(|r| r.2).collect(), m);
    let err = if recheck_err {
        marginal_err(&colsum, b)
    } else {
        p.err
    };
    let dual = dual_value(a, b, f, g, eps);
    SinkhornResult {
        plan,
        cost: cost_sum,
        value: cost_sum + eps * kl,
        dual,
        f: Array1::from(p.f),
        g: Array1::from(p.g),
        n_iter: p.n_iter,
        err,
        converged: p.converged,
    }
}

/// `⟨a, f − ε log a⟩ + ⟨b, g − ε log b⟩` (geomloss's dual objective in its potentials).
fn dual_value(a: &[f64], b: &[f64], f: &[f64], g: &[f64], eps: f64) -> f64 {
    let fa: f64 = a.iter().zip(f).map(|(&w, &v)| w * (v - eps * w.ln())).sum();
    let gb: f64 = b.iter().zip(g).map(|(&w, &v)| w * (v - eps * w.ln())).sum();
    fa + gb
}

/// Splits a row-major buffer into the row ranges' chunks (`m` values per row).
fn split_ranges_len<'s>(
    mut v: &'s mut [f64],
    ranges: &[(usize, usize)],
    m: usize,
) -> Vec<&'s mut [f64]> {
    let mut out = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges {
        let (head, tail) = v.split_at_mut((hi - lo) * m);
        out.push(head);
        v = tail;
    }
    out
}

/// (Σ_j P_ij C_ij, Σ_j P_ij (log P_ij − log a_i − log b_j)) with log P_ij = (f_i+g_j−C_ij)/ε.
fn row_terms(
    p: &[f64],
    c: &[f64],
    fi: f64,
    g: &[f64],
    ln_b: &[f64],
    ln_ai: f64,
    eps: f64,
) -> (f64, f64) {
    row_terms_k::run(p, c, fi, g, ln_b, ln_ai, 1.0 / eps)
}

dispatch!(row_terms_k(p: &[f64], c: &[f64], fi: f64, g: &[f64], ln_b: &[f64], ln_ai: f64, inv_eps: f64) -> (f64, f64) {
    // Eight accumulators (vectorises); a zero P_ij contributes 0 (its log term is finite).
    let n = p.len().min(c.len()).min(g.len()).min(ln_b.len());
    let (p, c, g, ln_b) = (&p[..n], &c[..n], &g[..n], &ln_b[..n]);
    let mut pc = [0.0f64; 8];
    let mut kl = [0.0f64; 8];
    let (cp, cc, cg, cb) = (p.chunks_exact(8), c.chunks_exact(8), g.chunks_exact(8), ln_b.chunks_exact(8));
    let (rp, rc, rg, rb) = (cp.remainder(), cc.remainder(), cg.remainder(), cb.remainder());
    for (((px, cx), gx), bx) in cp.zip(cc).zip(cg).zip(cb) {
        for t in 0..8 {
            pc[t] += px[t] * cx[t];
            kl[t] += px[t] * ((fi + gx[t] - cx[t]) * inv_eps - ln_ai - bx[t]);
        }
    }
    let (mut pt, mut kt) = (0.0, 0.0);
    for (((px, cx), gx), bx) in rp.iter().zip(rc).zip(rg).zip(rb) {
        pt += px * cx;
        kt += px * ((fi + gx - cx) * inv_eps - ln_ai - bx);
    }
    (pc.iter().sum::<f64>() + pt, kl.iter().sum::<f64>() + kt)
});

/// Entropic OT on a cost that is never stored (see [`LazyCost`]): memory O(n + m), the cost
/// recomputed in tiles by GEMM. [`SinkhornMethod::Stabilized`] (log-stabilised Sinkhorn with
/// ε-scaling, two passes over the tiles per iteration) or [`SinkhornMethod::Annealed`]
/// (geomloss's schedule, one pass per ε); the POT ports need a stored matrix and fall back to
/// the stabilised iteration. The result's `plan` is empty; `cost`, `value`, `dual`, `err` and
/// the potentials are filled.
pub fn sinkhorn_lazy(
    a: ArrayView1<'_, f64>,
    b: ArrayView1<'_, f64>,
    cost: &LazyCost<'_>,
    reg: f64,
    params: &SinkhornParams,
) -> Result<SinkhornResult> {
    params.validate()?;
    check_reg(reg)?;
    let (n, m) = cost.shape();
    let a = weights(a, n, "a")?;
    let b = weights(b, m, "b")?;
    check_mass(&a, &b)?;
    solve_source(&a, &b, cost, reg, params, false)
}

/// Runs the stabilised or the annealed solver on any cost source (Knopp/Log: stabilised).
pub(crate) fn solve_source(
    a: &[f64],
    b: &[f64],
    cost: &dyn CostSource,
    reg: f64,
    params: &SinkhornParams,
    want_plan: bool,
) -> Result<SinkhornResult> {
    if params.method == SinkhornMethod::Annealed {
        let p = annealed(a, b, cost, reg, params)?;
        let mut r = finish(a, b, cost, reg, p, want_plan, true);
        // No stopping rule ran: "converged" reports whether the final marginal error is
        // below `stop_thr` anyway.
        r.converged = r.err < params.stop_thr;
        Ok(r)
    } else {
        let p = stabilized(a, b, cost, reg, params)?;
        Ok(finish(a, b, cost, reg, p, want_plan, false))
    }
}

/// geomloss's `epsilon_schedule(p=2, diameter, blur=√ε, scaling)`:
/// `[D²] + [exp(e) for e in arange(2 ln D, 2 ln blur, 2 ln scaling)] + [ε]` (numpy's arange:
/// `ceil((stop − start)/step)` values `start + k·step`).
pub(crate) fn anneal_schedule(diameter: f64, eps: f64, scaling: f64) -> Vec<f64> {
    let start = 2.0 * diameter.ln();
    let stop = 2.0 * eps.sqrt().ln(); // p·ln(blur), blur = ε^(1/p), as geomloss
    let step = 2.0 * scaling.ln();
    let count = ((stop - start) / step).ceil().max(0.0) as usize;
    let mut out = Vec::with_capacity(count + 2);
    out.push(diameter * diameter);
    out.extend((0..count).map(|k| (start + k as f64 * step).exp()));
    out.push(eps);
    out
}

/// One Jacobi pass of geomloss's softmin updates from the same old potentials: with
/// `P_ij = exp((F_i + ε ln a_i + G_j + ε ln b_j − C_ij)/ε)`, `F̃_i = F_i − ε ln(P1/a)_i` and
/// `G̃_j = G_j − ε ln(Pᵀ1/b)_j`: both from one exponential per entry. Rows/columns whose sums
/// under- or overflow are recomputed by an exact max-shifted log-sum-exp.
fn softmin_pass(
    cost: &dyn CostSource,
    fa: &[f64],
    gb: &[f64],
    big_f: &[f64],
    big_g: &[f64],
    ln_a: &[f64],
    ln_b: &[f64],
    eps: f64,
) -> (Vec<f64>, Vec<f64>) {
    let (n, m) = cost.shape();
    let inv = 1.0 / eps;
    let ranges = row_ranges(n);
    let parts: Vec<(Vec<f64>, Vec<f64>)> = ranges
        .par_iter()
        .map(|&(lo, hi)| {
            let mut buf = Vec::new();
            let mut e = vec![0.0; TILE_C.min(m)];
            let mut rows = vec![0.0; hi - lo];
            let mut cols = vec![0.0; m];
            let mut r0 = lo;
            while r0 < hi {
                let nr = TILE_R.min(hi - r0);
                let mut c0 = 0;
                while c0 < m {
                    let nc = TILE_C.min(m - c0);
                    let t = cost.tile(r0, nr, c0, nc, &mut buf);
                    for k in 0..nr {
                        let crow = &t.data[k * t.stride..k * t.stride + nc];
                        rows[r0 + k - lo] +=
                            exp_row::run(crow, &gb[c0..c0 + nc], fa[r0 + k], inv, &mut e[..nc]);
                        axpy_row::run(1.0, &e[..nc], &mut cols[c0..c0 + nc]);
                    }
                    c0 += nc;
                }
                r0 += nr;
            }
            (rows, cols)
        })
        .collect();
    let mut rows = Vec::with_capacity(n);
    let mut col_parts = Vec::with_capacity(parts.len());
    for (r, c) in parts {
        rows.extend(r);
        col_parts.push(c);
    }
    let cols = sum_partials(col_parts, m);
    let new_f: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let r = rows[i];
            if r > TINY && r.is_finite() {
                big_f[i] - eps * (r.ln() - ln_a[i])
            } else {
                exact_row(cost, i, gb, eps, 0.0)
            }
        })
        .collect();
    let new_g: Vec<f64> = (0..m)
        .into_par_iter()
        .map(|j| {
            let c = cols[j];
            if c > TINY && c.is_finite() {
                big_g[j] - eps * (c.ln() - ln_b[j])
            } else {
                exact_col(cost, j, fa, eps, 0.0)
            }
        })
        .collect();
    (new_f, new_g)
}

/// geomloss's `sinkhorn_loop` (balanced, no debiasing, no kernel truncation) on a cost
/// source; returns the potentials in this crate's convention `f = F + ε ln a`.
fn annealed(
    a: &[f64],
    b: &[f64],
    cost: &dyn CostSource,
    reg: f64,
    params: &SinkhornParams,
) -> Result<Potentials> {
    let (n, m) = cost.shape();
    let diameter = params
        .anneal_diameter
        .unwrap_or_else(|| cost.max_cost().sqrt());
    if !(diameter > 0.0) || !diameter.is_finite() {
        return Err(Error::Numerical(format!(
            "annealing needs a positive diameter, got {diameter} (all costs zero?)"
        )));
    }
    let schedule = anneal_schedule(diameter, reg, params.anneal_scaling);
    let ln_a: Vec<f64> = a.iter().map(|v| v.ln()).collect();
    let ln_b: Vec<f64> = b.iter().map(|v| v.ln()).collect();
    let shifted = |pot: &[f64], ln_w: &[f64], eps: f64| -> Vec<f64> {
        pot.iter().zip(ln_w).map(|(p, l)| p + eps * l).collect()
    };
    let mut big_f = vec![0.0; n];
    let mut big_g = vec![0.0; m];
    let mut passes = 0;
    // Initialisation at the first ε (F = G = 0 before), then one averaged update per ε,
    // then the final extrapolation at the last ε.
    let last = *schedule.last().expect("non-empty schedule");
    let steps = std::iter::once((schedule[0], false))
        .chain(schedule.iter().map(|&e| (e, true)))
        .chain(std::iter::once((last, false)));
    for (eps, average) in steps {
        let fa = shifted(&big_f, &ln_a, eps);
        let gb = shifted(&big_g, &ln_b, eps);
        let (tf, tg) = softmin_pass(cost, &fa, &gb, &big_f, &big_g, &ln_a, &ln_b, eps);
        if average {
            for (x, t) in big_f.iter_mut().zip(&tf) {
                *x = 0.5 * (*x + t);
            }
            for (x, t) in big_g.iter_mut().zip(&tg) {
                *x = 0.5 * (*x + t);
            }
        } else {
            big_f = tf;
            big_g = tg;
        }
        passes += 1;
        if big_f.iter().chain(big_g.iter()).any(|v| !v.is_finite()) {
            return Err(Error::Numerical(format!(
                "non-finite potential in annealing pass {passes} (eps {eps})"
            )));
        }
    }
    Ok(Potentials {
        f: shifted(&big_f, &ln_a, reg),
        g: shifted(&big_g, &ln_b, reg),
        n_iter: passes,
        err: f64::NAN,
        converged: false,
    })
}

pub(crate) fn dense_source<'a>(c: &'a [f64], n: usize, m: usize) -> DenseCost<'a> {
    DenseCost { c, n, m }
}

// ---------------------------------------------------------------------------------------------
// POT ports.

/// The Knopp kernel, stored in double or single precision.
enum KStore {
    Double(Vec<f64>),
    Single(Vec<f32>),
}

impl KStore {
    fn build(c: &[f64], m: usize, inv_neg: f64, single: bool) -> Self {
        if single {
            // Row by row through an f64 scratch row (no n×m f64 buffer). Single precision
            // only when every entry stays a normal f32: below 1.2e-38 the rounding is no
            // longer relative (and exp(−C/ε) easily reaches 1e-300 in f64).
            let mut k32 = vec![0.0f32; c.len()];
            let ok = k32
                .par_chunks_mut(m)
                .zip(c.par_chunks(m))
                .map_init(
                    || vec![0.0; m],
                    |row, (k, c)| {
                        exp_scale::run(c, inv_neg, row);
                        for (o, &x) in k.iter_mut().zip(row.iter()) {
                            *o = x as f32;
                        }
                        row.iter().all(|&x| x >= f64::from(f32::MIN_POSITIVE))
                    },
                )
                .reduce(|| true, |p, q| p && q);
            if ok {
                return KStore::Single(k32);
            }
        }
        let mut k = vec![0.0; c.len()];
        k.par_chunks_mut(m)
            .zip(c.par_chunks(m))
            .for_each(|(k, c)| exp_scale::run(c, inv_neg, k));
        KStore::Double(k)
    }

    #[inline]
    fn dot(&self, i: usize, m: usize, v: &[f64]) -> f64 {
        match self {
            KStore::Double(k) => knopp_row::run(&k[i * m..(i + 1) * m], v),
            KStore::Single(k) => knopp_row32::run(&k[i * m..(i + 1) * m], v),
        }
    }

    #[inline]
    fn axpy(&self, i: usize, m: usize, alpha: f64, s: &mut [f64]) {
        match self {
            KStore::Double(k) => axpy_row::run(alpha, &k[i * m..(i + 1) * m], s),
            KStore::Single(k) => axpy_row32::run(alpha, &k[i * m..(i + 1) * m], s),
        }
    }

    /// The f64 kernel as an owned buffer (recomputed from the cost if stored in single).
    fn into_double(self, c: &[f64], m: usize, inv_neg: f64) -> Vec<f64> {
        match self {
            KStore::Double(k) => k,
            KStore::Single(_) => {
                let mut k = vec![0.0; c.len()];
                k.par_chunks_mut(m)
                    .zip(c.par_chunks(m))
                    .for_each(|(k, c)| exp_scale::run(c, inv_neg, k));
                k
            }
        }
    }
}

fn knopp(
    a: &[f64],
    b: &[f64],
    cost: &DenseCost<'_>,
    reg: f64,
    params: &SinkhornParams,
    single: bool,
) -> Result<SinkhornResult> {
    let (n, m) = (cost.n, cost.m);
    let inv_neg = -1.0 / reg;
    let kmat = KStore::build(cost.c, m, inv_neg, single);
    let mut u = vec![1.0 / n as f64; n];
    let mut v = vec![1.0 / m as f64; m];
    let ranges = row_ranges(n);
    // K^T u, computed once here and then fused with the u update.
    let ktu_of = |u: &[f64]| -> Vec<f64> {
        let parts: Vec<Vec<f64>> = ranges
            .par_iter()
            .map(|&(lo, hi)| {
                let mut s = vec![0.0; m];
                for i in lo..hi {
                    kmat.axpy(i, m, u[i], &mut s);
                }
                s
            })
            .collect();
        sum_partials(parts, m)
    };
    let mut s = ktu_of(&u);
    let mut err = f64::INFINITY;
    let mut converged = false;
    let mut ii = 0;
    let mut numerical = false;
    while ii < params.max_iter {
        let uprev = u.clone();
        let vprev = v.clone();
        let ktu = std::mem::take(&mut s);
        for j in 0..m {
            v[j] = b[j] / ktu[j];
        }
        // Fused pass: u_i = 1 / (Kp v)_i with Kp = K / a_i, and s = K^T u with the new u.
        let us = split_ranges(&mut u, &ranges);
        let parts: Vec<Vec<f64>> = ranges
            .par_iter()
            .zip(us)
            .map(|(&(lo, hi), uch)| {
                let mut sl = vec![0.0; m];
                for i in lo..hi {
                    let kv = kmat.dot(i, m, &v);
                    let ui = 1.0 / (kv / a[i]);
                    uch[i - lo] = ui;
                    match &kmat {
                        // While the row in cache is added to Kᵀu, prefetch the next row so
                        // the memory stream does not stall between the two phases.
                        KStore::Double(k) if i + 1 < hi => axpy_prefetch::run(
                            ui,
                            &k[i * m..(i + 1) * m],
                            &mut sl,
                            &k[(i + 1) * m..(i + 2) * m],
                        ),
                        KStore::Single(k) if i + 1 < hi => axpy_prefetch32::run(
                            ui,
                            &k[i * m..(i + 1) * m],
                            &mut sl,
                            &k[(i + 1) * m..(i + 2) * m],
                        ),
                        _ => kmat.axpy(i, m, ui, &mut sl),
                    }
                }
                sl
            })
            .collect();
        s = sum_partials(parts, m);
        if ktu.contains(&0.0) || u.iter().chain(v.iter()).any(|x| !x.is_finite()) {
            // POT: machine precision reached, return the previous scalings.
            u = uprev;
            v = vprev;
            numerical = true;
            break;
        }
        if ii % params.check_every == 0 {
            err = s
                .iter()
                .zip(&v)
                .zip(b)
                .map(|((sj, vj), bj)| (vj * sj - bj).powi(2))
                .sum::<f64>()
                .sqrt();
            if err < params.stop_thr {
                converged = true;
                break;
            }
        }
        ii += 1;
    }
    let n_iter = if converged || numerical { ii + 1 } else { ii };
    // The plan P_ij = (u_i K_ij) v_j (POT's order) overwrites K: no second n×m buffer (and no
    // page faults on it). ⟨P, C⟩ and KL(P ‖ a⊗b) come from the same pass, with
    // log P_ij = log u_i + log v_j − C_ij/ε instead of a logarithm per entry.
    let mut kmat = kmat.into_double(cost.c, m, inv_neg);
    let lu_a: Vec<f64> = u.iter().zip(a).map(|(x, w)| x.ln() - w.ln()).collect();
    let lv_b: Vec<f64> = v.iter().zip(b).map(|(x, w)| x.ln() - w.ln()).collect();
    let inv = 1.0 / reg;
    let terms: Vec<(f64, f64)> = kmat
        .par_chunks_mut(m)
        .zip(cost.c.par_chunks(m))
        .enumerate()
        .map(|(i, (krow, crow))| plan_row::run(krow, crow, u[i], &v, lu_a[i], &lv_b, inv))
        .collect();
    let plan = Array2::from_shape_vec((n, m), kmat).expect("n*m entries");
    let cs: f64 = terms.iter().map(|t| t.0).sum();
    let kl: f64 = terms.iter().map(|t| t.1).sum();
    let f: Vec<f64> = u.iter().map(|x| reg * x.ln()).collect();
    let g: Vec<f64> = v.iter().map(|x| reg * x.ln()).collect();
    Ok(SinkhornResult {
        plan,
        cost: cs,
        value: cs + reg * kl,
        dual: dual_value(a, b, &f, &g, reg),
        f: Array1::from(f),
        g: Array1::from(g),
        n_iter,
        err,
        converged,
    })
}

fn plan_terms(plan: &Array2<f64>, c: &[f64], a: &[f64], b: &[f64]) -> (f64, f64) {
    let m = plan.ncols();
    let rows: Vec<(f64, f64)> = plan
        .as_slice()
        .expect("standard")
        .par_chunks(m)
        .enumerate()
        .map(|(i, p)| {
            let mut pc = 0.0;
            let mut kl = 0.0;
            for j in 0..m {
                if p[j] > 0.0 {
                    pc += p[j] * c[i * m + j];
                    kl += p[j] * (p[j].ln() - a[i].ln() - b[j].ln());
                }
            }
            (pc, kl)
        })
        .collect();
    (
        rows.iter().map(|r| r.0).sum(),
        rows.iter().map(|r| r.1).sum(),
    )
}

fn logsumexp(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let mx = xs.clone().fold(f64::NEG_INFINITY, f64::max);
    if !mx.is_finite() {
        return mx;
    }
    mx + xs.map(|x| (x - mx).exp()).sum::<f64>().ln()
}

fn log_domain(
    a: &[f64],
    b: &[f64],
    cost: &DenseCost<'_>,
    reg: f64,
    params: &SinkhornParams,
) -> Result<SinkhornResult> {
    let (n, m) = (cost.n, cost.m);
    let c = cost.c;
    let mr = |i: usize, j: usize| -c[i * m + j] / reg;
    let loga: Vec<f64> = a.iter().map(|x| x.ln()).collect();
    let logb: Vec<f64> = b.iter().map(|x| x.ln()).collect();
    let mut u = vec![0.0; n];
    let mut v = vec![0.0; m];
    let mut err = f64::INFINITY;
    let mut converged = false;
    let mut ii = 0;
    while ii < params.max_iter {
        let uu = &u;
        v = (0..m)
            .into_par_iter()
            .map(|j| logb[j] - logsumexp((0..n).map(|i| mr(i, j) + uu[i])))
            .collect();
        let vv = &v;
        u = (0..n)
            .into_par_iter()
            .map(|i| loga[i] - logsumexp((0..m).map(|j| mr(i, j) + vv[j])))
            .collect();
        if ii % params.check_every == 0 {
            let (uu, vv) = (&u, &v);
            err = (0..m)
                .into_par_iter()
                .map(|j| {
                    let s: f64 = (0..n).map(|i| (mr(i, j) + uu[i] + vv[j]).exp()).sum();
                    (s - b[j]).powi(2)
                })
                .sum::<f64>()
                .sqrt();
            if err < params.stop_thr {
                converged = true;
                break;
            }
        }
        ii += 1;
    }
    let n_iter = if converged { ii + 1 } else { ii };
    let mut plan = Array2::<f64>::zeros((n, m));
    for ((i, j), p) in plan.indexed_iter_mut() {
        *p = (mr(i, j) + u[i] + v[j]).exp();
    }
    let (cs, kl) = plan_terms(&plan, c, a, b);
    let f: Vec<f64> = u.iter().map(|x| reg * x).collect();
    let g: Vec<f64> = v.iter().map(|x| reg * x).collect();
    Ok(SinkhornResult {
        plan,
        cost: cs,
        value: cs + reg * kl,
        dual: dual_value(a, b, &f, &g, reg),
        f: Array1::from(f),
        g: Array1::from(g),
        n_iter,
        err,
        converged,
    })
}
