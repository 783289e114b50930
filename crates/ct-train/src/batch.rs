//! From prepared scans to network inputs: which slices a scan contributes, the epoch's scan
//! order (shuffled or class-balanced), and batches as `(B, S, C, H, W)` tensors.

use covnet_models::Device;
use covnet_models::burn::prelude::*;
use rand::Rng;
use rand::seq::SliceRandom;

use crate::augment::Augment;
use crate::dataset::ScanItem;

/// `s` slice indices of a scan of `n` slices, sorted: evenly spaced (`rng = None`, evaluation)
/// or a random subset (training; with repetition when the scan has fewer than `s` slices).
pub fn pick_slices<R: Rng>(n: usize, s: usize, rng: Option<&mut R>) -> Vec<usize> {
    if n == 0 || s == 0 {
        return Vec::new();
    }
    let mut zs: Vec<usize> = match rng {
        None => evenly(n, s),
        Some(rng) if n >= s => {
            let mut all: Vec<usize> = (0..n).collect();
            all.shuffle(rng);
            all.truncate(s);
            all
        }
        Some(rng) => (0..s).map(|_| rng.random_range(0..n)).collect(),
    };
    zs.sort_unstable();
    zs
}

fn evenly(n: usize, s: usize) -> Vec<usize> {
    if s == 1 {
        return vec![n / 2];
    }
    (0..s)
        .map(|i| ((i * (n - 1)) as f64 / (s - 1) as f64).round() as usize)
        .collect()
}

/// The scans of one epoch, in order: a shuffle of `train`, or with `balanced` as many draws
/// (with replacement) in which every class is equally likely.
pub fn epoch_order<R: Rng>(
    train: &[usize],
    labels: &[usize],
    balanced: bool,
    rng: &mut R,
) -> Vec<usize> {
    if !balanced {
        let mut order = train.to_vec();
        order.shuffle(rng);
        return order;
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); 3];
    for &i in train {
        by_class[labels[i]].push(i);
    }
    by_class.retain(|c| !c.is_empty());
    (0..train.len())
        .map(|_| {
            let c = &by_class[rng.random_range(0..by_class.len())];
            c[rng.random_range(0..c.len())]
        })
        .collect()
}

/// The input tensor `(B, S, C, H, W)` of `scans`: `s` slices each (random subsets and
/// augmentation when `augment` is given), the single channel repeated `channels` times.
pub fn batch_tensor<R: Rng>(
    scans: &[&ScanItem],
    s: usize,
    channels: usize,
    augment: Option<(&Augment, &mut R)>,
    device: &Device,
) -> Tensor<5> {
    let mut data = Vec::new();
    let mut hw = (0, 0);
    let mut aug = augment;
    for scan in scans {
        let zs = match &mut aug {
            Some((a, rng)) if a.random_slices => pick_slices(scan.n_slices(), s, Some(&mut **rng)),
            _ => pick_slices::<R>(scan.n_slices(), s, None),
        };
        let mut v = scan.slices_f32(&zs);
        if let Some((a, rng)) = &mut aug {
            v = a.apply(v, &mut **rng);
        }
        let (_, h, w) = v.dim();
        hw = (h, w);
        for plane in v.outer_iter() {
            for _ in 0..channels {
                data.extend(plane.iter().copied());
            }
        }
    }
    Tensor::<1>::from_floats(data.as_slice(), device).reshape([
        scans.len(),
        s,
        channels,
        hw.0,
        hw.1,
    ])
}

/// The input tensor `(B, 1, C, H, W)` of single slices `(scan, z)` (slice-level training),
/// each augmented when `augment` is given, the channel repeated `channels` times.
pub fn slice_batch_tensor<R: Rng>(
    slices: &[(&ScanItem, usize)],
    channels: usize,
    mut augment: Option<(&Augment, &mut R)>,
    device: &Device,
) -> Tensor<5> {
    let mut data = Vec::new();
    let mut hw = (0, 0);
    for (scan, z) in slices {
        let mut v = scan.slices_f32(&[*z]);
        if let Some((a, rng)) = &mut augment {
            v = a.apply(v, &mut **rng);
        }
        let (_, h, w) = v.dim();
        hw = (h, w);
        for _ in 0..channels {
            data.extend(v.iter().copied());
        }
    }
    Tensor::<1>::from_floats(data.as_slice(), device).reshape([
        slices.len(),
        1,
        channels,
        hw.0,
        hw.1,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn slices_evenly_and_randomly() {
        assert_eq!(pick_slices::<ChaCha8Rng>(9, 3, None), vec![0, 4, 8]);
        assert_eq!(pick_slices::<ChaCha8Rng>(9, 1, None), vec![4]);
        assert_eq!(pick_slices::<ChaCha8Rng>(2, 4, None), vec![0, 0, 1, 1]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let r = pick_slices(20, 5, Some(&mut rng));
        assert_eq!(r.len(), 5);
        assert!(r.windows(2).all(|w| w[0] < w[1]));
        let short = pick_slices(3, 6, Some(&mut rng));
        assert_eq!(short.len(), 6);
        assert!(short.iter().all(|&z| z < 3));
    }

    #[test]
    fn balanced_order_draws_every_class_alike() {
        // 90 normal, 5 CAP, 5 COVID.
        let labels: Vec<usize> = (0..100)
            .map(|i| {
                if i < 90 {
                    0
                } else if i < 95 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let train: Vec<usize> = (0..100).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0usize; 3];
        for _ in 0..30 {
            for i in epoch_order(&train, &labels, true, &mut rng) {
                counts[labels[i]] += 1;
            }
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
        let plain = epoch_order(&train, &labels, false, &mut rng);
        let mut sorted = plain.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, train);
    }
}
