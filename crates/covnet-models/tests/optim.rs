//! `FusedAdam` off libtorch. A test binary of its own: tests in one binary run in parallel and
//! share the device RNG that lazily initialised parameters draw from, so a test initialising a
//! model next to `train.rs`'s seeded training runs would change their starting weights.

use burn::optim::GradientsParams;
use burn::prelude::*;
use covnet_models::*;

/// Deterministic inputs: a blob scan or a noise scan (the label), as in `train.rs`.
fn batch(seed: u64, b: usize, s: usize, n: usize, device: &Device) -> (Tensor<5>, Vec<usize>) {
    let mut state = seed;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32) / ((1u64 << 24) as f32)
    };
    let mut data = Vec::with_capacity(b * s * n * n);
    let mut labels = Vec::with_capacity(b);
    for i in 0..b {
        let label = i % 2;
        labels.push(label);
        for _ in 0..s {
            for y in 0..n {
                for x in 0..n {
                    let (dy, dx) = (y as f32 - n as f32 / 2.0, x as f32 - n as f32 / 2.0);
                    let blob = if label == 1 && dy * dy + dx * dx < (n * n / 16) as f32 {
                        1.0
                    } else {
                        0.0
                    };
                    data.push(blob + 0.3 * uniform());
                }
            }
        }
    }
    let x = Tensor::<1>::from_floats(data.as_slice(), device).reshape([b, s, 1, n, n]);
    (x, labels)
}

fn small_covnet() -> CovNetConfig {
    CovNetConfig {
        backbone: BackboneConfig::ResNet(ResNetConfig {
            in_channels: 1,
            num_classes: 2,
            base_width: 4,
            ..ResNetConfig::new(ResNetDepth::R18)
        }),
        pooling: SlicePooling::Max,
        head: HeadKind::Linear,
        num_classes: 2,
        dropout: None,
    }
}

/// Off libtorch, `FusedAdam` is Burn's Adam with the same hyper-parameters: the same model
/// after the same steps, bit for bit (on libtorch, `tests/tch_native.rs` compares the fused
/// kernel with Burn's Adam; it needs `--features tch`).
#[test]
fn fused_adam_is_burns_adam_off_libtorch() {
    let device = Device::flex().autodiff();
    // One initial model, materialised by a forward pass (parameters are initialised lazily,
    // from a device RNG that tests running in parallel share), then an independent copy per
    // run through its record: clones of a module share their batch-norm running statistics.
    let probe = || batch(9, 2, 3, 24, &Device::flex()).0;
    let initial = small_covnet().init(&device).unwrap();
    let untrained = initial.valid().forward(probe()).unwrap().into_data();
    let fresh = || {
        small_covnet()
            .init(&device)
            .unwrap()
            .load_record(initial.clone().into_record())
    };
    let config = FusedAdamConfig {
        weight_decay: Some(1e-3),
        ..FusedAdamConfig::default()
    };
    let run = |mut optim: burn::optim::ModuleOptimizer| {
        let mut m = fresh();
        for step in 0..3 {
            let (x, y) = batch(7 + step, 2, 3, 24, &device);
            let loss = weighted_cross_entropy(m.forward(x).unwrap(), &y, &[]).unwrap();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            m = optim.step(1e-2, m, grads);
        }
        m.valid().forward(probe()).unwrap().into_data()
    };
    let fused = run(config.init());
    let plain = run(config.burn_config().init());
    assert_eq!(fused, plain);
    assert_ne!(untrained, fused, "the steps must move the model");
}
