//! The full-size anchor recipe against `/tmp/anchors/refs` (regenerate with
//! `ANCHORS_WORK=/tmp/anchors python3 /work/shared/anchors/make_inputs.py` and `make_refs.py`).
//! Ignored by default (needs the 50 MB anchor data); run with
//! `cargo test -p ct-morph --release --test anchors -- --ignored --nocapture`.
//! Exact: counts and the largest component's mask must equal scipy's.

use std::fs::File;
use std::time::Instant;

use ct_morph::{Components, MorphParams, PackedMask, generate_binary_structure, iterate_structure};
use ndarray::{Array1, Array3};
use ndarray_npy::ReadNpyExt;

#[test]
#[ignore = "needs /tmp/anchors (50 MB); run with --ignored"]
fn anchor_lung_recipe() {
    let vol = Array3::<i16>::read_npy(File::open("/tmp/anchors/data/vol.npy").unwrap()).unwrap();
    assert_eq!(vol.dim(), (64, 512, 512));
    let s6 = generate_binary_structure(3, 1).unwrap();
    let s6x2 = iterate_structure(&s6, 2).unwrap();
    let p = MorphParams::default();
    let t = Instant::now();
    let m = PackedMask::threshold_open(vol.view(), -950, -400).unwrap();
    let t1 = t.elapsed();
    let c = m.close(&s6, &p).unwrap();
    let t2 = t.elapsed();
    let o = c.open(&s6x2, &p).unwrap();
    let t3 = t.elapsed();
    let comps = Components::new(&o, &s6).unwrap();
    let t4 = t.elapsed();
    let largest = comps.largest(1);
    let t5 = t.elapsed();
    let mask = largest.to_bool();
    let t6 = t.elapsed();
    println!(
        "threshold {t1:?}, close {:?}, open {:?}, label {:?}, largest {:?}, unpack {:?}",
        t2 - t1,
        t3 - t2,
        t4 - t3,
        t5 - t4,
        t6 - t5
    );
    assert_eq!(m.count_ones(), 1_695_104);
    assert_eq!(c.count_ones(), 1_723_570);
    assert_eq!(o.count_ones(), 1_689_520);
    assert_eq!(comps.len(), 2);
    assert_eq!(comps.sizes(), vec![924_095, 765_425]);
    assert_eq!(largest.count_ones(), 924_095);
    let st = &comps.stats()[0];
    assert_eq!((st.bbox_min, st.bbox_max), ([1, 144, 97], [62, 360, 239]));
    // np.packbits(mask.ravel()) with numpy's default big-endian bit order.
    let packed =
        Array1::<u8>::read_npy(File::open("/tmp/anchors/refs/lung_largest_packbits.npy").unwrap())
            .unwrap();
    let flat = mask.as_slice().unwrap();
    let diff = flat
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b != ((packed[i / 8] >> (7 - i % 8)) & 1 == 1))
        .count();
    assert_eq!(diff, 0, "{diff} voxels differ from the scipy reference");
}
