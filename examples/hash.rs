//! Perceptual hashes of images, exactly as Python `imagehash` 4.3.2 prints them.
//!
//! ```text
//! cargo run --release --example hash -- [--size 8] IMAGE...
//! ```
//! prints one line per image: `PATH ahash=HEX phash=HEX dhash=HEX whash=HEX`, where each HEX
//! is `str(imagehash.average_hash(Image.open(PATH), size))` and so on (Pillow's grey
//! conversion and LANCZOS resize are reproduced bit for bit; JPEG files may decode slightly
//! differently from libjpeg, PNG/TIFF are exact).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use covid_ct::similarity::Hashes;

#[derive(Parser, Debug)]
#[command(about = "imagehash-exact average/perceptual/difference/wavelet hashes of images")]
struct Args {
    /// Hash size (bits per side, 2 to 64): 8 gives 64-bit hashes; whash needs a power of two.
    #[arg(long, default_value_t = 8,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=64))]
    size: usize,
    /// Images (PNG, TIFF, JPEG; grey, RGB, RGBA, 16-bit grey). One that cannot be read or
    /// hashed is reported and skipped; the exit status is 1 only when none could be hashed.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

/// Hashes one image and prints its line.
fn hash_one(path: &Path, size: usize) -> Result<()> {
    let img = image::open(path).with_context(|| format!("reading image {}", path.display()))?;
    let h = Hashes::of_image(&img, size).with_context(|| format!("hashing {}", path.display()))?;
    println!(
        "{} ahash={} phash={} dhash={} whash={}",
        path.display(),
        h.ahash,
        h.phash,
        h.dhash,
        h.whash
    );
    Ok(())
}

/// Hashes every image, going on past one that fails (reported on stderr); exit status 1 when
/// none could be hashed.
fn main() -> ExitCode {
    let args = Args::parse();
    let mut failed = 0;
    for path in &args.images {
        if let Err(e) = hash_one(path, args.size) {
            eprintln!("error: {e:#}");
            failed += 1;
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} images failed", args.images.len());
    }
    if failed == args.images.len() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
