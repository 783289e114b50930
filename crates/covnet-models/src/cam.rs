//! Class activation maps on the last conv stage: CAM (Zhou et al. 2016) and Grad-CAM
//! (Selvaraju et al. 2017), for ResNets and DenseNets.

use burn::module::Module;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::densenet::DenseNet;
use crate::error::{Error, Result, invalid};
use crate::resnet::ResNet;
use crate::util::global_avg;

/// A classifier whose head is global average pooling and one linear layer over the last conv
/// stage (ResNet, DenseNet).
pub trait CamModel: Module + Sized {
    /// Last-stage feature map (N, F, h, w).
    fn cam_features(&self, x: Tensor<4>) -> Result<Tensor<4>>;
    /// The linear classifier on the pooled features.
    fn cam_linear(&self) -> &Linear;
}

impl CamModel for ResNet {
    fn cam_features(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        self.features(x)
    }
    fn cam_linear(&self) -> &Linear {
        self.fc()
    }
}

impl CamModel for DenseNet {
    fn cam_features(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        self.features(x)
    }
    fn cam_linear(&self) -> &Linear {
        self.classifier()
    }
}

fn check_class(linear: &Linear, class: usize) -> Result<()> {
    let k = linear.weight.val().dims()[1];
    if class >= k {
        return Err(invalid(
            "class",
            format!("{class} out of range for {k} classes"),
        ));
    }
    Ok(())
}

/// CAM: Σ_k W[k, class]·A_k over the last-stage maps A, (N, C, H, W) -> (N, h, w), not
/// rectified. Runs on any device (no gradients).
pub fn class_activation_map<M: CamModel>(
    model: &M,
    x: Tensor<4>,
    class: usize,
) -> Result<Tensor<3>> {
    check_class(model.cam_linear(), class)?;
    let a = model.cam_features(x)?;
    let [n, f, h, w] = a.dims();
    let wc = model
        .cam_linear()
        .weight
        .val()
        .narrow(1, class, 1)
        .reshape([1, f, 1, 1]);
    Ok((a * wc).sum_dim(1).reshape([n, h, w]))
}

/// Grad-CAM for `class`: relu(Σ_k α_k A_k) with α_k the spatial mean of ∂score/∂A_k, on the
/// last conv stage: (N, C, H, W) -> (N, h, w).
///
/// The model and `x` must live on an autodiff device (`device.autodiff()`); the backbone runs
/// in evaluation mode (batch norm with running statistics, no dropout) whatever the model's
/// training state.
pub fn grad_cam<M: CamModel>(model: &M, x: Tensor<4>, class: usize) -> Result<Tensor<3>> {
    if !x.device().is_autodiff() {
        return Err(Error::NeedsAutodiff { what: "Grad-CAM" });
    }
    check_class(model.cam_linear(), class)?;
    // Evaluation-mode copy for the backbone; the gradient is only needed from the feature map
    // on, so the map becomes a fresh leaf on the autodiff device.
    let feats = model.valid().cam_features(x.without_autodiff())?;
    let feats = feats.autodiff().require_grad();
    let logits = model.cam_linear().forward(global_avg(feats.clone()));
    let score = logits.narrow(1, class, 1).sum();
    let grads = score.backward();
    let g = feats
        .grad(&grads)
        .ok_or(Error::NeedsAutodiff { what: "Grad-CAM" })?;
    let a = feats.without_autodiff();
    let [n, _, h, w] = a.dims();
    let alpha = g.mean_dim(3).mean_dim(2);
    Ok(relu((a * alpha).sum_dim(1)).reshape([n, h, w]))
}
