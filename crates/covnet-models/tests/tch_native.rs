//! The patched burn-tch (vendor/burn-tch) against flex, on libtorch's CPU: convolution and
//! batch-norm gradients from libtorch's own backward kernels, ReLU's backward, and
//! [`FusedAdam`]'s fused step. Needs libtorch, so it only builds with `--features tch`:
//!
//! ```text
//! LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 PATH=<venv with torch>/bin:$PATH \
//!   LD_LIBRARY_PATH=<site-packages>/torch/lib \
//!   cargo test -p covnet-models --features tch --test tch_native
//! ```
//!
//! Tolerance: ‖tch − flex‖₂ / ‖flex‖₂ ≤ 1e-5 on well-conditioned random inputs (f32 sums in
//! other orders; a wrong stride, padding side or formula is off by O(1)).
#![cfg(feature = "tch")]
#![allow(deprecated)]

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::{batch_norm_train, conv2d};
use burn::tensor::ops::ConvOptions;
use covnet_models::*;

fn rel_l2<const D: usize>(got: Tensor<D>, want: Tensor<D>) -> f64 {
    let got = array_from_tensor(got);
    let want = array_from_tensor(want);
    assert_eq!(got.shape(), want.shape());
    let (mut num, mut den) = (0f64, 0f64);
    for (g, w) in got.iter().zip(want.iter()) {
        num += f64::from(g - w).powi(2);
        den += f64::from(*w).powi(2);
    }
    (num / den.max(1e-300)).sqrt()
}

fn random<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
    let cpu = Device::flex();
    cpu.seed(seed);
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &cpu)
}

/// Gradients of sum(conv(x) * probe) with respect to x and the weight on `device`.
fn conv_grads(
    device: &Device,
    x: &Tensor<4>,
    w: &Tensor<4>,
    b: &Tensor<1>,
    probe: &Tensor<4>,
    options: &ConvOptions<2>,
) -> [Tensor<4>; 2] {
    let ad = device.clone().autodiff();
    let x = x.clone().to_device(&ad).autodiff().require_grad();
    let w = w.clone().to_device(&ad).autodiff().require_grad();
    let b = b.clone().to_device(&ad);
    let y = conv2d(x.clone(), w.clone(), Some(b), options.clone());
    let grads = (y * probe.clone().to_device(&ad)).sum().backward();
    [x.grad(&grads).unwrap(), w.grad(&grads).unwrap()]
}

#[test]
fn conv2d_gradients_match_flex() {
    let tch = Device::libtorch();
    let flex = Device::flex();
    // (input, weight, stride, padding pairs, dilation, groups)
    let cases: Vec<(
        [usize; 4],
        [usize; 4],
        [usize; 2],
        [(usize, usize); 2],
        [usize; 2],
        usize,
    )> = vec![
        (
            [2, 3, 9, 9],
            [4, 3, 3, 3],
            [1, 1],
            [(1, 1), (1, 1)],
            [1, 1],
            1,
        ),
        (
            [2, 3, 10, 11],
            [5, 3, 3, 3],
            [2, 2],
            [(1, 1), (1, 1)],
            [1, 1],
            1,
        ),
        (
            [2, 4, 12, 12],
            [6, 4, 1, 1],
            [2, 2],
            [(0, 0), (0, 0)],
            [1, 1],
            1,
        ),
        (
            [1, 3, 15, 15],
            [8, 3, 7, 7],
            [2, 2],
            [(3, 3), (3, 3)],
            [1, 1],
            1,
        ),
        (
            [2, 4, 11, 9],
            [4, 2, 3, 3],
            [1, 2],
            [(2, 2), (1, 1)],
            [2, 1],
            2,
        ),
        // Asymmetric padding (the backward pads explicitly and crops the input gradient).
        (
            [2, 3, 8, 9],
            [4, 3, 3, 3],
            [1, 1],
            [(0, 1), (2, 1)],
            [1, 1],
            1,
        ),
        (
            [1, 2, 9, 8],
            [3, 2, 2, 2],
            [2, 1],
            [(1, 0), (0, 1)],
            [1, 1],
            1,
        ),
    ];
    for (i, (xs, ws, stride, padding, dilation, groups)) in cases.into_iter().enumerate() {
        let options = ConvOptions::new_with_padding(stride, padding, dilation, groups);
        let x = random(xs, 10 + i as u64);
        let w = random(ws, 20 + i as u64);
        let b = random([ws[0]], 30 + i as u64);
        let y = conv2d(x.clone(), w.clone(), Some(b.clone()), options.clone());
        let probe = random(y.dims(), 40 + i as u64);
        let want = conv_grads(&flex, &x, &w, &b, &probe, &options);
        let got = conv_grads(&tch, &x, &w, &b, &probe, &options);
        for (what, g, w) in [("input", &got[0], &want[0]), ("weight", &got[1], &want[1])] {
            let r = rel_l2(g.clone(), w.clone());
            assert!(r < 1e-5, "case {i} {what} gradient: rel L2 {r:.2e}");
        }
    }
}

