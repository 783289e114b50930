//! Exact optimal transport by the network simplex, a port of POT's `network_simplex_simple.h`
//! (Nicolas Bonneel's adaptation of LEMON's `NetworkSimplex`, block-search pivot rule).
//!
//! The port keeps POT's node and arc numbering (nodes and arcs stored in reverse order, the
//! artificial root, the "min-cost incoming arc" initial pivots, the block size
//! `max(√arcs, 10)` and the `2.22e-15` relative pivot tolerance) so that degenerate problems
//! take the same pivots and end at the same vertex of the transport polytope as `ot.emd`.
//! Only the entering-arc search is restructured: POT recovers each arc's endpoints with a
//! division per arc, here arcs are scanned one cost row at a time, which visits the arcs in
//! exactly the same order.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::error::{Error, Result, check_finite, param};
use crate::kernels::dispatch;

/// Parameters of [`emd`], defaults as `ot.emd`.
#[derive(Debug, Clone, PartialEq)]
pub struct EmdParams {
    /// Maximum number of pivots (`numItermax`, POT default 100000). Reaching it returns the
    /// current (feasible, possibly sub-optimal) plan with [`EmdStatus::MaxIterReached`].
    pub max_iter: u64,
    /// Centre the dual potentials as POT does (`center_dual=True`).
    pub center_dual: bool,
    /// Tolerance on `|Σa − Σb|` before `b` is rescaled to the mass of `a` (POT checks 6
    /// decimals).
    pub mass_tol: f64,
}

impl Default for EmdParams {
    fn default() -> Self {
        Self {
            max_iter: 100_000,
            center_dual: true,
            mass_tol: 1e-6,
        }
    }
}

impl EmdParams {
    /// Rejects parameters the solver cannot use.
    pub fn validate(&self) -> Result<()> {
        if !(self.mass_tol >= 0.0) {
            return Err(param("mass_tol", "must be >= 0"));
        }
        Ok(())
    }
}

/// How the network simplex ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmdStatus {
    /// Optimal plan found.
    Optimal,
    /// `max_iter` pivots were made; the plan is feasible but may not be optimal.
    MaxIterReached,
}

/// Result of [`emd`].
#[derive(Debug, Clone)]
pub struct EmdResult {
    /// The transport plan `G` (n×m), rows summing to `a`, columns to `b`.
    pub plan: Array2<f64>,
    /// ⟨G, M⟩, summed as POT does.
    pub cost: f64,
    /// Source dual potential (POT's `log['u']`).
    pub u: Array1<f64>,
    /// Target dual potential (POT's `log['v']`).
    pub v: Array1<f64>,
    /// Number of block-search pivots (after the initial heuristic pivots).
    pub iterations: u64,
    /// Optimal or stopped at the iteration cap.
    pub status: EmdStatus,
}

