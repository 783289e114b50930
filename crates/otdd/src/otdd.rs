//! The Optimal Transport Dataset Distance (Alvarez-Melis & Fusi, NeurIPS 2020), following
//! microsoft/otdd's `DatasetDistance(method='precomputed_labeldist')`.

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::cost::sqeuclidean;
use crate::emd::{EmdParams, emd, emd2};
use crate::error::{Error, Result, check_finite, param};
use crate::gaussian::{EigenCutoff, GaussianStats, gaussian_w2_sq};
use crate::sinkhorn::{LazyCost, SinkhornParams, dense_source, solve_source};

/// A labelled data set: features `x` (n×d) and integer labels `y` (n).
#[derive(Debug, Clone, Copy)]
pub struct LabeledData<'a> {
    x: ArrayView2<'a, f64>,
    y: &'a [i64],
}

impl<'a> LabeledData<'a> {
    /// Checks that the set is non-empty, `y` has one label per row and the features are finite.
    pub fn new(x: ArrayView2<'a, f64>, y: &'a [i64]) -> Result<Self> {
        if x.nrows() == 0 || x.ncols() == 0 {
            return Err(Error::Empty(format!(
                "data set features are {}x{}",
                x.nrows(),
                x.ncols()
            )));
        }
        if y.len() != x.nrows() {
            return Err(Error::Shape(format!(
                "{} labels for {} feature rows",
                y.len(),
                x.nrows()
            )));
        }
        if let Some((i, _)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "features at (row {}, column {})",
                i.0, i.1
            )));
        }
        Ok(Self { x, y })
    }

    /// Features.
    pub fn x(&self) -> ArrayView2<'a, f64> {
        self.x
    }

    /// Labels.
    pub fn y(&self) -> &'a [i64] {
        self.y
    }
}

/// How the label-to-label distance W²(y, y′) between class-conditional feature distributions
/// is computed (microsoft/otdd's `inner_ot_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InnerMethod {
    /// Each class as a Gaussian N(μ, Σ) (sample mean, covariance with ddof 1):
    /// W² = ‖μ − μ′‖² + Bures²(Σ, Σ′). The reference's default (`'gaussian_approx'`).
    #[default]
    Gaussian,
    /// Exact OT (network simplex) between the two classes' samples, cost ‖x − x′‖², uniform
    /// weights (the reference's `'exact'` with `inner_ot_loss='wasserstein'`).
    Exact,
    /// Squared distance of the class means ‖μ − μ′‖² (W² between Diracs at the means).
    MeansOnly,
}

/// The outer OT problem between the two augmented data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OuterMethod {
    /// Entropic OT (log-stabilised Sinkhorn, ε = `entreg` absolute): the distance is ⟨P, C⟩,
    /// or the Sinkhorn divergence when `debiased`. The reference's default (geomloss).
    #[default]
    Sinkhorn,
    /// Exact OT (network simplex): the distance is min ⟨P, C⟩.
    Exact,
    /// The reference's own outer solver: geomloss `SamplesLoss('sinkhorn', p=2,
    /// blur=√entreg, scaling=0.5, debias)` on the augmented points, i.e.
    /// [`SinkhornMethod::Annealed`](crate::SinkhornMethod::Annealed) with geomloss's diameter
    /// (bounding box of the features and the re-indexed label column). A fixed number of
    /// passes (about `log₄(D²/ε) + 3`), no stopping rule; the distance is geomloss's dual
    /// value `⟨a, F⟩ + ⟨b, G⟩`, or `S_ε` when `debiased`.
    Geomloss,
}

/// Scaling of the augmented ground cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostScale {
    /// microsoft/otdd with p = 2: `C = λx·‖x − x′‖²/2 + λy·W²(y, y′)/2` (geomloss's
    /// `squared_distances / 2`, and the label term divided by p for consistency).
    #[default]
    Half,
    /// The plain cost of the paper's definition, `C = λx·‖x − x′‖² + λy·W²(y, y′)`.
    Unit,
}

