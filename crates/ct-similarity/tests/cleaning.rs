//! The neighbour rule, order checks and near-duplicate search on synthetic volumes.

use ct_similarity::{
    BkTree, Criterion, HashKind, ImageHash, SsimParams, chain_order, check_order, duplicate_scans,
    flag_outliers, hash_volume, is_reversed, outlier_slices,
};
use ndarray::{Array3, Axis, s};

/// A smooth "scan": blobs whose size drifts slowly along z, plus faint deterministic texture.
fn smooth_volume(n: usize, seed: u64) -> Array3<u8> {
    Array3::from_shape_fn((n, 64, 64), |(z, y, x)| {
        let (fy, fx) = (y as f64 - 32.0, x as f64 - 32.0);
        let r1 = 10.0 + 8.0 * (z as f64 / n as f64) + seed as f64;
        let r = (fx * fx + fy * fy).sqrt();
        let blob = if r < r1 { 200.0 } else { 40.0 };
        let off = ((fx - 12.0).powi(2) + (fy + 10.0 - z as f64 * 0.3).powi(2)).sqrt();
        let second = if off < 6.0 { 60.0 } else { 0.0 };
        let tex = ((x * 7 + y * 13 + seed as usize * 5) % 11) as f64;
        (blob - second + tex).clamp(0.0, 255.0) as u8
    })
}

/// A slice unrelated to the scan: a checkerboard-like pattern.
fn alien(seed: usize) -> ndarray::Array2<u8> {
    ndarray::Array2::from_shape_fn((64, 64), |(y, x)| {
        if ((x / (8 + seed)) + (y / 5)).is_multiple_of(2) {
            230
        } else {
            10
        }
    })
}

fn criteria() -> Vec<(Criterion, f64)> {
    vec![
        (Criterion::ahash(), 5.0),
        (
            Criterion::Hash {
                kind: HashKind::Wavelet,
                hash_size: 8,
            },
            5.0,
        ),
        (
            Criterion::Hash {
                kind: HashKind::Perceptual,
                hash_size: 8,
            },
            12.0,
        ),
        (
            Criterion::Hash {
                kind: HashKind::Difference,
                hash_size: 8,
            },
            12.0,
        ),
        (Criterion::Ssim(SsimParams::default()), 0.5),
        (Criterion::Ssim(SsimParams::gaussian()), 0.5),
        (Criterion::Psnr, 15.0),
    ]
}

#[test]
fn injected_slices_are_flagged_by_every_criterion() {
    let mut v = smooth_volume(20, 0);
    for (k, z) in [0usize, 7, 13, 19].into_iter().enumerate() {
        v.index_axis_mut(Axis(0), z).assign(&alien(k));
    }
    for (c, t) in criteria() {
        let out = outlier_slices(v.view(), &c, t).unwrap();
        assert_eq!(out.slices, vec![0, 7, 13, 19], "{}", c.name());
        assert_eq!(out.scores.len(), 19);
    }
    // a clean volume has no outliers
    let clean = smooth_volume(20, 1);
    for (c, t) in criteria() {
        assert!(
            outlier_slices(clean.view(), &c, t)
                .unwrap()
                .slices
                .is_empty(),
            "{}",
            c.name()
        );
    }
}

#[test]
fn end_slices_rule() {
    let c = Criterion::ahash();
    // scores[i] between slice i and i+1; > 5 is far
    assert_eq!(flag_outliers(&[9.0, 1.0, 1.0], &c, 5.0), vec![0]);
    assert_eq!(flag_outliers(&[1.0, 1.0, 9.0], &c, 5.0), vec![3]);
    // slice 1 far from both sides: it is flagged, slice 0 is not
    assert_eq!(flag_outliers(&[9.0, 9.0, 1.0], &c, 5.0), vec![1]);
    // two slices: undecidable
    assert!(flag_outliers(&[9.0], &c, 5.0).is_empty());
    assert!(flag_outliers(&[], &c, 5.0).is_empty());
    // SSIM: far means below the threshold
    let s = Criterion::Ssim(SsimParams::default());
    assert_eq!(flag_outliers(&[0.9, 0.1, 0.2, 0.9], &s, 0.5), vec![2]);
}