/// Exact OT plan between histograms `a` (n) and `b` (m) for the cost `m` (n×m), as `ot.emd`.
///
/// Empty `a`/`b` mean uniform weights, as in POT. `b` is rescaled to the mass of `a`; rows or
/// columns with zero weight are removed before the solve and their duals estimated as POT's
/// `estimate_dual_null_weights` does.
pub fn emd(
    a: ArrayView1<'_, f64>,
    b: ArrayView1<'_, f64>,
    m: ArrayView2<'_, f64>,
    params: &EmdParams,
) -> Result<EmdResult> {
    params.validate()?;
    let (n1, n2) = m.dim();
    if n1 == 0 || n2 == 0 {
        return Err(Error::Empty(format!("cost matrix is {n1}x{n2}")));
    }
    let a: Array1<f64> = if a.is_empty() {
        Array1::from_elem(n1, 1.0 / n1 as f64)
    } else {
        a.to_owned()
    };
    let b: Array1<f64> = if b.is_empty() {
        Array1::from_elem(n2, 1.0 / n2 as f64)
    } else {
        b.to_owned()
    };
    if a.len() != n1 || b.len() != n2 {
        return Err(Error::Shape(format!(
            "a has {} and b has {} entries but the cost matrix is {n1}x{n2}",
            a.len(),
            b.len()
        )));
    }
    check_finite("a", a.iter().copied())?;
    check_finite("b", b.iter().copied())?;
    check_finite("cost matrix", m.iter().copied())?;
    if a.iter().chain(b.iter()).any(|&w| w < 0.0) {
        return Err(Error::Marginals("negative weight".into()));
    }
    let (sa, sb) = (a.sum(), b.sum());
    if !(sa > 0.0) || !(sb > 0.0) {
        return Err(Error::Marginals("a and b must have positive mass".into()));
    }
    if (sa - sb).abs() > params.mass_tol {
        return Err(Error::Marginals(format!(
            "a sums to {sa} but b sums to {sb}"
        )));
    }
    // POT: b = b * a.sum() / b.sum()
    let b = b.mapv(|v| v * sa / sb);

    let rows: Vec<usize> = (0..n1).filter(|&i| a[i] != 0.0).collect();
    let cols: Vec<usize> = (0..n2).filter(|&j| b[j] != 0.0).collect();
    let full = rows.len() == n1 && cols.len() == n2;
    let msub: Array2<f64> = if full {
        m.as_standard_layout().into_owned()
    } else {
        Array2::from_shape_fn((rows.len(), cols.len()), |(i, j)| m[[rows[i], cols[j]]])
    };
    let wa: Vec<f64> = rows.iter().map(|&i| a[i]).collect();
    let wb: Vec<f64> = cols.iter().map(|&j| b[j]).collect();
    let costs = msub.as_slice().expect("standard layout");
    let sol = solve_dense(&wa, &wb, costs, params.max_iter)?;

    let mut plan = Array2::<f64>::zeros((n1, n2));
    let mut u = Array1::<f64>::zeros(n1);
    let mut v = Array1::<f64>::zeros(n2);
    let nc = cols.len();
    for (ii, &i) in rows.iter().enumerate() {
        u[i] = sol.alpha[ii];
        for (jj, &j) in cols.iter().enumerate() {
            plan[[i, j]] = sol.flow[ii * nc + jj];
        }
    }
    for (jj, &j) in cols.iter().enumerate() {
        v[j] = sol.beta[jj];
    }
    if params.center_dual {
        center_dual(&mut u, &mut v, &a, &b);
    }
    if !full {
        // estimate_dual_null_weights: lower the null-weight duals until no dual constraint is
        // violated, then centre again.
        let mut au = u.clone();
        let mut bv = v.clone();
        for i in 0..n1 {
            if a[i] == 0.0 {
                let viol = (0..n2)
                    .map(|j| u[i] + v[j] - m[[i, j]])
                    .fold(f64::NEG_INFINITY, f64::max);
                au[i] = u[i] - viol.max(0.0);
            }
        }
        for j in 0..n2 {
            if b[j] == 0.0 {
                let viol = (0..n1)
                    .map(|i| u[i] + v[j] - m[[i, j]])
                    .fold(f64::NEG_INFINITY, f64::max);
                bv[j] = v[j] - viol.max(0.0);
            }
        }
        center_dual(&mut au, &mut bv, &a, &b);
        u = au;
        v = bv;
    }
    Ok(EmdResult {
        plan,
        cost: sol.cost,
        u,
        v,
        iterations: sol.iterations,
        status: sol.status,
    })
}

/// Exact OT cost ⟨G*, M⟩, as `ot.emd2`.
pub fn emd2(
    a: ArrayView1<'_, f64>,
    b: ArrayView1<'_, f64>,
    m: ArrayView2<'_, f64>,
    params: &EmdParams,
) -> Result<f64> {
    emd(a, b, m, params).map(|r| r.cost)
}

fn center_dual(u: &mut Array1<f64>, v: &mut Array1<f64>, a: &Array1<f64>, b: &Array1<f64>) {
    let ips = b.dot(v) - a.dot(u);
    let c = ips / (a.sum() + b.sum());
    u.mapv_inplace(|x| x + c);
    v.mapv_inplace(|x| x - c);
}

pub(crate) struct DenseSolution {
    pub flow: Vec<f64>,
    pub alpha: Vec<f64>,
    pub beta: Vec<f64>,
    pub cost: f64,
    pub iterations: u64,
    pub status: EmdStatus,
}