impl CostScale {
    fn factor(self) -> f64 {
        match self {
            CostScale::Half => 0.5,
            CostScale::Unit => 1.0,
        }
    }
}

/// What to do with a class that occurs in one data set only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClassPolicy {
    /// Allowed (the reference's behaviour: label sets are compared through their feature
    /// distributions, so they need not match).
    #[default]
    Independent,
    /// Both data sets must have the same classes (after dropping small classes); otherwise
    /// [`Error::Labels`] names a class found in one set only.
    RequireSame,
}

/// OTDD parameters; defaults follow microsoft/otdd's `DatasetDistance` defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct OtddParams {
    /// Label-to-label distance.
    pub inner: InnerMethod,
    /// Outer OT problem.
    pub outer: OuterMethod,
    /// Absolute entropic regularisation ε of the outer Sinkhorn, applied to the (scaled)
    /// ground cost (reference `entreg=0.1`; geomloss `blur = entreg^(1/p)`).
    pub entreg: f64,
    /// Cost scaling (½·½ as the reference, or unit).
    pub scale: CostScale,
    /// Feature weight λx.
    pub lambda_x: f64,
    /// Label weight λy.
    pub lambda_y: f64,
    /// Report the debiased Sinkhorn divergence (reference `debiased_loss=True`); Sinkhorn only.
    pub debiased: bool,
    /// Sub-sample each set to at most this many points for the outer problem (the
    /// reference's `maxsamples=10000`); class statistics always use all points.
    pub max_samples: Option<usize>,
    /// Seed of the sub-sampling.
    pub seed: u64,
    /// Classes with fewer samples are dropped with their samples (reference: 2).
    pub min_labelcount: usize,
    /// Eigenvalue treatment in the matrix square roots.
    pub sqrt_cutoff: EigenCutoff,
    /// Classes present in one set only.
    pub class_policy: ClassPolicy,
    /// Outer Sinkhorn settings for [`OuterMethod::Sinkhorn`] (the stabilised solver is used
    /// unless `method` is `Annealed`; the POT ports are not used here).
    /// [`OuterMethod::Geomloss`] overrides `method` and `anneal_diameter`.
    pub sinkhorn: SinkhornParams,
    /// Outer cost matrices with more entries than this are never stored (online Sinkhorn).
    pub dense_limit: usize,
    /// Return the outer coupling (n×m) when it is stored.
    pub return_coupling: bool,
}

impl Default for OtddParams {
    fn default() -> Self {
        Self {
            inner: InnerMethod::Gaussian,
            outer: OuterMethod::Sinkhorn,
            entreg: 0.1,
            scale: CostScale::Half,
            lambda_x: 1.0,
            lambda_y: 1.0,
            debiased: false,
            max_samples: Some(10_000),
            seed: 0,
            min_labelcount: 2,
            sqrt_cutoff: EigenCutoff::ClampNegative,
            class_policy: ClassPolicy::Independent,
            sinkhorn: SinkhornParams {
                max_iter: 300,
                stop_thr: 1e-6,
                check_every: 1,
                ..SinkhornParams::default()
            },
            dense_limit: 30_000_000,
            return_coupling: false,
        }
    }
}

