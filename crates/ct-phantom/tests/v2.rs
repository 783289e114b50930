//! Realism V2 (issue 21, section 3): a phantom that fails where real scans fail.
//!
//! * the seed's lung recipe (`ct_morph::lung::segment`, `LungParams::default()`) takes the
//!   couch mattress or outside air on a good share of V2 scans, as on real chest CT;
//! * the body-first recipe (`ct_morph::lung_field::segment_lung_field`) keeps working;
//! * V2 is deterministic and its configuration and truth serialise.
//!
//! The default tests use 12 scans of 32 × 128²; the figures in `docs/ct-phantom.md` come from
//! the ignored 60-scan run at 256²:
//! `CARGO_TARGET_DIR=target-phantom cargo test --release -p ct-phantom --test v2 -- --ignored --nocapture`.

use ct_morph::lung::{LungParams, segment};
use ct_morph::lung_field::{LungFieldParams, segment_lung_field};
use ct_phantom::{CohortConfig, PhantomScan, Realism, generate_cohort, generate_scan};
use ndarray::Array3;

fn v2(n_per_class: usize, size: usize, slices: usize) -> CohortConfig {
    CohortConfig {
        n_per_class,
        size,
        slices: (slices, slices),
        realism: Realism::V2,
        ..CohortConfig::default()
    }
}

fn dice(a: &Array3<u8>, b: &Array3<u8>) -> f64 {
    let (mut inter, mut sa, mut sb) = (0u64, 0u64, 0u64);
    for (&x, &y) in a.iter().zip(b.iter()) {
        let (x, y) = (x != 0, y != 0);
        inter += u64::from(x && y);
        sa += u64::from(x);
        sb += u64::from(y);
    }
    2.0 * inter as f64 / (sa + sb).max(1) as f64
}

struct Row {
    id: String,
    seed_dice: f64,
    /// Share of the seed mask's voxels outside the true body (couch, mattress, air, ...).
    seed_outside: f64,
    body_first_dice: f64,
    note: String,
}

fn evaluate(p: &PhantomScan) -> Row {
    let truth = &p.truth.lung_mask;
    let regions = p.truth.regions.as_ref().expect("V2 keeps region codes");
    let (seed_dice, seed_outside) = match segment(&p.scan.volume, &LungParams::default()) {
        Ok(s) => {
            let m = s.mask.data();
            let total = m.iter().filter(|&&v| v != 0).count().max(1);
            let out = m
                .iter()
                .zip(regions.iter())
                .filter(|&(&v, &r)| v != 0 && !(2..=4).contains(&r))
                .count();
            (dice(m, truth), out as f64 / total as f64)
        }
        Err(_) => (0.0, 0.0),
    };
    let (body_first_dice, err) = match segment_lung_field(
        &p.scan.volume,
        &LungFieldParams::default(),
    ) {
        Ok(m) => {
            let mask = m.labels.data().mapv(|l| u8::from(l != 0));
            let d = dice(&mask, truth);
            // Why a scan fails: truth voxels missed per slice, and the air components.
            let why = if d < 0.9 {
                let missed: Vec<usize> = (0..truth.dim().0)
                    .map(|k| {
                        let t = truth.index_axis(ndarray::Axis(0), k);
                        let q = mask.index_axis(ndarray::Axis(0), k);
                        t.iter()
                            .zip(q.iter())
                            .filter(|&(&a, &b)| a == 1 && b == 0)
                            .count()
                    })
                    .collect();
                let comps: Vec<String> = m
                    .air_components
                    .iter()
                    .take(4)
                    .map(|c| {
                        format!(
                            "{:.0}mL/{:.2}/{:.0}/{}",
                            c.ml, c.pure_air_fraction, c.mean_hu, c.lung
                        )
                    })
                    .collect();
                format!(
                    "| body-first: R {:.0} L {:.0} airways {:.0} mL, comps {comps:?}, missed/slice {missed:?}",
                    m.right_ml, m.left_ml, m.airways_ml
                )
            } else {
                String::new()
            };
            (d, why)
        }
        Err(e) => (0.0, e.to_string()),
    };
    // Does a lung reach the reconstruction circle (a lung voxel next to region 0)?
    let (nz, ny, nx) = regions.dim();
    let mut at_fov = false;
    for ((k, y, x), &l) in truth.indexed_iter() {
        if l == 1 {
            let nb = [
                (y.wrapping_sub(1), x),
                (y + 1, x),
                (y, x.wrapping_sub(1)),
                (y, x + 1),
            ];
            if nb
                .iter()
                .any(|&(a, b)| a >= ny || b >= nx || regions[[k, a, b]] == 0)
            {
                at_fov = true;
                break;
            }
        }
    }
    let _ = nz;
    let r = p.truth.realism.as_ref().expect("V2 truth");
    let note = format!(
        "lung_at_fov={at_fov} {:?} mattress={:.0}mm cloth={} blanket={} cut_off={} lung_cut={} cta={} metal={} breath={:.1} gas={} injected={:?} {err}",
        r.arms,
        r.mattress_mm,
        r.clothing_layers,
        r.blanket,
        r.cut_off,
        r.lung_cut,
        r.cta,
        r.metal,
        r.breathing_mm,
        r.gas_pockets,
        p.truth.injected,
    );
    Row {
        id: p.truth.id.clone(),
        seed_dice,
        seed_outside,
        body_first_dice,
        note,
    }
}

