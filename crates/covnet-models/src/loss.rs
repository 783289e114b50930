//! Focal loss and weighted cross-entropy for multi-class logits.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::error::{Error, Result, invalid};

fn targets_tensor(targets: &[usize], logits: &Tensor<2>) -> Result<Tensor<2, Int>> {
    let [n, k] = logits.dims();
    if targets.len() != n {
        return Err(Error::BadShape {
            what: "targets",
            expected: format!("one target per logits row ({n})"),
            found: vec![targets.len()],
        });
    }
    if n == 0 {
        return Err(Error::BadShape {
            what: "logits",
            expected: "(N, K) with N ≥ 1".into(),
            found: vec![n, k],
        });
    }
    if let Some((index, &class)) = targets.iter().enumerate().find(|&(_, &t)| t >= k) {
        return Err(Error::BadTarget {
            index,
            class,
            num_classes: k,
        });
    }
    let t: Vec<i64> = targets.iter().map(|&t| t as i64).collect();
    Ok(Tensor::<1, Int>::from_data(TensorData::new(t, [n]), &logits.device()).reshape([n, 1]))
}

/// Per-sample log p of the target class, (N, 1).
fn target_log_prob(logits: Tensor<2>, targets: Tensor<2, Int>) -> Tensor<2> {
    log_softmax(logits, 1).gather(1, targets)
}

fn class_weights(weights: &[f32], targets: &[usize], device: &Device) -> Tensor<2> {
    let w: Vec<f32> = targets.iter().map(|&t| weights[t]).collect();
    Tensor::from_data(TensorData::new(w, [targets.len(), 1]), device)
}

fn check_weights(param: &'static str, weights: &[f32], k: usize) -> Result<()> {
    if weights.len() != k {
        return Err(invalid(
            param,
            format!("{} values for {k} classes", weights.len()),
        ));
    }
    if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(invalid(param, format!("must be finite and ≥ 0, got {w}")));
    }
    Ok(())
}

/// Focal loss (Lin et al. 2017) for softmax outputs:
/// FL = mean_i [ −α_{y_i} (1 − p_{i,y_i})^γ log p_{i,y_i} ].
#[derive(Debug, Clone, PartialEq)]
pub struct FocalLoss {
    /// Per-class weights α (empty: all 1).
    pub alpha: Vec<f32>,
    /// Focusing parameter γ ≥ 0 (0 gives cross-entropy; 2 in the paper).
    pub gamma: f32,
}

impl Default for FocalLoss {
    /// γ = 2, no class weights.
    fn default() -> Self {
        Self {
            alpha: Vec::new(),
            gamma: 2.0,
        }
    }
}

impl FocalLoss {
    /// Checks γ.
    pub fn validate(&self) -> Result<()> {
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(invalid(
                "gamma",
                format!("must be finite and ≥ 0, got {}", self.gamma),
            ));
        }
        Ok(())
    }

    /// Mean focal loss of logits (N, K) against class indices `targets` (N): a 1-element
    /// tensor, differentiable.
    pub fn forward(&self, logits: Tensor<2>, targets: &[usize]) -> Result<Tensor<1>> {
        self.validate()?;
        let k = logits.dims()[1];
        if !self.alpha.is_empty() {
            check_weights("alpha", &self.alpha, k)?;
        }
        let device = logits.device();
        let t = targets_tensor(targets, &logits)?;
        let logp = target_log_prob(logits, t);
        let p = logp.clone().exp();
        // (1 - p)^γ; clamp_min keeps powf away from a negative base when p rounds above 1.
        let modulating = p
            .neg()
            .add_scalar(1.0)
            .clamp_min(0.0)
            .powf_scalar(self.gamma);
        let mut loss = modulating * logp.neg();
        if !self.alpha.is_empty() {
            loss = loss * class_weights(&self.alpha, targets, &device);
        }
        Ok(loss.mean())
    }
}

/// Cross-entropy with per-class weights, PyTorch's `cross_entropy(weight=w, reduction="mean")`:
/// Σ_i w_{y_i}·(−log p_{i,y_i}) / Σ_i w_{y_i}. Empty `weights` means unweighted.
pub fn weighted_cross_entropy(
    logits: Tensor<2>,
    targets: &[usize],
    weights: &[f32],
) -> Result<Tensor<1>> {
    let k = logits.dims()[1];
    let device = logits.device();
    let t = targets_tensor(targets, &logits)?;
    let nll = target_log_prob(logits, t).neg();
    if weights.is_empty() {
        return Ok(nll.mean());
    }
    check_weights("weights", weights, k)?;
    let total: f32 = targets.iter().map(|&t| weights[t]).sum();
    if total <= 0.0 {
        return Err(invalid("weights", "the targets' weights sum to zero"));
    }
    Ok((nll * class_weights(weights, targets, &device))
        .sum()
        .div_scalar(total))
}
