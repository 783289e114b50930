//! The contrast gate: which of the two export groups ("high" / "low" contrast) a scan
//! belongs to, so that each group can be routed to its own model.

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use ct_core::{Contrast, Volume};

use crate::error::{Error, Result, check_image};

/// Number of pixels equal to the slice maximum (the statistic of the seed's `graygate`).
pub fn graygate_count(slice: ArrayView2<'_, u8>) -> usize {
    let max = slice.iter().copied().max().unwrap_or(0);
    slice.iter().filter(|&&v| v == max).count()
}

/// The seed's `graygate(I, threshold)`: `count(I == max(I)) > threshold` (the seed's 1).
/// Which group the 1 stands for depends on how the data were exported; [`GrayGate`] keeps
/// that as a parameter (`above`).
pub fn graygate(slice: ArrayView2<'_, u8>, threshold: usize) -> bool {
    graygate_count(slice) > threshold
}

/// How per-slice gate answers become one answer per scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScanDecision {
    /// More than half of the slices vote high.
    Majority,
    /// The answer of one slice (index, clamped to the last slice).
    Slice(usize),
    /// The answer of the middle slice.
    Middle,
}

/// The seed's gray gate applied to a whole scan (a windowed u8 volume).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrayGate {
    /// A slice votes for `above` when more than this many pixels equal its maximum.
    pub threshold: usize,
    /// How slice votes are combined.
    pub decision: ScanDecision,
    /// The group of a scan whose slices vote 1 (`count > threshold`); the other group
    /// otherwise. A compressed, clipped low-contrast export saturates many pixels at the
    /// slice maximum (the phantom models SPGC-COVID's low-contrast group so), hence the
    /// default [`Contrast::Low`].
    pub above: Contrast,
}

impl Default for GrayGate {
    /// Threshold 1000 pixels (≈0.4% of a 512×512 slice), majority vote, saturated = low
    /// contrast. The seed gives no number; fit one on labelled scans with
    /// [`GrayGate::fit`].
    fn default() -> Self {
        GrayGate {
            threshold: 1000,
            decision: ScanDecision::Majority,
            above: Contrast::Low,
        }
    }
}

fn check_volume(vol: &Volume<u8>) -> Result<()> {
    let [_, h, w] = vol.shape();
    check_image("contrast gate", (h, w))
}

impl GrayGate {
    /// Per-slice counts of pixels at the slice maximum (parallel over slices).
    pub fn counts(vol: &Volume<u8>) -> Result<Vec<usize>> {
        check_volume(vol)?;
        Ok(vol
            .data()
            .axis_iter(Axis(0))
            .into_par_iter()
            .map(graygate_count)
            .collect())
    }

    /// The group of a scan from its per-slice counts ([`GrayGate::counts`]).
    pub fn decide(&self, counts: &[usize]) -> Contrast {
        let vote = match self.decision {
            ScanDecision::Majority => {
                2 * counts.iter().filter(|&&c| c > self.threshold).count() > counts.len()
            }
            ScanDecision::Slice(i) => counts[i.min(counts.len() - 1)] > self.threshold,
            ScanDecision::Middle => counts[counts.len() / 2] > self.threshold,
        };
        match (vote, self.above) {
            (true, g) => g,
            (false, Contrast::High) => Contrast::Low,
            (false, Contrast::Low) => Contrast::High,
        }
    }

    /// The scan's contrast group.
    pub fn classify(&self, vol: &Volume<u8>) -> Result<Contrast> {
        Ok(self.decide(&Self::counts(vol)?))
    }

