//! A port of libsvm's C-SVC dual solver (`Solver::Solve` without shrinking) with the
//! second-order working-set selection of Fan, Chen & Lin (2005, "WSS3"), and libsvm's
//! Platt scaling (`svm_binary_svc_probability` + `sigmoid_train`, Lin, Lin & Weng 2007).
//!
//! The kernel matrix is precomputed once per fit (`f32`, like libsvm's `Qfloat`) and shared by
//! every one-vs-rest problem and every Platt cross-validation fold; sub-problems address it
//! through an index list. That sharing is why this crate has its own solver (see
//! `docs/ensemble.md`).

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// libsvm's `TAU`: the floor of a non-positive second-order coefficient.
const TAU: f64 = 1e-12;

/// A dense symmetric kernel matrix over the training set, row-major `n × n`.
pub(crate) struct KernelMatrix {
    pub(crate) n: usize,
    pub(crate) k: Vec<f32>,
}

impl KernelMatrix {
    #[inline]
    fn row(&self, i: usize) -> &[f32] {
        &self.k[i * self.n..(i + 1) * self.n]
    }
}

/// A binary C-SVC problem: rows `idx` of the kernel matrix with labels `y` (±1).
pub(crate) struct Binary<'a> {
    pub(crate) kernel: &'a KernelMatrix,
    pub(crate) idx: &'a [usize],
    pub(crate) y: &'a [f64],
    pub(crate) c: f64,
    pub(crate) tol: f64,
    pub(crate) max_iter: usize,
}

/// The solution: dual coefficients `alpha` (0 ≤ α ≤ C) and the offset `rho`
/// (decision `f(x) = Σ α_i y_i K(x_i, x) − rho`).
pub(crate) struct Solution {
    pub(crate) alpha: Vec<f64>,
    pub(crate) rho: f64,
}