/// Runs both recipes on the cohort, prints every scan, returns the rows.
fn run(cfg: &CohortConfig) -> Vec<Row> {
    let t = std::time::Instant::now();
    let cohort = generate_cohort(cfg).unwrap();
    println!(
        "generated {} V2 scans of {}x{}² in {:.2} s",
        cohort.len(),
        cfg.slices.1,
        cfg.size,
        t.elapsed().as_secs_f64()
    );
    let rows: Vec<Row> = cohort.iter().map(evaluate).collect();
    println!(
        "{:>10} {:>9} {:>12} {:>10}  scene",
        "scan", "seedDice", "seedOutside", "bodyFirst"
    );
    for r in &rows {
        println!(
            "{:>10} {:>9.3} {:>12.3} {:>10.3}  {}",
            r.id, r.seed_dice, r.seed_outside, r.body_first_dice, r.note
        );
    }
    let n = rows.len() as f64;
    let failing = rows.iter().filter(|r| r.seed_dice < 0.9).count();
    let outside = rows.iter().filter(|r| r.seed_outside > 0.05).count();
    println!(
        "seed recipe: mean Dice {:.3}, Dice < 0.9 on {failing}/{} scans, > 5 % of its mask outside the body on {outside}; body-first: mean Dice {:.3}, min {:.3}",
        rows.iter().map(|r| r.seed_dice).sum::<f64>() / n,
        rows.len(),
        rows.iter().map(|r| r.body_first_dice).sum::<f64>() / n,
        rows.iter().map(|r| r.body_first_dice).fold(1.0, f64::min),
    );
    rows
}

fn check(rows: &[Row]) {
    let n = rows.len() as f64;
    let failing = rows.iter().filter(|r| r.seed_dice < 0.9).count() as f64;
    assert!(
        failing >= 0.3 * n,
        "the seed recipe fails on only {failing} of {n} V2 scans"
    );
    let outside = rows.iter().filter(|r| r.seed_outside > 0.05).count() as f64;
    assert!(
        outside >= 0.2 * n,
        "the seed recipe's mask leaves the body on only {outside} of {n} V2 scans"
    );
    // Every scan counts, those whose lungs touch the reconstruction circle too (the
    // body-first recipe closes a lung cut by the circle when the cut is a short stretch of
    // its outline); their mean is printed apart.
    let mean = rows.iter().map(|r| r.body_first_dice).sum::<f64>() / n;
    let cut: Vec<f64> = rows
        .iter()
        .filter(|r| r.note.contains("lung_at_fov=true"))
        .map(|r| r.body_first_dice)
        .collect();
    println!(
        "body-first mean Dice {mean:.3} over {n}; {:.3} over the {} whose lungs touch the circle",
        cut.iter().sum::<f64>() / cut.len().max(1) as f64,
        cut.len()
    );
    assert!(mean >= 0.95, "body-first mean Dice {mean:.4} < 0.95");
}

