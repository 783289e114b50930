//! Gradient-boosted trees with XGBoost's multi-class softmax objective and its `hist` tree
//! method (quantile bins, second-order gain, depth-wise growth).

use ndarray::{Array2, ArrayView2};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classifier::{Classifier, check_predict_x, check_xy};
use crate::error::{Error, Result, invalid};

/// Hyper-parameters of [`Gbdt`]; defaults are `xgboost.XGBClassifier`'s (3.1) with
/// `tree_method="hist"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbdtParams {
    /// Boosting rounds (`n_estimators`); each round grows one tree per class.
    pub n_estimators: usize,
    /// Shrinkage `eta` (`learning_rate`).
    pub learning_rate: f64,
    /// Maximum tree depth (`max_depth`, ≥ 1).
    pub max_depth: usize,
    /// L2 regularisation of leaf weights (`lambda`/`reg_lambda`).
    pub lambda: f64,
    /// Minimum loss reduction to make a split (`gamma`/`min_split_loss`).
    pub gamma: f64,
    /// Minimum hessian sum in each child (`min_child_weight`).
    pub min_child_weight: f64,
    /// Fraction of rows sampled (Bernoulli) for each tree (`subsample`, in (0, 1]).
    pub subsample: f64,
    /// Fraction of features sampled for each tree (`colsample_bytree`, in (0, 1]).
    pub colsample_bytree: f64,
    /// Maximum number of histogram bins per feature (`max_bin`, 2..=256).
    pub max_bin: usize,
    /// Stop when the validation log-loss has not improved for this many rounds
    /// (`early_stopping_rounds`); predictions then use the best round, as XGBoost's sklearn
    /// API does. [`Classifier::fit`] holds out `validation_fraction` of the training set
    /// (stratified) for it; [`Gbdt::fit_with_eval`] takes an explicit validation set.
    pub early_stopping_rounds: Option<usize>,
    /// Held-out fraction for early stopping inside [`Classifier::fit`].
    pub validation_fraction: f64,
    /// Seed of the row/column sampling.
    pub seed: u64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            n_estimators: 100,
            learning_rate: 0.3,
            max_depth: 6,
            lambda: 1.0,
            gamma: 0.0,
            min_child_weight: 1.0,
            subsample: 1.0,
            colsample_bytree: 1.0,
            max_bin: 256,
            early_stopping_rounds: None,
            validation_fraction: 0.1,
            seed: 0,
        }
    }
}

impl GbdtParams {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<()> {
        if self.n_estimators == 0 {
            return Err(invalid("n_estimators", 0, "must be >= 1"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(invalid(
                "learning_rate",
                self.learning_rate,
                "must be finite and > 0",
            ));
        }
        if self.max_depth == 0 || self.max_depth > 30 {
            return Err(invalid("max_depth", self.max_depth, "must be in 1..=30"));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(invalid("lambda", self.lambda, "must be finite and >= 0"));
        }
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(invalid("gamma", self.gamma, "must be finite and >= 0"));
        }
        if !(self.min_child_weight.is_finite() && self.min_child_weight >= 0.0) {
            return Err(invalid(
                "min_child_weight",
                self.min_child_weight,
                "must be finite and >= 0",
            ));
        }
        if !(self.subsample > 0.0 && self.subsample <= 1.0) {
            return Err(invalid("subsample", self.subsample, "must be in (0, 1]"));
        }
        if !(self.colsample_bytree > 0.0 && self.colsample_bytree <= 1.0) {
            return Err(invalid(
                "colsample_bytree",
                self.colsample_bytree,
                "must be in (0, 1]",
            ));
        }
        if !(2..=256).contains(&self.max_bin) {
            return Err(invalid("max_bin", self.max_bin, "must be in 2..=256"));
        }
        if self.early_stopping_rounds == Some(0) {
            return Err(invalid("early_stopping_rounds", 0, "must be >= 1"));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return Err(invalid(
                "validation_fraction",
                self.validation_fraction,
                "must be in (0, 1)",
            ));
        }
        Ok(())
    }
}

/// Which feature importance [`Gbdt::feature_importances`] returns (XGBoost's
/// `importance_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Importance {
    /// Mean loss reduction of the splits on the feature (`"gain"`, XGBoost's default).
    #[default]
    Gain,
    /// Total loss reduction (`"total_gain"`).
    TotalGain,
    /// Number of splits (`"weight"`).
    Weight,
}

