//! Runs a torchvision model from a PyTorch `state_dict` on Burn and writes its logits.
//!
//! ```text
//! cargo run --release --example import_torch -- --arch resnet18|resnet50|densenet169|vgg16 \
//!     --weights FILE(.pt|.pth|.safetensors) --input X.npy --out LOGITS.npy
//! ```
//!
//! X is float32 N×C×H×W (C = 3 for torchvision weights). The architecture's widths, input
//! channels and class count are read from the weight file, so reduced-width models saved by
//! `tools/covnet-models/make_goldens.py` work as well as torchvision's own. Runs on the CPU
//! (flex backend).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use covid_ct::models::ndarray_npy::{read_npy, write_npy};
use covid_ct::models::{
    DenseNetConfig, Device, ResNetConfig, ResNetDepth, Vgg16Config, array_from_tensor,
    load_torch_weights, tensor_from_array, torch_shapes,
};
use ndarray::{Array2, Array4, Ix2};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Arch {
    Resnet18,
    Resnet50,
    Densenet169,
    Vgg16,
}

/// Run a torchvision model's weights on Burn.
#[derive(Debug, Parser)]
struct Args {
    /// Architecture of the weights.
    #[arg(long, value_enum)]
    arch: Arch,
    /// PyTorch state_dict: torch.save pickle (.pt/.pth) or .safetensors.
    #[arg(long)]
    weights: PathBuf,
    /// Input batch, float32 N×C×H×W .npy.
    #[arg(long)]
    input: PathBuf,
    /// Output logits, float32 N×classes .npy.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = Device::flex();
    let x: Array4<f32> = read_npy(&args.input)
        .with_context(|| format!("reading {} (float32 N×C×H×W .npy)", args.input.display()))?;
    // A NaN or infinite pixel would make every logit of its image NaN without an error.
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: value {} at flat index {i} is not finite (NaN or infinite); the logits would be NaN",
            args.input.display(),
            x.iter().nth(i).copied().unwrap_or(f32::NAN)
        );
    }
    let x = tensor_from_array::<4, _, _>(&x, &device)?;
    let shapes = torch_shapes(&args.weights)?;
    let start = std::time::Instant::now();
    let logits = match args.arch {
        Arch::Resnet18 | Arch::Resnet50 => {
            let depth = if matches!(args.arch, Arch::Resnet18) {
                ResNetDepth::R18
            } else {
                ResNetDepth::R50
            };
            let cfg = ResNetConfig::from_torch_shapes(&shapes, depth)?;
            load_torch_weights(cfg.init(&device)?, &args.weights)?.forward(x)?
        }
        Arch::Densenet169 => {
            let cfg = DenseNetConfig::from_torch_shapes(&shapes)?;
            load_torch_weights(cfg.init(&device)?, &args.weights)?.forward(x)?
        }
        Arch::Vgg16 => {
            let cfg = Vgg16Config::from_torch_shapes(&shapes)?;
            load_torch_weights(cfg.init(&device)?, &args.weights)?.forward(x)?
        }
    };
    let logits: Array2<f32> = array_from_tensor(logits).into_dimensionality::<Ix2>()?;
    write_npy(&args.out, &logits).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "{:?}: logits {:?} written to {} ({:.2} s)",
        args.arch,
        logits.dim(),
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
