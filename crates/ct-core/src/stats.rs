use ndarray::{Array2, ArrayView2, Zip};

use crate::{Error, Result};

/// Running per-pixel mean and standard deviation over many 2-D slices of one shape
/// (Welford's algorithm in f64, so millions of slices accumulate without loss).
///
/// The seed's EDA computes, per class, the mean image and the standard-deviation image over
/// all slices; difference images are then `mean(a) − mean(b)`.
///
/// ```
/// use ct_core::SliceStats;
/// use ndarray::array;
/// let mut s = SliceStats::new(1, 2);
/// s.push(array![[1.0f32, 2.0]].view())?;
/// s.push(array![[3.0f32, 2.0]].view())?;
/// assert_eq!(s.mean()?, array![[2.0, 2.0]]);
/// assert_eq!(s.std(0)?, array![[1.0, 0.0]]); // population std (ddof 0), like numpy
/// # Ok::<(), ct_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SliceStats {
    count: u64,
    mean: Array2<f64>,
    m2: Array2<f64>,
}

impl SliceStats {
    /// An empty accumulator for `rows × cols` slices.
    pub fn new(rows: usize, cols: usize) -> SliceStats {
        SliceStats {
            count: 0,
            mean: Array2::zeros((rows, cols)),
            m2: Array2::zeros((rows, cols)),
        }
    }

    /// Number of slices pushed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds one slice (any numeric type convertible to f64).
    pub fn push<T: Copy + Into<f64>>(&mut self, slice: ArrayView2<'_, T>) -> Result<()> {
        if slice.dim() != self.mean.dim() {
            return Err(Error::ShapeMismatch {
                expected: self.mean.shape().to_vec(),
                got: slice.shape().to_vec(),
            });
        }
        self.count += 1;
        let n = self.count as f64;
        Zip::from(&mut self.mean)
            .and(&mut self.m2)
            .and(&slice)
            .for_each(|m, m2, &v| {
                let v: f64 = v.into();
                let d = v - *m;
                *m += d / n;
                *m2 += d * (v - *m);
            });
        Ok(())
    }

    /// Merges another accumulator (Chan et al.'s parallel update), e.g. from another thread.
    pub fn merge(&mut self, other: &SliceStats) -> Result<()> {
        if other.mean.dim() != self.mean.dim() {
            return Err(Error::ShapeMismatch {
                expected: self.mean.shape().to_vec(),
                got: other.mean.shape().to_vec(),
            });
        }
        if other.count == 0 {
            return Ok(());
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        Zip::from(&mut self.mean)
            .and(&mut self.m2)
            .and(&other.mean)
            .and(&other.m2)
            .for_each(|ma, m2a, &mb, &m2b| {
                let d = mb - *ma;
                *ma += d * nb / n;
                *m2a += m2b + d * d * na * nb / n;
            });
        self.count += other.count;
        Ok(())
    }

    /// The mean image. Errors when nothing was pushed.
    pub fn mean(&self) -> Result<Array2<f64>> {
        if self.count == 0 {
            return Err(Error::ShapeMismatch {
                expected: vec![1],
                got: vec![0],
            });
        }
        Ok(self.mean.clone())
    }

    /// The standard-deviation image with `ddof` degrees of freedom removed (0 = population,
    /// numpy's default). Errors when fewer than `ddof + 1` slices were pushed.
    pub fn std(&self, ddof: u64) -> Result<Array2<f64>> {
        if self.count <= ddof {
            return Err(Error::ShapeMismatch {
                expected: vec![ddof as usize + 1],
                got: vec![self.count as usize],
            });
        }
        let d = (self.count - ddof) as f64;
        Ok(self.m2.mapv(|m2| (m2 / d).max(0.0).sqrt()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn matches_two_pass_and_merges() {
        let slices: Vec<Array2<f64>> = (0..7)
            .map(|k| {
                Array2::from_shape_fn((3, 4), |(i, j)| ((k * 37 + i * 11 + j * 5) % 17) as f64)
            })
            .collect();
        let mut all = SliceStats::new(3, 4);
        let mut a = SliceStats::new(3, 4);
        let mut b = SliceStats::new(3, 4);
        for (k, s) in slices.iter().enumerate() {
            all.push(s.view()).unwrap();
            if k < 3 {
                a.push(s.view()).unwrap()
            } else {
                b.push(s.view()).unwrap()
            }
        }
        a.merge(&b).unwrap();
        let n = slices.len() as f64;
        for i in 0..3 {
            for j in 0..4 {
                let mean = slices.iter().map(|s| s[[i, j]]).sum::<f64>() / n;
                let var = slices
                    .iter()
                    .map(|s| (s[[i, j]] - mean).powi(2))
                    .sum::<f64>()
                    / (n - 1.0);
                assert!((all.mean().unwrap()[[i, j]] - mean).abs() < 1e-12);
                assert!((all.std(1).unwrap()[[i, j]] - var.sqrt()).abs() < 1e-12);
                assert!((a.mean().unwrap()[[i, j]] - mean).abs() < 1e-12);
                assert!((a.std(1).unwrap()[[i, j]] - var.sqrt()).abs() < 1e-12);
            }
        }
        assert!(all.push(Array2::<f64>::zeros((2, 2)).view()).is_err());
        assert!(SliceStats::new(2, 2).mean().is_err());
    }
}
