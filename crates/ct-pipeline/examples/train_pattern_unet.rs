//! Trains the lesion-pattern U-Net (`ct_pipeline::lesion_patterns`) on its own phantom cohort and writes
//! its weights (safetensors), the shipped `crates/ct-pipeline/models/lesion_pattern_unet.safetensors`.
//!
//! ```sh
//! # on a GPU (libtorch CUDA; build with the tch feature, see docs/pipeline.md):
//! cargo run --release -p ct-pipeline --features tch --example train_pattern_unet -- \
//!     --device cuda --per-class 150 --seconds 360 --out lesion_pattern_unet.safetensors
//! # on the CPU (Burn's flex backend; slow, for a smoke test):
//! cargo run --release -p ct-pipeline --example train_pattern_unet -- \
//!     --device flex --per-class 4 --seconds 60 --batch 8 --out /tmp/p.safetensors
//! # fine-tuning the shipped weights, a quarter of each batch from the subtle positives'
//! # lesion slices (run the result with `pipeline --pattern-weights PATH`):
//! cargo run --release -p ct-pipeline --example train_pattern_unet -- --device flex \
//!     --per-class 100 --seconds 1200 --batch 8 --lr 3e-4 --lesion-weight 10 \
//!     --init shipped --subtle-share 0.25 --out /tmp/ft.safetensors
//! ```
//!
//! The cohort is the pipeline's default phantom recipe (256², 40–120 slices, half low
//! contrast, 20 % subtle positives, no injected slices) with seed 2021 +
//! `PATTERN_SEED_OFFSET`; a tenth of its scans (every tenth) are held out and scored at the
//! end (per-class Dice at half resolution, and how the lesion pixels of CAP and COVID-19 scans
//! are called). Training runs for `--seconds` of wall time (Adam; the learning rate decays
//! with a cosine from `--lr` to a twentieth of it over that time), each batch made of
//! `--batch` whole half-resolution slices, half of them drawn from slices with lesions,
//! mirrored left–right at random (with `--subtle-share F`, a share F of them first drawn from
//! the lesion slices of the subtle positives). `--init shipped|PATH` starts from saved
//! weights instead of random ones.

use std::process::ExitCode;
use std::time::Instant;