impl OtddParams {
    /// Rejects invalid settings before any work.
    pub fn validate(&self) -> Result<()> {
        if self.outer != OuterMethod::Exact && (!(self.entreg > 0.0) || !self.entreg.is_finite()) {
            return Err(param(
                "entreg",
                format!(
                    "must be finite and > 0 for the Sinkhorn outer problem, got {}",
                    self.entreg
                ),
            ));
        }
        if self.debiased && self.outer == OuterMethod::Exact {
            return Err(param(
                "debiased",
                "the debiased divergence needs the Sinkhorn outer problem",
            ));
        }
        for (name, v) in [("lambda_x", self.lambda_x), ("lambda_y", self.lambda_y)] {
            if !(v >= 0.0) || !v.is_finite() {
                return Err(param(name, format!("must be finite and >= 0, got {v}")));
            }
        }
        if self.max_samples == Some(0) {
            return Err(param("max_samples", "must be >= 1"));
        }
        if self.min_labelcount == 0 {
            return Err(param("min_labelcount", "must be >= 1"));
        }
        if self.inner == InnerMethod::Gaussian && self.min_labelcount < 2 {
            return Err(param(
                "min_labelcount",
                "a covariance needs at least 2 samples per class",
            ));
        }
        self.sinkhorn.validate()
    }
}

/// Per-class statistics of one data set (after dropping classes below `min_labelcount`).
#[derive(Debug, Clone)]
pub struct ClassStats {
    /// Kept class labels, sorted.
    pub labels: Vec<i64>,
    /// Samples per kept class.
    pub counts: Vec<usize>,
    /// Row indices of each kept class.
    pub members: Vec<Vec<usize>>,
    /// Gaussian statistics per kept class (Gaussian and means-only methods).
    pub gaussians: Vec<GaussianStats>,
}

/// Result of [`otdd`].
#[derive(Debug, Clone)]
pub struct OtddResult {
    /// The data-set distance.
    pub distance: f64,
    /// Label-to-label W² (unscaled, unweighted), rows: classes of A, columns: classes of B.
    pub label_distances: Array2<f64>,
    /// Kept classes of A.
    pub classes_a: Vec<i64>,
    /// Kept classes of B.
    pub classes_b: Vec<i64>,
    /// Rows of A used in the outer problem (sorted).
    pub index_a: Vec<usize>,
    /// Rows of B used in the outer problem (sorted).
    pub index_b: Vec<usize>,
    /// The outer coupling, if requested and stored (`index_a.len() × index_b.len()`).
    pub coupling: Option<Array2<f64>>,
    /// Outer Sinkhorn iterations (0 for exact).
    pub n_iter: usize,
    /// Whether the outer Sinkhorn reached its stopping threshold (true for exact).
    pub converged: bool,
}

/// Class statistics; drops classes with fewer than `min_labelcount` samples.
pub fn class_stats(data: &LabeledData<'_>, params: &OtddParams) -> Result<ClassStats> {
    let mut groups: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, &l) in data.y.iter().enumerate() {
        groups.entry(l).or_default().push(i);
    }
    groups.retain(|_, v| v.len() >= params.min_labelcount);
    if groups.is_empty() {
        return Err(Error::Labels(format!(
            "no class has at least min_labelcount = {} samples",
            params.min_labelcount
        )));
    }
    let labels: Vec<i64> = groups.keys().copied().collect();
    let members: Vec<Vec<usize>> = groups.into_values().collect();
    let counts = members.iter().map(Vec::len).collect();
    let gaussians = if params.inner == InnerMethod::Exact {
        Vec::new()
    } else {
        members
            .par_iter()
            .map(|idx| {
                let xc = data.x.select(Axis(0), idx);
                let mean = xc.mean_axis(Axis(0)).expect("non-empty class");
                let cov = if params.inner == InnerMethod::Gaussian {
                    let centred = &xc - &mean.view().insert_axis(Axis(0));
                    centred.t().dot(&centred) / (idx.len() as f64 - 1.0)
                } else {
                    Array2::zeros((xc.ncols(), xc.ncols()))
                };
                GaussianStats::new(mean.view(), cov.view(), params.sqrt_cutoff)
            })
            .collect::<Result<Vec<_>>>()?
    };
    Ok(ClassStats {
        labels,
        counts,
        members,
        gaussians,
    })
}

