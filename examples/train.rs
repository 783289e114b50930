//! Train a classifier of the zoo on CT scans: k-fold on subjects, checkpoints, resume,
//! `metrics.jsonl`, out-of-fold predictions and an HTML report (crate `ct-train`,
//! `docs/ct-train.md`).
//!
//! ```sh
//! # a small COVNet-ResNet-18 on the phantom cohort, 5 folds, on the CPU
//! cargo run --release --example train -- --phantoms 20 --model covnet-resnet18 --width 16 \
//!     --size 112 --slices 16 --epochs 15 --folds 5 --out runs/train-r18
//! # your data (COVID-CT-MD or class/subject folders)
//! cargo run --release --example train -- --data /data/covid-ct-md --model covnet-densenet169 \
//!     --out runs/d169
//! # continue an interrupted run
//! cargo run --release --example train -- … the same flags … --resume
//! ```
//!
//! Models: covnet-resnet18, covnet-resnet50, covnet-densenet169, covnet-csrnet, convlstm, c3d,
//! p3d.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use covid_ct::train::{
    Augment, BlockAttention, Event, LossKind, ModelKind, ModelSpec, Observer, OptimizerKind,
    Pooling, PrepareOptions, RunEnd, RunOptions, ScanDataset, Schedule, TrainConfig, ZSampling,
};
use indicatif::{ProgressBar, ProgressStyle};

#[path = "support/flags.rs"]
mod flags;

#[derive(Parser, Debug)]
#[command(
    about = "Train a zoo classifier on CT scans (k-fold on subjects)",
    after_help = "Models (--model): covnet-resnet18, covnet-resnet50, covnet-densenet169, \
                  covnet-csrnet, convlstm, c3d, p3d.\n\nThe run folder holds config.json, folds.csv, \
                  metrics.jsonl, checkpoints/, oof.csv, summary.json and report.html \
                  (docs/ct-train.md)."
)]
struct Args {
    /// A data set folder (COVID-CT-MD layout or class/subject folders).
    #[arg(long, conflicts_with = "phantoms")]
    data: Option<PathBuf>,
    /// Train on a generated phantom cohort of N scans per class instead.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=500))]
    phantoms: Option<u32>,
    /// Phantom slice size in pixels.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(32..=1024))]
    phantom_size: u32,
    /// The network.
    #[arg(long, default_value = "covnet-resnet18", value_parser = parse_model)]
    model: ModelKind,
    /// Width (ResNet/CSRNet base width, DenseNet growth rate); default: the paper's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=256))]
    width: Option<u32>,
    /// Slice pooling of COVNet models.
    #[arg(long, value_enum, default_value = "max")]
    pooling: PoolingArg,
    /// Fully convolutional head.
    #[arg(long)]
    fcn_head: bool,
    /// Attention blocks in ResNet backbones.
    #[arg(long, value_enum, default_value = "none")]
    attention: AttentionArg,
    /// Dropout before the linear head.
    #[arg(long, value_parser = flags::finite_in(0.0, 0.95))]
    dropout: Option<f64>,
    /// Input channels (3 repeats the slice, for ImageNet weights).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=3))]
    channels: u32,
    /// Examples: whole scans (COVNet) or single slices labelled from the lesion masks
    /// (phantoms), pooled per scan for the scan predictions.
    #[arg(long, value_enum, default_value = "scan")]
    level: LevelArg,
    /// Slices per scan fed to the network.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=512))]
    slices: u32,
    /// Rows = columns of the network's input.
    #[arg(long, default_value_t = 224, value_parser = clap::value_parser!(u32).range(8..=1024))]
    size: u32,
    /// Resample every scan to this many slices (default: 1 mm spacing, every 5th slice).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    fixed_slices: Option<u32>,
    /// Keep the whole volume instead of the lungs' bounding box.
    #[arg(long)]
    no_roi: bool,
    /// Thick-slab MIP over this many neighbouring slices.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=64))]
    mip: Option<u32>,
    /// Interpolation of resampling and resizing.
    #[arg(long, value_enum, default_value = "linear")]
    interpolation: InterpArg,
    /// Folds (k-fold on subjects); 1 = one stratified hold-out split.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    folds: u32,
    /// Epochs per fold.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100000))]
    epochs: u32,
    /// Scans per batch.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch: u32,
    /// Base learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = flags::finite_in(1e-8, 10.0))]
    lr: f64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value = "cosine")]
    schedule: ScheduleArg,
    /// Warm-up steps of the cosine schedule.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Loss.
    #[arg(long, value_enum, default_value = "ce")]
    loss: LossArg,
    /// Focal loss γ.
    #[arg(long, default_value_t = 2.0, value_parser = flags::finite_in(0.0, 10.0))]
    focal_gamma: f64,
    /// Optimiser.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptimArg,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9, value_parser = flags::finite_in(0.0, 0.999))]
    momentum: f64,
    /// Weight decay.
    #[arg(long, default_value_t = 0.0, value_parser = flags::finite_in(0.0, 0.5))]
    weight_decay: f64,
    /// Clip the gradient norm (0: off).
    #[arg(long, default_value_t = 5.0, value_parser = flags::finite_in(0.0, 1e6))]
    clip: f64,
    /// Stop a fold after this many epochs without a better validation loss.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10000))]
    early_stop: Option<u32>,
    /// Class-balanced sampling.
    #[arg(long)]
    balanced: bool,
    /// Turn augmentation off (all of the parts below).
    #[arg(long)]
    no_augment: bool,
    /// Augmentation: rotation range in degrees (±).
    #[arg(long, default_value_t = 10.0, value_parser = flags::finite_in(0.0, 180.0))]
    rotate: f64,
    /// Augmentation: scale range (1 ± F).
    #[arg(long, default_value_t = 0.1, value_parser = flags::finite_in(0.0, 0.5))]
    scale: f64,
    /// Augmentation: intensity gain range (1 ± F, offset ± F/2).
    #[arg(long, default_value_t = 0.1, value_parser = flags::finite_in(0.0, 0.5))]
    intensity: f64,
    /// Augmentation: no left-right flips.
    #[arg(long)]
    no_flip: bool,
    /// Augmentation: evenly spaced slices in training too (no random slice subsets).
    #[arg(long)]
    no_random_slices: bool,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 2021)]
    seed: u64,
    /// The device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// The run folder.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoints (same flags).
    #[arg(long)]
    resume: bool,
    /// Pause after this many epochs (preemptible jobs); --resume continues.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100000))]
    stop_after: Option<u32>,
    /// Cache of pre-processed scans (default: runs/.cache beside --out).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// After training, predict this data set with the folds' models (external.csv/json).
    #[arg(long, conflicts_with = "external_phantoms")]
    external: Option<PathBuf>,
    /// After training, predict a phantom cohort of N scans per class that training never saw
    /// (its own seed; see --external-realism).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    external_phantoms: Option<u32>,
    /// Realism of the external phantom cohort: v2 adds couch, clothing, arms, cut-off
    /// bodies, contrast, correlated noise (docs/ct-phantom.md).
    #[arg(long, value_enum, default_value = "v2")]
    external_realism: RealismArg,
    /// Seed of the external phantom cohort.
    #[arg(long, default_value_t = 7)]
    external_seed: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RealismArg {
    V1,
    V2,
}

