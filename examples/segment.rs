//! Lung segmentation of a CT volume with the seed's morphology recipe.
//!
//! ```text
//! cargo run --release --example segment -- INPUT OUTPUT [--overlay PNG]
//! ```
//! INPUT is anything `ct_io::read_volume` reads (DICOM folder, NIfTI, .npy, slice folder);
//! OUTPUT is `.npy` or `.nii`/`.nii.gz` (u8 mask, 0/1). `--overlay` writes a 4×4 montage of
//! slices through the lungs (lung window) with the mask outline in red.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use covid_ct::core::{Volume, Window};
use covid_ct::morph::lung::{LungParams, segment};
use image::{Rgb, RgbImage};

#[derive(Parser, Debug)]
#[command(about = "Lung mask of a CT volume (threshold, closing, opening, components)")]
struct Args {
    /// Input volume (DICOM folder, .nii/.nii.gz, .npy, slice folder).
    input: PathBuf,
    /// Output mask (.npy or .nii/.nii.gz, u8 0/1).
    output: PathBuf,
    /// Writes a montage of slices with the mask outline.
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// Lower HU bound (exclusive).
    #[arg(long, default_value_t = LungParams::default().lung_min, allow_negative_numbers = true)]
    lung_min: i16,
    /// Upper HU bound (exclusive).
    #[arg(long, default_value_t = LungParams::default().lung_max, allow_negative_numbers = true)]
    lung_max: i16,
    /// In-plane margin dilation (voxels).
    #[arg(long, default_value_t = 0)]
    margin: usize,
}

fn overlay(vol: &Volume<i16>, mask: &Volume<u8>, z0: usize, z1: usize, path: &Path) -> Result<()> {
    let [_, ny, nx] = vol.shape();
    let tiles = 16.min(z1 - z0 + 1);
    let cols = 4usize;
    let rows = tiles.div_ceil(cols);
    let mut img = RgbImage::new((cols * nx) as u32, (rows * ny) as u32);
    for t in 0..tiles {
        let z = if tiles == 1 {
            z0
        } else {
            z0 + t * (z1 - z0) / (tiles - 1)
        };
        let (ox, oy) = ((t % cols) * nx, (t / cols) * ny);
        let m = mask.slice(z)?;
        let v = vol.slice(z)?;
        for y in 0..ny {
            for x in 0..nx {
                let g = Window::LUNG.apply(v[[y, x]]);
                let inside = m[[y, x]] != 0;
                let edge = inside
                    && (y == 0
                        || x == 0
                        || y + 1 == ny
                        || x + 1 == nx
                        || m[[y - 1, x]] == 0
                        || m[[y + 1, x]] == 0
                        || m[[y, x - 1]] == 0
                        || m[[y, x + 1]] == 0);
                let px = if edge {
                    Rgb([255, 0, 0])
                } else {
                    Rgb([g, g, g])
                };
                img.put_pixel((ox + x) as u32, (oy + y) as u32, px);
            }
        }
    }
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

fn run(a: &Args) -> Result<()> {
    let scan = covid_ct::io::read_volume(&a.input)
        .with_context(|| format!("reading {}", a.input.display()))?;
    let p = LungParams {
        lung_min: a.lung_min,
        lung_max: a.lung_max,
        margin: a.margin,
        ..LungParams::default()
    };
    let t = std::time::Instant::now();
    let seg = segment(&scan.volume, &p)?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let name = a.output.to_string_lossy().to_lowercase();
    if name.ends_with(".npy") {
        covid_ct::io::npy::write(&a.output, seg.mask.view())?;
    } else if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        covid_ct::io::nifti::write(&a.output, &seg.mask)?;
    } else {
        bail!(
            "{}: output must end in .npy, .nii or .nii.gz",
            a.output.display()
        );
    }
    let voxels = seg.mask.data().iter().filter(|&&v| v != 0).count();
    let ml = voxels as f64 * scan.volume.spacing().voxel_volume() / 1000.0;
    println!(
        "shape={:?} lungs={} voxels={voxels} volume_ml={ml:.1} bbox_min={:?} bbox_max={:?} time_ms={ms:.1}",
        scan.volume.shape(),
        seg.component_voxels.len(),
        seg.bbox.min,
        seg.bbox.max
    );
    if let Some(png) = &a.overlay {
        overlay(
            &scan.volume,
            &seg.mask,
            seg.bbox.min[0],
            seg.bbox.max[0],
            png,
        )?;
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