/// Label-to-label distances W²(y, y′) between the kept classes of two data sets.
pub fn label_distances(
    a: &LabeledData<'_>,
    sa: &ClassStats,
    b: &LabeledData<'_>,
    sb: &ClassStats,
    params: &OtddParams,
) -> Result<Array2<f64>> {
    let (ka, kb) = (sa.labels.len(), sb.labels.len());
    let pairs: Vec<(usize, usize)> = (0..ka).flat_map(|i| (0..kb).map(move |j| (i, j))).collect();
    let vals: Vec<f64> = match params.inner {
        InnerMethod::Gaussian => pairs
            .par_iter()
            .map(|&(i, j)| gaussian_w2_sq(&sa.gaussians[i], &sb.gaussians[j], params.sqrt_cutoff))
            .collect::<Result<_>>()?,
        InnerMethod::MeansOnly => pairs
            .iter()
            .map(|&(i, j)| {
                sa.gaussians[i]
                    .mean()
                    .iter()
                    .zip(sb.gaussians[j].mean())
                    .map(|(p, q)| (p - q) * (p - q))
                    .sum()
            })
            .collect(),
        InnerMethod::Exact => pairs
            .par_iter()
            .map(|&(i, j)| {
                let xa = a.x.select(Axis(0), &sa.members[i]);
                let xb = b.x.select(Axis(0), &sb.members[j]);
                let c = sqeuclidean(xa.view(), xb.view())?;
                let e = Array1::<f64>::zeros(0);
                emd2(
                    e.view(),
                    e.view(),
                    c.view(),
                    &EmdParams {
                        max_iter: 10_000_000,
                        ..EmdParams::default()
                    },
                )
            })
            .collect::<Result<_>>()?,
    };
    Ok(Array2::from_shape_vec((ka, kb), vals).expect("ka*kb values"))
}

fn subsample(n: usize, k: Option<usize>, seed: u64) -> Vec<usize> {
    match k {
        Some(k) if n > k => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut idx = sample(&mut rng, n, k).into_vec();
            idx.sort_unstable();
            idx
        }
        _ => (0..n).collect(),
    }
}

/// Rows kept after dropping small classes, and each kept row's class index.
fn kept_rows(data: &LabeledData<'_>, st: &ClassStats) -> (Vec<usize>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut cls = Vec::new();
    let mut lookup = BTreeMap::new();
    for (c, &l) in st.labels.iter().enumerate() {
        lookup.insert(l, c);
    }
    for (i, l) in data.y.iter().enumerate() {
        if let Some(&c) = lookup.get(l) {
            rows.push(i);
            cls.push(c);
        }
    }
    (rows, cls)
}

struct Side {
    x: Array2<f64>,
    cls: Vec<usize>,
    index: Vec<usize>,
}

fn side(data: &LabeledData<'_>, st: &ClassStats, params: &OtddParams, seed: u64) -> Side {
    let (rows, cls) = kept_rows(data, st);
    let pick = subsample(rows.len(), params.max_samples, seed);
    let index: Vec<usize> = pick.iter().map(|&k| rows[k]).collect();
    let cls = pick.iter().map(|&k| cls[k]).collect();
    Side {
        x: data.x.select(Axis(0), &index),
        cls,
        index,
    }
}

/// Outer OT between two prepared sides given the label table W (classes of p × classes of q).
/// What one outer problem returns.
struct Outer {
    /// ⟨P, C⟩ (exact: the optimum).
    cost: f64,
    /// The value entering the debiased divergence: OT_ε for Sinkhorn, geomloss's dual value
    /// for Geomloss, the optimum for exact.
    value: f64,
    plan: Option<Array2<f64>>,
    n_iter: usize,
    converged: bool,
}