fn parse_model(s: &str) -> Result<ModelKind, String> {
    ModelKind::parse(s).ok_or_else(|| {
        let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown model {s:?}; one of {}", names.join(", "))
    })
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LevelArg {
    Scan,
    Slice,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PoolingArg {
    Max,
    Mean,
    Attention,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AttentionArg {
    None,
    Se,
    Cbam,
    Eca,
    /// Residual attention (soft mask branch, one level).
    Residual,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum InterpArg {
    Nearest,
    Linear,
    Cubic,
    Lanczos3,
    Area,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ScheduleArg {
    Constant,
    Cosine,
    Step,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LossArg {
    Ce,
    Weighted,
    Focal,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OptimArg {
    Adam,
    Adamw,
    Sgd,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
    Wgpu,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config(a: &Args) -> TrainConfig {
    let mut model = ModelSpec::new(a.model);
    model.width = a.width.map_or(model.width, |w| w as usize);
    model.pooling = match a.pooling {
        PoolingArg::Max => Pooling::Max,
        PoolingArg::Mean => Pooling::Mean,
        PoolingArg::Attention => Pooling::Attention,
    };
    model.fcn_head = a.fcn_head;
    model.attention = match a.attention {
        AttentionArg::None => BlockAttention::None,
        AttentionArg::Se => BlockAttention::Se,
        AttentionArg::Cbam => BlockAttention::Cbam,
        AttentionArg::Eca => BlockAttention::Eca,
        AttentionArg::Residual => BlockAttention::Residual,
    };
    model.dropout = a.dropout;
    model.in_channels = a.channels as usize;
    let mut c = TrainConfig::new(model);
    c.recipe.size = a.size as usize;
    if let Some(s) = a.fixed_slices {
        c.recipe.z = ZSampling::Fixed { slices: s as usize };
    }
    if a.no_roi {
        c.recipe.lung_roi = covid_ct::train::LungRoi::Whole;
    }
    c.recipe.mip_slab = a.mip.map(|k| k as usize);
    c.recipe.interpolation = match a.interpolation {
        InterpArg::Nearest => covid_ct::enhance::Interpolation::Nearest,
        InterpArg::Linear => covid_ct::enhance::Interpolation::Linear,
        InterpArg::Cubic => covid_ct::enhance::Interpolation::Cubic,
        InterpArg::Lanczos3 => covid_ct::enhance::Interpolation::Lanczos3,
        InterpArg::Area => covid_ct::enhance::Interpolation::Area,
    };
    c.slices = a.slices as usize;
    c.level = match a.level {
        LevelArg::Scan => covid_ct::train::Level::Scan,
        LevelArg::Slice => covid_ct::train::Level::Slice,
    };
    c.augment = if a.no_augment {
        Augment::none()
    } else {
        Augment::default()
    };
    c.loss = match a.loss {
        LossArg::Ce => LossKind::CrossEntropy,
        LossArg::Weighted => LossKind::WeightedCrossEntropy,
        LossArg::Focal => LossKind::Focal {
            gamma: a.focal_gamma as f32,
        },
    };
    let weight_decay = a.weight_decay as f32;
    c.optimizer = match a.optimizer {
        OptimArg::Adam => OptimizerKind::Adam { weight_decay },
        OptimArg::Adamw => OptimizerKind::AdamW { weight_decay },
        OptimArg::Sgd => OptimizerKind::Sgd {
            momentum: a.momentum,
            weight_decay,
        },
    };
    c.lr = a.lr;
    c.schedule = match a.schedule {
        ScheduleArg::Constant => Schedule::Constant,
        ScheduleArg::Cosine => Schedule::Cosine {
            warmup_steps: a.warmup,
        },
        ScheduleArg::Step => Schedule::Step {
            every_epochs: (a.epochs as usize / 3).max(1),
            gamma: 0.1,
        },
    };
    c.epochs = a.epochs as usize;
    c.batch_size = a.batch as usize;
    c.grad_clip = (a.clip > 0.0).then_some(a.clip as f32);
    c.early_stop = a.early_stop.map(|p| p as usize);
    c.balanced = a.balanced;
    c.folds = a.folds as usize;
    c.seed = a.seed;
    c
}

fn device(d: DeviceArg) -> Result<covid_ct::models::Device> {
    match d {
        DeviceArg::Cpu => Ok(covid_ct::models::cpu_device()),
        #[cfg(feature = "train-tch")]
        DeviceArg::Cuda => Ok(covid_ct::models::Device::libtorch_cuda(0)),
        #[cfg(feature = "train-wgpu")]
        DeviceArg::Wgpu => Ok(covid_ct::models::Device::wgpu(
            covid_ct::models::burn::tensor::DeviceKind::DefaultDevice,
        )),
        #[allow(unreachable_patterns)]
        other => bail!(
            "--device {other:?} needs a build with the feature train-{} (docs/ct-train.md)",
            if matches!(other, DeviceArg::Cuda) {
                "tch"
            } else {
                "wgpu"
            }
        ),
    }
}

fn bar(len: u64, msg: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(msg);
    pb
}

/// Epoch lines on stdout; a progress bar of the epoch's steps on stderr.
struct Progress {
    steps: ProgressBar,
}

impl Observer for Progress {
    fn event(&self, event: &Event) {
        match event {
            Event::Step { step, loss, .. } => {
                self.steps.set_length(step.1 as u64);
                self.steps.set_position(step.0 as u64);
                self.steps.set_message(format!("loss {loss:.3}"));
            }
            Event::Epoch {
                fold,
                epoch,
                train,
                val,
            } => {
                self.steps.suspend(|| {
                    println!(
                        "fold {fold} epoch {:>3}/{}  train loss {:.4} acc {:.3}  val loss {:.4} acc {:.3}",
                        epoch.0, epoch.1, train.0, train.1, val.0, val.1
                    )
                });
                self.steps.reset();
            }
        }
    }
}

fn run(a: Args) -> Result<()> {
    let cfg = config(&a);
    cfg.validate()?;
    let device = device(a.device)?;
    let cache = a.cache.clone().unwrap_or_else(|| {
        a.out
            .parent()
            .map_or_else(|| PathBuf::from(".cache"), |p| p.join(".cache"))
    });
    let prep = PrepareOptions {
        cache: Some(&cache),
    };
    let pb = bar(0, "prepare");
    let progress = |done: usize, total: usize| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    };
    let data = match (&a.data, a.phantoms) {
        (Some(dir), _) => {
            let ds = covid_ct::io::dataset::Dataset::open(dir)
                .with_context(|| format!("opening data set {}", dir.display()))?;
            ScanDataset::from_dataset(&ds, &cfg.recipe, &prep, &progress)?
        }
        (None, Some(n)) => {
            let cohort = covid_ct::phantom::CohortConfig {
                n_per_class: n as usize,
                size: a.phantom_size as usize,
                ..Default::default()
            };
            ScanDataset::from_phantoms(&cohort, &cfg.recipe, &prep, &progress)?
        }
        (None, None) => bail!("give --data DIR or --phantoms N"),
    };
    pb.finish_and_clear();
    println!(
        "{} scans prepared ({} from the cache {}), {} skipped",
        data.items().len(),
        data.cache_hits(),
        cache.display(),
        data.skipped().len()
    );
    for s in data.skipped() {
        println!("  skipped {}: {}", s.id, s.reason);
    }
    let opts = RunOptions {
        out: a.out.clone(),
        resume: a.resume,
        stop_after: a.stop_after.map(|n| n as usize),
        device,
    };
    let observer = Progress {
        steps: bar(0, "steps"),
    };
    let end = covid_ct::train::train_run(&data, &cfg, &opts, &observer)?;
    observer.steps.finish_and_clear();
    let done = matches!(end, RunEnd::Done(_));
    match end {
        RunEnd::Done(s) => {
            for f in &s.folds {
                println!(
                    "fold {}: best epoch {} (val loss {:.4}), accuracy {:.3} on {} scans",
                    f.fold, f.best_epoch, f.best_val_loss, f.accuracy, f.n_val
                );
            }
            println!(
                "out-of-fold accuracy {:.4} over {} of {} labelled scans; report {}",
                s.oof_accuracy,
                s.n_predicted,
                s.n_scans,
                a.out.join("report.html").display()
            );
        }
        RunEnd::Paused { fold, epochs } => println!(
            "paused in fold {fold} after {epochs} epochs; continue with the same flags and --resume"
        ),
    }
    if done {
        external(&a, &cfg, &prep, &opts.device)?;
    }
    Ok(())
}

/// The folds' models on scans the run never saw.
fn external(
    a: &Args,
    cfg: &TrainConfig,
    prep: &PrepareOptions<'_>,
    device: &covid_ct::models::Device,
) -> Result<()> {
    let (data, source) = match (&a.external, a.external_phantoms) {
        (Some(dir), _) => {
            let ds = covid_ct::io::dataset::Dataset::open(dir)
                .with_context(|| format!("opening external data set {}", dir.display()))?;
            let data = ScanDataset::from_dataset(&ds, &cfg.recipe, prep, &|_, _| {})?;
            (data, dir.display().to_string())
        }
        (None, Some(n)) => {
            let realism = match a.external_realism {
                RealismArg::V1 => covid_ct::phantom::Realism::V1,
                RealismArg::V2 => covid_ct::phantom::Realism::V2,
            };
            let cohort = covid_ct::phantom::CohortConfig {
                n_per_class: n as usize,
                size: a.phantom_size as usize,
                seed: a.external_seed,
                realism,
                ..Default::default()
            };
            let data = ScanDataset::from_phantoms(&cohort, &cfg.recipe, prep, &|_, _| {})?;
            let source = format!(
                "phantoms {n} per class, realism {:?}, seed {}",
                a.external_realism, a.external_seed
            );
            (data, source)
        }
        (None, None) => return Ok(()),
    };
    let s = covid_ct::train::evaluate_external(&a.out, cfg, &data, &source, device)?;
    println!(
        "external ({source}): accuracy {:.4} on {} labelled scans ({} skipped), vote of {} fold models",
        s.accuracy, s.n_labelled, s.skipped, s.folds
    );
    for (g, n, acc) in &s.by_contrast {
        println!("  {g} contrast: {acc:.4} on {n}");
    }
    Ok(())
}