dispatch!(reduced_min(row_rev: &[f64], pi_s: f64, pit: &[f64], st: &[i8], out: &mut [f64]) -> f64 {
    // row_rev holds the costs in increasing column order; the scan visits them backwards.
    let mut mn = f64::INFINITY;
    for (((o, &c), &p), &s) in out.iter_mut().zip(row_rev.iter().rev()).zip(pit).zip(st) {
        let v = f64::from(s) * (c + pi_s - p);
        *o = v;
        mn = if v < mn { v } else { mn };
    }
    mn
});

const STATE_UPPER: i8 = -1;
const STATE_TREE: i8 = 0;
const STATE_LOWER: i8 = 1;
const EPSILON: f64 = 2.220_446_049_250_313e-15;
const SUPPLY_EPS: f64 = 1e-8;
const NONE: usize = usize::MAX;

/// Solves the full-support transport problem (all weights > 0), `costs` row-major n1×n2.
pub(crate) fn solve_dense(
    wa: &[f64],
    wb: &[f64],
    costs: &[f64],
    max_iter: u64,
) -> Result<DenseSolution> {
    let mut ns = Simplex::new(wa, wb, costs);
    let status = ns.run(max_iter)?;
    // Extraction as POT's extract_dense_full_support: arcs in internal order (reverse of the
    // row-major index), so the cost is summed in the same order.
    let arc_num = ns.arc_num;
    let mut flow = vec![0.0; arc_num];
    let mut cost = 0.0;
    for a in 0..arc_num {
        let f = ns.flow[a];
        if f == 0.0 {
            continue;
        }
        let g = arc_num - a - 1;
        cost += f * costs[g];
        flow[g] = f;
    }
    let nn = ns.node_num;
    let alpha = (0..ns.n1).map(|i| -ns.pi[nn - 1 - i]).collect();
    let beta = (0..ns.n2).map(|j| ns.pi[nn - 1 - (ns.n1 + j)]).collect();
    Ok(DenseSolution {
        flow,
        alpha,
        beta,
        cost,
        iterations: ns.iterations,
        status,
    })
}

struct Simplex<'c> {
    n1: usize,
    n2: usize,
    node_num: usize,
    arc_num: usize,
    costs: &'c [f64],
    // artificial arcs (index e - arc_num)
    art_src: Vec<usize>,
    art_tgt: Vec<usize>,
    art_cost: Vec<f64>,
    supply: Vec<f64>,
    flow: Vec<f64>,
    state: Vec<i8>,
    pi: Vec<f64>,
    parent: Vec<usize>,
    pred: Vec<usize>,
    forward: Vec<bool>,
    thread: Vec<usize>,
    rev_thread: Vec<usize>,
    succ_num: Vec<usize>,
    last_succ: Vec<usize>,
    dirty_revs: Vec<usize>,
    root: usize,
    search_arc_num: usize,
    all_arc_num: usize,
    in_arc: usize,
    join: usize,
    u_in: usize,
    v_in: usize,
    u_out: usize,
    delta: f64,
    iterations: u64,
    // block search
    block_size: usize,
    next_arc: usize,
    scratch: Vec<f64>,
}