    /// The threshold and orientation (for the given decision rule) with the best accuracy
    /// on labelled scans, given as their per-slice counts ([`GrayGate::counts`]); ties go
    /// to the smallest threshold, then to `above = Low`. Errors on an empty training set or a scan without slices.
    pub fn fit(decision: ScanDecision, scans: &[(Vec<usize>, Contrast)]) -> Result<GrayGate> {
        if scans.is_empty() || scans.iter().any(|(c, _)| c.is_empty()) {
            return Err(Error::Length {
                what: "gray-gate training scans (and their slices)",
                expected: 1,
                got: 0,
            });
        }
        let mut cands: Vec<usize> = scans.iter().flat_map(|(c, _)| c.iter().copied()).collect();
        cands.push(0);
        cands.sort_unstable();
        cands.dedup();
        let mut best: Option<(usize, GrayGate)> = None;
        for t in cands {
            for above in [Contrast::Low, Contrast::High] {
                let g = GrayGate {
                    threshold: t,
                    decision,
                    above,
                };
                let ok = scans.iter().filter(|(c, l)| g.decide(c) == *l).count();
                if best.as_ref().is_none_or(|(b, _)| ok > *b) {
                    best = Some((ok, g));
                }
            }
        }
        let best = best.expect("at least one candidate");
        Ok(best.1)
    }
}

/// Contrast statistics of a windowed (u8) scan, averaged over its slices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContrastStats {
    /// Fraction of pixels at either end of the range (0 or 255): how much the window
    /// saturates.
    pub saturation: f64,
    /// Inter-percentile spread `p99 − p1` of the grey levels, in grey levels.
    pub spread: f64,
    /// Standard deviation of the grey levels.
    pub std: f64,
    /// Immerkær's fast noise estimate (σ of the Laplacian-difference residual), in grey
    /// levels.
    pub noise: f64,
    /// Fraction of pixels equal to the slice maximum (the gray gate's statistic,
    /// normalised by the slice size).
    pub max_fraction: f64,
}

/// Which statistic a [`ContrastGate`] thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContrastFeature {
    /// [`ContrastStats::saturation`].
    Saturation,
    /// [`ContrastStats::spread`].
    Spread,
    /// [`ContrastStats::std`].
    Std,
    /// [`ContrastStats::noise`].
    Noise,
    /// [`ContrastStats::max_fraction`].
    MaxFraction,
}

impl ContrastFeature {
    /// All features.
    pub const ALL: [ContrastFeature; 5] = [
        ContrastFeature::Saturation,
        ContrastFeature::Spread,
        ContrastFeature::Std,
        ContrastFeature::Noise,
        ContrastFeature::MaxFraction,
    ];

    /// The feature's value.
    pub fn of(self, s: &ContrastStats) -> f64 {
        match self {
            ContrastFeature::Saturation => s.saturation,
            ContrastFeature::Spread => s.spread,
            ContrastFeature::Std => s.std,
            ContrastFeature::Noise => s.noise,
            ContrastFeature::MaxFraction => s.max_fraction,
        }
    }
}

fn slice_stats(s: ArrayView2<'_, u8>) -> [f64; 5] {
    let (h, w) = s.dim();
    let n = (h * w) as f64;
    let mut hist = [0u64; 256];
    for &v in s.iter() {
        hist[v as usize] += 1;
    }
    let sat = (hist[0] + hist[255]) as f64 / n;
    let pct = |q: f64| {
        let target = (q * n).ceil().max(1.0) as u64;
        let mut acc = 0;
        for (i, &c) in hist.iter().enumerate() {
            acc += c;
            if acc >= target {
                return i as f64;
            }
        }
        255.0
    };
    let spread = pct(0.99) - pct(0.01);
    let mean = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum::<f64>()
        / n;
    let var = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| (i as f64 - mean).powi(2) * c as f64)
        .sum::<f64>()
        / n;
    let max = hist.iter().rposition(|&c| c > 0).unwrap_or(0);
    let max_fraction = hist[max] as f64 / n;
    // Immerkær (1996): σ = sqrt(π/2) / (6 (W−2)(H−2)) · Σ |I ∗ N|.
    let noise = if h >= 3 && w >= 3 {
        let mut acc = 0.0f64;
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let p = |dy: usize, dx: usize| s[[y + dy - 1, x + dx - 1]] as i32;
                let v = p(0, 0) - 2 * p(0, 1) + p(0, 2) - 2 * p(1, 0) + 4 * p(1, 1) - 2 * p(1, 2)
                    + p(2, 0)
                    - 2 * p(2, 1)
                    + p(2, 2);
                acc += v.abs() as f64;
            }
        }
        (std::f64::consts::PI / 2.0).sqrt() * acc / (6.0 * ((w - 2) * (h - 2)) as f64)
    } else {
        0.0
    };
    [sat, spread, var.sqrt(), noise, max_fraction]
}

