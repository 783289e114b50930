//! COVNet throughput on any compiled-in Burn backend, with the training step split into
//! forward, backward and optimizer, and an output check of a backend against flex (CPU).
//! `tools/covnet-models/cpu_bench.sh` (CPU) and `tools/gpu/run.sh` (GPU) drive it.
//!
//! ```text
//! covnet_bench bench [--backend flex|tch-cpu|tch|wgpu] [--depth 18|50] [--channels 1|3]
//!                    [--scans B] [--slices S] [--size N] [--steps K] [--warmup W]
//!                    [--dtype f32|bf16] [--threads T] [--cudnn-benchmark 0|1] [--no-train]
//!                    [--optim fused|burn] [--label NAME]
//! covnet_bench check [--backend tch|tch-cpu|wgpu] [--depth 50] [--channels 3]
//!                    [--scans 2] [--slices 4] [--size 96] [--tf32 0|1]
//! ```
//!
//! `bench` prints one `bench` line (train step and inference in slices/s, min and median over
//! `--steps` after `--warmup` untimed steps) and one `split` line (forward, backward,
//! optimizer of the training step, each followed by a device sync, min over the steps).
//! `check` builds one model on flex, runs it, back-propagates and takes one Adam step on flex
//! and on the backend from the same weights and input, and prints the largest relative
//! differences of the logits (inference and training mode), of the input gradient, of every
//! parameter gradient and of the logits after the step. TF32 is off unless `--tf32 1`.
//!
//! Build: CPU `cargo build -p covnet-models --example covnet_bench`; tch additionally
//! `--features tch` with `LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1` and the
//! PyTorch's python first on `PATH` (see docs/covnet-models.md).

use std::process::ExitCode;
use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::{DeviceConfig, Distribution, FloatDType};
use covnet_models::*;

/// Errors of this program are messages for the user.
type Res<T> = std::result::Result<T, String>;

/// `--name value` from the command line, or `default`.
fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn num(args: &[String], name: &str, default: usize) -> Res<usize> {
    let v = arg(args, name, &default.to_string());
    v.parse()
        .map_err(|_| format!("{name} must be a non-negative integer, got `{v}`"))
}

#[allow(deprecated, unused_variables)]
fn device(backend: &str) -> Res<Device> {
    Ok(match backend {
        "flex" => Device::flex(),
        #[cfg(feature = "tch")]
        "tch-cpu" => Device::libtorch(),
        #[cfg(feature = "tch")]
        "tch" => Device::libtorch_cuda(0),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        other => {
            return Err(format!(
                "backend `{other}` is not compiled in (flex always; tch and tch-cpu need \
                 --features tch, wgpu --features wgpu)"
            ));
        }
    })
}

/// Thread count and cuDNN autotuning for libtorch (no-ops for other backends). PyTorch eager
/// sets `torch.backends.cudnn.benchmark = True` in tools/gpu/torch_covnet.py; burn-tch leaves
/// libtorch's default (off), so the comparison is only fair with the same setting here.
#[allow(unused_variables)]
fn configure_libtorch(backend: &str, threads: usize, cudnn_benchmark: bool) {
    #[cfg(feature = "tch")]
    if backend.starts_with("tch") {
        if threads > 0 {
            covnet_models::libtorch_set_num_threads(threads);
        }
        covnet_models::libtorch_cudnn_benchmark(cudnn_benchmark);
    }
}

fn model_config(depth: usize, channels: usize) -> Res<CovNetConfig> {
    let depth = match depth {
        18 => ResNetDepth::R18,
        34 => ResNetDepth::R34,
        50 => ResNetDepth::R50,
        d => return Err(format!("--depth must be 18, 34 or 50, got {d}")),
    };
    Ok(CovNetConfig {
        backbone: BackboneConfig::ResNet(ResNetConfig {
            in_channels: channels,
            ..ResNetConfig::new(depth)
        }),
        pooling: SlicePooling::Max,
        head: HeadKind::Linear,
        num_classes: 3,
        dropout: None,
    })
}

fn min_median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

fn sync(device: &Device) -> Res<()> {
    device
        .sync()
        .map_err(|e| format!("device sync failed: {e:?}"))
}