impl Binary<'_> {
    /// `Q_i[j] = y_i y_j K(idx_i, idx_j)` for all j, into `out`.
    fn fill_q(&self, i: usize, out: &mut [f64]) {
        let row = self.kernel.row(self.idx[i]);
        let yi = self.y[i];
        for ((o, &ij), &yj) in out.iter_mut().zip(self.idx.iter()).zip(self.y.iter()) {
            *o = yi * yj * row[ij] as f64;
        }
    }

    /// Solves the dual; libsvm's algorithm step for step (no shrinking).
    pub(crate) fn solve(&self) -> Result<Solution> {
        let l = self.idx.len();
        let c = self.c;
        let y = self.y;
        let qd: Vec<f64> = self
            .idx
            .iter()
            .map(|&i| self.kernel.row(i)[i] as f64)
            .collect();
        let mut alpha = vec![0.0f64; l];
        // G = Qα + p with p = −1 and α = 0.
        let mut g = vec![-1.0f64; l];
        let mut q_i = vec![0.0f64; l];
        let mut q_j = vec![0.0f64; l];
        let is_upper = |a: f64| a >= c;
        let is_lower = |a: f64| a <= 0.0;
        let mut iter = 0usize;
        loop {
            // ---- select_working_set (WSS3) ----
            let mut gmax = f64::NEG_INFINITY;
            let mut gmax2 = f64::NEG_INFINITY;
            let mut gmax_idx = usize::MAX;
            let mut gmin_idx = usize::MAX;
            let mut obj_diff_min = f64::INFINITY;
            for t in 0..l {
                if y[t] > 0.0 {
                    if !is_upper(alpha[t]) && -g[t] >= gmax {
                        gmax = -g[t];
                        gmax_idx = t;
                    }
                } else if !is_lower(alpha[t]) && g[t] >= gmax {
                    gmax = g[t];
                    gmax_idx = t;
                }
            }
            let i = gmax_idx;
            if i != usize::MAX {
                self.fill_q(i, &mut q_i);
            }
            for jj in 0..l {
                if y[jj] > 0.0 {
                    if !is_lower(alpha[jj]) {
                        let grad_diff = gmax + g[jj];
                        if g[jj] >= gmax2 {
                            gmax2 = g[jj];
                        }
                        if grad_diff > 0.0 {
                            let quad = qd[i] + qd[jj] - 2.0 * y[i] * q_i[jj];
                            let obj =
                                -(grad_diff * grad_diff) / if quad > 0.0 { quad } else { TAU };
                            if obj <= obj_diff_min {
                                gmin_idx = jj;
                                obj_diff_min = obj;
                            }
                        }
                    }
                } else if !is_upper(alpha[jj]) {
                    let grad_diff = gmax - g[jj];
                    if -g[jj] >= gmax2 {
                        gmax2 = -g[jj];
                    }
                    if grad_diff > 0.0 {
                        let quad = qd[i] + qd[jj] + 2.0 * y[i] * q_i[jj];
                        let obj = -(grad_diff * grad_diff) / if quad > 0.0 { quad } else { TAU };
                        if obj <= obj_diff_min {
                            gmin_idx = jj;
                            obj_diff_min = obj;
                        }
                    }
                }
            }
            if gmax + gmax2 < self.tol || gmin_idx == usize::MAX {
                break;
            }
            iter += 1;
            if iter > self.max_iter {
                return Err(Error::NotConverged {
                    max_iter: self.max_iter,
                    tol: self.tol,
                });
            }
            let j = gmin_idx;
            self.fill_q(j, &mut q_j);

            // ---- update alpha[i], alpha[j] ----
            let (old_ai, old_aj) = (alpha[i], alpha[j]);
            if y[i] != y[j] {
                let mut quad = qd[i] + qd[j] + 2.0 * q_i[j];
                if quad <= 0.0 {
                    quad = TAU;
                }
                let delta = (-g[i] - g[j]) / quad;
                let diff = alpha[i] - alpha[j];
                alpha[i] += delta;
                alpha[j] += delta;
                if diff > 0.0 {
                    if alpha[j] < 0.0 {
                        alpha[j] = 0.0;
                        alpha[i] = diff;
                    }
                } else if alpha[i] < 0.0 {
                    alpha[i] = 0.0;
                    alpha[j] = -diff;
                }
                // C_i == C_j here (no class weights), so libsvm's `diff > C_i - C_j` is `diff > 0`.
                if diff > 0.0 {
                    if alpha[i] > c {
                        alpha[i] = c;
                        alpha[j] = c - diff;
                    }
                } else if alpha[j] > c {
                    alpha[j] = c;
                    alpha[i] = c + diff;
                }
            } else {
                let mut quad = qd[i] + qd[j] - 2.0 * q_i[j];
                if quad <= 0.0 {
                    quad = TAU;
                }
                let delta = (g[i] - g[j]) / quad;
                let sum = alpha[i] + alpha[j];
                alpha[i] -= delta;
                alpha[j] += delta;
                if sum > c {
                    if alpha[i] > c {
                        alpha[i] = c;
                        alpha[j] = sum - c;
                    }
                } else if alpha[j] < 0.0 {
                    alpha[j] = 0.0;
                    alpha[i] = sum;
                }
                if sum > c {
                    if alpha[j] > c {
                        alpha[j] = c;
                        alpha[i] = sum - c;
                    }
                } else if alpha[i] < 0.0 {
                    alpha[i] = 0.0;
                    alpha[j] = sum;
                }
            }
            let dai = alpha[i] - old_ai;
            let daj = alpha[j] - old_aj;
            for ((gk, &qik), &qjk) in g.iter_mut().zip(q_i.iter()).zip(q_j.iter()) {
                *gk += qik * dai + qjk * daj;
            }
        }

        // ---- calculate_rho ----
        let (mut ub, mut lb) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut nr_free, mut sum_free) = (0usize, 0.0f64);
        for t in 0..l {
            let yg = y[t] * g[t];
            if is_upper(alpha[t]) {
                if y[t] < 0.0 {
                    ub = ub.min(yg);
                } else {
                    lb = lb.max(yg);
                }
            } else if is_lower(alpha[t]) {
                if y[t] > 0.0 {
                    ub = ub.min(yg);
                } else {
                    lb = lb.max(yg);
                }
            } else {
                nr_free += 1;
                sum_free += yg;
            }
        }
        let rho = if nr_free > 0 {
            sum_free / nr_free as f64
        } else {
            (ub + lb) / 2.0
        };
        Ok(Solution { alpha, rho })
    }

    /// Decision values at kernel-matrix rows `targets` of a solution of this problem.
    pub(crate) fn decision_at(&self, sol: &Solution, targets: &[usize]) -> Vec<f64> {
        targets
            .iter()
            .map(|&t| {
                let row = self.kernel.row(t);
                let mut s = 0.0;
                for ((&a, &yi), &i) in sol.alpha.iter().zip(self.y.iter()).zip(self.idx.iter()) {
                    if a > 0.0 {
                        s += a * yi * row[i] as f64;
                    }
                }
                s - sol.rho
            })
            .collect()
    }

    /// libsvm's `svm_binary_svc_probability`: 5-fold cross-validated decision values (a fresh
    /// SVM per fold), then [`sigmoid_train`] on them. Returns Platt's `(A, B)`.
    pub(crate) fn platt(&self, rng: &mut ChaCha8Rng) -> Result<(f64, f64)> {
        const NR_FOLD: usize = 5;
        let l = self.idx.len();
        let mut perm: Vec<usize> = (0..l).collect();
        perm.shuffle(rng);
        let mut dec = vec![0.0f64; l];
        for f in 0..NR_FOLD {
            let begin = f * l / NR_FOLD;
            let end = (f + 1) * l / NR_FOLD;
            let mut sub_idx = Vec::with_capacity(l - (end - begin));
            let mut sub_y = Vec::with_capacity(l - (end - begin));
            for &p in perm[..begin].iter().chain(perm[end..].iter()) {
                sub_idx.push(self.idx[p]);
                sub_y.push(self.y[p]);
            }
            let p_count = sub_y.iter().filter(|&&v| v > 0.0).count();
            let n_count = sub_y.len() - p_count;
            let held: Vec<usize> = perm[begin..end].to_vec();
            if p_count == 0 && n_count == 0 {
                for &h in &held {
                    dec[h] = 0.0;
                }
            } else if n_count == 0 {
                for &h in &held {
                    dec[h] = 1.0;
                }
            } else if p_count == 0 {
                for &h in &held {
                    dec[h] = -1.0;
                }
            } else {
                let sub = Binary {
                    kernel: self.kernel,
                    idx: &sub_idx,
                    y: &sub_y,
                    c: self.c,
                    tol: self.tol,
                    max_iter: self.max_iter,
                };
                let sol = sub.solve()?;
                let targets: Vec<usize> = held.iter().map(|&h| self.idx[h]).collect();
                for (&h, d) in held.iter().zip(sub.decision_at(&sol, &targets)) {
                    dec[h] = d;
                }
            }
        }
        Ok(sigmoid_train(&dec, self.y))
    }
}

