//! Adam with one fused libtorch kernel per parameter on `tch` devices.

use burn::optim::{
    Adam, AdamConfig, AdamState, LearningRate, ModuleOptimizer, Optimizer, decay::WeightDecayConfig,
};
use burn::tensor::{Device, Tensor};

/// Configuration of [`FusedAdam`]: Adam as Burn's [`AdamConfig`] and PyTorch's
/// `torch.optim.Adam` define it (L2 weight decay added to the gradient; `epsilon` added to the
/// bias-corrected root second moment), without AMSGrad.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedAdamConfig {
    /// Decay of the first moment (0.9).
    pub beta_1: f32,
    /// Decay of the second moment (0.999).
    pub beta_2: f32,
    /// Added to the denominator (1e-5, Burn's default; PyTorch's is 1e-8).
    pub epsilon: f32,
    /// L2 penalty added to the gradient (none).
    pub weight_decay: Option<f32>,
}

impl Default for FusedAdamConfig {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-5,
            weight_decay: None,
        }
    }
}

impl FusedAdamConfig {
    /// The same optimizer as Burn's [`AdamConfig`] (what [`FusedAdam`] runs off libtorch).
    pub fn burn_config(&self) -> AdamConfig {
        AdamConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .with_weight_decay(self.weight_decay.map(WeightDecayConfig::new))
    }

    /// A whole-module optimizer (`optim.step(lr, model, grads)`), like [`AdamConfig::init`].
    pub fn init(&self) -> ModuleOptimizer {
        ModuleOptimizer::from(FusedAdam {
            config: self.clone(),
            fallback: self.burn_config().build(),
        })
    }
}

/// Adam whose update of each parameter is one fused libtorch kernel (`torch._fused_adam_`,
/// what `torch.optim.Adam(fused=True)` runs) when the parameter lives on a `tch` device, and
/// Burn's [`Adam`] elsewhere. Burn's Adam spends about a dozen element-wise kernels per
/// parameter, which on a GPU cost more than the convolutions of a small model's backward
/// pass (docs/benchmarks.md). The state is Burn's [`AdamState`], so checkpoints of either
/// optimizer load into the other.
#[derive(Clone)]
pub struct FusedAdam {
    #[cfg_attr(not(feature = "tch"), allow(dead_code))]
    config: FusedAdamConfig,
    fallback: Adam,
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        #[cfg(feature = "tch")]
        let (tensor, grad, state) = match libtorch::step(&self.config, lr, tensor, grad, state) {
            Ok(done) => return done,
            Err(elsewhere) => *elsewhere,
        };
        self.fallback.step(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

#[cfg(feature = "tch")]
mod libtorch {
    #![allow(deprecated)] // burn-tch is marked deprecated upstream; it is this crate's GPU path.

    use super::FusedAdamConfig;
    use burn::backend::{
        BackendTensor, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind,
    };
    use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate};
    use burn::tensor::Tensor;
    use burn_tch::TchTensor;

    type Parts<const D: usize> = (Tensor<D>, Tensor<D>, Option<AdamState<D>>);

    /// The libtorch tensor inside `tensor`, or `tensor` back when it lives elsewhere.
    fn take<const D: usize>(
        tensor: Tensor<D>,
    ) -> Result<(TchTensor, DispatchAutodiffContext), Box<Tensor<D>>> {
        let dispatch = tensor.into_dispatch();
        match dispatch.kind {
            DispatchTensorKind::LibTorch(BackendTensor::Float(inner)) => {
                Ok((inner, dispatch.autodiff))
            }
            kind => Err(Box::new(Tensor::from_dispatch(DispatchTensor {
                kind,
                autodiff: dispatch.autodiff,
            }))),
        }
    }

    fn give<const D: usize>(inner: TchTensor, autodiff: &DispatchAutodiffContext) -> Tensor<D> {
        Tensor::from_dispatch(DispatchTensor {
            kind: DispatchTensorKind::LibTorch(BackendTensor::Float(inner)),
            autodiff: *autodiff,
        })
    }

    /// One fused step, or the inputs back untouched when they are not all libtorch tensors.
    pub(super) fn step<const D: usize>(
        config: &FusedAdamConfig,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> Result<(Tensor<D>, Option<AdamState<D>>), Box<Parts<D>>> {
        let (param, ctx) = match take(tensor) {
            Ok(found) => found,
            Err(tensor) => return Err(Box::new((*tensor, grad, state))),
        };
        let (grad, _) = match take(grad) {
            Ok(found) => found,
            Err(grad) => return Err(Box::new((give(param, &ctx), *grad, state))),
        };
        let (time, exp_avg, exp_avg_sq) = match state {
            Some(state) if state.momentum.max_moment_2.is_none() => {
                let m = state.momentum;
                match (take(m.moment_1), take(m.moment_2)) {
                    (Ok((m1, _)), Ok((m2, _))) => (m.time + 1, m1, m2),
                    (m1, m2) => {
                        let back = |r: Result<
                            (TchTensor, DispatchAutodiffContext),
                            Box<Tensor<D>>,
                        >| match r {
                            Ok((t, _)) => give(t, &ctx),
                            Err(t) => *t,
                        };
                        let state =
                            AdamState::new(AdaptiveMomentumState::new(m.time, back(m1), back(m2)));
                        let grad = give(grad, &ctx);
                        return Err(Box::new((give(param, &ctx), grad, Some(state))));
                    }
                }
            }
            Some(state) => {
                let grad = give(grad, &ctx);
                return Err(Box::new((give(param, &ctx), grad, Some(state))));
            }
            None => (
                1,
                TchTensor::new(param.tensor.zeros_like()),
                TchTensor::new(param.tensor.zeros_like()),
            ),
        };
        let hyper = burn_tch::AdamHyper {
            lr,
            beta1: f64::from(config.beta_1),
            beta2: f64::from(config.beta_2),
            weight_decay: f64::from(config.weight_decay.unwrap_or(0.0)),
            eps: f64::from(config.epsilon),
        };
        let (param, m1, m2) = burn_tch::adam_step(param, grad, exp_avg, exp_avg_sq, time, hyper);
        let state = AdamState::new(AdaptiveMomentumState::new(
            time,
            give(m1, &ctx),
            give(m2, &ctx),
        ));
        Ok((give(param, &ctx), Some(state)))
    }
}