fn bench(args: &[String]) -> Res<()> {
    let backend = arg(args, "--backend", "flex");
    let dtype = arg(args, "--dtype", "f32");
    let depth = num(args, "--depth", 18)?;
    let channels = num(args, "--channels", 1)?;
    let b = num(args, "--scans", 1)?;
    let s = num(args, "--slices", 16)?;
    let n = num(args, "--size", 112)?;
    let steps = num(args, "--steps", 5)?.max(1);
    let warmup = num(args, "--warmup", 1)?;
    let threads = num(args, "--threads", 0)?;
    let cudnn_benchmark = num(args, "--cudnn-benchmark", 1)? != 0;
    let train = !args.iter().any(|a| a == "--no-train");
    let optim_name = arg(args, "--optim", "fused");
    optimizer(&optim_name)?;
    // The name on the output lines (tools/gpu/summarize.py groups by it).
    let name = arg(args, "--label", &format!("burn-{backend}"));
    configure_libtorch(&backend, threads, cudnn_benchmark);
    let mut dev = device(&backend)?;
    match dtype.as_str() {
        "f32" => {}
        "bf16" => {
            if !dev.supports_dtype(FloatDType::BF16) {
                println!("bench {name} bf16: not supported by this device");
                return Ok(());
            }
            dev.configure(DeviceConfig::default().float_dtype(FloatDType::BF16))
                .map_err(|e| format!("cannot switch {backend} to bf16: {e:?}"))?;
        }
        other => return Err(format!("--dtype must be f32 or bf16, got `{other}`")),
    }
    let cfg = model_config(depth, channels)?;
    let slices = (b * s) as f64;
    let shape = format!("{b}x{s}x{channels}x{n}x{n}");
    let y: Vec<usize> = (0..b).map(|i| i % 3).collect();

    // Training step, each phase followed by a sync so that the split is honest on
    // asynchronous (CUDA) devices; on CPU backends sync is a no-op and ops run eagerly.
    let mut train_line = String::from("train not run");
    let mut cpu_train = String::new();
    let mut split_line = None;
    let mut model_for_eval = None;
    if train {
        let ad = dev.clone().autodiff();
        ad.seed(0);
        let mut model = cfg.init(&ad).map_err(|e| e.to_string())?;
        let mut optim = optimizer(&optim_name)?;
        let x = Tensor::<5>::random([b, s, channels, n, n], Distribution::Default, &ad);
        let (mut total, mut fwd, mut bwd, mut opt) = (vec![], vec![], vec![], vec![]);
        let mut cpu = [vec![], vec![], vec![], vec![]];
        let t0 = Instant::now();
        for i in 0..warmup + steps {
            let t = Instant::now();
            let c = cpu_seconds();
            let loss = weighted_cross_entropy(
                model.forward(x.clone()).map_err(|e| e.to_string())?,
                &y,
                &[],
            )
            .map_err(|e| e.to_string())?;
            sync(&ad)?;
            let (t_fwd, c_fwd) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
            let grads = loss.backward();
            sync(&ad)?;
            let (t_bwd, c_bwd) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
            let grads = GradientsParams::from_grads(grads, &model);
            model = optim.step(1e-4, model, grads);
            sync(&ad)?;
            let (t_all, c_all) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
            let _ = loss.into_scalar::<f32>();
            if i == 0 {
                println!(
                    "  {name} {dtype}: first train step {:.2} s (includes warm-up: \
                     allocator, kernels, autotuning)",
                    t0.elapsed().as_secs_f64()
                );
            }
            if i >= warmup {
                total.push(t_all);
                fwd.push(t_fwd);
                bwd.push(t_bwd - t_fwd);
                opt.push(t_all - t_bwd);
                for (v, x) in cpu
                    .iter_mut()
                    .zip([c_all, c_fwd, c_bwd - c_fwd, c_all - c_bwd])
                {
                    v.push(x);
                }
            }
        }
        let [c_all, c_fwd, c_bwd, c_opt] = cpu.map(|v| min_median(v).0 * 1e3);
        cpu_train = format!("train {c_all:.0} ms/step, ");
        let (tmin, tmed) = min_median(total);
        train_line = format!(
            "train {:.1} slices/s (min {:.1} ms/step, median {:.1})",
            slices / tmin,
            tmin * 1e3,
            tmed * 1e3
        );
        split_line = Some(format!(
            "split {name} {dtype}: COVNet-ResNet-{depth} {shape}: forward+loss {:.1} ms, \
             backward {:.1} ms, optimizer (grads to params + Adam) {:.1} ms [min of {steps}]; \
             cpu: forward+loss {c_fwd:.0} ms, backward {c_bwd:.0} ms, optimizer {c_opt:.0} ms",
            min_median(fwd).0 * 1e3,
            min_median(bwd).0 * 1e3,
            min_median(opt).0 * 1e3
        ));
        model_for_eval = Some(model.valid());
    }

    // Inference on the plain (non-autodiff) device, batch-norm running statistics.
    let eval = match model_for_eval {
        Some(m) => m,
        None => {
            dev.seed(0);
            cfg.init(&dev).map_err(|e| e.to_string())?
        }
    };
    let x = Tensor::<5>::random([b, s, channels, n, n], Distribution::Default, &dev);
    let (mut times, mut cpu) = (vec![], vec![]);
    for i in 0..warmup + steps {
        let t = Instant::now();
        let c = cpu_seconds();
        let _ = eval
            .forward(x.clone())
            .map_err(|e| e.to_string())?
            .into_data();
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64());
            cpu.push(cpu_seconds() - c);
        }
    }
    let (imin, imed) = min_median(times);
    let c_inf = min_median(cpu).0 * 1e3;
    println!(
        "bench {name} {dtype}: COVNet-ResNet-{depth} {shape}: {train_line}, inference \
         {:.1} slices/s (min {:.1} ms/batch, median {:.1}) [{steps} timed after {warmup} warm-up; \
         threads {}]; cpu: {cpu_train}inference {c_inf:.0} ms/batch",
        slices / imin,
        imin * 1e3,
        imed * 1e3,
        thread_note(&backend, threads)
    );
    if let Some(l) = split_line {
        println!("{l}");
    }
    Ok(())
}