/// Quantile bin boundaries of every feature. A value `v` of feature `f` falls in bin
/// `#{c in cuts[f] : c <= v}`, XGBoost's `upper_bound` search, so a split "bin ≤ b goes left"
/// is the raw test `v < cuts[f][b]`.
#[derive(Debug, Clone)]
struct BinMapper {
    cuts: Vec<Vec<f64>>,
}

impl BinMapper {
    /// Cuts from the sorted distinct values: every distinct value but the smallest when there
    /// are at most `max_bin` of them (one bin per value), else `max_bin − 1` quantiles.
    fn fit(x: ArrayView2<'_, f64>, max_bin: usize) -> BinMapper {
        let cuts = (0..x.ncols())
            .into_par_iter()
            .map(|f| {
                let mut v: Vec<f64> = x.column(f).to_vec();
                v.sort_by(f64::total_cmp);
                let mut distinct = v.clone();
                distinct.dedup();
                if distinct.len() <= max_bin {
                    distinct[1..].to_vec()
                } else {
                    let n = v.len();
                    let mut c: Vec<f64> = (1..max_bin).map(|i| v[i * n / max_bin]).collect();
                    c.dedup();
                    c.retain(|&t| t > v[0]);
                    c
                }
            })
            .collect();
        BinMapper { cuts }
    }

    #[inline]
    fn bin(&self, f: usize, v: f64) -> u8 {
        self.cuts[f].partition_point(|&c| c <= v) as u8
    }