use covnet_models::burn::optim::GradientsParams;
use covnet_models::burn::prelude::*;
use covnet_models::burn::store::{ModuleSnapshot, SafetensorsStore};
use covnet_models::{Device, FusedAdamConfig};
use ct_core::Label;
use ct_phantom::{CohortConfig, generate_scan};
use ct_pipeline::lesion_patterns::{
    Crop, PATTERN_SEED_OFFSET, PatternNet, downsample, downsample_factor, input_batch,
    pattern_config, pattern_loss, pattern_target, target_batch,
};
use ndarray::{Array3, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

type Res<T> = std::result::Result<T, String>;

struct Args {
    device: String,
    per_class: usize,
    seconds: f64,
    batch: usize,
    lr: f64,
    seed: u64,
    size: usize,
    out: String,
    weights: [f32; 3],
    init: Option<String>,
    subtle_share: f64,
}

fn parse() -> Res<Args> {
    let mut a = Args {
        device: "flex".into(),
        per_class: 4,
        seconds: 60.0,
        batch: 16,
        lr: 2e-3,
        seed: 2021,
        size: 256,
        out: "lesion_pattern_unet.safetensors".into(),
        weights: [1.0, 3.0, 3.0],
        init: None,
        subtle_share: 0.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
        let num = |s: String| s.parse::<f64>().map_err(|e| format!("{k}: {e}"));
        match k.as_str() {
            "--device" => a.device = v()?,
            "--per-class" => a.per_class = num(v()?)? as usize,
            "--seconds" => a.seconds = num(v()?)?,
            "--batch" => a.batch = num(v()?)? as usize,
            "--lr" => a.lr = num(v()?)?,
            "--seed" => a.seed = num(v()?)? as u64,
            "--size" => a.size = num(v()?)? as usize,
            "--out" => a.out = v()?,
            "--init" => a.init = Some(v()?),
            "--subtle-share" => a.subtle_share = num(v()?)?,
            "--lesion-weight" => {
                let w = num(v()?)? as f32;
                a.weights = [1.0, w, w];
            }
            "-h" | "--help" => {
                println!(
                    "train_pattern_unet [--device flex|tch-cpu|cuda] [--per-class N] [--seconds S] \
                     [--batch B] [--lr LR] [--seed S] [--size 256] [--lesion-weight W] [--out PATH] \
                     [--init shipped|PATH] [--subtle-share F]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    if a.per_class == 0 || a.batch == 0 || a.size < 32 || !a.size.is_multiple_of(16) {
        return Err("--per-class and --batch must be ≥ 1, --size a multiple of 16 ≥ 32".into());
    }
    if !(0.0..=1.0).contains(&a.subtle_share) {
        return Err("--subtle-share must be in [0, 1]".into());
    }
    Ok(a)
}

// burn-tch is marked deprecated in Burn 0.22; it is the backend that runs libtorch's kernels.
#[allow(deprecated)]
fn device(name: &str) -> Res<Device> {
    Ok(match name {
        "flex" => Device::flex(),
        #[cfg(feature = "tch")]
        "tch-cpu" => Device::libtorch(),
        #[cfg(feature = "tch")]
        "cuda" => {
            covnet_models::libtorch_cudnn_benchmark(true);
            covnet_models::libtorch_allow_tf32(true, true);
            Device::libtorch_cuda(0)
        }
        other => {
            return Err(format!(
                "--device {other}: this build knows flex{}",
                if cfg!(feature = "tch") {
                    ", tch-cpu and cuda"
                } else {
                    " (build with --features tch for tch-cpu and cuda)"
                }
            ));
        }
    })
}

/// One training scan at half resolution.
struct Item {
    id: String,
    label: Label,
    subtle: bool,
    vol: Array3<f32>,
    target: Array3<u8>,
    lung_slices: Vec<usize>,
    lesion_slices: Vec<usize>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Res<()> {
    let a = parse()?;
    let dev = device(&a.device)?;
    let t0 = Instant::now();
    let pc = CohortConfig {
        n_per_class: a.per_class,
        seed: a.seed.wrapping_add(PATTERN_SEED_OFFSET),
        size: a.size,
        slices: (40, 120),
        inject_fraction: 0.0,
        ..CohortConfig::default()
    };
    pc.validate().map_err(|e| e.to_string())?;
    let items: Vec<Item> = (0..pc.len())
        .into_par_iter()
        .map(|i| {
            let ps = generate_scan(&pc, i).map_err(|e| e.to_string())?;
            let sp = ps.scan.volume.spacing();
            let f = downsample_factor(0.5 * (sp.y + sp.x));
            let vol = downsample(ps.scan.volume.view(), f);
            let target = pattern_target(ps.truth.lesion_mask.view(), ps.truth.label, f);
            let lung_slices = (0..vol.dim().0)
                .filter(|&z| {
                    ps.truth
                        .lung_mask
                        .index_axis(Axis(0), z)
                        .iter()
                        .any(|&v| v != 0)
                })
                .collect();
            let lesion_slices = (0..vol.dim().0)
                .filter(|&z| target.index_axis(Axis(0), z).iter().any(|&v| v != 0))
                .collect();
            Ok(Item {
                id: ps.scan.id.clone(),
                label: ps.truth.label,
                subtle: ps.truth.subtle,
                vol,
                target,
                lung_slices,
                lesion_slices,
            })
        })
        .collect::<Res<_>>()?;
    let val: Vec<&Item> = items.iter().skip(9).step_by(10).collect();
    let train: Vec<&Item> = items
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 != 9)
        .map(|(_, it)| it)
        .collect();
    if train.is_empty() {
        return Err("no training scans".into());
    }
    let mut counts = [0u64; 3];
    for it in &train {
        for &v in &it.target {
            counts[v as usize] += 1;
        }
    }
    println!(
        "cohort: {} scans ({} training, {} held out), {:.1} s; training pixels by class {:?}",
        items.len(),
        train.len(),
        val.len(),
        t0.elapsed().as_secs_f64(),
        counts
    );
    let (_, hy, hx) = train[0].vol.dim();
    let crop = Crop {
        y0: 0,
        x0: 0,
        h: hy / 8 * 8,
        w: hx / 8 * 8,
    };

    let ad = dev.clone().autodiff();
    ad.seed(a.seed);
    let mut model = pattern_config().init(&ad).map_err(|e| e.to_string())?;
    if let Some(init) = &a.init {
        // Fine-tuning: start from saved weights (`shipped`: the crate's own).
        let bytes = if init == "shipped" {
            PatternNet::shipped()
                .and_then(|n| n.to_bytes())
                .map_err(|e| e.to_string())?
        } else {
            std::fs::read(init).map_err(|e| format!("{init}: {e}"))?
        };
        let mut store = SafetensorsStore::from_bytes(Some(bytes));
        let res = model.load_from(&mut store).map_err(|e| e.to_string())?;
        if !res.missing.is_empty() || !res.errors.is_empty() {
            return Err(format!(
                "{init}: missing {:?}, errors {:?}",
                res.missing, res.errors
            ));
        }
        println!("initialised from {init}");
    }
    // Lesion slices of the subtle positives (one or two faint foci), for `--subtle-share`.
    let subtle: Vec<(&Item, usize)> = train
        .iter()
        .filter(|it| it.subtle)
        .flat_map(|it| it.lesion_slices.iter().map(move |&z| (*it, z)))
        .collect();
    println!("{} lesion slices of subtle positives", subtle.len());
    let mut optim = FusedAdamConfig::default().init();
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let t_train = Instant::now();
    let mut step = 0usize;
    let mut window = Vec::new();
    let mut first = None;
    let mut last = 0.0;
    loop {
        let frac = t_train.elapsed().as_secs_f64() / a.seconds;
        if frac >= 1.0 {
            break;
        }
        let lr = a.lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos()));
        // A batch: per item a random training scan and slice (half from lesion slices).
        let mut x = Vec::with_capacity(a.batch * 3 * crop.h * crop.w);
        let mut y = Vec::with_capacity(a.batch * 3 * crop.h * crop.w);
        for _ in 0..a.batch {
            if !subtle.is_empty() && rng.random_bool(a.subtle_share) {
                let (it, z) = subtle[rng.random_range(0..subtle.len())];
                let flip = [rng.random_bool(0.5)];
                x.extend(input_batch(&it.vol, &[z], crop, &flip));
                y.extend(target_batch(&it.target, &[z], crop, &flip));
                continue;
            }
            let it = train[rng.random_range(0..train.len())];
            let pool = if !it.lesion_slices.is_empty() && rng.random_bool(0.5) {
                &it.lesion_slices
            } else {
                &it.lung_slices
            };
            let z = pool[rng.random_range(0..pool.len())];
            let flip = [rng.random_bool(0.5)];
            x.extend(input_batch(&it.vol, &[z], crop, &flip));
            y.extend(target_batch(&it.target, &[z], crop, &flip));
        }
        let shape = [a.batch, 3, crop.h, crop.w];
        let xt = Tensor::<1>::from_floats(x.as_slice(), &ad).reshape(shape);
        let yt = Tensor::<1>::from_floats(y.as_slice(), &ad).reshape(shape);
        let logits = model.forward(xt).map_err(|e| e.to_string())?;
        let loss = pattern_loss(logits, yt, a.weights);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        step += 1;
        if step.is_multiple_of(25) || step == 1 {
            let l = loss.into_scalar::<f32>();
            if first.is_none() {
                first = Some(l);
            }
            window.push(l);
            if window.len() == 8 || step == 1 {
                let m = window.iter().sum::<f32>() / window.len() as f32;
                last = m;
                println!(
                    "step {step:6}  {:6.1} s  lr {lr:.2e}  loss {m:.4}",
                    t_train.elapsed().as_secs_f64()
                );
                window.clear();
            }
        }
    }
    println!(
        "trained {step} steps of {} slices in {:.1} s ({:.0} slices/s); loss {:.4} -> {:.4}",
        a.batch,
        t_train.elapsed().as_secs_f64(),
        (step * a.batch) as f64 / t_train.elapsed().as_secs_f64(),
        first.unwrap_or(f32::NAN),
        last
    );

    // Held-out scans: Dice per class at half resolution, and how lesion pixels are called.
    let net = PatternNet::from_net(model.valid(), &dev);
    let mut inter = [0f64; 3];
    let mut pred_n = [0f64; 3];
    let mut true_n = [0f64; 3];
    let mut called = [[0f64; 3]; 3];
    for it in &val {
        let zs: Vec<usize> = it.lung_slices.clone();
        let p = net
            .predict(&it.vol, &zs, crop, 16)
            .map_err(|e| e.to_string())?;
        let mut scan_mass = [0f64; 3];
        for (k, &z) in zs.iter().enumerate() {
            for yy in 0..crop.h {
                for xx in 0..crop.w {
                    let t = it.target[[z, yy, xx]] as usize;
                    let probs = [p[[k, 0, yy, xx]], p[[k, 1, yy, xx]], p[[k, 2, yy, xx]]];
                    let c = (0..3)
                        .max_by(|&i, &j| probs[i].total_cmp(&probs[j]))
                        .unwrap_or(0);
                    pred_n[c] += 1.0;
                    true_n[t] += 1.0;
                    if c == t {
                        inter[t] += 1.0;
                    }
                    called[t][c] += 1.0;
                    scan_mass[1] += f64::from(probs[1]);
                    scan_mass[2] += f64::from(probs[2]);
                }
            }
        }
        println!(
            "  held out {} ({:?}): CAP-like mass {:.0} px, COVID-like mass {:.0} px",
            it.id, it.label, scan_mass[1], scan_mass[2]
        );
    }
    for c in 0..3 {
        println!(
            "held-out Dice {}: {:.3}",
            ct_pipeline::lesion_patterns::PATTERN_CLASSES[c],
            2.0 * inter[c] / (pred_n[c] + true_n[c]).max(1.0)
        );
    }
    println!(
        "held-out lesion pixels of CAP scans called background/CAP/COVID: {:?}",
        called[1].map(|v| v as u64)
    );
    println!(
        "held-out lesion pixels of COVID-19 scans called background/CAP/COVID: {:?}",
        called[2].map(|v| v as u64)
    );
    let bytes = net.to_bytes().map_err(|e| e.to_string())?;
    std::fs::write(&a.out, &bytes).map_err(|e| format!("{}: {e}", a.out))?;
    println!(
        "wrote {} ({} bytes); total {:.1} s",
        a.out,
        bytes.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
