//! Writes a procedural chest-CT cohort with its ground truth.
//!
//! ```text
//! cargo run --release --example phantom -- --out /tmp/cohort [--n-per-class 20] [--seed S]
//!     [--format dicom|nifti] [--preview montage.png] [--size 256] [--slices 40-120]
//!     [--realism v1|v2]
//! ```
//! Layout: `COVID-19 subjects/<id>/*.dcm`, `CAP subjects/`, `Normal subjects/` (or
//! `<id>.nii.gz`), `masks/`, `Index.csv`, `ground_truth.json`. The preview montage has one
//! slice per class (columns Normal, CAP, COVID-19) and contrast group (rows high, low), in
//! the lung window W1500/L−500; positives show their slice with the most lesion voxels.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use covid_ct::core::{Contrast, Label, Window};
use covid_ct::phantom::{CohortConfig, Format, PhantomScan, generate_cohort, write_cohort};

#[derive(Parser, Debug)]
#[command(
    about = "Generate a procedural chest-CT cohort (Normal / CAP / COVID-19) with ground truth"
)]
struct Args {
    /// Output folder: created, or empty; a folder that holds files is refused (old subjects
    /// would mix with the new cohort) unless --overwrite.
    #[arg(long)]
    out: PathBuf,
    /// Clear --out first when it holds files.
    #[arg(long)]
    overwrite: bool,
    /// Scans per class.
    #[arg(long, default_value_t = 20)]
    n_per_class: usize,
    /// Random seed.
    #[arg(long, default_value_t = CohortConfig::default().seed)]
    seed: u64,
    /// dicom or nifti.
    #[arg(long, default_value = "dicom")]
    format: String,
    /// Write a montage PNG (one slice per class × contrast group).
    #[arg(long)]
    preview: Option<PathBuf>,
    /// Rows = columns of every slice.
    #[arg(long, default_value_t = CohortConfig::default().size)]
    size: usize,
    /// Slice-count range, `MIN-MAX`.
    #[arg(long, default_value = "40-120")]
    slices: String,
    /// Fraction of scans with out-of-place slices.
    #[arg(long, default_value_t = CohortConfig::default().inject_fraction)]
    inject_fraction: f64,
    /// v1: the original phantom (the pipeline's default cohort); v2: with a couch and foam
    /// mattress, clothing, arms, cut fields of view, CTA, streaks and bowel gas, as real
    /// scans have (docs/ct-phantom.md).
    #[arg(long, value_enum, default_value = "v1")]
    realism: RealismArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RealismArg {
    V1,
    V2,
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let format: Format = args.format.parse()?;
    let (lo, hi) = args
        .slices
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
        .with_context(|| format!("--slices {:?}: expected MIN-MAX, e.g. 40-120", args.slices))?;
    let cfg = CohortConfig {
        n_per_class: args.n_per_class,
        seed: args.seed,
        size: args.size,
        slices: (lo, hi),
        inject_fraction: args.inject_fraction,
        realism: match args.realism {
            RealismArg::V1 => covid_ct::phantom::Realism::V1,
            RealismArg::V2 => covid_ct::phantom::Realism::V2,
        },
        ..CohortConfig::default()
    };
    cfg.validate()?;
    // The whole cohort is generated in memory before it is written: refuse what would not
    // fit (HU i16 + lung and lesion masks: 4 bytes a voxel).
    let gib = 3.0 * cfg.n_per_class as f64 * (cfg.size * cfg.size) as f64 * hi as f64 * 4.0
        / (1u64 << 30) as f64;
    if gib > 8.0 {
        anyhow::bail!(
            "--n-per-class {} at {}² with up to {hi} slices needs about {gib:.0} GiB in memory \
             (the cohort is generated before it is written; the limit is 8 GiB): write fewer \
             scans per run, with other --seed values",
            cfg.n_per_class,
            cfg.size
        );
    }
    covid_ct::io::output::prepare_output_dir(&args.out, args.overwrite)?;
    let t = Instant::now();
    let cohort = generate_cohort(&cfg)?;
    let t_gen = t.elapsed();
    let t = Instant::now();
    write_cohort(&args.out, &cohort, format)
        .with_context(|| format!("writing the cohort to {}", args.out.display()))?;
    let t_write = t.elapsed();
    summary(&cohort);
    println!(
        "generated {} scans in {:.2} s, wrote {format} to {} in {:.2} s",
        cohort.len(),
        t_gen.as_secs_f64(),
        args.out.display(),
        t_write.as_secs_f64()
    );
    if let Some(png) = &args.preview {
        preview(&cohort, png)?;
        println!("preview: {}", png.display());
    }
    Ok(())
}

fn summary(cohort: &[PhantomScan]) {
    println!(
        "{:<8} {:<5} {:>5} {:>7} {:>8} {:>10} {:>8} {:>8}",
        "class", "group", "scans", "slices", "subtle", "lesion%", "injected", "noiseHU"
    );
    for label in Label::ALL {
        for contrast in Contrast::ALL {
            let g: Vec<&PhantomScan> = cohort
                .iter()
                .filter(|p| p.truth.label == label && p.truth.contrast == contrast)
                .collect();
            if g.is_empty() {
                continue;
            }
            let n = g.len() as f64;
            let slices: usize = g.iter().map(|p| p.scan.volume.n_slices()).sum();
            let subtle = g.iter().filter(|p| p.truth.subtle).count();
            let frac = g.iter().map(|p| p.truth.lesion_fraction).sum::<f64>() / n;
            let inj: usize = g.iter().map(|p| p.truth.injected.len()).sum();
            let sigma = g
                .iter()
                .map(|p| p.truth.acquisition.noise_sigma_hu)
                .sum::<f64>()
                / n;
            println!(
                "{:<8} {:<5} {:>5} {:>7.1} {:>8} {:>10.2} {:>8} {:>8.1}",
                label.name(),
                contrast.name(),
                g.len(),
                slices as f64 / n,
                subtle,
                100.0 * frac,
                inj,
                sigma
            );
        }
    }
}

fn preview(cohort: &[PhantomScan], path: &PathBuf) -> Result<()> {
    let size = cohort.first().map_or(0, |p| p.truth.acquisition.size);
    if size == 0 {
        bail!("empty cohort, nothing to preview");
    }
    let mut img = image::GrayImage::new(3 * size as u32, 2 * size as u32);
    for (row, contrast) in Contrast::ALL.iter().enumerate() {
        for (col, label) in Label::ALL.iter().enumerate() {
            let Some(p) = cohort
                .iter()
                .find(|p| p.truth.label == *label && p.truth.contrast == *contrast)
            else {
                continue;
            };
            let vol = p.scan.volume.data();
            let nz = vol.dim().0;
            let k = (0..nz)
                .filter(|k| !p.truth.injected.contains(k))
                .max_by_key(|&k| {
                    let les = p.truth.lesion_mask.index_axis(ndarray::Axis(0), k).sum() as usize;
                    // Without lesions: the middle slice.
                    (les, usize::MAX - k.abs_diff(nz / 2))
                })
                .unwrap_or(nz / 2);
            let s = vol.index_axis(ndarray::Axis(0), k);
            for ((y, x), &hu) in s.indexed_iter() {
                let v = Window::LUNG.apply(hu);
                img.put_pixel(
                    (col * size + x) as u32,
                    (row * size + y) as u32,
                    image::Luma([v]),
                );
            }
        }
    }
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
