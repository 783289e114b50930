//! Realism V1 (the default) is frozen: the pipeline's figures and its four shipped models were
//! made on it. These checksums were taken from the generator *before* realism V2 was added
//! (commit 792d14c); any change to a V1 voxel, mask voxel or ground-truth field fails here.

use ct_phantom::{CohortConfig, generate_cohort};

/// FNV-1a, 64 bit.
fn fnv(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h ^= u64::from(b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

fn checksums(cfg: &CohortConfig) -> Vec<(String, u64, u64, u64)> {
    generate_cohort(cfg)
        .unwrap()
        .iter()
        .map(|p| {
            let mut hv = 0xcbf2_9ce4_8422_2325u64;
            for &v in p.scan.volume.data() {
                fnv(&mut hv, &v.to_le_bytes());
            }
            let mut hm = 0xcbf2_9ce4_8422_2325u64;
            for (&l, &s) in p.truth.lung_mask.iter().zip(&p.truth.lesion_mask) {
                fnv(&mut hm, &[l, s]);
            }
            let mut ht = 0xcbf2_9ce4_8422_2325u64;
            fnv(&mut ht, serde_json::to_string(&p.truth).unwrap().as_bytes());
            fnv(&mut ht, format!("{:?}", p.scan.volume.spacing()).as_bytes());
            fnv(&mut ht, format!("{:?}", p.scan.volume.origin()).as_bytes());
            (p.truth.id.clone(), hv, hm, ht)
        })
        .collect()
}

#[test]
fn v1_small_cohort_is_unchanged() {
    let got = checksums(&CohortConfig::small());
    for (id, hv, hm, ht) in &got {
        println!("(\"{id}\", {hv:#018x}, {hm:#018x}, {ht:#018x}),");
    }
    // (id, volume, lung+lesion masks, truth JSON + spacing + origin)
    let want: &[(&str, u64, u64, u64)] = &[
        (
            "normal-000",
            0x0231b91a7e1c81d7,
            0x468f4f6cc60342b4,
            0x8bcd3373e4776e00,
        ),
        (
            "normal-001",
            0xc0c4e035c0e7e397,
            0xd45cee3568d3cc95,
            0xb839f94abfacef1a,
        ),
        (
            "normal-002",
            0x5250f183b3781a62,
            0x7a08f8ace2a87dfd,
            0x3650310f7f4525a5,
        ),
        (
            "cap-000",
            0x3d16ff2c46494767,
            0x18e1c550e862e092,
            0xc3a5c12ccd434e9e,
        ),
        (
            "cap-001",
            0x99bbed40baf4d5ba,
            0x24f17e41ba33dcef,
            0x489a081f628bd6f3,
        ),
        (
            "cap-002",
            0x9ac9e31f3f05f623,
            0xe791167ec03974d3,
            0xc768cecf568ed461,
        ),
        (
            "covid-000",
            0xfbff0edd7b025888,
            0x9c39e3159aecd9d6,
            0x0df2d4f3f9958910,
        ),
        (
            "covid-001",
            0x26dd0b936d6a42f3,
            0xbde71ba07be20ff1,
            0x8c57980c93490e04,
        ),
        (
            "covid-002",
            0xcfbf2fbb69d21a7c,
            0xfa76ce97ae6d2642,
            0x2790fd985d23876f,
        ),
    ];
    assert_eq!(got.len(), want.len());
    for ((id, hv, hm, ht), (wid, wv, wm, wt)) in got.iter().zip(want) {
        assert_eq!(id, wid);
        assert_eq!((hv, hm, ht), (wv, wm, wt), "{id}: V1 output changed");
    }
}
