//! Out-of-place slices of CT scans (the seed's neighbour rule), near-duplicate scans across a
//! data set, and the precision/recall of the rule on the phantom cohort.
//!
//! ```text
//! # one scan or a whole data set (each SCAN: anything ct_io::read_volume reads: a DICOM
//! # folder or file, .nii/.nii.gz, an int16 HU .npy, a PNG/TIFF slice folder)
//! cargo run --release --example clean -- [--criterion phash8] [--threshold 10] [--order] SCAN...
//! # the phantom cohort: report each scan, then score the rule against the ground truth
//! cargo run --release --example clean -- --phantom 10 [--size 256] [--seed 2021]
//! # the precision/recall table of every criterion and threshold (docs/ct-similarity.md)
//! cargo run --release --example clean -- --phantom 10 --sweep
//! ```
//! Slices are windowed to 8 bits with the lung window (W1500/L−500, or `--level/--width`)
//! before hashing or SSIM/PSNR. Criteria: `ahash8 phash8 dhash8 whash8` (also `…16`),
//! `ssim`, `ssim-gauss`, `psnr`; a slice is flagged when it is far from both neighbours:
//! Hamming distance > threshold, or SSIM / PSNR < threshold.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use covid_ct::core::Window;
use covid_ct::phantom::{CohortConfig, generate_cohort};
use covid_ct::similarity::{
    Criterion, HashKind, SsimParams, check_order, duplicate_scans, flag_outliers, hash_volume,
};
use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;

#[derive(Parser, Debug)]
#[command(about = "find out-of-place slices and near-duplicate scans")]
struct Args {
    /// Comparison: ahash8, phash8, dhash8, whash8 (or …16), ssim, ssim-gauss, psnr.
    #[arg(long, default_value = "phash8")]
    criterion: String,
    /// Threshold (Hamming bits for hashes, SSIM value, PSNR dB). Default: the recommended
    /// one for the criterion (see docs/ct-similarity.md).
    #[arg(long)]
    threshold: Option<f64>,
    /// Window level (HU) for the 8-bit conversion.
    #[arg(long, default_value_t = -500, allow_hyphen_values = true)]
    level: i32,
    /// Window width (HU).
    #[arg(long, default_value_t = 1500)]
    width: i32,
    /// Also check the slice order of each scan (shuffled slices).
    #[arg(long)]
    order: bool,
    /// Hamming radius (whash8) for near-duplicate scans across the data set.
    #[arg(long, default_value_t = 2, value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(0..=64))]
    dup_radius: u32,
    /// Generate a phantom cohort with this many scans per class instead of reading files.
    #[arg(long)]
    phantom: Option<usize>,
    /// Phantom slice size.
    #[arg(long, default_value_t = 256, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(16..=2048))]
    size: usize,
    /// Phantom seed.
    #[arg(long, default_value_t = 2021)]
    seed: u64,
    /// Print the precision/recall table of every criterion and threshold (needs --phantom).
    #[arg(long)]
    sweep: bool,
    /// Scans: DICOM folders/files, NIfTI, int16 HU `.npy`, slice folders (ct_io::read_volume).
    /// One that cannot be read is reported and skipped; exit status 1 when none can be.
    scans: Vec<PathBuf>,
}

fn parse_criterion(s: &str) -> Result<Criterion> {
    Ok(match s {
        "ssim" => Criterion::Ssim(SsimParams::default()),
        "ssim-gauss" => Criterion::Ssim(SsimParams::gaussian()),
        "psnr" => Criterion::Psnr,
        _ => {
            let split = s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
            let kind: HashKind = s[..split].parse()?;
            let hash_size: usize = if split == s.len() {
                8
            } else {
                s[split..].parse().context("hash size")?
            };
            if !(2..=64).contains(&hash_size) {
                bail!("--criterion {s}: the hash size must be 2 to 64 bits per side");
            }
            Criterion::Hash { kind, hash_size }
        }
    })
}

/// Recommended thresholds (from the phantom sweep in docs/ct-similarity.md).
fn default_threshold(c: &Criterion) -> f64 {
    match c {
        Criterion::Hash {
            kind: HashKind::Perceptual,
            hash_size: 8,
        } => 10.0,
        Criterion::Hash { hash_size: 8, .. } => 5.0,
        Criterion::Hash { hash_size, .. } => (*hash_size * *hash_size) as f64 / 8.0,
        Criterion::Ssim(_) => 0.7,
        Criterion::Psnr => 18.0,
    }
}

fn window(hu: ArrayView3<i16>, w: Window) -> Array3<u8> {
    hu.mapv(|v| w.apply(v))
}