/// CPU seconds (user + system, all threads) of this process (`ct_core::process_cpu_ns`); 0
/// where the clock is not available. On a shared machine this is the steadier measure for
/// single-threaded runs: it does not count time spent waiting for a core.
fn cpu_seconds() -> f64 {
    ct_core::process_cpu_ns().unwrap_or(0) as f64 * 1e-9
}

fn thread_note(backend: &str, threads: usize) -> String {
    if backend == "flex" {
        format!("rayon {}", rayon_threads())
    } else if threads > 0 {
        threads.to_string()
    } else {
        "backend default".into()
    }
}

/// Rayon's pool size as flex sees it (RAYON_NUM_THREADS or the core count).
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

/// ‖a - b‖₂ / ‖b‖₂: the gradient comparison (entry-wise maxima are dominated by a few
/// ill-conditioned entries).
fn rel_l2(a: &ndarray::ArrayD<f32>, b: &ndarray::ArrayD<f32>) -> f32 {
    let (mut num, mut den) = (0f64, 0f64);
    for (x, y) in a.iter().zip(b.iter()) {
        num += f64::from(x - y).powi(2);
        den += f64::from(*y).powi(2);
    }
    (num.sqrt() / den.sqrt().max(1e-30)) as f32
}

/// Largest |a - b| relative to the largest |b|.
fn rel_diff(a: &ndarray::ArrayD<f32>, b: &ndarray::ArrayD<f32>) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(b.iter())
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// `--optim fused` ([`FusedAdamConfig`]: one libtorch kernel per parameter on tch) or `burn`
/// (Burn's [`AdamConfig`]), both with the default hyper-parameters.
fn optimizer(name: &str) -> Res<ModuleOptimizer> {
    match name {
        "fused" => Ok(FusedAdamConfig::default().init()),
        "burn" => Ok(AdamConfig::new().init()),
        other => Err(format!("--optim must be fused or burn, got `{other}`")),
    }
}

/// Every parameter gradient of a module, flattened in visiting order.
struct GradCollect<'a> {
    grads: &'a GradientsParams,
    out: Vec<f32>,
}

impl burn::module::ModuleVisitor for GradCollect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.out.extend(array_from_tensor(grad).iter());
        }
    }
}

