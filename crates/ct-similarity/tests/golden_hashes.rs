//! Golden tests against Python imagehash 4.3.2 / Pillow 13.0.0 / PyWavelets 1.9.0
//! (files made by `tools/ct-similarity/make_goldens.py`).
//!
//! Tolerance: none. Hashes and Pillow's resized pixels must be bit-identical.

use std::path::PathBuf;

use ct_similarity::{HashKind, Hashes, ImageHash, resize_lanczos, to_grey};
use serde_json::Value;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn goldens() -> serde_json::Map<String, Value> {
    let s = std::fs::read_to_string(data().join("hashes.json")).unwrap();
    let v: Value = serde_json::from_str(&s).unwrap();
    v["images"].as_object().unwrap().clone()
}

#[test]
fn at_least_thirty_golden_images() {
    assert!(goldens().len() >= 30);
}

#[test]
fn grey_conversion_matches_pillow_convert_l() {
    for (name, rec) in goldens() {
        let img = image::open(data().join("images").join(&name)).unwrap();
        let grey = to_grey(&img).unwrap();
        let size = rec["size"].as_array().unwrap();
        assert_eq!(
            grey.dim(),
            (
                size[1].as_u64().unwrap() as usize,
                size[0].as_u64().unwrap() as usize
            ),
            "{name}"
        );
        let sum: u64 = grey.iter().map(|&v| v as u64).sum();
        assert_eq!(
            sum,
            rec["grey_sum"].as_u64().unwrap(),
            "{name} (mode {})",
            rec["mode"]
        );
    }
}

#[test]
fn lanczos_resize_matches_pillow() {
    for (name, rec) in goldens() {
        let img = image::open(data().join("images").join(&name)).unwrap();
        let grey = to_grey(&img).unwrap();
        for (w, h) in [(8, 8), (9, 8), (32, 32), (13, 7)] {
            let got = resize_lanczos(grey.view(), w, h).unwrap();
            assert_eq!(got.dim(), (h, w));
            let want: Vec<u8> = rec[format!("resize{w}x{h}")]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u8)
                .collect();
            assert_eq!(
                got.iter().copied().collect::<Vec<u8>>(),
                want,
                "{name} -> {w}x{h}"
            );
        }
    }
}

fn check_kind(kind: HashKind) {
    let mut checked = 0;
    for (name, rec) in goldens() {
        let img = image::open(data().join("images").join(&name)).unwrap();
        let grey = to_grey(&img).unwrap();
        for size in [8usize, 16] {
            let want = rec[format!("{}{}", kind.name(), size)].as_str().unwrap();
            let got = kind.compute(grey.view(), size).unwrap();
            assert_eq!(
                got.to_string(),
                want,
                "{} size {size} of {name}",
                kind.name()
            );
            checked += 1;
        }
    }
    assert!(checked >= 60);
}

#[test]
fn average_hash_matches_imagehash() {
    check_kind(HashKind::Average);
}

#[test]
fn phash_matches_imagehash() {
    check_kind(HashKind::Perceptual);
}

#[test]
fn dhash_matches_imagehash() {
    check_kind(HashKind::Difference);
}

#[test]
fn whash_matches_imagehash() {
    check_kind(HashKind::Wavelet);
}

#[test]
fn anchor_slice_reference_hashes() {
    // /work/shared/anchors/README.md: hashes of vol_u8[32] (= slice512_u8).
    let img = image::open(data().join("images/anchor_slice32_512x512.png")).unwrap();
    let h = Hashes::of_image(&img, 8).unwrap();
    assert_eq!(h.ahash.to_string(), "00187e5bdb7e3c00");
    assert_eq!(h.phash.to_string(), "91796e946dc7909a");
    assert_eq!(h.dhash.to_string(), "8671f092b2f0f096");
    assert_eq!(h.whash.to_string(), "00187e7eff7e3c00");
}

#[test]
fn hex_round_trip_and_hamming() {
    for (_, rec) in goldens() {
        for key in ["ahash8", "phash16", "dhash16", "whash8"] {
            let hex = rec[key].as_str().unwrap();
            let h: ImageHash = hex.parse().unwrap();
            assert_eq!(h.to_string(), hex);
            assert_eq!(h.hamming(&h).unwrap(), 0);
        }
    }
    let a: ImageHash = "00187e5bdb7e3c00".parse().unwrap();
    let b: ImageHash = "00187e7eff7e3c00".parse().unwrap();
    // imagehash: hex_to_hash(a) - hex_to_hash(b) == popcount(0x5bdb ^ 0x7eff) == 6
    assert_eq!(a.hamming(&b).unwrap(), (0x5bdbu32 ^ 0x7eff).count_ones());
    assert_eq!(a.shape(), (8, 8));
    let big: ImageHash = "f".repeat(64).parse().unwrap();
    assert_eq!(big.shape(), (16, 16));
    assert!(a.hamming(&big).is_err());
    assert!("xyz".parse::<ImageHash>().is_err());
    assert!("abc".parse::<ImageHash>().is_err()); // 12 bits: not a square hash
}