/// geomloss's `max_diameter` of the augmented points `[x, label]` it receives from
/// microsoft/otdd: labels re-indexed 0..k_A for A and from k_A (debiased) or 0 for B.
fn geomloss_diameter(p: &Side, q: &Side, ka: usize, debiased: bool) -> f64 {
    let d = p.x.ncols();
    let mut sq = 0.0;
    for k in 0..d {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in p.x.column(k).iter().chain(q.x.column(k).iter()) {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
        sq += (hi - lo) * (hi - lo);
    }
    let off = if debiased { ka } else { 0 };
    let labels = p.cls.iter().copied().chain(q.cls.iter().map(|c| c + off));
    let (lo, hi) = labels.fold((usize::MAX, 0), |(lo, hi), c| (lo.min(c), hi.max(c)));
    let span = (hi - lo) as f64;
    (sq + span * span).sqrt()
}

fn outer(
    p: &Side,
    q: &Side,
    w: &Array2<f64>,
    params: &OtddParams,
    want_plan: bool,
    diameter: Option<f64>,
) -> Result<Outer> {
    let mut sk = params.sinkhorn.clone();
    if params.outer == OuterMethod::Geomloss {
        sk.method = crate::sinkhorn::SinkhornMethod::Annealed;
        sk.anneal_scaling = 0.5;
        sk.anneal_diameter = diameter;
    } else if sk.method != crate::sinkhorn::SinkhornMethod::Annealed {
        sk.method = crate::sinkhorn::SinkhornMethod::Stabilized;
    }
    let annealed = sk.method == crate::sinkhorn::SinkhornMethod::Annealed;
    let pick = |r: &crate::sinkhorn::SinkhornResult| {
        if params.outer == OuterMethod::Geomloss {
            (r.dual, r.dual)
        } else if annealed {
            (r.cost, r.dual)
        } else {
            (r.cost, r.value)
        }
    };
    let s = params.scale.factor();
    let table = w.mapv(|v| v * params.lambda_y * s);
    let (n, m) = (p.x.nrows(), q.x.nrows());
    let lazy = LazyCost::sqeuclidean(p.x.view(), q.x.view(), params.lambda_x * s)?
        .with_label_cost(p.cls.clone(), q.cls.clone(), table.clone())?;
    let a = vec![1.0 / n as f64; n];
    let b = vec![1.0 / m as f64; m];
    let store = n.saturating_mul(m) <= params.dense_limit;
    if params.outer == OuterMethod::Exact || store {
        let mut c = sqeuclidean(p.x.view(), q.x.view())?;
        let ws = params.lambda_x * s;
        c.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut row)| {
                let trow = table.row(p.cls[i]);
                for (j, v) in row.iter_mut().enumerate() {
                    *v = *v * ws + trow[q.cls[j]];
                }
            });
        if params.outer == OuterMethod::Exact {
            let e = Array1::<f64>::zeros(0);
            let r = emd(
                e.view(),
                e.view(),
                c.view(),
                &EmdParams {
                    max_iter: 100_000_000,
                    ..EmdParams::default()
                },
            )?;
            return Ok(Outer {
                cost: r.cost,
                value: r.cost,
                plan: want_plan.then_some(r.plan),
                n_iter: 0,
                converged: true,
            });
        }
        let cs = c.as_slice().expect("standard");
        let r = solve_source(
            &a,
            &b,
            &dense_source(cs, n, m),
            params.entreg,
            &sk,
            want_plan,
        )?;
        let (cost, value) = pick(&r);
        return Ok(Outer {
            cost,
            value,
            plan: want_plan.then_some(r.plan),
            n_iter: r.n_iter,
            converged: r.converged,
        });
    }
    let r = solve_source(&a, &b, &lazy, params.entreg, &sk, false)?;
    let (cost, value) = pick(&r);
    Ok(Outer {
        cost,
        value,
        plan: None,
        n_iter: r.n_iter,
        converged: r.converged,
    })
}