impl<'c> Simplex<'c> {
    fn new(wa: &[f64], wb: &[f64], costs: &'c [f64]) -> Self {
        let (n1, n2) = (wa.len(), wb.len());
        let node_num = n1 + n2;
        let arc_num = n1 * n2;
        let all_nodes = node_num + 1;
        let max_arc_num = arc_num + 2 * node_num;
        let mut supply = vec![0.0; all_nodes];
        // supplyMap: graph node n stored at internal index node_num - n - 1.
        for (i, &w) in wa.iter().enumerate() {
            supply[node_num - i - 1] = w;
        }
        for (j, &w) in wb.iter().enumerate() {
            supply[node_num - (n1 + j) - 1] = -w;
        }
        Self {
            n1,
            n2,
            node_num,
            arc_num,
            costs,
            art_src: vec![0; 2 * node_num],
            art_tgt: vec![0; 2 * node_num],
            art_cost: vec![0.0; 2 * node_num],
            supply,
            flow: vec![0.0; max_arc_num],
            state: vec![0; max_arc_num],
            pi: vec![0.0; all_nodes],
            parent: vec![0; all_nodes],
            pred: vec![0; all_nodes],
            forward: vec![false; all_nodes],
            thread: vec![0; all_nodes],
            rev_thread: vec![0; all_nodes],
            succ_num: vec![0; all_nodes],
            last_succ: vec![0; all_nodes],
            dirty_revs: Vec::new(),
            root: node_num,
            search_arc_num: 0,
            all_arc_num: 0,
            in_arc: 0,
            join: 0,
            u_in: 0,
            v_in: 0,
            u_out: 0,
            delta: 0.0,
            iterations: 0,
            block_size: 0,
            next_arc: 0,
            scratch: Vec::new(),
        }
    }

    #[inline]
    fn arc_source(&self, e: usize) -> usize {
        if e < self.arc_num {
            let g = self.arc_num - e - 1;
            self.node_num - 1 - g / self.n2
        } else {
            self.art_src[e - self.arc_num]
        }
    }

    #[inline]
    fn arc_target(&self, e: usize) -> usize {
        if e < self.arc_num {
            let g = self.arc_num - e - 1;
            self.node_num - 1 - (g % self.n2 + self.n1)
        } else {
            self.art_tgt[e - self.arc_num]
        }
    }

    #[inline]
    fn cost(&self, e: usize) -> f64 {
        if e < self.arc_num {
            self.costs[self.arc_num - e - 1]
        } else {
            self.art_cost[e - self.arc_num]
        }
    }

    fn set_art(&mut self, e: usize, s: usize, t: usize, c: f64) {
        let k = e - self.arc_num;
        self.art_src[k] = s;
        self.art_tgt[k] = t;
        self.art_cost[k] = c;
    }

    fn init(&mut self) -> bool {
        if self.node_num == 0 {
            return false;
        }
        let sum_supply: f64 = self.supply[..self.node_num].iter().sum();
        if sum_supply.abs() > SUPPLY_EPS {
            return false;
        }
        // DenseMatrix mode: max over all real arc costs.
        let max_cost = self.costs.iter().copied().fold(self.costs[0], f64::max);
        let art_cost = (max_cost + 1.0) * self.node_num as f64;
        self.state[..self.arc_num].fill(STATE_LOWER);
        let root = self.root;
        self.parent[root] = NONE;
        self.pred[root] = NONE;
        self.thread[root] = 0;
        self.rev_thread[0] = root;
        self.succ_num[root] = self.node_num + 1;
        self.last_succ[root] = root - 1;
        self.supply[root] = 0.0;
        self.pi[root] = 0.0;
        // EQ supply constraints (POT resets the supply sum to 0 after the check).
        self.search_arc_num = self.arc_num;
        self.all_arc_num = self.arc_num + self.node_num;
        for u in 0..self.node_num {
            let e = self.arc_num + u;
            self.parent[u] = root;
            self.pred[u] = e;
            self.thread[u] = u + 1;
            self.rev_thread[u + 1] = u;
            self.succ_num[u] = 1;
            self.last_succ[u] = u;
            self.state[e] = STATE_TREE;
            if self.supply[u] >= 0.0 {
                self.forward[u] = true;
                self.pi[u] = 0.0;
                self.set_art(e, u, root, 0.0);
                self.flow[e] = self.supply[u];
            } else {
                self.forward[u] = false;
                self.pi[u] = art_cost;
                self.set_art(e, root, u, art_cost);
                self.flow[e] = -self.supply[u];
            }
        }
        self.block_size = ((self.search_arc_num as f64).sqrt() as usize).max(10);
        self.scratch = vec![0.0; self.block_size.max(self.n2)];
        self.next_arc = 0;
        true
    }

    fn find_join_node(&mut self) {
        let mut u = self.arc_source(self.in_arc);
        let mut v = self.arc_target(self.in_arc);
        while u != v {
            if self.succ_num[u] < self.succ_num[v] {
                u = self.parent[u];
            } else {
                v = self.parent[v];
            }
        }
        self.join = u;
    }