    /// Feature-major bins: `out[f * n + r]`.
    fn transform(&self, x: ArrayView2<'_, f64>) -> Vec<u8> {
        let n = x.nrows();
        let mut out = vec![0u8; n * x.ncols()];
        out.par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(f, col)| {
                for (r, o) in col.iter_mut().enumerate() {
                    *o = self.bin(f, x[[r, f]]);
                }
            });
        out
    }

    fn n_bins(&self, f: usize) -> usize {
        self.cuts[f].len() + 1
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Node {
    Split {
        feature: u32,
        bin: u8,
        threshold: f64,
        left: u32,
        right: u32,
    },
    Leaf {
        value: f64,
    },
}

/// One regression tree; split `bin ≤ b` (binned) ⇔ `v < threshold` (raw).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    /// Every split names an existing feature and finite threshold and links forward to two
    /// existing nodes (so prediction always ends at a leaf); every leaf value is finite.
    fn check(&self, n_features: usize) -> std::result::Result<(), String> {
        if self.nodes.is_empty() {
            return Err("an empty tree".into());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            match *node {
                Node::Leaf { value } if !value.is_finite() => {
                    return Err(format!("leaf {i} has value {value}"));
                }
                Node::Leaf { .. } => {}
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    let (l, r) = (left as usize, right as usize);
                    if feature as usize >= n_features {
                        return Err(format!(
                            "node {i} splits on feature {feature} of {n_features}"
                        ));
                    }
                    if threshold.is_nan() {
                        return Err(format!("node {i} has a NaN threshold"));
                    }
                    if l <= i || r <= i || l >= self.nodes.len() || r >= self.nodes.len() {
                        return Err(format!(
                            "node {i} links to {l} and {r} (of {} nodes)",
                            self.nodes.len()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn predict_raw(&self, row: &[f64]) -> f64 {
        let mut i = 0usize;
        loop {
            match self.nodes[i] {
                Node::Leaf { value } => return value,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    i = if row[feature as usize] < threshold {
                        left
                    } else {
                        right
                    } as usize;
                }
            }
        }
    }

    fn predict_binned(&self, bins: &[u8], n: usize, r: usize) -> f64 {
        let mut i = 0usize;
        loop {
            match self.nodes[i] {
                Node::Leaf { value } => return value,
                Node::Split {
                    feature,
                    bin,
                    left,
                    right,
                    ..
                } => {
                    i = if bins[feature as usize * n + r] <= bin {
                        left
                    } else {
                        right
                    } as usize;
                }
            }
        }
    }
}

/// A gradient/hessian pair summed over rows.
type GH = [f64; 2];

/// Per-feature scratch: a 256-bin histogram; a bitmap marks the touched bins.
/// Only touched bins are visited (in increasing order through the bitmap) and reset, so a
/// node costs O(rows + touched bins) per feature, whatever `max_bin` is.
struct Scratch {
    gh: [GH; 256],
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            gh: [[0.0; 2]; 256],
        }
    }
}

struct SplitCand {
    gain: f64,
    feature: usize,
    bin: u8,
    left: GH,
}

struct TreeBuilder<'a> {
    bins: &'a [u8],
    n: usize,
    n_bins: &'a [usize],
    feats: Vec<usize>,
    grad: &'a [GH],
    p: &'a GbdtParams,
}

struct Work {
    node: usize,
    start: usize,
    end: usize,
    sum: GH,
    depth: usize,
}

impl TreeBuilder<'_> {
    fn calc_gain(&self, g: f64, h: f64) -> f64 {
        if h < self.p.min_child_weight || h <= 0.0 {
            0.0
        } else {
            g * g / (h + self.p.lambda)
        }
    }

    fn calc_weight(&self, g: f64, h: f64) -> f64 {
        if h < self.p.min_child_weight || h <= 0.0 {
            0.0
        } else {
            -g / (h + self.p.lambda)
        }
    }

    /// The best split "bin ≤ b goes left" of feature `f` over `rows`. Candidates are the
    /// boundaries after each non-empty bin (that leave both sides non-empty), which picks the
    /// same lowest threshold XGBoost's histogram scan picks among equal partitions.
    fn best_for_feature(
        &self,
        f: usize,
        rows: &[u32],
        ghs: &[GH],
        sum: GH,
        parent_gain: f64,
        sc: &mut Scratch,
    ) -> Option<(f64, u8, GH)> {
        let col = &self.bins[f * self.n..(f + 1) * self.n];
        let mut mask = [0u64; 4];
        for (&r, gh) in rows.iter().zip(ghs) {
            let b = col[r as usize];
            let e = &mut sc.gh[b as usize];
            e[0] += gh[0];
            e[1] += gh[1];
            mask[(b >> 6) as usize] |= 1u64 << (b & 63);
        }
        // The highest touched bin would put every row on the left: not a candidate.
        let top = (0..4)
            .rev()
            .find(|&w| mask[w] != 0)
            .map_or(0, |w| w * 64 + 63 - mask[w].leading_zeros() as usize);
        let mcw = self.p.min_child_weight;
        let last_bin = (self.n_bins[f] - 1).min(top);
        let mut left = [0.0f64; 2];
        let mut best: Option<(f64, u8, GH)> = None;
        for (w, word) in mask.iter().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let b = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let gh = std::mem::replace(&mut sc.gh[b], [0.0; 2]);
                if b >= last_bin {
                    continue;
                }
                left[0] += gh[0];
                left[1] += gh[1];
                let right = [sum[0] - left[0], sum[1] - left[1]];
                if left[1] >= mcw && right[1] >= mcw && left[1] > 0.0 && right[1] > 0.0 {
                    let chg = self.calc_gain(left[0], left[1]) + self.calc_gain(right[0], right[1])
                        - parent_gain;
                    if best.is_none_or(|(g, _, _)| chg > g) {
                        best = Some((chg, b as u8, left));
                    }
                }
            }
        }
        best
    }

    fn find_split(&self, w: &Work, rows: &[u32]) -> Option<SplitCand> {
        let parent_gain = self.calc_gain(w.sum[0], w.sum[1]);
        // Gather the node's gradient pairs once; every feature then streams them in order.
        let ghs: Vec<GH> = rows.iter().map(|&r| self.grad[r as usize]).collect();
        let eval = |sc: &mut Scratch, j: usize| {
            self.best_for_feature(self.feats[j], rows, &ghs, w.sum, parent_gain, sc)
        };
        let per_feature: Vec<Option<(f64, u8, GH)>> = if rows.len() * self.feats.len() > 1 << 15 {
            (0..self.feats.len())
                .into_par_iter()
                .map_init(|| Box::new(Scratch::new()), |sc, j| eval(sc, j))
                .collect()
        } else {
            let mut sc = Box::new(Scratch::new());
            (0..self.feats.len()).map(|j| eval(&mut sc, j)).collect()
        };
        let mut best: Option<SplitCand> = None;
        for (j, c) in per_feature.into_iter().enumerate() {
            if let Some((gain, bin, left)) = c
                && best.as_ref().is_none_or(|b| gain > b.gain)
            {
                best = Some(SplitCand {
                    gain,
                    feature: self.feats[j],
                    bin,
                    left,
                });
            }
        }
        // XGBoost: a split must reduce the loss by more than kRtEps and by at least gamma.
        best.filter(|b| b.gain > 1e-6 && b.gain >= self.p.gamma)
    }

    /// Grows one tree depth-wise over `rows`; adds each split's gain to `gains[feature]`.
    fn grow(&self, mut rows: Vec<u32>, cuts: &BinMapper, gains: &mut [(f64, usize)]) -> Tree {
        let sum = rows.iter().fold([0.0; 2], |a, &r| {
            let g = self.grad[r as usize];
            [a[0] + g[0], a[1] + g[1]]
        });
        let mut nodes = vec![Node::Leaf { value: 0.0 }];
        let mut level = vec![Work {
            node: 0,
            start: 0,
            end: rows.len(),
            sum,
            depth: 0,
        }];
        let mut scratch: Vec<u32> = Vec::with_capacity(rows.len());
        while !level.is_empty() {
            let mut next = Vec::new();
            for w in level {
                let split = if w.depth < self.p.max_depth {
                    self.find_split(&w, &rows[w.start..w.end])
                } else {
                    None
                };
                let Some(s) = split else {
                    nodes[w.node] = Node::Leaf {
                        value: self.p.learning_rate * self.calc_weight(w.sum[0], w.sum[1]),
                    };
                    continue;
                };
                // Stable partition of this node's rows: bin ≤ s.bin goes left.
                let col = &self.bins[s.feature * self.n..(s.feature + 1) * self.n];
                let seg = &mut rows[w.start..w.end];
                scratch.clear();
                let mut nl = 0;
                for i in 0..seg.len() {
                    let r = seg[i];
                    if col[r as usize] <= s.bin {
                        seg[nl] = r;
                        nl += 1;
                    } else {
                        scratch.push(r);
                    }
                }
                seg[nl..].copy_from_slice(&scratch);
                let mid = w.start + nl;
                let right_sum = [w.sum[0] - s.left[0], w.sum[1] - s.left[1]];
                let (li, ri) = (nodes.len(), nodes.len() + 1);
                nodes.push(Node::Leaf { value: 0.0 });
                nodes.push(Node::Leaf { value: 0.0 });
                let threshold = cuts.cuts[s.feature][s.bin as usize];
                nodes[w.node] = Node::Split {
                    feature: s.feature as u32,
                    bin: s.bin,
                    threshold,
                    left: li as u32,
                    right: ri as u32,
                };
                gains[s.feature].0 += s.gain;
                gains[s.feature].1 += 1;
                next.push(Work {
                    node: li,
                    start: w.start,
                    end: mid,
                    sum: s.left,
                    depth: w.depth + 1,
                });
                next.push(Work {
                    node: ri,
                    start: mid,
                    end: w.end,
                    sum: right_sum,
                    depth: w.depth + 1,
                });
            }
            level = next;
        }
        Tree { nodes }
    }
}

