//! Lung segmentation of a CT volume: body first (default), or the seed's morphology recipe.
//!
//! ```text
//! cargo run --release --example segment -- INPUT OUTPUT [--overlay PNG] [--recipe body-first|seed]
//! ```
//! INPUT is anything `ct_io::read_volume` reads (DICOM folder, NIfTI, .npy, slice folder);
//! OUTPUT is `.npy` or `.nii`/`.nii.gz` (u8 labels: 1 right lung, 2 left lung, 3 airways for
//! `body-first`; 0/1 for `seed`). `--overlay` writes a 4×4 montage of slices through the
//! lungs (lung window) with the outlines: right lung red, left lung green, airways blue.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use covid_ct::core::{Volume, Window};
use covid_ct::morph::lung::{LungParams, segment};
use covid_ct::morph::lung_field::{LungFieldParams, segment_lung_field};
use image::{Rgb, RgbImage};

#[path = "support/flags.rs"]
mod flags;
use flags::finite_in;

#[derive(Parser, Debug)]
#[command(about = "Lung mask of a CT volume: body first, then lungs, airways, right and left")]
struct Args {
    /// Input volume (DICOM folder, .nii/.nii.gz, .npy, slice folder).
    input: PathBuf,
    /// Output mask (.npy or .nii/.nii.gz, u8 0/1).
    output: PathBuf,
    /// Writes a montage of slices with the mask outline.
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// `body-first`: body, lung field, airways, right/left (labels 1/2/3). `seed`: the seed's
    /// threshold-and-morphology recipe (0/1; takes the couch on real scans).
    #[arg(long, value_enum, default_value_t = Recipe::BodyFirst)]
    recipe: Recipe,
    /// Seed recipe: lower HU bound (exclusive).
    #[arg(long, default_value_t = LungParams::default().lung_min, allow_negative_numbers = true)]
    lung_min: i16,
    /// Seed recipe: upper HU bound (exclusive).
    #[arg(long, default_value_t = LungParams::default().lung_max, allow_negative_numbers = true)]
    lung_max: i16,
    /// Seed recipe: in-plane margin dilation (voxels).
    #[arg(long, default_value_t = 0, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=256))]
    margin: usize,
    /// Body-first recipe: in-plane closing of each lung in mm (pulls in peripheral
    /// consolidation); 0 = off.
    #[arg(long, default_value_t = 0.0, value_parser = finite_in(0.0, 100.0))]
    border_closing_mm: f64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Recipe {
    BodyFirst,
    Seed,
}

/// Outline colours by label (1 right lung, 2 left lung, 3 airways).
const COLOURS: [Rgb<u8>; 3] = [Rgb([255, 40, 40]), Rgb([40, 220, 40]), Rgb([60, 120, 255])];

fn overlay(vol: &Volume<i16>, mask: &Volume<u8>, z0: usize, z1: usize, path: &Path) -> Result<()> {
    let [_, ny, nx] = vol.shape();
    let width = 1 + nx.max(ny) / 384;
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
                let l = m[[y, x]];
                // Outlines `width` pixels wide, so they survive a 512² montage being scaled down.
                let differs = |yy: Option<usize>, xx: Option<usize>| match (yy, xx) {
                    (Some(yy), Some(xx)) if yy < ny && xx < nx => m[[yy, xx]] != l,
                    _ => true,
                };
                let edge = l != 0
                    && (1..=width).any(|d| {
                        differs(y.checked_sub(d), Some(x))
                            || differs(Some(y + d), Some(x))
                            || differs(Some(y), x.checked_sub(d))
                            || differs(Some(y), Some(x + d))
                    });
                let px = match (edge, l) {
                    (true, 1..=3) => COLOURS[usize::from(l) - 1],
                    _ => Rgb([g, g, g]),
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
    let t = std::time::Instant::now();
    let mask = match a.recipe {
        Recipe::BodyFirst => {
            let p = LungFieldParams {
                border_closing_mm: a.border_closing_mm,
                ..LungFieldParams::for_meta(&scan.meta)
            };
            let m = segment_lung_field(&scan.volume, &p)
                .with_context(|| format!("segmenting {}", a.input.display()))?;
            println!(
                "right_ml={:.1} left_ml={:.1} airways_ml={:.1} body_ml={:.0} airways={:?}",
                m.right_ml, m.left_ml, m.airways_ml, m.body_ml, m.airways
            );
            m.labels
        }
        Recipe::Seed => {
            let p = LungParams {
                lung_min: a.lung_min,
                lung_max: a.lung_max,
                margin: a.margin,
                ..LungParams::default()
            };
            let seg = segment(&scan.volume, &p)?;
            println!("lungs={}", seg.component_voxels.len());
            seg.mask
        }
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    write_mask(&a.output, &mask)?;
    let voxels = mask.data().iter().filter(|&&v| v != 0).count();
    let ml = voxels as f64 * scan.volume.spacing().voxel_volume() / 1000.0;
    let (z0, z1) = z_extent(&mask).context("empty mask")?;
    println!(
        "shape={:?} voxels={voxels} volume_ml={ml:.1} slices={z0}..={z1} time_ms={ms:.1}",
        scan.volume.shape()
    );
    if let Some(png) = &a.overlay {
        overlay(&scan.volume, &mask, z0, z1, png)?;
    }
    Ok(())
}

fn write_mask(path: &Path, mask: &Volume<u8>) -> Result<()> {
    let name = path.to_string_lossy().to_lowercase();
    if name.ends_with(".npy") {
        covid_ct::io::npy::write(path, mask.view())?;
    } else if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        covid_ct::io::nifti::write(path, mask)?;
    } else {
        bail!(
            "{}: output must end in .npy, .nii or .nii.gz",
            path.display()
        );
    }
    Ok(())
}

/// First and last slice holding a labelled voxel.
fn z_extent(mask: &Volume<u8>) -> Option<(usize, usize)> {
    let has = |z: usize| mask.slice(z).is_ok_and(|s| s.iter().any(|&v| v != 0));
    let z0 = (0..mask.n_slices()).find(|&z| has(z))?;
    let z1 = (0..mask.n_slices()).rev().find(|&z| has(z))?;
    Some((z0, z1))
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
