//! Perceptual hashes of images, exactly as Python `imagehash` 4.3.2 prints them.
//!
//! ```text
//! cargo run --release --example hash -- [--size 8] IMAGE...
//! ```
//! prints one line per image: `PATH ahash=HEX phash=HEX dhash=HEX whash=HEX`, where each HEX
//! is `str(imagehash.average_hash(Image.open(PATH), size))` and so on (Pillow's grey
//! conversion and LANCZOS resize are reproduced bit for bit; JPEG files may decode slightly
//! differently from libjpeg, PNG/TIFF are exact).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use covid_ct::similarity::Hashes;

#[derive(Parser, Debug)]
#[command(about = "imagehash-exact average/perceptual/difference/wavelet hashes of images")]
struct Args {
    /// Hash size (bits per side): 8 gives 64-bit hashes; whash needs a power of two.
    #[arg(long, default_value_t = 8)]
    size: usize,
    /// Images (PNG, TIFF, JPEG; grey, RGB, RGBA, 16-bit grey).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

fn run(args: &Args) -> Result<()> {
    for path in &args.images {
        let img = image::open(path).with_context(|| format!("reading image {}", path.display()))?;
        let h = Hashes::of_image(&img, args.size)
            .with_context(|| format!("hashing {}", path.display()))?;
        println!(
            "{} ahash={} phash={} dhash={} whash={}",
            path.display(),
            h.ahash,
            h.phash,
            h.dhash,
            h.whash
        );
    }
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
