//! Structuring elements: `generate_binary_structure`, `iterate_structure`, boxes, balls and
//! arbitrary masks, stored as 3-D arrays (a rank-2 element is `1 x h x w`).

use ndarray::{Array3, ArrayViewD, IxDyn};

use crate::{Error, Result};

/// A binary structuring element of rank 1, 2 or 3 with odd extents, centred on its middle
/// voxel (scipy's `origin = 0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    rank: usize,
    /// Always 3-D: missing leading axes have length 1.
    data: Array3<bool>,
}

/// How an element can be applied as a chain of unit elements (see `morph.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decomposition {
    /// `iterate_structure(generate_binary_structure(rank, c), n)`: `n` passes of the unit.
    Iterated { unit: Structure, n: usize },
    /// A full box: `ry` passes of a 3-long y line, etc.
    Boxed { radii: [usize; 3] },
    /// No known decomposition: one pass over every offset.
    Direct,
}

fn pad3(shape: &[usize]) -> [usize; 3] {
    let mut s = [1usize; 3];
    let k = 3 - shape.len();
    s[k..].copy_from_slice(shape);
    s
}

impl Structure {
    /// An arbitrary element from a 1-, 2- or 3-D boolean mask. Every extent must be odd and at
    /// least one voxel true.
    pub fn from_mask(mask: ArrayViewD<'_, bool>) -> Result<Structure> {
        let rank = mask.ndim();
        if !(1..=3).contains(&rank) {
            return Err(Error::UnsupportedRank(rank));
        }
        let shape = mask.shape().to_vec();
        if shape.iter().any(|&n| n % 2 == 0) {
            return Err(Error::EvenStructure { shape });
        }
        if !mask.iter().any(|&b| b) {
            return Err(Error::EmptyStructure { shape });
        }
        let s3 = pad3(&shape);
        let data = Array3::from_shape_vec(s3, mask.iter().copied().collect())
            .expect("shape padded with ones has the same length");
        Ok(Structure { rank, data })
    }

    /// A full box of the given odd extents (rank = `shape.len()`).
    pub fn boxed(shape: &[usize]) -> Result<Structure> {
        if !(1..=3).contains(&shape.len()) {
            return Err(Error::UnsupportedRank(shape.len()));
        }
        let m = ndarray::ArrayD::from_elem(IxDyn(shape), true);
        Structure::from_mask(m.view())
    }

    /// A Euclidean ball of the given radius in voxels: offsets with `|o|^2 <= r^2`
    /// (skimage's `ball` / `disk`). Shape `(2r+1)^rank`.
    pub fn ball(rank: usize, radius: usize) -> Result<Structure> {
        if !(1..=3).contains(&rank) {
            return Err(Error::UnsupportedRank(rank));
        }
        let n = 2 * radius + 1;
        let r = radius as i64;
        let shape = vec![n; rank];
        let m = ndarray::ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
            let d2: i64 = (0..rank).map(|k| (ix[k] as i64 - r).pow(2)).sum();
            d2 <= r * r
        });
        Structure::from_mask(m.view())
    }

    /// Rank (1, 2 or 3).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The element's shape (`rank` entries).
    pub fn shape(&self) -> Vec<usize> {
        self.data.shape()[3 - self.rank..].to_vec()
    }

    /// The element as a `rank`-D boolean array.
    pub fn to_mask(&self) -> ndarray::ArrayD<bool> {
        self.data
            .clone()
            .into_dyn()
            .into_shape_with_order(IxDyn(&self.shape()))
            .expect("same length")
    }

    /// The element padded to 3-D (`1 x h x w` for rank 2).
    pub fn as_3d(&self) -> &Array3<bool> {
        &self.data
    }

    /// Offsets `[dz, dy, dx]` of the true voxels relative to the centre, in raster order.
    pub fn offsets(&self) -> Vec<[isize; 3]> {
        let (a, b, c) = self.data.dim();
        let (ca, cb, cc) = ((a / 2) as isize, (b / 2) as isize, (c / 2) as isize);
        self.data
            .indexed_iter()
            .filter(|(_, v)| **v)
            .map(|((z, y, x), _)| [z as isize - ca, y as isize - cb, x as isize - cc])
            .collect()
    }

    /// Number of true voxels.
    pub fn count(&self) -> usize {
        self.data.iter().filter(|&&b| b).count()
    }

    /// The element mirrored through its centre (what `binary_dilation` uses).
    pub fn reflected(&self) -> Structure {
        let mut d = self.data.clone();
        d.invert_axis(ndarray::Axis(0));
        d.invert_axis(ndarray::Axis(1));
        d.invert_axis(ndarray::Axis(2));
        Structure {
            rank: self.rank,
            data: d,
        }
    }

    /// True when the element equals its reflection.
    pub fn is_symmetric(&self) -> bool {
        self.reflected() == *self
    }

    fn from_offsets(rank: usize, offs: &[[isize; 3]]) -> Structure {
        let mut r = [0isize; 3];
        for o in offs {
            for k in 0..3 {
                r[k] = r[k].max(o[k].abs());
            }
        }
        let mut shape = [0usize; 3];
        for k in 0..3 {
            shape[k] = 2 * r[k] as usize + 1;
        }
        // Keep the declared rank's axes at least 1 long; lower axes stay 1.
        let mut data = Array3::from_elem(shape, false);
        for o in offs {
            data[[
                (o[0] + r[0]) as usize,
                (o[1] + r[1]) as usize,
                (o[2] + r[2]) as usize,
            ]] = true;
        }
        Structure { rank, data }
    }

    /// How to apply this element quickly (exact, see `morph.rs` for the proof sketch).
    pub(crate) fn decomposition(&self) -> Decomposition {
        let shape = self.data.dim();
        let shape = [shape.0, shape.1, shape.2];
        if self.data.iter().all(|&b| b) {
            return Decomposition::Boxed {
                radii: [shape[0] / 2, shape[1] / 2, shape[2] / 2],
            };
        }
        // iterate_structure(gbs(rank, c), n) has extent 2n+1 on the rank's axes.
        let dims = &shape[3 - self.rank..];
        if dims.iter().all(|&d| d == dims[0]) && dims[0] >= 3 {
            let n = dims[0] / 2;
            for c in 1..=self.rank {
                let unit = generate_binary_structure(self.rank, c).expect("valid");
                if n == 1 {
                    if unit == *self {
                        return Decomposition::Iterated { unit, n: 1 };
                    }
                } else if iterate_structure(&unit, n).expect("valid") == *self {
                    return Decomposition::Iterated { unit, n };
                }
            }
        }
        Decomposition::Direct
    }
}

