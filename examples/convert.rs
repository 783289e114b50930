//! Converts any volume ct-io reads into `.npy` (int16 HU, `(z, y, x)`, slice 0 at the smallest
//! ImagePositionPatient · (row × column)) or `.nii` / `.nii.gz`; an output without one of those
//! extensions is a folder that receives an uncompressed DICOM series.
//!
//! ```text
//! cargo run --release --example convert -- INPUT OUTPUT
//! cargo run --release --example convert -- crates/ct-io/tests/data/axial_rle /tmp/axial.npy
//! ```
//! INPUT: a DICOM folder (the largest series), one DICOM file (its series), `.nii`,
//! `.nii.gz`, `.npy` or a PNG/TIFF/JPEG slice folder. Prints `shape=ZxYxX spacing=Z,Y,X` (mm);
//! reader warnings go to stderr.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

/// Convert a CT volume between DICOM, NIfTI, .npy and slice folders.
#[derive(Parser, Debug)]
#[command(name = "convert")]
struct Args {
    /// DICOM folder or file, .nii/.nii.gz, .npy, or slice-image folder.
    input: PathBuf,
    /// Output .npy, .nii, .nii.gz, or a folder for a DICOM series (created, or empty: a
    /// folder holding files is refused, since old slices would join the new series, unless
    /// --overwrite).
    output: PathBuf,
    /// Clear a DICOM output folder that holds files first.
    #[arg(long)]
    overwrite: bool,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let scan = covid_ct::io::read_volume(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    for w in &scan.meta.warnings {
        eprintln!("warning: {w}");
    }
    let name = args.output.to_string_lossy().to_lowercase();
    let is_file = [".npy", ".nii", ".nii.gz"]
        .iter()
        .any(|e| name.ends_with(e));
    if !is_file && args.output.extension().is_none() {
        covid_ct::io::output::prepare_output_dir(&args.output, args.overwrite)?;
    }
    covid_ct::io::write_volume(&args.output, &scan)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let [z, y, x] = scan.volume.shape();
    let s = scan.volume.spacing();
    println!("shape={z}x{y}x{x} spacing={},{},{}", s.z, s.y, s.x);
    Ok(())
}
