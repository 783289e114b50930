//! Maximum-intensity projections.

use ndarray::{Array2, Array3, ArrayView3, Axis, Zip};
use rayon::prelude::*;

use crate::error::{Error, Result};

fn check_vol<T>(v: &ArrayView3<'_, T>) -> Result<()> {
    let (a, b, c) = v.dim();
    if a == 0 || b == 0 || c == 0 {
        return Err(Error::Empty {
            what: "volume",
            shape: vec![a, b, c],
        });
    }
    Ok(())
}

#[inline(always)]
fn max_into<T: Copy + PartialOrd>(acc: &mut T, v: T) {
    if v > *acc {
        *acc = v;
    }
}

/// Thick-slab MIP: output slice `z` is the voxel-wise maximum of the `k` input slices
/// `z − (k−1)/2 ..= z + k/2` (clipped at the ends), so the slice count is unchanged
/// (COVNet's "MIP over neighbouring slices"). `k = 1` copies the volume. Float NaNs are
/// ignored unless a whole slab is NaN. Output slices are computed in parallel.
///
/// Errors on an empty volume or `k == 0`.
pub fn mip_slab<T>(vol: ArrayView3<'_, T>, k: usize) -> Result<Array3<T>>
where
    T: Copy + PartialOrd + Send + Sync,
{
    check_vol(&vol)?;
    if k == 0 {
        return Err(Error::Parameter {
            name: "slab thickness k",
            value: "0".into(),
            reason: "must be >= 1 slice",
        });
    }
    let n = vol.len_of(Axis(0));
    let mut out = vol.to_owned();
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(z, mut o)| {
            let lo = z.saturating_sub((k - 1) / 2);
            let hi = (z + k / 2).min(n - 1);
            for s in lo..=hi {
                if s != z {
                    Zip::from(&mut o)
                        .and(&vol.index_axis(Axis(0), s))
                        .for_each(|a, &b| max_into(a, b));
                }
            }
        });
    Ok(out)
}

/// Whole-axis MIP: the maximum along `axis` (0 = z gives the axial projection).
///
/// Errors on an empty volume or an axis > 2.
pub fn mip_axis<T>(vol: ArrayView3<'_, T>, axis: usize) -> Result<Array2<T>>
where
    T: Copy + PartialOrd + Send + Sync,
{
    check_vol(&vol)?;
    if axis > 2 {
        return Err(Error::Parameter {
            name: "axis",
            value: axis.to_string(),
            reason: "must be 0 (z), 1 (y) or 2 (x)",
        });
    }
    let mut out = vol.index_axis(Axis(axis), 0).to_owned();
    for s in vol.axis_iter(Axis(axis)).skip(1) {
        Zip::from(&mut out).and(&s).for_each(|a, &b| max_into(a, b));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn slab_and_axis() {
        let v = Array3::from_shape_fn(
            (5, 1, 2),
            |(z, _, x)| if x == 0 { z as i16 } else { 4 - z as i16 },
        );
        let s = mip_slab(v.view(), 3).unwrap();
        let col0: Vec<i16> = (0..5).map(|z| s[[z, 0, 0]]).collect();
        let col1: Vec<i16> = (0..5).map(|z| s[[z, 0, 1]]).collect();
        assert_eq!(col0, vec![1, 2, 3, 4, 4]);
        assert_eq!(col1, vec![4, 4, 3, 2, 1]);
        let s2 = mip_slab(v.view(), 2).unwrap();
        let c: Vec<i16> = (0..5).map(|z| s2[[z, 0, 0]]).collect();
        assert_eq!(c, vec![1, 2, 3, 4, 4]);
        assert_eq!(mip_slab(v.view(), 1).unwrap(), v);
        assert_eq!(mip_axis(v.view(), 0).unwrap(), ndarray::array![[4i16, 4]]);
        assert!(mip_slab(v.view(), 0).is_err());
        assert!(mip_axis(v.view(), 3).is_err());
        assert!(mip_axis(Array3::<u8>::zeros((0, 1, 1)).view(), 0).is_err());
    }
}
