//! COVNet-ResNet-50 on a GPU backend: output check against the CPU backend and training-step /
//! inference throughput in slices/s. Used by `tools/gpu/run.sh`.
//!
//! ```text
//! gpu_bench check [--backend tch|wgpu]              # GPU logits vs flex (CPU) logits
//! gpu_bench bench [--backend tch|wgpu] [--dtype f32|bf16] [--scans 2] [--slices 32] [--size 224] [--steps 10]
//! ```
//! Build: `cargo build -p covnet-models --features tch --example gpu_bench` with
//! `LIBTORCH_USE_PYTORCH=1` (see docs/covnet-models.md).

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::{DeviceConfig, Distribution, FloatDType};
use covnet_models::*;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

#[allow(deprecated, unused_variables)]
fn gpu(backend: &str) -> Device {
    match backend {
        #[cfg(feature = "tch")]
        "tch" => Device::libtorch_cuda(0),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        other => panic!("backend `{other}` not compiled in (features: tch, wgpu)"),
    }
}

fn config(classes: usize) -> CovNetConfig {
    CovNetConfig {
        backbone: BackboneConfig::ResNet(ResNetConfig::new(ResNetDepth::R50)),
        pooling: SlicePooling::Max,
        head: HeadKind::Linear,
        num_classes: classes,
        dropout: None,
    }
}

fn check(backend: &str) {
    let cpu = Device::flex();
    cpu.seed(3);
    let model = config(3).init(&cpu).unwrap();
    let x = Tensor::<5>::random([2, 4, 3, 96, 96], Distribution::Default, &cpu);
    let want = array_from_tensor(model.forward(x.clone()).unwrap());
    let dev = gpu(backend);
    let t = Instant::now();
    let got = array_from_tensor(model.to_device(&dev).forward(x.to_device(&dev)).unwrap());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(want.iter())
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    println!(
        "check {backend}: COVNet-ResNet-50 logits 2x4x3x96x96, max |gpu - cpu| = {err:.3e} (scale {scale:.3}, rel {:.3e}) first call {:.2} s -> {}",
        err / scale.max(1e-12),
        t.elapsed().as_secs_f64(),
        if err <= 1e-3 * scale.max(1.0) {
            "OK"
        } else {
            "MISMATCH"
        }
    );
}

fn bench(args: &[String]) {
    let backend = arg(args, "--backend", "tch");
    let dtype = arg(args, "--dtype", "f32");
    let b: usize = arg(args, "--scans", "2").parse().unwrap();
    let s: usize = arg(args, "--slices", "32").parse().unwrap();
    let n: usize = arg(args, "--size", "224").parse().unwrap();
    let steps: usize = arg(args, "--steps", "10").parse().unwrap();
    let mut dev = gpu(&backend);
    if dtype == "bf16" {
        if !dev.supports_dtype(FloatDType::BF16) {
            println!("bench {backend} bf16: not supported by this device");
            return;
        }
        dev.configure(DeviceConfig::default().float_dtype(FloatDType::BF16))
            .unwrap();
    }
    let slices = (b * s) as f64;
    let ad = dev.clone().autodiff();
    let mut model = config(3).init(&ad).unwrap();
    let mut optim = AdamConfig::new().init();
    let x = Tensor::<5>::random([b, s, 3, n, n], Distribution::Default, &ad);
    let y: Vec<usize> = (0..b).map(|i| i % 3).collect();
    let mut times = Vec::new();
    let t0 = Instant::now();
    for i in 0..steps + 3 {
        let t = Instant::now();
        let loss = weighted_cross_entropy(model.forward(x.clone()).unwrap(), &y, &[]).unwrap();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-4, model, grads);
        let _ = loss.into_scalar::<f32>();
        if i == 0 {
            println!(
                "  first train step {:.2} s (warm-up: kernels, autotune)",
                t0.elapsed().as_secs_f64()
            );
        }
        if i >= 3 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let train = times[times.len() / 2];
    let eval = model.valid();
    let xe = x.without_autodiff();
    let mut times = Vec::new();
    for i in 0..steps + 3 {
        let t = Instant::now();
        let _ = eval.forward(xe.clone()).unwrap().into_data();
        if i >= 3 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let infer = times[times.len() / 2];
    println!(
        "bench burn-{backend} {dtype}: COVNet-ResNet-50 {b}x{s}x3x{n}x{n}: train {:.1} slices/s ({:.1} ms/step), inference {:.1} slices/s ({:.1} ms/batch) [median of {steps}]",
        slices / train,
        train * 1e3,
        slices / infer,
        infer * 1e3
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("check") => check(&arg(&args, "--backend", "tch")),
        Some("bench") => bench(&args),
        _ => eprintln!("usage: gpu_bench check|bench [--backend tch|wgpu] [--dtype f32|bf16] ..."),
    }
}