/// Gradient-boosted trees for multi-class classification with XGBoost's `multi:softprob`
/// objective and `hist` tree method.
///
/// Per round and class k: gradients `g = p_k − [y = k]`, hessians
/// `h = max(2 p_k (1 − p_k), 1e-16)` (XGBoost's factor 2), one tree grown depth-wise to
/// `max_depth` on quantile-binned features (≤ 256 bins), split gain
/// `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` (kept if > 1e-6 and ≥ `gamma`, both children with
/// hessian ≥ `min_child_weight`), leaf value `−η G/(H+λ)`. The initial margins are the class
/// priors, as XGBoost 3.1 sets `base_score` for this objective. Two classes also use the
/// softmax (two trees per round) where `XGBClassifier` switches to `binary:logistic`.
///
/// Features are taken raw (trees need no scaling); NaN is rejected rather than treated as
/// missing.
///
/// A fitted model serialises with serde (`serde_json::to_string(&gbdt)`); deserialising checks
/// the structure (tree shapes, node links, feature indices, finite values), so a damaged file
/// is an error, not a panic at prediction time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "GbdtUnchecked")]
pub struct Gbdt {
    params: GbdtParams,
    model: Option<GbdtModel>,
}

/// [`Gbdt`] as read, before [`Gbdt::try_from`] checks it.
#[derive(Deserialize)]
struct GbdtUnchecked {
    params: GbdtParams,
    model: Option<GbdtModel>,
}

