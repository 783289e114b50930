//! Lung segmentation against the phantom cohort's true lung masks (Dice per contrast group).
//!
//! The default run uses a small cohort (`CohortConfig::small()`-sized, seconds); the figures in
//! `docs/ct-morph.md` come from the ignored larger run:
//! `cargo test -p ct-morph --release --test phantom_dice -- --ignored --nocapture`.

use ct_core::Contrast;
use ct_morph::lung::{LungParams, segment};
use ct_morph::lung_field::{LungFieldParams, segment_lung_field};
use ct_phantom::{CohortConfig, generate_cohort};

fn dice(a: &ndarray::Array3<u8>, b: &ndarray::Array3<u8>) -> f64 {
    let (mut inter, mut sa, mut sb) = (0u64, 0u64, 0u64);
    for (&x, &y) in a.iter().zip(b.iter()) {
        let (x, y) = (x != 0, y != 0);
        inter += (x && y) as u64;
        sa += x as u64;
        sb += y as u64;
    }
    2.0 * inter as f64 / (sa + sb).max(1) as f64
}

/// The two recipes on one phantom scan: the seed's, or the body-first lung field (both lungs
/// and the airways against the phantom's lung mask, which holds its trachea).
#[derive(Clone, Copy)]
enum Recipe {
    Seed,
    /// With `border_closing_mm`.
    BodyFirst(f64),
}

fn recipe_mask(r: Recipe, v: &ct_core::Volume<i16>) -> Result<ndarray::Array3<u8>, String> {
    match r {
        Recipe::Seed => segment(v, &LungParams::default())
            .map(|s| s.mask.into_data())
            .map_err(|e| e.to_string()),
        Recipe::BodyFirst(border_closing_mm) => segment_lung_field(
            v,
            &LungFieldParams {
                border_closing_mm,
                ..LungFieldParams::default()
            },
        )
        .map(|m| m.labels.data().mapv(|l| u8::from(l != 0)))
        .map_err(|e| e.to_string()),
    }
}

/// Mean Dice per contrast group of `recipe`, printing every scan.
fn evaluate_recipe(cfg: &CohortConfig, recipe: Recipe) -> [(f64, usize); 2] {
    let cohort = generate_cohort(cfg).unwrap();
    let mut acc = [(0.0, 0usize); 2];
    for s in &cohort {
        let d = match recipe_mask(recipe, &s.scan.volume) {
            Ok(m) => dice(&m, &s.truth.lung_mask),
            Err(e) => {
                println!("{}: {e}", s.truth.id);
                0.0
            }
        };
        let g = usize::from(s.truth.contrast == Contrast::Low);
        acc[g].0 += d;
        acc[g].1 += 1;
        println!("{:>12} {:?} dice={d:.4}", s.truth.id, s.truth.contrast);
    }
    acc.map(|(sum, n)| (sum / n.max(1) as f64, n))
}

#[test]
fn body_first_recipe_on_the_small_cohort() {
    let [hi, lo] = evaluate_recipe(&CohortConfig::small(), Recipe::BodyFirst(0.0));
    let [sh, sl] = evaluate_recipe(&CohortConfig::small(), Recipe::Seed);
    println!(
        "body-first: high {:.4} over {}, low {:.4} over {}; seed recipe: high {:.4}, low {:.4}",
        hi.0, hi.1, lo.0, lo.1, sh.0, sl.0
    );
    // Measured 0.992 / 0.976 (seed recipe 0.970 / 0.958): the body-first stages must not
    // cost the phantoms anything.
    assert!(hi.0 >= sh.0 && lo.0 >= sl.0, "below the seed recipe");
    assert!(hi.0 > 0.97 && lo.0 > 0.95, "high {} low {}", hi.0, lo.0);
}

/// Mean Dice per contrast group: `[(high mean, n), (low mean, n)]`, printing every scan.
fn evaluate(cfg: &CohortConfig, p: &LungParams) -> [(f64, usize); 2] {
    let cohort = generate_cohort(cfg).unwrap();
    let mut acc = [(0.0, 0usize); 2];
    for s in &cohort {
        let seg = segment(&s.scan.volume, p);
        let d = match &seg {
            Ok(seg) => dice(seg.mask.data(), &s.truth.lung_mask),
            Err(_) => 0.0,
        };
        let g = usize::from(s.truth.contrast == Contrast::Low);
        acc[g].0 += d;
        acc[g].1 += 1;
        println!(
            "{:>12} {:?} {:?} slices={} dice={d:.4} {}",
            s.truth.id,
            s.truth.contrast,
            s.truth.label,
            s.scan.volume.n_slices(),
            seg.as_ref()
                .map(|s| format!("{:?}", s.component_voxels))
                .unwrap_or_else(|e| e.to_string())
        );
    }
    acc.map(|(sum, n)| (sum / n.max(1) as f64, n))
}

#[test]
fn small_cohort_dice() {
    let cfg = CohortConfig::small();
    let [hi, lo] = evaluate(&cfg, &LungParams::default());
    println!(
        "high contrast: mean Dice {:.4} over {}; low contrast: {:.4} over {}",
        hi.0, hi.1, lo.0, lo.1
    );
    // Floors well below the measured values (docs/ct-morph.md) so that only a real
    // regression fails, not a phantom tweak.
    assert!(hi.1 > 0 && lo.1 > 0);
    assert!(hi.0 > 0.9, "high-contrast Dice {}", hi.0);
    assert!(lo.0 > 0.85, "low-contrast Dice {}", lo.0);
}

#[test]
#[ignore = "larger cohort (minutes in debug); run with --release -- --ignored --nocapture"]
fn cohort_dice() {
    let cfg = CohortConfig {
        n_per_class: 4,
        ..CohortConfig::default()
    };
    let [hi, lo] = evaluate(&cfg, &LungParams::default());
    println!(
        "high contrast: mean Dice {:.4} over {}; low contrast: {:.4} over {}",
        hi.0, hi.1, lo.0, lo.1
    );
    for mm in [0.0, 8.0] {
        let [bh, bl] = evaluate_recipe(&cfg, Recipe::BodyFirst(mm));
        println!(
            "body-first, border closing {mm} mm: high {:.4}, low {:.4}",
            bh.0, bl.0
        );
    }
    for r in [2, 4] {
        let p = LungParams {
            border_closing_radius: r,
            ..LungParams::default()
        };
        let [hi, lo] = evaluate(&cfg, &p);
        println!(
            "border_closing_radius {r}: high {:.4}, low {:.4}",
            hi.0, lo.0
        );
    }
}