/// `scipy.ndimage.generate_binary_structure(rank, connectivity)`: the offsets whose squared
/// distance from the centre is at most `connectivity` (1 = cross/face neighbours, `rank` =
/// full box).
pub fn generate_binary_structure(rank: usize, connectivity: usize) -> Result<Structure> {
    if !(1..=3).contains(&rank) || connectivity < 1 || connectivity > rank {
        return Err(Error::InvalidConnectivity { rank, connectivity });
    }
    let shape = vec![3; rank];
    let m = ndarray::ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
        (0..rank).filter(|&k| ix[k] != 1).count() <= connectivity
    });
    Structure::from_mask(m.view())
}

/// `scipy.ndimage.iterate_structure(structure, n)`: the element dilated by itself `n - 1`
/// times (the Minkowski sum of `n` copies). `n = 0` is rejected; `n = 1` is a copy.
pub fn iterate_structure(s: &Structure, n: usize) -> Result<Structure> {
    if n == 0 {
        return Err(Error::InvalidParam {
            name: "iterations",
            why: "iterate_structure needs n >= 1".into(),
        });
    }
    if n == 1 {
        return Ok(s.clone());
    }
    let base = s.offsets();
    let mut set: std::collections::BTreeSet<[isize; 3]> = base.iter().copied().collect();
    for _ in 1..n {
        let mut next = std::collections::BTreeSet::new();
        for a in &set {
            for b in &base {
                next.insert([a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
            }
        }
        set = next;
    }
    let offs: Vec<_> = set.into_iter().collect();
    let mut out = Structure::from_offsets(s.rank, &offs);
    // scipy's output shape is n*(k-1)+1 on every axis even if the border planes are empty
    // (e.g. an element that only has true voxels in its middle plane).
    let want: Vec<usize> = pad3(&s.shape()).iter().map(|&k| n * (k - 1) + 1).collect();
    if out.data.shape() != want.as_slice() {
        let mut data = Array3::from_elem((want[0], want[1], want[2]), false);
        let (a, b, c) = out.data.dim();
        let o = [(want[0] - a) / 2, (want[1] - b) / 2, (want[2] - c) / 2];
        for ((z, y, x), &v) in out.data.indexed_iter() {
            data[[z + o[0], y + o[1], x + o[2]]] = v;
        }
        out.data = data;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbs_counts() {
        assert_eq!(generate_binary_structure(3, 1).unwrap().count(), 7);
        assert_eq!(generate_binary_structure(3, 2).unwrap().count(), 19);
        assert_eq!(generate_binary_structure(3, 3).unwrap().count(), 27);
        assert_eq!(generate_binary_structure(2, 1).unwrap().count(), 5);
        assert_eq!(generate_binary_structure(2, 2).unwrap().count(), 9);
        assert!(generate_binary_structure(2, 3).is_err());
        assert!(generate_binary_structure(4, 1).is_err());
        let d = iterate_structure(&generate_binary_structure(3, 1).unwrap(), 2).unwrap();
        assert_eq!(d.shape(), vec![5, 5, 5]);
        assert_eq!(d.count(), 25); // the L1 ball of radius 2
    }

    #[test]
    fn bad_elements() {
        let even = ndarray::ArrayD::from_elem(IxDyn(&[2, 3]), true);
        assert!(matches!(
            Structure::from_mask(even.view()),
            Err(Error::EvenStructure { .. })
        ));
        let empty = ndarray::ArrayD::from_elem(IxDyn(&[3, 3]), false);
        assert!(matches!(
            Structure::from_mask(empty.view()),
            Err(Error::EmptyStructure { .. })
        ));
        let r4 = ndarray::ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), true);
        assert!(Structure::from_mask(r4.view()).is_err());
    }

    #[test]
    fn decompositions() {
        let c = generate_binary_structure(3, 1).unwrap();
        assert!(matches!(
            iterate_structure(&c, 3).unwrap().decomposition(),
            Decomposition::Iterated { n: 3, .. }
        ));
        assert!(matches!(
            generate_binary_structure(2, 2).unwrap().decomposition(),
            Decomposition::Boxed { radii: [0, 1, 1] }
        ));
        assert_eq!(
            Structure::ball(3, 3).unwrap().decomposition(),
            Decomposition::Direct
        );
    }
}