/// libsvm's `sigmoid_train`: Newton's method with backtracking on Platt's regularised targets.
/// Returns `(A, B)` with `P(y = +1 | f) = 1 / (1 + exp(A f + B))`.
pub(crate) fn sigmoid_train(dec: &[f64], y: &[f64]) -> (f64, f64) {
    let prior1 = y.iter().filter(|&&v| v > 0.0).count() as f64;
    let prior0 = y.len() as f64 - prior1;
    let (max_iter, min_step, sigma, eps) = (100, 1e-10, 1e-12, 1e-5);
    let hi = (prior1 + 1.0) / (prior1 + 2.0);
    let lo = 1.0 / (prior0 + 2.0);
    let t: Vec<f64> = y.iter().map(|&v| if v > 0.0 { hi } else { lo }).collect();
    let mut a = 0.0;
    let mut b = ((prior0 + 1.0) / (prior1 + 1.0)).ln();
    let objective = |a: f64, b: f64| -> f64 {
        let mut f = 0.0;
        for (&d, &ti) in dec.iter().zip(t.iter()) {
            let fapb = d * a + b;
            f += if fapb >= 0.0 {
                ti * fapb + (-fapb).exp().ln_1p()
            } else {
                (ti - 1.0) * fapb + fapb.exp().ln_1p()
            };
        }
        f
    };
    let mut fval = objective(a, b);
    for _ in 0..max_iter {
        let (mut h11, mut h22, mut h21, mut g1, mut g2) = (sigma, sigma, 0.0, 0.0, 0.0);
        for (&d, &ti) in dec.iter().zip(t.iter()) {
            let fapb = d * a + b;
            let (p, q) = if fapb >= 0.0 {
                let e = (-fapb).exp();
                (e / (1.0 + e), 1.0 / (1.0 + e))
            } else {
                let e = fapb.exp();
                (1.0 / (1.0 + e), e / (1.0 + e))
            };
            let d2 = p * q;
            h11 += d * d * d2;
            h22 += d2;
            h21 += d * d2;
            let d1 = ti - p;
            g1 += d * d1;
            g2 += d1;
        }
        if g1.abs() < eps && g2.abs() < eps {
            break;
        }
        let det = h11 * h22 - h21 * h21;
        let da = -(h22 * g1 - h21 * g2) / det;
        let db = -(-h21 * g1 + h11 * g2) / det;
        let gd = g1 * da + g2 * db;
        let mut step = 1.0;
        while step >= min_step {
            let (na, nb) = (a + step * da, b + step * db);
            let nf = objective(na, nb);
            if nf < fval + 0.0001 * step * gd {
                a = na;
                b = nb;
                fval = nf;
                break;
            }
            step /= 2.0;
        }
        if step < min_step {
            break;
        }
    }
    (a, b)
}

/// libsvm's `sigmoid_predict`, written to avoid overflow.
#[inline]
pub(crate) fn sigmoid_predict(dec: f64, a: f64, b: f64) -> f64 {
    let fapb = dec * a + b;
    if fapb >= 0.0 {
        let e = (-fapb).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + fapb.exp())
    }
}
