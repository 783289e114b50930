//! The main job: the end-to-end diagnosis pipeline.
//!
//! ```text
//! cargo run --release --example pipeline                       # built-in phantom cohort
//! cargo run --release --example pipeline -- --data DIR         # a real data set (COVID-CT-MD layout)
//! cargo run --release --example pipeline -- --shard 0/4 --stage preprocess   # one shard
//! cargo run --release --example pipeline -- --shard 0/4 --stage merge        # merge + classify + report
//! cargo run --release --example pipeline -- --stage detector --detector train \
//!     --save-detector crates/ct-pipeline/models/lesion_detector.json        # remake the shipped detector
//! ```
//! Writes `runs/<name>/` (config.json, metrics.json, figures/, report.html) and prints a
//! summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use ct_pipeline::{DetectorSource, FeatureSet, LungRecipe, PipelineConfig, Stage};
use ensemble::VotingKind;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StageArg {
    All,
    Preprocess,
    Merge,
    Detector,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LungRecipeArg {
    /// Body first, then lungs, airways, right and left (holds on real scans).
    BodyFirst,
    /// The seed's threshold and morphology (takes the couch's mattress on real scans).
    Seed,
}

/// End-to-end chest-CT diagnosis (Normal / CAP / COVID-19) with EDA figures and an HTML report.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Real data set (COVID-CT-MD layout or root/<class>/<subject>/); default: phantoms.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Print the file-times EDA of --data (file-system and DICOM dates per contrast group or
    /// class, and whether they separate the contrast groups) and exit without a run.
    #[arg(long, requires = "data")]
    file_times: bool,
    /// Run name (folder under --out).
    #[arg(long, default_value = "default")]
    name: String,
    /// Parent folder of runs.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Phantom scans per class.
    #[arg(long, default_value_t = PipelineConfig::default().n_per_class)]
    n_per_class: usize,
    /// Phantom slice size (rows = columns).
    #[arg(long, default_value_t = PipelineConfig::default().phantom_size)]
    size: usize,
    /// Seed of phantoms, split, folds and models.
    #[arg(long, default_value_t = PipelineConfig::default().seed)]
    seed: u64,
    /// Fraction of subjects held out for testing.
    #[arg(long, default_value_t = PipelineConfig::default().test_fraction)]
    test_fraction: f64,
    /// Folds of the stratified k-fold.
    #[arg(long, default_value_t = PipelineConfig::default().folds)]
    folds: usize,
    /// Skip the SVM grid search (C = 10, gamma = scale).
    #[arg(long)]
    no_grid: bool,
    /// Radius (mm) of the in-plane closing that adds juxtapleural lesions to the feature
    /// mask (0 = use the segmentation as is).
    #[arg(long, default_value_t = PipelineConfig::default().close_radius_mm)]
    close_radius_mm: f64,
    /// Lung segmentation recipe of the per-scan stages.
    #[arg(long, value_enum, default_value = "body-first")]
    lung_recipe: LungRecipeArg,
    /// Shard of the preprocessing stage, as I/N.
    #[arg(long, default_value = "0/1")]
    shard: String,
    /// Which stage to run.
    #[arg(long, value_enum, default_value = "all")]
    stage: StageArg,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Phantom scans per class that train the voxel-level lesion detector (their own seed).
    #[arg(long, default_value_t = PipelineConfig::default().lesion_train_per_class)]
    lesion_train: usize,
    /// Boosting rounds of the lesion detector.
    #[arg(long, default_value_t = PipelineConfig::default().lesion_rounds)]
    lesion_rounds: usize,
    /// Feature columns the classifiers see.
    #[arg(long, value_enum, default_value = "lesion")]
    classifier_features: FeatureArg,
    /// One model per contrast group (the seed's design) instead of one model with the gate's
    /// decision as a feature.
    #[arg(long)]
    gated_models: bool,
    /// How the SVM, the trees and the scan model are combined: soft (mean of probabilities)
    /// or hard (weighted majority of their classes, ties to the lowest class).
    #[arg(long, value_enum, default_value = "soft")]
    vote: VoteArg,
    /// Diagnostic (phantoms only): lesion features from the true lesion masks instead of the
    /// detector, to measure the ceiling a perfect detector would give.
    #[arg(long)]
    oracle_lesions: bool,
    /// The lesion detector: `auto` (the one shipped in ct-pipeline when the phantoms match
    /// its recipe, always for --data; else trained in the run), `train` (always train it in
    /// the run), or the path of a detector saved with --save-detector.
    #[arg(long, default_value = "auto")]
    detector: String,
    /// Save the run's lesion detector (JSON) to this path; with `--stage detector` the run
    /// stops there.
    #[arg(long)]
    save_detector: Option<PathBuf>,
    /// Skip the lesion-pattern U-Net (its features are then absent).
    #[arg(long)]
    no_pattern_net: bool,
    /// Run the pattern U-Net on every N-th slice of the lung.
    #[arg(long, default_value_t = PipelineConfig::default().pattern_z_step)]
    pattern_z_step: usize,
    /// Run the pattern U-Net once per slice, without the left–right mirrored second pass.
    #[arg(long)]
    no_pattern_tta: bool,
    /// Pattern U-Net weights (safetensors from `train_pattern_unet`) instead of the shipped
    /// ones.
    #[arg(long)]
    pattern_weights: Option<PathBuf>,
    /// Focus model (JSON from `train_focus_model`) that scores the pattern U-Net's foci,
    /// instead of the shipped one.
    #[arg(long)]
    focus_model: Option<PathBuf>,
    /// Leave the pretrained scan model out of the classifiers' vote.
    #[arg(long, conflicts_with = "scan_model")]
    no_scan_model: bool,
    /// Scan model (JSON from `train_scan_model`) that joins the classifiers' vote, instead
    /// of the shipped one.
    #[arg(long)]
    scan_model: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum VoteArg {
    Soft,
    Hard,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FeatureArg {
    All,
    Lesion,
    Detector,
    Pattern,
    /// Radiomic and enhanced-image features only (no phantom-trained model's output).
    Radiomic,
}

fn parse_shard(s: &str) -> anyhow::Result<(usize, usize)> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("--shard {s:?}: expected I/N, e.g. 0/4"))?;
    Ok((i.trim().parse()?, n.trim().parse()?))
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    let a = Args::parse();
    if let (true, Some(d)) = (a.file_times, &a.data) {
        let ds = ct_io::dataset::Dataset::open(d)?;
        print!("{}", ct_pipeline::survey_file_times(&ds).text());
        return Ok(());
    }
    let cfg = PipelineConfig {
        name: a.name,
        out: a.out,
        data: a.data,
        n_per_class: a.n_per_class,
        phantom_size: a.size,
        seed: a.seed,
        test_fraction: a.test_fraction,
        folds: a.folds,
        grid: !a.no_grid,
        close_radius_mm: a.close_radius_mm,
        lung_recipe: match a.lung_recipe {
            LungRecipeArg::BodyFirst => LungRecipe::BodyFirst,
            LungRecipeArg::Seed => LungRecipe::Seed,
        },
        shard: parse_shard(&a.shard)?,
        stage: match a.stage {
            StageArg::All => Stage::All,
            StageArg::Preprocess => Stage::Preprocess,
            StageArg::Merge => Stage::Merge,
            StageArg::Detector => Stage::Detector,
        },
        threads: a.threads,
        lesion_train_per_class: a.lesion_train,
        lesion_rounds: a.lesion_rounds,
        classifier_features: match a.classifier_features {
            FeatureArg::All => FeatureSet::All,
            FeatureArg::Lesion => FeatureSet::Lesion,
            FeatureArg::Detector => FeatureSet::Detector,
            FeatureArg::Pattern => FeatureSet::Pattern,
            FeatureArg::Radiomic => FeatureSet::Radiomic,
        },
        pattern_net: !a.no_pattern_net,
        pattern_z_step: a.pattern_z_step,
        pattern_tta: !a.no_pattern_tta,
        pattern_weights: a.pattern_weights,
        focus_model: a.focus_model,
        scan_model: !a.no_scan_model,
        scan_model_file: a.scan_model,
        gated_models: a.gated_models,
        vote: match a.vote {
            VoteArg::Soft => VotingKind::Soft,
            VoteArg::Hard => VotingKind::Hard,
        },
        oracle_lesions: a.oracle_lesions,
        detector: match a.detector.as_str() {
            "auto" => DetectorSource::Auto,
            "train" => DetectorSource::Train,
            path => DetectorSource::File(PathBuf::from(path)),
        },
        save_detector: a.save_detector,
        ..PipelineConfig::default()
    };
    if cfg.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads)
            .build_global()?;
    }
    let t = Instant::now();
    let s = ct_pipeline::run(&cfg)?;
    println!("\n== covid-ct pipeline: {}", s.run_dir.display());
    println!(
        "scans processed: {}   skipped: {}",
        s.n_scans,
        s.failures.len()
    );
    for f in &s.failures {
        println!("  skipped {}: {}", f.id, f.error);
    }
    if let Some((p, r, flagged, truth)) = s.cleaning {
        println!(
            "cleaning: removed {flagged} slices, {truth} truly out of place: precision {p:.3} recall {r:.3}"
        );
    }
    for (k, v) in &s.dice {
        println!("lung Dice ({k}): {v:.4}");
    }
    if let Some(d) = &s.detector_training {
        println!(
            "lesion detector ({}) trained on {} lesion / {} other voxels; component stage on {} lesion / {} false components",
            d.source, d.voxels.0, d.voxels.1, d.components.0, d.components.1
        );
    }
    if let Some(p) = &cfg.save_detector {
        println!("lesion detector saved to {}", p.display());
    }
    if let Some(e) = &s.lesion_components {
        println!(
            "lesion components vs reference: {} of {} are lesions; component-stage ROC-AUC {}, accuracy at ½ {:.3}",
            e.lesion,
            e.components,
            e.roc_auc.map_or("–".to_string(), |a| format!("{a:.3}")),
            e.accuracy
        );
    }
    for o in &s.otdd {
        println!("OTDD {}: {:.3} ({:.2} s)", o.name, o.distance, o.seconds);
    }
    if let Some(c) = &s.classification {
        if let Some(g) = &c.gate {
            println!(
                "contrast gate: fitted {:?} test accuracy {:.3}; seed's gray gate {:.3}",
                g.fitted.feature, g.fitted_test_accuracy, g.graygate_test_accuracy
            );
        }
        println!(
            "k-fold accuracy (training subjects): {:.3} ± {:.3}",
            c.cv_mean, c.cv_std
        );
        if let Some(m) = &c.scan_model {
            println!(
                "scan model ({}, trained on {:?} subjects): weight {:.2} in the vote; alone: \
                 test {:.3}; the run's own models alone: test {:.3}, k-fold {:.3}",
                m.source,
                m.recipe.subjects,
                m.weight,
                m.test_accuracy_alone,
                m.test_accuracy_without,
                m.cv_mean_without
            );
        }
        println!(
            "\nTest split, all subjects ({}):\n{}",
            c.test_ids.len(),
            c.report
        );
        for (g, r) in &c.by_contrast {
            println!("{g} contrast:\n{r}");
        }
        println!("accuracy={:.4}", c.accuracy);
        if cfg.oracle_lesions {
            println!(
                "(oracle run: lesion probabilities from the true masks, not the detector; \
                 this is the ceiling a perfect detector would give)"
            );
        }
    }
    let stages: Vec<String> = s
        .timings
        .iter()
        .filter(|(k, _)| !k.contains('.'))
        .map(|(k, v)| format!("{k} {v:.1}s"))
        .collect();
    println!("stages: {}", stages.join(", "));
    if let Some(m) = s.peak_rss_mib {
        println!("peak memory: {m:.0} MiB");
    }
    if cfg.stage == Stage::Detector {
        println!("total: {:.1} s", t.elapsed().as_secs_f64());
    } else {
        println!(
            "total: {:.1} s; report: {}",
            t.elapsed().as_secs_f64(),
            s.run_dir.join("report.html").display()
        );
    }
    Ok(())
}
