//! Grey-level 2-D image kernels that detectors build on, each equal to a reference
//! (golden-tested in `tests/image_goldens.rs` against scipy.ndimage, scipy.spatial and numpy):
//!
//! * [`minimum_filter`], [`maximum_filter`], [`grey_opening`]: flat square windows of side
//!   `2·radius + 1`, `scipy.ndimage.minimum_filter(a, size, mode="nearest")` etc.; exact.
//! * [`masked_mean`]: the mean of `a` weighted by `w` over a square window clipped at the
//!   borders, `uniform_filter(a·w) / uniform_filter(w)` with `mode="constant"`.
//! * [`hessian_eigenvalues`]: the in-plane Hessian of `a` smoothed by two box means,
//!   by central differences at the box radius, and its eigenvalues.
//! * [`cityblock_distance`]: distance in pixels (4-connected steps) to the nearest
//!   background pixel, outside the image counting as background,
//!   `scipy.ndimage.distance_transform_cdt(pad(mask), metric="taxicab")`; exact.
//! * [`convex_hull`]: the convex hull of integer points (monotone chain), the vertices of
//!   `scipy.spatial.ConvexHull`; exact.

mod filters;
mod geometry;

pub use filters::{grey_opening, hessian_eigenvalues, masked_mean, maximum_filter, minimum_filter};
pub use geometry::{cityblock_distance, convex_hull};

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn convex_hull_of_a_square_with_inner_points() {
        let pts = vec![(0, 0), (4, 0), (4, 4), (0, 4), (2, 2), (1, 3), (4, 2)];
        let h = convex_hull(pts);
        assert_eq!(h, vec![(0, 0), (4, 0), (4, 4), (0, 4)]);
    }

    #[test]
    fn masked_box_mean_ignores_pixels_outside_the_mask() {
        let a = Array2::from_shape_fn((5, 5), |(y, _)| if y < 2 { 100.0 } else { -800.0 });
        let w = Array2::from_shape_fn((5, 5), |(y, _)| if y < 2 { 0.0 } else { 1.0 });
        let m = masked_mean(a.view(), w.view(), 2, -1.0);
        assert!(m.iter().all(|&v| v == -800.0), "{m:?}");
        let empty = masked_mean(a.view(), Array2::zeros((5, 5)).view(), 1, -1.0);
        assert!(empty.iter().all(|&v| v == -1.0));
    }

    #[test]
    fn opening_removes_thin_lines_and_keeps_blobs() {
        let mut a = Array2::<f32>::from_elem((20, 20), -850.0);
        for y in 0..20 {
            a[[y, 3]] = 0.0; // a one-pixel vessel
        }
        for y in 8..14 {
            for x in 10..16 {
                a[[y, x]] = -400.0; // a 6×6 blob
            }
        }
        let o = grey_opening(a.view(), 1);
        assert_eq!(o[[10, 3]], -850.0);
        assert_eq!(o[[10, 12]], -400.0);
    }

    #[test]
    fn hessian_tells_a_blob_from_a_vessel() {
        let mut a = Array2::<f32>::from_elem((40, 40), -850.0);
        for y in 0..40 {
            for x in 8..10 {
                a[[y, x]] = 0.0; // a two-pixel vessel along y
            }
        }
        for y in 0..40usize {
            for x in 0..40usize {
                let d2 = (y as f32 - 20.0).powi(2) + (x as f32 - 28.0).powi(2);
                if d2 <= 16.0 {
                    a[[y, x]] = -400.0; // a disc of radius 4
                }
            }
        }
        let (lo, hi) = hessian_eigenvalues(a.view(), 2);
        // Disc centre: curved down in both directions.
        assert!(
            lo[[20, 28]] < -20.0 && hi[[20, 28]] < -20.0,
            "{} {}",
            lo[[20, 28]],
            hi[[20, 28]]
        );
        // Vessel: strongly curved across, flat along.
        assert!(lo[[20, 8]] < -100.0, "{}", lo[[20, 8]]);
        assert!(hi[[20, 8]].abs() < 1.0, "{}", hi[[20, 8]]);
        // Flat parenchyma: neither.
        assert!(lo[[5, 30]].abs() < 1e-3 && hi[[5, 30]].abs() < 1e-3);
    }
}