    fn find_leaving_arc(&mut self) -> bool {
        let (first, second) = if self.state[self.in_arc] == STATE_LOWER {
            (self.arc_source(self.in_arc), self.arc_target(self.in_arc))
        } else {
            (self.arc_target(self.in_arc), self.arc_source(self.in_arc))
        };
        self.delta = f64::INFINITY;
        let mut result = 0u8;
        let mut u = first;
        while u != self.join {
            let e = self.pred[u];
            let d = if self.forward[u] {
                self.flow[e]
            } else {
                f64::INFINITY
            };
            if d < self.delta {
                self.delta = d;
                self.u_out = u;
                result = 1;
            }
            u = self.parent[u];
        }
        let mut u = second;
        while u != self.join {
            let e = self.pred[u];
            let d = if self.forward[u] {
                f64::INFINITY
            } else {
                self.flow[e]
            };
            if d <= self.delta {
                self.delta = d;
                self.u_out = u;
                result = 2;
            }
            u = self.parent[u];
        }
        if result == 1 {
            self.u_in = first;
            self.v_in = second;
        } else {
            self.u_in = second;
            self.v_in = first;
        }
        result != 0
    }

    fn change_flow(&mut self, change: bool) {
        if self.delta > 0.0 {
            let val = f64::from(self.state[self.in_arc]) * self.delta;
            self.flow[self.in_arc] += val;
            let mut u = self.arc_source(self.in_arc);
            while u != self.join {
                let e = self.pred[u];
                self.flow[e] += if self.forward[u] { -val } else { val };
                u = self.parent[u];
            }
            let mut u = self.arc_target(self.in_arc);
            while u != self.join {
                let e = self.pred[u];
                self.flow[e] += if self.forward[u] { val } else { -val };
                u = self.parent[u];
            }
        }
        if change {
            self.state[self.in_arc] = STATE_TREE;
            let e = self.pred[self.u_out];
            self.state[e] = if self.flow[e] == 0.0 {
                STATE_LOWER
            } else {
                STATE_UPPER
            };
        } else {
            self.state[self.in_arc] = -self.state[self.in_arc];
        }
    }

    fn update_tree_structure(&mut self) {
        let u_in = self.u_in;
        let v_in = self.v_in;
        let u_out = self.u_out;
        let join = self.join;
        let old_rev_thread = self.rev_thread[u_out];
        let old_succ_num = self.succ_num[u_out];
        let old_last_succ = self.last_succ[u_out];
        let v_out = self.parent[u_out];

        let mut u = self.last_succ[u_in];
        let mut right = self.thread[u];
        let last = if old_rev_thread == v_in {
            self.thread[self.last_succ[u_out]]
        } else {
            self.thread[v_in]
        };

        let mut stem = u_in;
        self.thread[v_in] = stem;
        self.dirty_revs.clear();
        self.dirty_revs.push(v_in);
        let mut par_stem = v_in;
        while stem != u_out {
            let new_stem = self.parent[stem];
            self.thread[u] = new_stem;
            self.dirty_revs.push(u);
            let w = self.rev_thread[stem];
            self.thread[w] = right;
            self.rev_thread[right] = w;
            self.parent[stem] = par_stem;
            par_stem = stem;
            stem = new_stem;
            u = if self.last_succ[stem] == self.last_succ[par_stem] {
                self.rev_thread[par_stem]
            } else {
                self.last_succ[stem]
            };
            right = self.thread[u];
        }
        self.parent[u_out] = par_stem;
        self.thread[u] = last;
        self.rev_thread[last] = u;
        self.last_succ[u_out] = u;

        if old_rev_thread != v_in {
            self.thread[old_rev_thread] = right;
            self.rev_thread[right] = old_rev_thread;
        }
        for k in 0..self.dirty_revs.len() {
            let u = self.dirty_revs[k];
            let t = self.thread[u];
            self.rev_thread[t] = u;
        }

        let mut tmp_sc: isize = 0;
        let tmp_ls = self.last_succ[u_out];
        let mut u = u_out;
        while u != u_in {
            let w = self.parent[u];
            self.pred[u] = self.pred[w];
            self.forward[u] = !self.forward[w];
            tmp_sc += self.succ_num[u] as isize - self.succ_num[w] as isize;
            self.succ_num[u] = tmp_sc as usize;
            self.last_succ[w] = tmp_ls;
            u = w;
        }
        self.pred[u_in] = self.in_arc;
        self.forward[u_in] = u_in == self.arc_source(self.in_arc);
        self.succ_num[u_in] = old_succ_num;

        let (up_limit_in, up_limit_out) = if self.last_succ[join] == v_in {
            (NONE, join)
        } else {
            (join, NONE)
        };

        let mut u = v_in;
        while u != up_limit_in && self.last_succ[u] == v_in {
            self.last_succ[u] = self.last_succ[u_out];
            u = self.parent[u];
        }
        if join != old_rev_thread && v_in != old_rev_thread {
            let mut u = v_out;
            while u != up_limit_out && self.last_succ[u] == old_last_succ {
                self.last_succ[u] = old_rev_thread;
                u = self.parent[u];
            }
        } else {
            let mut u = v_out;
            while u != up_limit_out && self.last_succ[u] == old_last_succ {
                self.last_succ[u] = self.last_succ[u_out];
                u = self.parent[u];
            }
        }
        let mut u = v_in;
        while u != join {
            self.succ_num[u] += old_succ_num;
            u = self.parent[u];
        }
        let mut u = v_out;
        while u != join {
            self.succ_num[u] -= old_succ_num;
            u = self.parent[u];
        }
    }

