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

    // Lesion masks through a down- and up-sampling round trip: the mask (0/1 as f32) is
    // zoomed down by each factor and back to its own shape with the same method, then
    // thresholded at 0.5 and compared with the original (Dice, mean over the scans that
    // have lesions).
    let masks: Vec<&Array3<u8>> = train_scans
        .iter()
        .chain(&test_scans)
        .map(|p| &p.truth.lesion_mask)
        .filter(|m| m.iter().any(|&v| v > 0))
        .collect();
    type Shape = fn(usize, usize, usize) -> [usize; 3];
    let factors: [(&str, Shape); 5] = [
        ("z ×1/2", |z, y, x| [z.div_ceil(2), y, x]),
        ("z ×1/4", |z, y, x| [z.div_ceil(4), y, x]),
        ("in-plane ×1/2", |z, y, x| {
            [z, y.div_ceil(2), x.div_ceil(2)]
        }),
        ("all axes ×1/2", |z, y, x| {
            [z.div_ceil(2), y.div_ceil(2), x.div_ceil(2)]
        }),
        ("all axes ×1/4", |z, y, x| {
            [z.div_ceil(4), y.div_ceil(4), x.div_ceil(4)]
        }),
    ];
    let mut table = vec![[0.0f64; 5]; Interpolation::ALL.len()];
    for (mi, m) in Interpolation::ALL.into_iter().enumerate() {
        for mask in &masks {
            let (z, y, x) = mask.dim();
            let f = mask.mapv(|v| v as f32);
            for (k, (_, shape)) in factors.iter().enumerate() {
                let down = zoom(f.view(), shape(z, y, x), m).unwrap();
                let up = zoom(down.view(), [z, y, x], m).unwrap();
                let bin = up.mapv(|v| u8::from(v >= 0.5));
                table[mi][k] += dice(mask, &bin) / masks.len() as f64;
            }
        }
    }
    let head: Vec<&str> = factors.iter().map(|(n, _)| *n).collect();
    println!("\n| method | {} |", head.join(" | "));
    println!("|---|{}", "---|".repeat(factors.len()));
    for (mi, m) in Interpolation::ALL.into_iter().enumerate() {
        let cells: Vec<String> = (0..factors.len())
            .map(|k| {
                let best = table.iter().all(|r| r[k] <= table[mi][k]);
                if best {
                    format!("**{:.4}**", table[mi][k])
                } else {
                    format!("{:.4}", table[mi][k])
                }
            })
            .collect();
        println!("| {} | {} |", m.name(), cells.join(" | "));
    }
    for row in &table {
        assert!(row.iter().all(|d| (0.0..=1.0).contains(d)));
    }
    println!("({} scans with lesions)", masks.len());
}