impl ContrastStats {
    /// Statistics of one slice. Errors on empty or single-pixel slices.
    pub fn of_slice(slice: ArrayView2<'_, u8>) -> Result<ContrastStats> {
        check_image("contrast statistics", slice.dim())?;
        let [saturation, spread, std, noise, max_fraction] = slice_stats(slice);
        Ok(ContrastStats {
            saturation,
            spread,
            std,
            noise,
            max_fraction,
        })
    }

    /// Slice statistics averaged over the scan (slices in parallel).
    pub fn of_volume(vol: &Volume<u8>) -> Result<ContrastStats> {
        check_volume(vol)?;
        let per: Vec<[f64; 5]> = vol
            .data()
            .axis_iter(Axis(0))
            .into_par_iter()
            .map(slice_stats)
            .collect();
        let n = per.len() as f64;
        let mut m = [0f64; 5];
        for p in &per {
            for (a, b) in m.iter_mut().zip(p) {
                *a += b / n;
            }
        }
        Ok(ContrastStats {
            saturation: m[0],
            spread: m[1],
            std: m[2],
            noise: m[3],
            max_fraction: m[4],
        })
    }
}

/// A gate on one contrast statistic with a threshold fitted on labelled scans (a decision
/// stump): high contrast when the feature is above the threshold (or below, when
/// `high_above` is false).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContrastGate {
    /// The statistic used.
    pub feature: ContrastFeature,
    /// The threshold (midway between two training values).
    pub threshold: f64,
    /// Whether values above the threshold mean high contrast.
    pub high_above: bool,
}

impl ContrastGate {
    /// The contrast group of a scan's statistics.
    pub fn classify(&self, s: &ContrastStats) -> Contrast {
        let v = self.feature.of(s);
        if (v > self.threshold) == self.high_above {
            Contrast::High
        } else {
            Contrast::Low
        }
    }

    /// Fits a stump on one feature: every midpoint between sorted training values, both
    /// directions; best accuracy wins, ties broken by the widest margin. Returns the gate
    /// and its training accuracy.
    pub fn fit_feature(
        feature: ContrastFeature,
        samples: &[(ContrastStats, Contrast)],
    ) -> Result<(ContrastGate, f64)> {
        if samples.is_empty() {
            return Err(Error::Length {
                what: "contrast-gate training scans",
                expected: 1,
                got: 0,
            });
        }
        let vals = sorted_values(feature, samples.iter().map(|(s, _)| s))?;
        let mut cands: Vec<(f64, f64)> = vec![(vals[0] - 1.0, 0.0)];
        for w in vals.windows(2) {
            if w[1] > w[0] {
                cands.push(((w[0] + w[1]) / 2.0, w[1] - w[0]));
            }
        }
        let mut best: Option<(usize, f64, ContrastGate)> = None;
        for &(t, margin) in &cands {
            for high_above in [true, false] {
                let g = ContrastGate {
                    feature,
                    threshold: t,
                    high_above,
                };
                let ok = samples.iter().filter(|(s, l)| g.classify(s) == *l).count();
                let better = match &best {
                    None => true,
                    Some((bo, bm, _)) => ok > *bo || (ok == *bo && margin > *bm),
                };
                if better {
                    best = Some((ok, margin, g));
                }
            }
        }
        let (ok, _, g) = best.expect("at least one candidate");
        Ok((g, ok as f64 / samples.len() as f64))
    }

    /// Fits every feature and keeps the most accurate one (ties: the order of
    /// [`ContrastFeature::ALL`]).
    pub fn fit(samples: &[(ContrastStats, Contrast)]) -> Result<(ContrastGate, f64)> {
        let mut best: Option<(ContrastGate, f64)> = None;
        for f in ContrastFeature::ALL {
            let (g, acc) = Self::fit_feature(f, samples)?;
            if best.as_ref().is_none_or(|(_, a)| acc > *a) {
                best = Some((g, acc));
            }
        }
        Ok(best.expect("features"))
    }
}