struct Named {
    id: String,
    u8: Array3<u8>,
    truth: Option<Vec<usize>>,
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

fn run(args: &Args) -> Result<()> {
    let w = Window::new(args.level, args.width)?;
    let crit = parse_criterion(&args.criterion)?;
    let t = args.threshold.unwrap_or_else(|| default_threshold(&crit));
    if !t.is_finite() {
        bail!("--threshold {t}: must be a finite number");
    }
    let scans: Vec<Named> = if let Some(n) = args.phantom {
        let cfg = CohortConfig {
            n_per_class: n,
            seed: args.seed,
            size: args.size,
            ..CohortConfig::default()
        };
        eprintln!(
            "generating {} phantom scans ({}x{})...",
            cfg.len(),
            args.size,
            args.size
        );
        let cohort = generate_cohort(&cfg)?;
        cohort
            .into_iter()
            .map(|p| Named {
                id: p.scan.id.clone(),
                u8: window(p.scan.volume.view(), w),
                truth: Some(p.truth.injected),
            })
            .collect()
    } else {
        if args.scans.is_empty() {
            bail!("give SCAN paths or --phantom N");
        }
        // A scan that cannot be read is reported and skipped; none readable is an error.
        let read: Vec<Named> = args
            .scans
            .iter()
            .filter_map(|p| match covid_ct::io::read_volume(p) {
                Ok(scan) => Some(Named {
                    id: p.display().to_string(),
                    u8: window(scan.volume.view(), w),
                    truth: None,
                }),
                Err(e) => {
                    eprintln!("error: reading scan {}: {e}", p.display());
                    None
                }
            })
            .collect();
        if read.is_empty() {
            bail!("none of the {} scans could be read", args.scans.len());
        }
        if read.len() < args.scans.len() {
            eprintln!(
                "{} of {} scans could not be read and are left out",
                args.scans.len() - read.len(),
                args.scans.len()
            );
        }
        read
    };
    if args.sweep {
        return sweep(&scans);
    }
    let (mut tp, mut fp, mut fnn) = (0usize, 0usize, 0usize);
    for s in &scans {
        let scores = crit.neighbour_scores(s.u8.view())?;
        let flagged = flag_outliers(&scores, &crit, t);
        let mut line = format!(
            "{} slices={} out_of_place={:?}",
            s.id,
            s.u8.dim().0,
            flagged
        );
        if let Some(truth) = &s.truth {
            line += &format!(" truth={truth:?}");
            tp += flagged.iter().filter(|z| truth.contains(z)).count();
            fp += flagged.iter().filter(|z| !truth.contains(z)).count();
            fnn += truth.iter().filter(|z| !flagged.contains(z)).count();
        }
        if args.order {
            let oc = check_order(
                s.u8.view(),
                &Criterion::Hash {
                    kind: HashKind::Wavelet,
                    hash_size: 8,
                },
            )?;
            line += &format!(" in_order={}", oc.in_order);
        }
        println!("{line}");
    }
    if args.phantom.is_some() {
        let p = tp as f64 / (tp + fp).max(1) as f64;
        let r = tp as f64 / (tp + fnn).max(1) as f64;
        println!(
            "criterion={} threshold={t} tp={tp} fp={fp} fn={fnn} precision={p:.3} recall={r:.3}",
            crit.name()
        );
    }
    if scans.len() > 1 {
        let hashes: Vec<_> = scans
            .iter()
            .map(|s| hash_volume(s.u8.view(), HashKind::Wavelet, 8))
            .collect::<Result<_, _>>()?;
        let dups = duplicate_scans(&hashes, args.dup_radius, 0.5)?;
        println!(
            "near-duplicate scans (whash8 radius {}, >= 50% of slices): {}",
            args.dup_radius,
            dups.len()
        );
        for d in dups {
            println!(
                "  {} ~ {} ({:.0}% of slices)",
                scans[d.a].id,
                scans[d.b].id,
                100.0 * d.fraction
            );
        }
    }
    Ok(())
}

/// Precision / recall of the seed's rule for every criterion and threshold.
fn sweep(scans: &[Named]) -> Result<()> {
    let table: Vec<(&str, Vec<f64>)> = vec![
        ("ahash8", vec![2.0, 3.0, 5.0, 8.0, 10.0, 12.0, 16.0]),
        ("phash8", vec![5.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0]),
        ("dhash8", vec![5.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0]),
        ("whash8", vec![2.0, 3.0, 5.0, 8.0, 10.0, 12.0, 16.0]),
        ("ssim", vec![0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
        ("ssim-gauss", vec![0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
        ("psnr", vec![10.0, 12.0, 14.0, 15.0, 16.0, 18.0, 20.0]),
    ];
    let injected: usize = scans
        .iter()
        .map(|s| s.truth.as_ref().map_or(0, Vec::len))
        .sum();
    let slices: usize = scans.iter().map(|s| s.u8.dim().0).sum();
    println!(
        "{} scans, {slices} slices, {injected} injected out-of-place slices\n",
        scans.len()
    );
    println!("| criterion | threshold | TP | FP | FN | precision | recall | F1 |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, ts) in table {
        let crit = parse_criterion(name)?;
        let t0 = std::time::Instant::now();
        let scores: Vec<Vec<f64>> = scans
            .par_iter()
            .map(|s| crit.neighbour_scores(s.u8.view()))
            .collect::<Result<_, _>>()?;
        let secs = t0.elapsed().as_secs_f64();
        for t in ts {
            let (mut tp, mut fp, mut fnn) = (0usize, 0usize, 0usize);
            for (s, sc) in scans.iter().zip(&scores) {
                let truth = s.truth.as_ref().context("sweep needs --phantom")?;
                let flagged = flag_outliers(sc, &crit, t);
                tp += flagged.iter().filter(|z| truth.contains(z)).count();
                fp += flagged.iter().filter(|z| !truth.contains(z)).count();
                fnn += truth.iter().filter(|z| !flagged.contains(z)).count();
            }
            let p = tp as f64 / (tp + fp).max(1) as f64;
            let r = tp as f64 / (tp + fnn).max(1) as f64;
            let f1 = if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            };
            println!("| {name} | {t} | {tp} | {fp} | {fnn} | {p:.3} | {r:.3} | {f1:.3} |");
        }
        eprintln!("{name}: neighbour scores of all scans in {secs:.2} s");
    }
    Ok(())
}