#[test]
fn conv2d_bias_gradient_matches_flex() {
    let options = ConvOptions::new([2, 1], [1, 0], [1, 1], 1);
    let x = random([2, 3, 9, 8], 1);
    let w = random([5, 3, 3, 3], 2);
    let b = random([5], 3);
    let probe = random(
        conv2d(x.clone(), w.clone(), Some(b.clone()), options.clone()).dims(),
        4,
    );
    let grad = |device: &Device| {
        let ad = device.clone().autodiff();
        let b = b.clone().to_device(&ad).autodiff().require_grad();
        let y = conv2d(
            x.clone().to_device(&ad),
            w.clone().to_device(&ad),
            Some(b.clone()),
            options.clone(),
        );
        let grads = (y * probe.clone().to_device(&ad)).sum().backward();
        b.grad(&grads).unwrap()
    };
    let r = rel_l2(grad(&Device::libtorch()), grad(&Device::flex()));
    assert!(r < 1e-5, "bias gradient: rel L2 {r:.2e}");
}

/// Output, batch mean, batch variance and the gradients of sum(relu(bn(x)) * probe) with
/// respect to x, gamma and beta.
fn batch_norm_run(device: &Device, x: &Tensor<4>, probe: &Tensor<4>) -> Vec<ndarray::ArrayD<f32>> {
    let ad = device.clone().autodiff();
    let c = x.dims()[1];
    let x = x.clone().to_device(&ad).autodiff().require_grad();
    let gamma = (random([c], 5) * 0.3 + 1.0)
        .to_device(&ad)
        .autodiff()
        .require_grad();
    let beta = random([c], 6).to_device(&ad).autodiff().require_grad();
    let out = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
    let y = burn::tensor::activation::relu(out.output.clone());
    let grads = (y * probe.clone().to_device(&ad)).sum().backward();
    vec![
        array_from_tensor(out.output.detach()),
        array_from_tensor(out.mean.detach()),
        array_from_tensor(out.variance.detach()),
        array_from_tensor(x.grad(&grads).unwrap()),
        array_from_tensor(gamma.grad(&grads).unwrap()),
        array_from_tensor(beta.grad(&grads).unwrap()),
    ]
}

#[test]
fn batch_norm_train_and_relu_backward_match_flex() {
    // A spread comparable to epsilon, so that mishandling it shows.
    let x = random([4, 6, 7, 5], 7) * 0.005 + 0.5;
    let probe = random([4, 6, 7, 5], 8);
    let want = batch_norm_run(&Device::flex(), &x, &probe);
    let got = batch_norm_run(&Device::libtorch(), &x, &probe);
    let names = [
        "output",
        "batch mean",
        "batch variance",
        "input grad",
        "gamma grad",
        "beta grad",
    ];
    for ((name, g), w) in names.iter().zip(&got).zip(&want) {
        let (mut num, mut den) = (0f64, 0f64);
        for (a, b) in g.iter().zip(w.iter()) {
            num += f64::from(a - b).powi(2);
            den += f64::from(*b).powi(2);
        }
        let r = (num / den).sqrt();
        assert!(r < 1e-5, "{name}: rel L2 {r:.2e}");
    }
    // Inference batch norm (running statistics) goes through libtorch's batch_norm too.
    let mean = random([6], 9);
    let var = random([6], 10).abs() + 0.5;
    let gamma = random([6], 11);
    let beta = random([6], 12);
    let infer = |device: &Device| {
        burn::tensor::module::batch_norm(
            x.clone().to_device(device),
            gamma.clone().to_device(device),
            beta.clone().to_device(device),
            mean.clone().to_device(device),
            var.clone().to_device(device),
            1e-5,
        )
    };
    let r = rel_l2(infer(&Device::libtorch()), infer(&Device::flex()));
    assert!(r < 1e-6, "inference batch norm: rel L2 {r:.2e}");
}

#[test]
fn fused_adam_matches_burn_adam_over_three_steps() {
    let config = CovNetConfig {
        backbone: BackboneConfig::ResNet(ResNetConfig {
            in_channels: 1,
            base_width: 8,
            ..ResNetConfig::new(ResNetDepth::R18)
        }),
        ..CovNetConfig::default()
    };
    // Parameters are initialised lazily, on first use and with the RNG of the device they are
    // used on: one forward pass on the seeded CPU device fixes them before the copies.
    let cpu = Device::flex().autodiff();
    cpu.seed(5);
    let model = config.init(&cpu).unwrap();
    let x = random([2, 3, 1, 24, 24], 13);
    let start = model.valid().forward(x.clone()).unwrap();
    let y = [0usize, 2];
    let run = |mut optim: burn::optim::ModuleOptimizer| {
        let ad = Device::libtorch().autodiff();
        let mut m = model.clone().fork(&ad).train();
        for _ in 0..3 {
            let loss =
                weighted_cross_entropy(m.forward(x.clone().to_device(&ad)).unwrap(), &y, &[])
                    .unwrap();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            m = optim.step(1e-2, m, grads);
        }
        m.valid()
            .forward(x.clone().to_device(&Device::libtorch()))
            .unwrap()
    };
    let fused = run(FusedAdamConfig::default().init());
    let plain = run(AdamConfig::new().init());
    let again = run(AdamConfig::new().init());
    assert_eq!(
        again.into_data(),
        plain.clone().into_data(),
        "runs must be repeatable"
    );
    let r = rel_l2(fused.clone(), plain);
    assert!(
        r < 1e-4,
        "FusedAdam vs Adam after three steps: rel L2 {r:.2e}"
    );
    assert!(rel_l2(fused, start) > 1e-3, "the steps must move the model");
}
