//! Golden tests of `ct_morph::image` against scipy.ndimage, scipy.spatial and numpy (made by
//! `tools/ct-morph/make_image_goldens.py`, scipy 1.17.1, numpy 2.4.6).
//!
//! Tolerances:
//! * min/max filters, grey opening, city-block distance, convex hull: none (exact: order
//!   statistics and integer arithmetic).
//! * masked mean: 1e-6 relative to max(1, |reference|). The reference is float64 with
//!   scipy's running sums; ours sums in f64 over integral images and rounds the ratio to
//!   f32 (relative rounding 6e-8).
//! * Hessian eigenvalues: 2e-3 + 1e-4·|reference|. Ours smooths in f32 (the smoothed HU
//!   image is rounded to 6e-5 at 1000 HU), and second differences add four such errors.

use std::fs::File;
use std::path::PathBuf;

use ct_morph::image::{
    cityblock_distance, convex_hull, grey_opening, hessian_eigenvalues, masked_mean,
    maximum_filter, minimum_filter,
};
use ndarray::{Array2, Array3, ArrayD};
use ndarray_npy::{ReadNpyExt, ReadableElement};

fn read<T: ReadableElement>(name: &str) -> ArrayD<T> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/image")
        .join(name);
    let f = File::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    ArrayD::<T>::read_npy(f).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read2<T: ReadableElement>(name: &str) -> Array2<T> {
    read::<T>(name).into_dimensionality().expect("2-D")
}

#[test]
fn min_max_filters_and_grey_opening_equal_scipy() {
    let img = read2::<f32>("img.npy");
    for r in [1, 2, 4] {
        assert_eq!(
            minimum_filter(img.view(), r),
            read2::<f32>(&format!("min_r{r}.npy")),
            "min r={r}"
        );
        assert_eq!(
            maximum_filter(img.view(), r),
            read2::<f32>(&format!("max_r{r}.npy")),
            "max r={r}"
        );
        assert_eq!(
            grey_opening(img.view(), r),
            read2::<f32>(&format!("open_r{r}.npy")),
            "opening r={r}"
        );
    }
}

#[test]
fn masked_mean_equals_the_ratio_of_uniform_filters() {
    let (img, w) = (read2::<f32>("img.npy"), read2::<f32>("w.npy"));
    for r in [1, 3, 10] {
        let want = read2::<f64>(&format!("mean_r{r}.npy"));
        let got = masked_mean(img.view(), w.view(), r, -850.0);
        for ((y, x), &g) in got.indexed_iter() {
            let e = want[[y, x]];
            let tol = 1e-6 * e.abs().max(1.0);
            assert!(
                (g as f64 - e).abs() <= tol,
                "r={r} at ({y},{x}): {g} vs {e}"
            );
        }
    }
}

#[test]
fn hessian_eigenvalues_equal_numpy() {
    let img = read2::<f32>("img.npy");
    for r in [1, 2, 5] {
        let want: Array3<f64> = read::<f64>(&format!("hess_r{r}.npy"))
            .into_dimensionality()
            .expect("3-D");
        let (lo, hi) = hessian_eigenvalues(img.view(), r);
        for (k, got) in [lo, hi].iter().enumerate() {
            for ((y, x), &g) in got.indexed_iter() {
                let e = want[[k, y, x]];
                let tol = 2e-3 + 1e-4 * e.abs();
                assert!(
                    (g as f64 - e).abs() <= tol,
                    "r={r} eigenvalue {k} at ({y},{x}): {g} vs {e}"
                );
            }
        }
    }
}

#[test]
fn cityblock_distance_equals_scipy_cdt_with_the_outside_as_background() {
    let mask = read2::<u8>("mask.npy");
    let want = read2::<i32>("cdt.npy").mapv(|v| v as u32);
    assert_eq!(cityblock_distance(mask.view()), want);
}

#[test]
fn convex_hull_has_scipys_vertices_in_its_order() {
    for k in 0..4 {
        let pts = read2::<i64>(&format!("hull_pts{k}.npy"));
        let want = read2::<i64>(&format!("hull{k}.npy"));
        let want: Vec<(i64, i64)> = want.rows().into_iter().map(|r| (r[0], r[1])).collect();
        let got = convex_hull(pts.rows().into_iter().map(|r| (r[0], r[1])).collect());
        assert_eq!(got.len(), want.len(), "set {k}: {got:?} vs {want:?}");
        // Same cycle, same direction: rotate scipy's to start where ours does.
        let start = want
            .iter()
            .position(|p| *p == got[0])
            .expect("same vertices");
        let rotated: Vec<_> = want[start..]
            .iter()
            .chain(&want[..start])
            .copied()
            .collect();
        assert_eq!(got, rotated, "set {k}");
    }
}