/// Inference logits, training-mode logits (batch statistics), the loss gradient with respect
/// to the input and to every parameter, and the logits after one Adam step, all on `device`,
/// from the flex-initialised `model`.
fn run_check(
    model: &CovNet,
    x: &Tensor<5>,
    y: &[usize],
    device: &Device,
) -> Res<[ndarray::ArrayD<f32>; 5]> {
    let err = |e: Error| e.to_string();
    let x_plain = x.clone().to_device(device);
    let infer = array_from_tensor(
        model
            .valid()
            .to_device(device)
            .forward(x_plain.clone())
            .map_err(err)?,
    );
    let ad = device.clone().autodiff();
    // `fork` (not `to_device`) keeps the parameters trainable on the destination.
    let trainable = model.clone().fork(&ad).train();
    let x_ad = x.clone().to_device(&ad).autodiff().require_grad();
    let logits = trainable.forward(x_ad.clone()).map_err(err)?;
    let train_logits = array_from_tensor(logits.clone().detach());
    let loss = weighted_cross_entropy(logits, y, &[]).map_err(err)?;
    let tape = loss.backward();
    let x_grad = array_from_tensor(x_ad.grad(&tape).ok_or("the input got no gradient")?);
    let grads = GradientsParams::from_grads(tape, &trainable);
    let mut collect = GradCollect {
        grads: &grads,
        out: Vec::new(),
    };
    trainable.visit(&mut collect);
    let param_grads = ndarray::ArrayD::from_shape_vec(vec![collect.out.len()], collect.out)
        .map_err(|e| e.to_string())?;
    let mut optim = AdamConfig::new().init();
    let stepped = optim.step(1e-3, trainable, grads).valid();
    let after = array_from_tensor(stepped.forward(x_plain).map_err(err)?);
    Ok([infer, train_logits, x_grad, param_grads, after])
}

/// A copy of every parameter gradient of `module` in `grads`.
struct GradCopy<'a> {
    from: &'a GradientsParams,
    to: GradientsParams,
}

impl burn::module::ModuleVisitor for GradCopy<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        if let Some(grad) = self.from.get::<D>(param.id) {
            self.to.register::<D>(param.id, grad);
        }
    }
}

fn copy_grads(module: &CovNet, grads: &GradientsParams) -> GradientsParams {
    let mut copy = GradCopy {
        from: grads,
        to: GradientsParams::new(),
    };
    module.visit(&mut copy);
    copy.to
}

/// Inference logits after two steps of [`FusedAdam`] and of Burn's Adam, on `device`, both
/// fed the same gradients (those of the fused run), so that only the optimizers differ: two
/// backward passes on a GPU differ by themselves (cuDNN's autotuned kernels are not
/// deterministic), which the training-mode batch norm of small batches amplifies.
fn optimizer_pair(
    model: &CovNet,
    x: &Tensor<5>,
    y: &[usize],
    device: &Device,
) -> Res<[ndarray::ArrayD<f32>; 2]> {
    let err = |e: Error| e.to_string();
    let ad = device.clone().autodiff();
    let mut fused = model.clone().fork(&ad).train();
    let mut plain = fused.clone();
    let mut fused_optim = FusedAdamConfig::default().init();
    let mut plain_optim = AdamConfig::new().init();
    for _ in 0..2 {
        let logits = fused.forward(x.clone().to_device(&ad)).map_err(err)?;
        let loss = weighted_cross_entropy(logits, y, &[]).map_err(err)?;
        let grads = GradientsParams::from_grads(loss.backward(), &fused);
        let same = copy_grads(&fused, &grads);
        fused = fused_optim.step(1e-3, fused, grads);
        plain = plain_optim.step(1e-3, plain, same);
    }
    let eval = |m: CovNet| -> Res<ndarray::ArrayD<f32>> {
        let logits = m.valid().forward(x.clone().to_device(device));
        Ok(array_from_tensor(logits.map_err(err)?))
    };
    Ok([eval(fused)?, eval(plain)?])
}