/// Below this share of the total variance explained by the best two-group split of one
/// statistic (Otsu's η), the scans are taken as one contrast group. A unimodal normal
/// sample splits at η ≈ 0.64 and a uniform one at 0.75; two well-separated groups reach
/// 0.9 and more.
pub const MIN_SEPARATION: f64 = 0.85;

/// The smallest group an unsupervised split may make: this share of the scans, and at
/// least two.
pub const MIN_GROUP_SHARE: f64 = 0.05;

/// How [`ContrastGate::fit_unsupervised`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Separation {
    /// The statistic with the best two-group split.
    pub feature: ContrastFeature,
    /// Share of its variance between the two groups (Otsu's η, 0–1).
    pub eta: f64,
    /// Scans on the high-contrast side.
    pub n_high: usize,
    /// Scans on the low-contrast side.
    pub n_low: usize,
}

impl ContrastFeature {
    /// Whether larger values of the statistic mean higher contrast, where the physics says
    /// so: a low-contrast export is compressed and clipped (smaller spread and standard
    /// deviation, more pixels at the slice maximum). `None` for saturation and noise, whose
    /// direction depends on the export.
    pub fn high_above(self) -> Option<bool> {
        match self {
            ContrastFeature::Spread | ContrastFeature::Std => Some(true),
            ContrastFeature::MaxFraction => Some(false),
            ContrastFeature::Saturation | ContrastFeature::Noise => None,
        }
    }
}

/// One statistic of every scan, sorted; refuses a non-finite value (naming its scan).
fn sorted_values<'a>(
    feature: ContrastFeature,
    stats: impl Iterator<Item = &'a ContrastStats>,
) -> Result<Vec<f64>> {
    let mut vals: Vec<f64> = stats.map(|s| feature.of(s)).collect();
    if let Some(index) = vals.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "contrast statistics",
            index,
            value: vals[index],
        });
    }
    vals.sort_by(f64::total_cmp);
    Ok(vals)
}

/// The best two-group split of sorted values: `(threshold, η, size of the lower group)`, or
/// `None` when no split leaves both groups at least `min_group` values.
fn best_split(sorted: &[f64], min_group: usize) -> Option<(f64, f64, usize)> {
    let n = sorted.len();
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let total: f64 = sorted.iter().map(|v| (v - mean).powi(2)).sum();
    if total <= 0.0 {
        return None;
    }
    let mut best: Option<(f64, f64, usize)> = None;
    let mut left = 0.0;
    for k in 1..n {
        left += sorted[k - 1];
        if k < min_group || n - k < min_group || sorted[k] <= sorted[k - 1] {
            continue;
        }
        let (m1, m2) = (left / k as f64, (mean * n as f64 - left) / (n - k) as f64);
        let between = k as f64 * (m1 - mean).powi(2) + (n - k) as f64 * (m2 - mean).powi(2);
        let eta = between / total;
        if best.is_none_or(|(_, e, _)| eta > e) {
            best = Some(((sorted[k - 1] + sorted[k]) / 2.0, eta, k));
        }
    }
    best
}