    fn update_potential(&mut self) {
        let u_in = self.u_in;
        let c = self.cost(self.pred[u_in]);
        let sigma = if self.forward[u_in] {
            self.pi[self.v_in] - self.pi[u_in] - c
        } else {
            self.pi[self.v_in] - self.pi[u_in] + c
        };
        let end = self.thread[self.last_succ[u_in]];
        let mut u = u_in;
        while u != end {
            self.pi[u] += sigma;
            u = self.thread[u];
        }
    }

    #[inline]
    fn reduced(&self, e: usize) -> f64 {
        f64::from(self.state[e])
            * (self.cost(e) + self.pi[self.arc_source(e)] - self.pi[self.arc_target(e)])
    }

    fn pivot(&mut self) -> Result<()> {
        self.find_join_node();
        let change = self.find_leaving_arc();
        if self.delta >= f64::MAX {
            return Err(Error::Infeasible("unbounded problem".into()));
        }
        self.change_flow(change);
        if change {
            self.update_tree_structure();
            self.update_potential();
        }
        Ok(())
    }

    fn initial_pivots(&mut self) -> Result<()> {
        // All supplies are non-zero here: graph sources supply, graph targets demand.
        let total: f64 = self.supply[..self.node_num]
            .iter()
            .filter(|&&s| s > 0.0)
            .sum();
        if total <= 0.0 {
            return Ok(());
        }
        let mut arcs = Vec::with_capacity(self.n2);
        if self.n1 == 1 && self.n2 == 1 {
            arcs.push(0);
        } else {
            // For each demand node in graph order (last target first), the cheapest incoming
            // arc, scanning sources from the last one; ties keep the first seen.
            for jt in (0..self.n2).rev() {
                let mut min_cost = f64::MAX;
                let mut min_g = NONE;
                for i in (0..self.n1).rev() {
                    let g = i * self.n2 + jt;
                    let c = self.costs[g];
                    if c < min_cost {
                        min_cost = c;
                        min_g = g;
                    }
                }
                if min_g != NONE {
                    arcs.push(self.arc_num - min_g - 1);
                }
            }
        }
        for &e in &arcs {
            self.in_arc = e;
            if self.reduced(e) >= 0.0 {
                continue;
            }
            self.pivot()?;
        }
        Ok(())
    }