fn check(args: &[String]) -> Res<bool> {
    let backend = arg(args, "--backend", "tch");
    let depth = num(args, "--depth", 50)?;
    let channels = num(args, "--channels", 3)?;
    let b = num(args, "--scans", 2)?;
    let s = num(args, "--slices", 4)?;
    let n = num(args, "--size", 96)?;
    let threads = num(args, "--threads", 0)?;
    configure_libtorch(&backend, threads, true);
    // fp32 on both sides: libtorch's default lets cuDNN use TF32 tensor cores (10 mantissa
    // bits) for fp32 convolutions, which moves training-mode logits of a 50-layer network by
    // about 1e-2 through the batch statistics of small late feature maps. `--tf32 1` keeps it.
    let tf32 = num(args, "--tf32", 0)? != 0;
    #[cfg(feature = "tch")]
    if backend.starts_with("tch") {
        covnet_models::libtorch_allow_tf32(tf32, false);
    }
    let cpu = Device::flex();
    cpu.seed(3);
    let model = model_config(depth, channels)?
        .init(&cpu.clone().autodiff())
        .map_err(|e| e.to_string())?;
    let x = Tensor::<5>::random([b, s, channels, n, n], Distribution::Default, &cpu);
    let y: Vec<usize> = (0..b).map(|i| i % 3).collect();
    let t = Instant::now();
    let want = run_check(&model, &x, &y, &cpu)?;
    let t_cpu = t.elapsed().as_secs_f64();
    let dev = device(&backend)?;
    let t = Instant::now();
    let got = run_check(&model, &x, &y, &dev)?;
    let t_dev = t.elapsed().as_secs_f64();
    // fp32 (TF32 off) on both sides, sums in other orders. Logits: largest difference relative
    // to the largest logit, 2e-3 (flex vs tch-cpu: about 1e-4). Gradients: ‖Δ‖₂/‖flex‖₂ at
    // 5e-2: stock burn-tch on the CPU, with Burn's own backward formulas, already differs
    // from flex by up to 4.3e-2 for some shapes (ResNet-50, 2×4 slices of 96², training-mode
    // batch norm on batches of 8 with many all-but-dead channels), and the patched burn-tch
    // gives the same figures to two digits (docs/covnet-models.md). After one Adam step,
    // 1e-2: Adam's first step is about lr·sign(g). A wrong layer, layout or gradient formula
    // is off by O(1).
    let scale = if tf32 { 10.0 } else { 1.0 };
    let mut ok = true;
    for (what, g, w, l2, tol) in [
        ("inference logits", &got[0], &want[0], false, 2e-3),
        ("training-mode logits", &got[1], &want[1], false, 2e-3),
        ("input gradient", &got[2], &want[2], true, 5e-2),
        ("all parameter gradients", &got[3], &want[3], true, 5e-2),
        ("logits after one Adam step", &got[4], &want[4], false, 1e-2),
    ] {
        let r = match (g.len() == w.len(), l2) {
            (false, _) => f32::INFINITY,
            (true, true) => rel_l2(g, w),
            (true, false) => rel_diff(g, w),
        };
        let pass = r.is_finite() && r <= tol * scale;
        ok &= pass;
        println!(
            "check {backend}: COVNet-ResNet-{depth} {b}x{s}x{channels}x{n}x{n} {what} ({} \
             values, TF32 {}): {} = {r:.2e} -> {}",
            w.len(),
            if tf32 { "on" } else { "off" },
            if l2 {
                format!("‖{backend} - flex‖₂ / ‖flex‖₂")
            } else {
                format!("max |{backend} - flex| / max|flex|")
            },
            if pass { "OK" } else { "MISMATCH" }
        );
    }
    // FusedAdam (one libtorch kernel per parameter on tch) against Burn's Adam, on the backend
    // itself and from the same gradients: the same update in other rounding, 1e-3.
    let [fused, plain] = optimizer_pair(&model, &x, &y, &dev)?;
    let r = rel_diff(&fused, &plain);
    let pass = r.is_finite() && r <= 1e-3;
    ok &= pass;
    println!(
        "check {backend}: COVNet-ResNet-{depth} logits after two FusedAdam steps vs two Burn Adam \
         steps from the same gradients, both on {backend}: max |fused - burn| / max|burn| = \
         {r:.2e} -> {}",
        if pass { "OK" } else { "MISMATCH" }
    );
    // The step must move the model, or the third comparison proves nothing.
    let moved = rel_diff(&want[4], &want[0]);
    ok &= moved > 1e-6;
    println!(
        "check {backend}: the Adam step changed flex's logits by {moved:.2e} (relative; must \
         be > 0); flex {t_cpu:.1} s, {backend} {t_dev:.1} s (first calls)"
    );
    Ok(ok)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench(&args).map(|_| true),
        Some("check") => check(&args),
        _ => Err("usage: covnet_bench bench|check [--backend flex|tch-cpu|tch|wgpu] ...".into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