impl ContrastGate {
    /// A gate found without contrast labels: over the statistics whose direction is known
    /// ([`ContrastFeature::high_above`]), the best two-group split of the scans (Otsu's
    /// criterion in one dimension); the side of higher contrast by that direction. Returns
    /// `None` with the best separation seen when no statistic splits the scans into two
    /// groups clearly enough ([`MIN_SEPARATION`]): they form one contrast group.
    pub fn fit_unsupervised(
        stats: &[ContrastStats],
    ) -> Result<(Option<ContrastGate>, Option<Separation>)> {
        let min_group = ((stats.len() as f64 * MIN_GROUP_SHARE).ceil() as usize).max(2);
        let mut best: Option<(ContrastGate, Separation)> = None;
        for feature in ContrastFeature::ALL {
            let Some(high_above) = feature.high_above() else {
                continue;
            };
            let vals = sorted_values(feature, stats.iter())?;
            let Some((threshold, eta, below)) = best_split(&vals, min_group) else {
                continue;
            };
            let (n_high, n_low) = if high_above {
                (vals.len() - below, below)
            } else {
                (below, vals.len() - below)
            };
            let sep = Separation {
                feature,
                eta,
                n_high,
                n_low,
            };
            if best.as_ref().is_none_or(|(_, b)| eta > b.eta) {
                let gate = ContrastGate {
                    feature,
                    threshold,
                    high_above,
                };
                best = Some((gate, sep));
            }
        }
        Ok(match best {
            Some((g, sep)) if sep.eta >= MIN_SEPARATION => (Some(g), Some(sep)),
            Some((_, sep)) => (None, Some(sep)),
            None => (None, None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_core::Spacing;
    use ndarray::{Array2, Array3};

    #[test]
    fn graygate_counts_maximum() {
        let mut s = Array2::<u8>::zeros((4, 4));
        s[[0, 0]] = 9;
        s[[1, 1]] = 9;
        assert_eq!(graygate_count(s.view()), 2);
        assert!(graygate(s.view(), 1));
        assert!(!graygate(s.view(), 2));
    }

    #[test]
    fn gates_separate_synthetic_groups() {
        // High: full range with saturated bone; low: compressed range.
        let high = |k: usize| {
            Array3::from_shape_fn((3, 16, 16), |(z, y, x)| {
                if (x + y + z + k).is_multiple_of(5) {
                    255u8
                } else {
                    (x * 10 + y) as u8
                }
            })
        };
        let low = |k: usize| {
            Array3::from_shape_fn((3, 16, 16), |(z, y, x)| {
                (60 + (x * 3 + y + z + k) % 40) as u8
            })
        };
        let mut scans = Vec::new();
        let mut stats = Vec::new();
        for k in 0..3 {
            for (a, l) in [(high(k), Contrast::High), (low(k), Contrast::Low)] {
                let v = Volume::new(a, Spacing::default()).unwrap();
                scans.push((GrayGate::counts(&v).unwrap(), l));
                stats.push((ContrastStats::of_volume(&v).unwrap(), l));
            }
        }
        let g = GrayGate::fit(ScanDecision::Majority, &scans).unwrap();
        assert!(scans.iter().all(|(c, l)| g.decide(c) == *l));
        let (cg, acc) = ContrastGate::fit(&stats).unwrap();
        assert_eq!(acc, 1.0);
        assert!(stats.iter().all(|(s, l)| cg.classify(s) == *l));
        assert!(ContrastGate::fit(&[]).is_err());
        // Without labels: the same two groups are found, high contrast on the right side.
        let plain: Vec<ContrastStats> = stats.iter().map(|(s, _)| *s).collect();
        let (ug, sep) = ContrastGate::fit_unsupervised(&plain).unwrap();
        let (ug, sep) = (ug.expect("two groups"), sep.expect("separation"));
        assert!(
            sep.eta >= MIN_SEPARATION && sep.n_high == 3 && sep.n_low == 3,
            "{sep:?}"
        );
        assert!(stats.iter().all(|(s, l)| ug.classify(s) == *l));
        assert!(GrayGate::fit(ScanDecision::Middle, &[]).is_err());
    }

    #[test]
    fn one_contrast_group_is_not_split() {
        // Spread and std vary smoothly (one group of exports): no split is clear enough.
        let stats: Vec<ContrastStats> = (0..40)
            .map(|i| {
                let t = (i as f64 * 0.37).sin() * 0.5 + 0.5;
                ContrastStats {
                    saturation: 0.01,
                    spread: 150.0 + 20.0 * t,
                    std: 50.0 + 8.0 * (1.0 - t),
                    noise: 3.0,
                    max_fraction: 0.001 + 0.0005 * t,
                }
            })
            .collect();
        let (g, sep) = ContrastGate::fit_unsupervised(&stats).unwrap();
        let sep = sep.expect("a best split");
        assert!(g.is_none(), "{sep:?}");
        assert!(sep.eta < MIN_SEPARATION);
        // Identical scans cannot be split at all.
        let same = vec![stats[0]; 10];
        assert_eq!(ContrastGate::fit_unsupervised(&same).unwrap(), (None, None));
        // Too few scans for two groups of two.
        assert_eq!(ContrastGate::fit_unsupervised(&stats[..3]).unwrap().0, None);
    }
}
