//! Contrast gates and interpolation methods on the ct-phantom cohort (ground truth:
//! contrast group, lesion masks). Heavy: run by hand, release mode, and paste the tables
//! into docs/ct-enhance.md:
//!
//! ```text
//! cargo test --release -p ct-enhance --test phantom_eval -- --ignored --nocapture
//! ```

use ct_core::{Contrast, Window};
use ct_enhance::{
    ContrastFeature, ContrastGate, ContrastStats, GrayGate, Interpolation, ScanDecision, zoom,
};
use ct_phantom::{CohortConfig, PhantomScan, generate_cohort};
use ndarray::Array3;

struct Row {
    counts: Vec<usize>,
    stats: ContrastStats,
    truth: Contrast,
}

fn rows(scans: &[PhantomScan]) -> Vec<Row> {
    scans
        .iter()
        .map(|p| {
            let u8v = p.scan.volume.window(Window::LUNG);
            Row {
                counts: GrayGate::counts(&u8v).unwrap(),
                stats: ContrastStats::of_volume(&u8v).unwrap(),
                truth: p.truth.contrast,
            }
        })
        .collect()
}

fn acc(pred: impl Iterator<Item = Contrast>, rows: &[Row]) -> f64 {
    let ok = pred.zip(rows).filter(|(p, r)| *p == r.truth).count();
    ok as f64 / rows.len() as f64
}

fn cohort(seed: u64) -> Vec<PhantomScan> {
    let cfg = CohortConfig {
        n_per_class: 8,
        seed,
        slices: (24, 48),
        size: 128,
        ..CohortConfig::default()
    };
    generate_cohort(&cfg).unwrap()
}

fn dice(a: &Array3<u8>, b: &Array3<u8>) -> f64 {
    let (mut inter, mut sa, mut sb) = (0usize, 0usize, 0usize);
    for (&x, &y) in a.iter().zip(b.iter()) {
        inter += (x & y) as usize;
        sa += x as usize;
        sb += y as usize;
    }
    if sa + sb == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (sa + sb) as f64
    }
}

#[test]
#[ignore]
fn phantom_gates_and_interpolation() {
    let train_scans = cohort(2021);
    let test_scans = cohort(77);
    let (train, test) = (rows(&train_scans), rows(&test_scans));
    println!(
        "cohorts: train {} scans (seed 2021), test {} scans (seed 77), 128x128, 24-48 slices",
        train.len(),
        test.len()
    );
    let n_low = test.iter().filter(|r| r.truth == Contrast::Low).count();
    println!(
        "test: {n_low} low-contrast, {} high-contrast\n",
        test.len() - n_low
    );

    println!("| gate | decision | parameters (fitted on train) | train acc | test acc |");
    println!("|---|---|---|---|---|");
    let d = GrayGate {
        threshold: 1000 * 128 * 128 / (512 * 512),
        ..GrayGate::default()
    };
    println!(
        "| seed graygate, default (1000 px at 512², scaled) | majority | threshold {}, above = {} | {:.3} | {:.3} |",
        d.threshold,
        d.above,
        acc(train.iter().map(|r| d.decide(&r.counts)), &train),
        acc(test.iter().map(|r| d.decide(&r.counts)), &test)
    );
    for dec in [ScanDecision::Majority, ScanDecision::Middle] {
        let tr: Vec<(Vec<usize>, Contrast)> =
            train.iter().map(|r| (r.counts.clone(), r.truth)).collect();
        let g = GrayGate::fit(dec, &tr).unwrap();
        println!(
            "| seed graygate, fitted | {dec:?} | threshold {}, above = {} | {:.3} | {:.3} |",
            g.threshold,
            g.above,
            acc(train.iter().map(|r| g.decide(&r.counts)), &train),
            acc(test.iter().map(|r| g.decide(&r.counts)), &test)
        );
    }
    let tr: Vec<(ContrastStats, Contrast)> = train.iter().map(|r| (r.stats, r.truth)).collect();
    for f in ContrastFeature::ALL {
        let (g, a) = ContrastGate::fit_feature(f, &tr).unwrap();
        println!(
            "| contrast stump | mean over slices | {f:?} {} {:.5} → high | {a:.3} | {:.3} |",
            if g.high_above { ">" } else { "<=" },
            g.threshold,
            acc(test.iter().map(|r| g.classify(&r.stats)), &test)
        );
    }
    let (best, a) = ContrastGate::fit(&tr).unwrap();
    println!(
        "| **ContrastGate::fit** (best feature) | mean over slices | {:?} {:.5} | {a:.3} | {:.3} |\n",
        best.feature,
        best.threshold,
        acc(test.iter().map(|r| best.classify(&r.stats)), &test)
    );
    println!(
        "per-scan statistics (test): truth, saturation, spread, std, noise, max_fraction, median max-count"
    );
    for r in &test {
        let mut c = r.counts.clone();
        c.sort_unstable();
        println!(
            "  {:4} {:.4} {:5.1} {:5.1} {:5.2} {:.4} {}",
            r.truth.name(),
            r.stats.saturation,
            r.stats.spread,
            r.stats.std,
            r.stats.noise,
            r.stats.max_fraction,
            c[c.len() / 2]
        );
    }

    // Lesion masks through a down- and up-sampling round trip.
    println!(
        "\n| method | Dice, z ×1/2 and back | Dice, all axes ×1/2 and back | Dice, z ×1/4 and back |"
    );
    println!("|---|---|---|---|");
    let masks: Vec<&Array3<u8>> = train_scans
        .iter()
        .chain(&test_scans)
        .map(|p| &p.truth.lesion_mask)
        .filter(|m| m.iter().any(|&v| v > 0))
        .collect();
    for m in Interpolation::ALL {
        let mut sums = [0.0f64; 3];
        for mask in &masks {
            let (z, y, x) = mask.dim();
            let f = mask.mapv(|v| v as f32);
            let shapes = [
                [z.div_ceil(2), y, x],
                [z.div_ceil(2), y.div_ceil(2), x.div_ceil(2)],
                [z.div_ceil(4), y, x],
            ];
            for (k, s) in shapes.iter().enumerate() {
                let down = zoom(f.view(), *s, m).unwrap();
                let up = zoom(down.view(), [z, y, x], m).unwrap();
                let bin = up.mapv(|v| u8::from(v >= 0.5));
                sums[k] += dice(mask, &bin);
            }
        }
        let n = masks.len() as f64;
        println!(
            "| {} | {:.4} | {:.4} | {:.4} |",
            m.name(),
            sums[0] / n,
            sums[1] / n,
            sums[2] / n
        );
    }
    println!("({} scans with lesions)", masks.len());
}