    /// Block search over arcs `lo..hi` (real arcs only), continuing the running minimum and
    /// block counter. Returns `Some(e)` when a block ends with a sufficiently negative minimum.
    #[inline]
    fn scan(&mut self, lo: usize, hi: usize, min: &mut f64, cnt: &mut usize) -> Option<usize> {
        let arc_num = self.arc_num;
        let n2 = self.n2;
        let nn = self.node_num;
        let mut e = lo;
        while e < hi {
            // Arc e has row-major index g = arc_num-1-e: row i = g / n2, columns descending as e
            // grows. Walk to the end of this row (or hi).
            let g = arc_num - 1 - e;
            let i = g / n2;
            let j0 = g % n2; // first column visited; then j0-1, ..., down to 0
            let run = (j0 + 1).min(hi - e);
            let pi_s = self.pi[nn - 1 - i];
            let costs = self.costs;
            let row = &costs[i * n2..i * n2 + n2];
            let st = &self.state[e..e + run];
            // target node of column j is nn-1-(n1+j); as j decreases the node id increases.
            let tbase = nn - 1 - self.n1 - j0;
            let pit = &self.pi[tbase..tbase + run];
            let mut k = 0;
            while k < run {
                let step = (*cnt).min(run - k);
                // Reduced costs of arcs e+k .. e+k+step (columns j0-k down to j0-k-step+1); the
                // first position of the segment's minimum is the arc the scalar scan would keep.
                let lo_j = j0 + 1 - (k + step);
                let hi_j = j0 + 1 - k;
                let buf = &mut self.scratch[..step];
                let mn = reduced_min::run(
                    &row[lo_j..hi_j],
                    pi_s,
                    &pit[k..k + step],
                    &st[k..k + step],
                    buf,
                );
                if mn < *min {
                    *min = mn;
                    let t = buf
                        .iter()
                        .position(|&c| c == mn)
                        .expect("minimum is in the segment");
                    self.in_arc = e + k + t;
                }
                k += step;
                *cnt -= step;
                if *cnt == 0 {
                    let ia = self.in_arc;
                    let a = self.pi[self.arc_source(ia)]
                        .abs()
                        .max(self.pi[self.arc_target(ia)].abs())
                        .max(self.cost(ia).abs());
                    if *min < -EPSILON * a {
                        return Some(e + k - 1);
                    }
                    *cnt = self.block_size;
                }
            }
            e += run;
        }
        None
    }

    fn find_entering_arc(&mut self) -> bool {
        let mut min = 0.0;
        let mut cnt = self.block_size;
        let next = self.next_arc;
        let end = self.search_arc_num;
        if let Some(e) = self.scan(next, end, &mut min, &mut cnt) {
            self.next_arc = e;
            return true;
        }
        if let Some(e) = self.scan(0, next, &mut min, &mut cnt) {
            self.next_arc = e;
            return true;
        }
        let ia = self.in_arc;
        let a = self.pi[self.arc_source(ia)]
            .abs()
            .max(self.pi[self.arc_target(ia)].abs())
            .max(self.cost(ia).abs());
        if min >= -EPSILON * a {
            return false;
        }
        self.next_arc = next;
        true
    }

    fn run(&mut self, max_iter: u64) -> Result<EmdStatus> {
        if !self.init() {
            return Err(Error::Infeasible("supplies do not balance".into()));
        }
        self.initial_pivots()?;
        let mut status = EmdStatus::Optimal;
        while self.find_entering_arc() {
            self.iterations += 1;
            if max_iter > 0 && self.iterations >= max_iter {
                status = EmdStatus::MaxIterReached;
                break;
            }
            self.pivot()?;
        }
        if status == EmdStatus::Optimal {
            for e in self.search_arc_num..self.all_arc_num {
                if self.flow[e] != 0.0 {
                    if self.flow[e].abs() > SUPPLY_EPS {
                        return Err(Error::Infeasible("artificial arcs still carry flow".into()));
                    }
                    self.flow[e] = 0.0;
                }
            }
        }
        // GEQ potential shift (POT's default supply type).
        let max_pot = self.pi[..self.node_num]
            .iter()
            .copied()
            .fold(-f64::MAX, f64::max);
        if max_pot > 0.0 {
            for p in &mut self.pi[..self.node_num] {
                *p -= max_pot;
            }
        }
        Ok(status)
    }
}