#[test]
fn seed_recipe_fails_and_body_first_holds_on_v2() {
    check(&run(&v2(4, 128, 32)));
}

/// The figures: 60 scans of 64 × 256². Command in the module docs.
#[test]
#[ignore = "60 scans at 256² (about a minute in release); run with --release -- --ignored --nocapture"]
fn seed_recipe_fails_and_body_first_holds_on_v2_256() {
    check(&run(&v2(20, 256, 64)));
}

#[test]
fn v2_is_deterministic_and_serialises() {
    let cfg = v2(1, 64, 12);
    let a = generate_cohort(&cfg).unwrap();
    let b = generate_scan(&cfg, 2).unwrap();
    assert_eq!(a[2].scan, b.scan);
    assert_eq!(a[2].truth, b.truth);
    // V2 changes the surroundings, not the patient's lesions or label.
    let v1 = generate_scan(
        &CohortConfig {
            realism: Realism::V1,
            ..cfg.clone()
        },
        2,
    )
    .unwrap();
    assert_eq!(v1.truth.lesions, b.truth.lesions);
    assert_ne!(v1.scan.volume, b.scan.volume);
    assert!(v1.truth.realism.is_none() && v1.truth.regions.is_none());
    // Region 4 is the lung mask.
    let reg = b.truth.regions.as_ref().unwrap();
    assert!(
        reg.iter()
            .zip(&b.truth.lung_mask)
            .all(|(&r, &l)| (r == 4) == (l == 1))
    );
    // The configuration: V1 serialises without the field, V2 with it, both read back.
    let j1 = serde_json::to_string(&CohortConfig::default()).unwrap();
    assert!(!j1.contains("realism"), "{j1}");
    let j2 = serde_json::to_string(&cfg).unwrap();
    assert!(j2.contains("\"realism\":\"v2\""), "{j2}");
    let back: CohortConfig = serde_json::from_str(&j2).unwrap();
    assert_eq!(back, cfg);
    let back: CohortConfig = serde_json::from_str(&j1).unwrap();
    assert_eq!(back.realism, Realism::V1);
    assert_eq!("v2".parse::<Realism>().unwrap(), Realism::V2);
    // The truth round-trips with its realism record.
    let t = serde_json::to_string(&b.truth).unwrap();
    assert!(t.contains("\"realism\""));
    let tb: ct_phantom::Truth = serde_json::from_str(&t).unwrap();
    assert_eq!(tb.realism, b.truth.realism);
}

/// Writes V2 scans as NIfTI for `tools/ct-phantom/compare_real.py`: `<id>.nii.gz` (HU) and
/// `<id>_regions.nii.gz` (the region codes of `Truth::regions`) in `$PHANTOM_V2_OUT`
/// (default `target-phantom/phantom-v2`), 4 scans per class of 64 × 256² (seed 2021):
/// `CARGO_TARGET_DIR=target-phantom cargo test --release -p ct-phantom --test v2 write_v2_samples -- --ignored`.
#[test]
#[ignore = "writes files; run on demand"]
fn write_v2_samples() {
    let out = std::path::PathBuf::from(
        std::env::var("PHANTOM_V2_OUT")
            .unwrap_or_else(|_| "../../target-phantom/phantom-v2".into()),
    );
    std::fs::create_dir_all(&out).unwrap();
    for p in generate_cohort(&v2(4, 256, 64)).unwrap() {
        let id = &p.truth.id;
        ct_io::nifti::write(&out.join(format!("{id}.nii.gz")), &p.scan.volume).unwrap();
        let reg = p
            .scan
            .volume
            .with_data(p.truth.regions.clone().unwrap())
            .unwrap();
        ct_io::nifti::write(&out.join(format!("{id}_regions.nii.gz")), &reg).unwrap();
        let info = serde_json::to_string(&p.truth).unwrap();
        std::fs::write(out.join(format!("{id}.json")), info).unwrap();
    }
}