#[test]
fn shuffled_order_is_detected_and_repaired() {
    let v = smooth_volume(16, 2);
    let c = Criterion::Ssim(SsimParams::default());
    let ok = check_order(v.view(), &c).unwrap();
    assert!(ok.in_order, "{ok:?}");
    let perm = [0usize, 1, 2, 3, 9, 10, 11, 12, 4, 5, 6, 7, 8, 13, 14, 15];
    let mut shuffled = v.clone();
    for (i, &p) in perm.iter().enumerate() {
        shuffled
            .index_axis_mut(Axis(0), i)
            .assign(&v.index_axis(Axis(0), p));
    }
    let chk = check_order(shuffled.view(), &c).unwrap();
    assert!(!chk.in_order);
    // the proposed order maps back to 0..16 (or its reverse)
    let restored: Vec<usize> = chk.order.iter().map(|&i| perm[i]).collect();
    let fwd: Vec<usize> = (0..16).collect();
    let bwd: Vec<usize> = (0..16).rev().collect();
    assert!(restored == fwd || restored == bwd, "{restored:?}");
}

#[test]
fn reversal_against_a_reference() {
    let v = smooth_volume(16, 3);
    let reference = smooth_volume(20, 3);
    let c = Criterion::Ssim(SsimParams::default());
    let (rev, _, _) = is_reversed(v.view(), reference.view(), &c, 8).unwrap();
    assert!(!rev);
    let flipped = v.slice(s![..;-1, .., ..]).to_owned();
    let (rev, fwd, bwd) = is_reversed(flipped.view(), reference.view(), &c, 8).unwrap();
    assert!(rev, "{fwd} {bwd}");
}

#[test]
fn chain_order_on_a_line() {
    // points on a line, given shuffled: the chain must recover the line
    let pos: [f64; 5] = [3.0, 0.0, 4.0, 1.0, 2.0];
    let n = pos.len();
    let m: Vec<f64> = (0..n * n)
        .map(|k| (pos[k / n] - pos[k % n]).abs())
        .collect();
    let order = chain_order(&m, n);
    let seq: Vec<f64> = order.iter().map(|&i| pos[i]).collect();
    assert!(
        seq == vec![0.0, 1.0, 2.0, 3.0, 4.0] || seq == vec![4.0, 3.0, 2.0, 1.0, 0.0],
        "{seq:?}"
    );
}

fn lcg_hashes(n: usize, seed: u64) -> Vec<ImageHash> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            let bits: Vec<bool> = (0..64)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    x >> 63 == 1
                })
                .collect();
            ImageHash::from_bits(&bits, 8, 8).unwrap()
        })
        .collect()
}

#[test]
fn bk_tree_matches_brute_force() {
    let mut hashes = lcg_hashes(300, 7);
    // plant near duplicates: copies with 1-3 bits flipped
    for k in 0..20 {
        let mut bits = hashes[k].bits();
        for j in 0..(k % 3 + 1) {
            bits[(k * 7 + j * 13) % 64] ^= true;
        }
        hashes.push(ImageHash::from_bits(&bits, 8, 8).unwrap());
    }
    let tree = BkTree::from_hashes(hashes.clone()).unwrap();
    for radius in [0u32, 2, 3, 10] {
        let got = tree.pairs_within(radius).unwrap();
        let mut want = Vec::new();
        for i in 0..hashes.len() {
            for j in i + 1..hashes.len() {
                let d = hashes[i].hamming(&hashes[j]).unwrap();
                if d <= radius {
                    want.push((i, j, d));
                }
            }
        }
        assert_eq!(got, want, "radius {radius}");
    }
    assert!(tree.pairs_within(3).unwrap().len() >= 20);
    let big: ImageHash = "0".repeat(64).parse().unwrap();
    assert!(tree.query(&big, 1).is_err());
}

#[test]
fn duplicate_scans_found_across_a_data_set() {
    let a = smooth_volume(12, 4);
    // another scan: different content (an off-centre block drifting along z)
    let b = Array3::from_shape_fn((12, 64, 64), |(z, y, x)| {
        if x > 40 && y > 5 + z && y < 30 + z {
            220u8
        } else {
            30
        }
    });
    let a_copy = a.mapv(|v| v.saturating_add(1)); // re-exported copy of scan a
    let scans: Vec<Vec<ImageHash>> = [&a, &b, &a_copy]
        .iter()
        .map(|v| hash_volume(v.view(), HashKind::Wavelet, 8).unwrap())
        .collect();
    let dups = duplicate_scans(&scans, 2, 0.8).unwrap();
    assert_eq!(dups.len(), 1, "{dups:?}");
    assert_eq!((dups[0].a, dups[0].b), (0, 2));
    assert!(dups[0].fraction >= 0.8);
}

#[test]
fn hex_format_of_odd_sizes() {
    // imagehash: 9 bits -> '{:0>3x}'
    let h = ImageHash::from_bits(
        &[true, false, false, false, false, false, false, false, true],
        3,
        3,
    )
    .unwrap();
    assert_eq!(h.to_string(), "101");
    let h = ImageHash::from_bits(&[false; 9], 3, 3).unwrap();
    assert_eq!(h.to_string(), "000");
}
