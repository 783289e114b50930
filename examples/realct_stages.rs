//! Every per-scan stage of the pipeline (cleaning, lung segmentation, features, the voxel
//! lesion detector and its component stage, the pattern U-Net and the focus model) on the real
//! chest CT that `tools/realct/fetch.sh` brings, with the shipped phantom-trained models:
//! what they find in real lungs. Prints one line per scan, writes each scan's named feature
//! row as JSON and its previews (lung outline, CLAHE, pattern U-Net) as PNG.
//!
//! ```sh
//! tools/realct/fetch.sh
//! cargo run --release --example realct_stages -- [--cache target/realct] \
//!     [--out runs/realct-stages] [--seed-recipe]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use covid_ct::pipeline::lesion_patterns::FocusModel;
use covid_ct::pipeline::lesion_patterns::PatternNet;
use covid_ct::pipeline::preprocess::{KnownTruth, Processed, feature_names, process_scan};
use covid_ct::pipeline::{LungRecipe, PipelineConfig, shipped_detector};

/// The real scans with lungs in them (cache names).
const SCANS: [&str; 5] = [
    "lidc_0001",
    "ts_chest_cta.nii.gz",
    "pyrad_lung1.nii.gz",
    "pyrad_lung2.nii.gz",
    "ts_abdomen.nii.gz",
];

/// The features printed per scan (every feature goes to the JSON file).
const SHOWN: [&str; 8] = [
    "lung_volume_ml",
    "lesion_foci_0.2ml",
    "lesion_top1_ml",
    "comp_confident_count",
    "comp_scored_ml",
    "cnn_foci",
    "cnn_peak",
    "cnn_focus_max",
];

#[derive(Debug, Parser)]
#[command(about = "The pipeline's per-scan stages on real chest CT")]
struct Args {
    /// The real-CT cache of tools/realct/fetch.sh.
    #[arg(long, default_value = "target/realct")]
    cache: PathBuf,
    /// Where the feature rows and previews go.
    #[arg(long, default_value = "runs/realct-stages")]
    out: PathBuf,
    /// Run with the seed's lung recipe instead of the body-first one.
    #[arg(long)]
    seed_recipe: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: &Args) -> Result<(), String> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let cfg = PipelineConfig {
        data: Some(a.cache.clone()),
        lung_recipe: if a.seed_recipe {
            LungRecipe::Seed
        } else {
            LungRecipe::BodyFirst
        },
        ..PipelineConfig::default()
    };
    let detector = shipped_detector().map_err(|e| e.to_string())?;
    let pattern = PatternNet::shipped().map_err(|e| e.to_string())?;
    let focus = FocusModel::shipped().map_err(|e| e.to_string())?;
    let names = feature_names(&cfg);
    for name in SCANS {
        let path = a.cache.join(name);
        let scan = match covid_ct::io::read_volume(&path) {
            Ok(s) => s,
            Err(e) => {
                println!("{name}: not read ({e}); run tools/realct/fetch.sh");
                continue;
            }
        };
        let t = std::time::Instant::now();
        let out = process_scan(
            &scan,
            &KnownTruth::default(),
            &cfg,
            &detector,
            Some((&pattern, &focus)),
        );
        let secs = t.elapsed().as_secs_f64();
        match out {
            Ok(p) => {
                let stem = name.split('.').next().unwrap_or(name);
                report(stem, &p, &names, secs);
                save(&a.out, stem, &p, &names)?;
            }
            Err(e) => println!("{name}: {e}"),
        }
    }
    println!("rows and previews in {}", a.out.display());
    Ok(())
}

fn report(stem: &str, p: &Processed, names: &[String], secs: f64) {
    let value = |n: &str| {
        names
            .iter()
            .position(|m| m == n)
            .and_then(|i| p.record.features.get(i))
            .map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
    };
    let shown: Vec<String> = SHOWN.iter().map(|n| format!("{n}={}", value(n))).collect();
    println!(
        "{stem}: slices={} removed={} {} foci={} ({secs:.1} s)",
        p.record.n_slices,
        p.record.removed.len(),
        shown.join(" "),
        p.record.pattern_foci.len()
    );
}

fn save(dir: &Path, stem: &str, p: &Processed, names: &[String]) -> Result<(), String> {
    let row: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .zip(&p.record.features)
        .map(|(n, v)| (n.clone(), serde_json::json!(v)))
        .collect();
    let write = |file: String, bytes: &[u8]| {
        let path = dir.join(file);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    let json = serde_json::to_string_pretty(&row).map_err(|e| e.to_string())?;
    write(format!("{stem}.json"), json.as_bytes())?;
    for (kind, png) in [
        ("lung", &p.preview),
        ("clahe", &p.preview_enhanced),
        ("pattern", &p.preview_pattern),
    ] {
        if let Some(png) = png {
            write(format!("{stem}_{kind}.png"), png)?;
        }
    }
    Ok(())
}