/// The OTDD between two labelled data sets.
///
/// Steps (microsoft/otdd): drop classes with fewer than `min_labelcount` samples (and their
/// samples); per-class statistics on all remaining samples; label-to-label distances W²;
/// sub-sample each set to `max_samples`; ground cost
/// `C((x,y),(x′,y′)) = s·(λx‖x − x′‖² + λy W²(y, y′))` with `s = ½` ([`CostScale::Half`]) or 1;
/// outer OT with uniform weights (exact, entropic ⟨P, C⟩, or the debiased Sinkhorn
/// divergence, for which the within-set label distances W²(y, ỹ) of each set are used in the
/// self terms).
pub fn otdd(a: &LabeledData<'_>, b: &LabeledData<'_>, params: &OtddParams) -> Result<OtddResult> {
    params.validate()?;
    if a.x.ncols() != b.x.ncols() {
        return Err(Error::Shape(format!(
            "data set A has {} features but B has {}",
            a.x.ncols(),
            b.x.ncols()
        )));
    }
    let sa = class_stats(a, params)?;
    let sb = class_stats(b, params)?;
    if params.class_policy == ClassPolicy::RequireSame && sa.labels != sb.labels {
        let only = sa
            .labels
            .iter()
            .find(|l| !sb.labels.contains(l))
            .map(|l| format!("class {l} is in A only"))
            .or_else(|| {
                sb.labels
                    .iter()
                    .find(|l| !sa.labels.contains(l))
                    .map(|l| format!("class {l} is in B only"))
            })
            .unwrap_or_default();
        return Err(Error::Labels(only));
    }
    let w_ab = label_distances(a, &sa, b, &sb, params)?;
    let pa = side(a, &sa, params, params.seed);
    // The same data set on both sides gets the same sub-sample (so a self-distance is 0 with
    // the exact outer problem); different sets get independent streams.
    let same = std::ptr::eq(a.x.as_ptr(), b.x.as_ptr()) && a.x.dim() == b.x.dim() && a.y == b.y;
    let pb = side(
        b,
        &sb,
        params,
        if same {
            params.seed
        } else {
            params.seed.wrapping_add(1)
        },
    );
    let diameter = (params.outer == OuterMethod::Geomloss)
        .then(|| geomloss_diameter(&pa, &pb, sa.labels.len(), params.debiased));
    let ab = outer(&pa, &pb, &w_ab, params, params.return_coupling, diameter)?;
    let distance = if params.debiased {
        let w_aa = label_distances(a, &sa, a, &sa, params)?;
        let w_bb = label_distances(b, &sb, b, &sb, params)?;
        let v_aa = outer(&pa, &pa, &w_aa, params, false, diameter)?.value;
        let v_bb = outer(&pb, &pb, &w_bb, params, false, diameter)?.value;
        ab.value - 0.5 * v_aa - 0.5 * v_bb
    } else {
        ab.cost
    };
    let Outer {
        plan: coupling,
        n_iter,
        converged,
        ..
    } = ab;
    check_finite("distance", [distance])?;
    Ok(OtddResult {
        distance,
        label_distances: w_ab,
        classes_a: sa.labels,
        classes_b: sb.labels,
        index_a: pa.index,
        index_b: pb.index,
        coupling,
        n_iter,
        converged,
    })
}

/// Symmetric matrix of OTDD values between several data sets (entry (i, j) is
/// `otdd(sets[i], sets[j])` for i ≤ j, mirrored; the diagonal is computed too, so it shows
/// the entropic bias of a non-debiased Sinkhorn distance).
pub fn otdd_matrix(sets: &[LabeledData<'_>], params: &OtddParams) -> Result<Array2<f64>> {
    if sets.is_empty() {
        return Err(Error::Empty("no data sets".into()));
    }
    let k = sets.len();
    let mut out = Array2::<f64>::zeros((k, k));
    for i in 0..k {
        for j in i..k {
            let d = otdd(&sets[i], &sets[j], params)?.distance;
            out[[i, j]] = d;
            out[[j, i]] = d;
        }
    }
    Ok(out)
}

/// Convenience: features as f64 from f32.
pub fn to_f64(x: ArrayView2<'_, f32>) -> Array2<f64> {
    x.mapv(f64::from)
}
