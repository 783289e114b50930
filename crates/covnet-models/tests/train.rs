//! Training smoke tests on procedurally generated scans: class 1 scans hide a bright Gaussian
//! blob in one random slice, class 0 scans are noise only. A COVNet must learn to tell them
//! apart with a few Adam steps on the CPU backend.

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use covnet_models::*;

mod common;

use common::{Rng, batch, small_covnet};

/// Trains for `steps` and returns (mean loss of the first 3 steps, of the last 3 steps,
/// accuracy of the trained model on fresh scans).
fn train(
    cfg: &CovNetConfig,
    steps: usize,
    b: usize,
    s: usize,
    n: usize,
    lr: f64,
) -> (f32, f32, f32) {
    let device = Device::flex().autodiff();
    device.seed(17);
    let mut rng = Rng(42);
    let mut model = cfg.init(&device).unwrap();
    let mut optim = AdamConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..steps {
        let (x, y) = batch(&mut rng, b, s, n, &device);
        let loss = weighted_cross_entropy(model.forward(x).unwrap(), &y, &[]).unwrap();
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    let eval = model.valid();
    let plain = Device::flex();
    let (x, y) = batch(&mut rng, 16, s, n, &plain);
    let logits = eval.forward(x).unwrap();
    let pred = logits
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .unwrap();
    let correct = pred
        .iter()
        .zip(&y)
        .filter(|(p, t)| **p as usize == **t)
        .count();
    let first = losses[..3].iter().sum::<f32>() / 3.0;
    let last = losses[steps - 3..].iter().sum::<f32>() / 3.0;
    (first, last, correct as f32 / y.len() as f32)
}

#[test]
fn covnet_learns_blob_vs_noise() {
    let (first, last, _) = train(&small_covnet(SlicePooling::Max), 40, 8, 3, 32, 1e-2);
    eprintln!("loss {first:.4} -> {last:.4}");
    assert!(last < 0.5 * first, "loss did not halve: {first} -> {last}");
}

/// Residual attention in every block: the mask branch (max-pooling, bilinear up-sampling)
/// back-propagates and the network still learns the task.
#[test]
fn covnet_with_residual_attention_learns_blob_vs_noise() {
    let mut cfg = small_covnet(SlicePooling::Max);
    if let BackboneConfig::ResNet(r) = &mut cfg.backbone {
        r.attention = Some(AttentionKind::Residual { depth: 2 });
    }
    let (first, last, _) = train(&cfg, 40, 8, 3, 32, 1e-2);
    eprintln!("loss {first:.4} -> {last:.4}");
    assert!(last < 0.5 * first, "loss did not halve: {first} -> {last}");
}

/// First-3 and last-3 mean losses of `$steps` Adam steps of a volume model (a `forward`
/// returning `Result<Tensor<2>>` on (B, C, S, H, W)) on blob-vs-noise scans.
macro_rules! train_volume {
    ($model:expr, $steps:expr, $lr:expr) => {{
        let device = Device::flex().autodiff();
        let mut model = $model;
        let mut rng = Rng(7);
        let mut optim = AdamConfig::new().init();
        let mut losses = Vec::new();
        for _ in 0..$steps {
            let (x, y) = batch(&mut rng, 8, 4, 24, &device);
            let logits = model.forward(x.swap_dims(1, 2)).unwrap();
            let loss = weighted_cross_entropy(logits, &y, &[]).unwrap();
            losses.push(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step($lr, model, grads);
        }
        let first = losses[..3].iter().sum::<f32>() / 3.0;
        let last = losses[$steps - 3..].iter().sum::<f32>() / 3.0;
        (first, last)
    }};
}

/// C3D and P3D back-propagate through their 3-D convolutions and poolings and learn the task.
#[test]
fn c3d_and_p3d_learn_blob_vs_noise() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let c3d = C3dConfig {
        in_channels: 1,
        width: 8,
        fc_width: 32,
        num_classes: 2,
        dropout: None,
    }
    .init(&device)
    .unwrap();
    let (first, last) = train_volume!(c3d, 40, 1e-3);
    eprintln!("C3D loss {first:.4} -> {last:.4}");
    assert!(
        last < 0.5 * first,
        "C3D loss did not halve: {first} -> {last}"
    );
    let p3d = P3dConfig {
        layers: [1, 1, 1, 1],
        mix: P3dMix::Cycle,
        base_width: 4,
        in_channels: 1,
        num_classes: 2,
        dropout: None,
    }
    .init(&device)
    .unwrap();
    let (first, last) = train_volume!(p3d, 30, 1e-2);
    eprintln!("P3D loss {first:.4} -> {last:.4}");
    assert!(
        last < 0.5 * first,
        "P3D loss did not halve: {first} -> {last}"
    );
}

#[test]
#[ignore = "heavier: ~1 min on 2 cores; cargo test -p covnet-models --release -- --ignored"]
fn covnet_learns_blob_vs_noise_to_high_accuracy() {
    for pooling in [SlicePooling::Max, SlicePooling::Attention { hidden: 16 }] {
        let (first, last, acc) = train(&small_covnet(pooling), 150, 16, 6, 48, 3e-3);
        eprintln!("{pooling:?}: loss {first:.4} -> {last:.4}, held-out accuracy {acc}");
        assert!(last < 0.2 * first, "{first} -> {last}");
        assert!(acc >= 0.9, "accuracy {acc}");
    }
}

/// CPU throughput of COVNet-ResNet-18 (1 input channel, width 64, max pooling, 3 classes) on
/// one scan of 16 slices of 112×112: forward (inference) and training step (forward, backward,
/// Adam) in slices/s. Prints numbers, asserts nothing about time.
///
/// `cargo test -p covnet-models --release --test train -- --ignored --nocapture cpu_throughput`
#[test]
#[ignore = "benchmark; run in release with --nocapture"]
fn cpu_throughput_covnet_resnet18() {
    use std::time::Instant;
    let (s, n, reps) = (16usize, 112usize, 5usize);
    let cfg = CovNetConfig {
        backbone: BackboneConfig::ResNet(ResNetConfig {
            in_channels: 1,
            ..ResNetConfig::new(ResNetDepth::R18)
        }),
        ..CovNetConfig {
            pooling: SlicePooling::Max,
            ..CovNetConfig::default()
        }
    };
    let mut rng = Rng(1);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };

    let device = Device::flex();
    let model = cfg.init(&device).unwrap();
    let (x, _) = batch(&mut rng, 1, s, n, &device);
    let _ = model.forward(x.clone()).unwrap().into_data(); // warm-up
    let mut times = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let _ = model.forward(x.clone()).unwrap().into_data();
        times.push(t.elapsed().as_secs_f64());
    }
    let fwd = median(times.clone());
    let fwd_min = times.iter().cloned().fold(f64::INFINITY, f64::min);

    let device = Device::flex().autodiff();
    let mut model = cfg.init(&device).unwrap();
    let mut optim = AdamConfig::new().init();
    let mut times = Vec::new();
    for i in 0..=reps {
        let (x, y) = batch(&mut rng, 1, s, n, &device);
        let y = vec![y[0] % 3];
        let t = Instant::now();
        let loss = weighted_cross_entropy(model.forward(x).unwrap(), &y, &[]).unwrap();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        let _ = loss.into_scalar::<f32>();
        if i > 0 {
            times.push(t.elapsed().as_secs_f64()); // step 0 is warm-up
        }
    }
    let step = median(times.clone());
    let step_min = times.iter().cloned().fold(f64::INFINITY, f64::min);
    println!(
        "COVNet-ResNet-18, 1x{s}x1x{n}x{n}, flex: forward median {fwd:.3} s (min {fwd_min:.3}) = {:.1} slices/s; \
         train step median {step:.3} s (min {step_min:.3}) = {:.1} slices/s",
        s as f64 / fwd,
        s as f64 / step
    );
}
