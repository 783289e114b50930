//! SSIM, PSNR and MSE of two images, as scikit-image 0.26 computes them.
//!
//! ```text
//! cargo run --release --example similarity -- A B [--gaussian] [--data-range R]
//! ```
//! prints `ssim=F psnr=F mse=F` with every digit (Rust's shortest round-trip form, the same
//! as Python's `repr`). Default: `structural_similarity(a, b)` (7×7 uniform window, sample
//! covariance); `--gaussian`: `gaussian_weights=True, sigma=1.5,
//! use_sample_covariance=False`. 8-bit grey images are compared as uint8 (data range 255),
//! 16-bit grey as uint16 (65535, as scikit-image does from the dtype: pass `--data-range`
//! for CT); colour images are first converted to grey as Pillow's `convert('L')` does.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use covid_ct::similarity::{SsimParams, mse, psnr, ssim, to_grey};
use image::DynamicImage;
use ndarray::Array2;

#[derive(Parser, Debug)]
#[command(about = "scikit-image-exact SSIM / PSNR / MSE of two images")]
struct Args {
    /// First image (the reference for PSNR).
    a: PathBuf,
    /// Second image.
    b: PathBuf,
    /// Wang et al.'s SSIM: Gaussian window σ = 1.5, population covariance.
    #[arg(long)]
    gaussian: bool,
    /// Data range for SSIM and PSNR (default: from the pixel type).
    #[arg(long)]
    data_range: Option<f64>,
}

enum Img {
    U8(Array2<u8>),
    U16(Array2<u16>),
}

fn load(path: &PathBuf) -> Result<Img> {
    let img = image::open(path).with_context(|| format!("reading image {}", path.display()))?;
    Ok(match img {
        DynamicImage::ImageLuma16(b) => {
            let (w, h) = (b.width() as usize, b.height() as usize);
            Img::U16(Array2::from_shape_vec((h, w), b.into_raw())?)
        }
        other => Img::U8(
            to_grey(&other).with_context(|| format!("converting {} to grey", path.display()))?,
        ),
    })
}

fn run(args: &Args) -> Result<()> {
    let mut p = if args.gaussian {
        SsimParams::gaussian()
    } else {
        SsimParams::default()
    };
    p.data_range = args.data_range;
    let (s, ps, m) = match (load(&args.a)?, load(&args.b)?) {
        (Img::U8(a), Img::U8(b)) => (
            ssim(a.view(), b.view(), &p)?,
            psnr(a.view(), b.view(), args.data_range)?,
            mse(a.view(), b.view())?,
        ),
        (Img::U16(a), Img::U16(b)) => (
            ssim(a.view(), b.view(), &p)?,
            psnr(a.view(), b.view(), args.data_range)?,
            mse(a.view(), b.view())?,
        ),
        _ => bail!(
            "{} and {} have different bit depths (8 vs 16 bits)",
            args.a.display(),
            args.b.display()
        ),
    };
    println!("ssim={s:?} psnr={ps:?} mse={m:?}");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