fn bad_model(reason: impl Into<String>) -> Error {
    Error::InvalidModel {
        reason: reason.into(),
    }
}

impl TryFrom<GbdtUnchecked> for Gbdt {
    type Error = Error;

    fn try_from(u: GbdtUnchecked) -> Result<Gbdt> {
        u.params.validate()?;
        if let Some(m) = &u.model {
            if m.n_classes < 2 || m.n_features == 0 {
                return Err(bad_model(format!(
                    "{} classes and {} features (need at least 2 and 1)",
                    m.n_classes, m.n_features
                )));
            }
            if m.base.len() != m.n_classes || m.base.iter().any(|v| !v.is_finite()) {
                return Err(bad_model(
                    "base margins: one finite value per class expected",
                ));
            }
            if m.trees.is_empty() {
                return Err(bad_model("no trees"));
            }
            if m.gains.len() != m.n_features {
                return Err(bad_model("feature gains: one entry per feature expected"));
            }
            for (r, round) in m.trees.iter().enumerate() {
                if round.len() != m.n_classes {
                    return Err(bad_model(format!(
                        "round {r} has {} trees for {} classes",
                        round.len(),
                        m.n_classes
                    )));
                }
                for tree in round {
                    tree.check(m.n_features)
                        .map_err(|e| bad_model(format!("round {r}: {e}")))?;
                }
            }
        }
        Ok(Gbdt {
            params: u.params,
            model: u.model,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GbdtModel {
    n_features: usize,
    n_classes: usize,
    base: Vec<f64>,
    /// `trees[round][class]`, truncated to the best round under early stopping.
    trees: Vec<Vec<Tree>>,
    best_iteration: Option<usize>,
    eval_history: Vec<f64>,
    /// Per feature: total gain and number of splits.
    gains: Vec<(f64, usize)>,
}

impl Gbdt {
    /// An unfitted model; the parameters are validated here.
    pub fn new(params: GbdtParams) -> Result<Gbdt> {
        params.validate()?;
        Ok(Gbdt {
            params,
            model: None,
        })
    }

    /// The hyper-parameters.
    pub fn params(&self) -> &GbdtParams {
        &self.params
    }

    /// Number of features the fitted model takes (`None` before fitting).
    pub fn n_features(&self) -> Option<usize> {
        self.model.as_ref().map(|m| m.n_features)
    }

    fn fitted(&self) -> Result<&GbdtModel> {
        self.model.as_ref().ok_or_else(|| Error::NotFitted {
            model: "gbdt".into(),
        })
    }

    /// The round (0-based) with the lowest validation log-loss, under early stopping.
    pub fn best_iteration(&self) -> Option<usize> {
        self.model.as_ref().and_then(|m| m.best_iteration)
    }

    /// Validation multi-class log-loss after each round (empty without a validation set).
    pub fn eval_history(&self) -> &[f64] {
        self.model
            .as_ref()
            .map(|m| m.eval_history.as_slice())
            .unwrap_or(&[])
    }

    /// Number of boosting rounds kept in the model.
    pub fn n_rounds(&self) -> usize {
        self.model.as_ref().map(|m| m.trees.len()).unwrap_or(0)
    }

    /// Feature importances normalised to sum 1 (all zero if no split was made), like
    /// `XGBClassifier.feature_importances_` with the given `importance_type`. Counted over all
    /// grown trees.
    pub fn feature_importances(&self, kind: Importance) -> Result<Vec<f64>> {
        let m = self.fitted()?;
        let raw: Vec<f64> = m
            .gains
            .iter()
            .map(|&(g, c)| match kind {
                Importance::Gain => {
                    if c > 0 {
                        g / c as f64
                    } else {
                        0.0
                    }
                }
                Importance::TotalGain => g,
                Importance::Weight => c as f64,
            })
            .collect();
        let s: f64 = raw.iter().sum();
        Ok(if s > 0.0 {
            raw.iter().map(|v| v / s).collect()
        } else {
            raw
        })
    }

    /// Raw margins (before the softmax), `n × K`.
    pub fn predict_margin(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let m = self.fitted()?;
        check_predict_x(x, m.n_features)?;
        let mut out = Array2::<f64>::zeros((x.nrows(), m.n_classes));
        out.axis_iter_mut(ndarray::Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(r, mut o)| {
                let row = x.row(r).to_vec();
                for k in 0..m.n_classes {
                    o[k] = m.base[k] + m.trees.iter().map(|t| t[k].predict_raw(&row)).sum::<f64>();
                }
            });
        Ok(out)
    }

    /// Fits with an explicit validation set for early stopping (and the log-loss history).
    pub fn fit_with_eval(
        &mut self,
        x: ArrayView2<'_, f64>,
        y: &[usize],
        x_val: ArrayView2<'_, f64>,
        y_val: &[usize],
    ) -> Result<()> {
        self.params.validate()?;
        let k = check_xy(x, y)?;
        check_predict_x(x_val, x.ncols())?;
        if y_val.len() != x_val.nrows() {
            return Err(Error::LengthMismatch {
                what: "y_val vs rows of x_val".into(),
                expected: x_val.nrows(),
                got: y_val.len(),
            });
        }
        if let Some(&bad) = y_val.iter().find(|&&v| v >= k) {
            return Err(Error::UnknownLabel {
                label: bad,
                n_classes: k,
            });
        }
        self.model = Some(train(&self.params, x, y, k, Some((x_val, y_val)))?);
        Ok(())
    }
}

fn softmax_row(m: &[f64], out: &mut [f64]) {
    let mx = m.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for (o, &v) in out.iter_mut().zip(m.iter()) {
        *o = (v - mx).exp();
        s += *o;
    }
    for o in out.iter_mut() {
        *o /= s;
    }
}

fn train(
    p: &GbdtParams,
    x: ArrayView2<'_, f64>,
    y: &[usize],
    k: usize,
    eval: Option<(ArrayView2<'_, f64>, &[usize])>,
) -> Result<GbdtModel> {
    let (n, nf) = (x.nrows(), x.ncols());
    let mapper = BinMapper::fit(x, p.max_bin);
    let bins = mapper.transform(x);
    let n_bins: Vec<usize> = (0..nf).map(|f| mapper.n_bins(f)).collect();
    let counts = crate::classifier::class_counts(y, k);
    // XGBoost 3.1 estimates base_score as the class priors and uses them as margins directly.
    let base: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
    let mut margin = vec![0.0f64; n * k];
    for r in 0..n {
        margin[r * k..(r + 1) * k].copy_from_slice(&base);
    }
    let mut val_margin: Vec<f64> = match eval {
        Some((xv, _)) => (0..xv.nrows()).flat_map(|_| base.iter().copied()).collect(),
        None => Vec::new(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let n_cols = ((p.colsample_bytree * nf as f64).round() as usize).clamp(1, nf);
    let mut trees: Vec<Vec<Tree>> = Vec::with_capacity(p.n_estimators);
    let mut gains = vec![(0.0f64, 0usize); nf];
    let mut history = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    let mut prob = vec![0.0f64; n * k];
    for round in 0..p.n_estimators {
        for r in 0..n {
            softmax_row(&margin[r * k..(r + 1) * k], &mut prob[r * k..(r + 1) * k]);
        }
        // Draw every tree's rows and columns up front so the parallel build is deterministic.
        let samples: Vec<(Vec<u32>, Vec<usize>)> = (0..k)
            .map(|_| {
                let rows: Vec<u32> = if p.subsample < 1.0 {
                    (0..n as u32)
                        .filter(|_| rng.random::<f64>() < p.subsample)
                        .collect()
                } else {
                    (0..n as u32).collect()
                };
                let mut feats: Vec<usize> = if n_cols < nf {
                    sample(&mut rng, nf, n_cols).into_vec()
                } else {
                    (0..nf).collect()
                };
                feats.sort_unstable();
                (rows, feats)
            })
            .collect();
        let built: Vec<(Tree, Vec<(f64, usize)>)> = samples
            .into_par_iter()
            .enumerate()
            .map(|(c, (rows, feats))| {
                let grad: Vec<GH> = (0..n)
                    .map(|r| {
                        let pk = prob[r * k + c];
                        let g = if y[r] == c { pk - 1.0 } else { pk };
                        [g, (2.0 * pk * (1.0 - pk)).max(1e-16)]
                    })
                    .collect();
                let b = TreeBuilder {
                    bins: &bins,
                    n,
                    n_bins: &n_bins,
                    feats,
                    grad: &grad,
                    p,
                };
                let mut g = vec![(0.0, 0usize); nf];
                let t = b.grow(rows, &mapper, &mut g);
                (t, g)
            })
            .collect();
        let mut round_trees = Vec::with_capacity(k);
        for (c, (t, g)) in built.into_iter().enumerate() {
            for r in 0..n {
                margin[r * k + c] += t.predict_binned(&bins, n, r);
            }
            for (acc, v) in gains.iter_mut().zip(g) {
                acc.0 += v.0;
                acc.1 += v.1;
            }
            round_trees.push(t);
        }
        if let Some((xv, yv)) = eval {
            let mut loss = 0.0;
            let mut pr = vec![0.0; k];
            for (r, row) in xv.rows().into_iter().enumerate() {
                let row = row.to_vec();
                for (c, t) in round_trees.iter().enumerate() {
                    val_margin[r * k + c] += t.predict_raw(&row);
                }
                softmax_row(&val_margin[r * k..(r + 1) * k], &mut pr);
                loss -= pr[yv[r]].max(1e-16).ln();
            }
            loss /= xv.nrows() as f64;
            history.push(loss);
            if best.is_none_or(|(_, l)| loss < l) {
                best = Some((round, loss));
            }
        }
        trees.push(round_trees);
        if let (Some(esr), Some((b, _))) = (p.early_stopping_rounds, best)
            && round >= b + esr
        {
            break;
        }
    }
    let best_iteration = if p.early_stopping_rounds.is_some() {
        best.map(|b| b.0)
    } else {
        None
    };
    if let Some(b) = best_iteration {
        trees.truncate(b + 1);
    }
    Ok(GbdtModel {
        n_features: nf,
        n_classes: k,
        base,
        trees,
        best_iteration,
        eval_history: history,
        gains,
    })
}

impl Classifier for Gbdt {
    fn fit(&mut self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<()> {
        self.params.validate()?;
        let k = check_xy(x, y)?;
        if self.params.early_stopping_rounds.is_none() {
            self.model = Some(train(&self.params, x, y, k, None)?);
            return Ok(());
        }
        // Stratified hold-out for early stopping: the first ceil(frac·count) of each class
        // after a seeded shuffle.
        let mut rng = ChaCha8Rng::seed_from_u64(self.params.seed ^ 0x5eed);
        let (mut tr, mut va) = (Vec::new(), Vec::new());
        for c in 0..k {
            let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == c).collect();
            rand::seq::SliceRandom::shuffle(idx.as_mut_slice(), &mut rng);
            let nv = ((self.params.validation_fraction * idx.len() as f64).ceil() as usize)
                .min(idx.len() - 1);
            va.extend_from_slice(&idx[..nv]);
            tr.extend_from_slice(&idx[nv..]);
        }
        tr.sort_unstable();
        va.sort_unstable();
        if va.is_empty() {
            return Err(invalid(
                "validation_fraction",
                self.params.validation_fraction,
                "leaves no validation sample",
            ));
        }
        let xt = crate::classifier::take_rows(x, &tr);
        let yt: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
        let xv = crate::classifier::take_rows(x, &va);
        let yv: Vec<usize> = va.iter().map(|&i| y[i]).collect();
        self.model = Some(train(
            &self.params,
            xt.view(),
            &yt,
            k,
            Some((xv.view(), &yv)),
        )?);
        Ok(())
    }

    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let mut m = self.predict_margin(x)?;
        for mut row in m.rows_mut() {
            let v = row.to_vec();
            softmax_row(&v, row.as_slice_mut().expect("row-major"));
        }
        Ok(m)
    }

    fn n_classes(&self) -> Option<usize> {
        self.model.as_ref().map(|m| m.n_classes)
    }

    fn name(&self) -> &str {
        "gbdt"
    }

    fn clone_unfitted(&self) -> Box<dyn Classifier> {
        Box::new(Gbdt {
            params: self.params.clone(),
            model: None,
        })
    }
}
