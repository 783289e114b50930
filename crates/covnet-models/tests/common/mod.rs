//! Helpers shared by the training test binaries (`train.rs`, `optim.rs`).

use burn::prelude::*;
use covnet_models::*;

/// A tiny deterministic generator (splitmix64) so the data does not depend on a `rand` version.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// `b` scans of `s` slices of `n`×`n`; returns ((B, S, 1, n, n), labels).
pub fn batch(
    rng: &mut Rng,
    b: usize,
    s: usize,
    n: usize,
    device: &Device,
) -> (Tensor<5>, Vec<usize>) {
    let mut data = vec![0f32; b * s * n * n];
    let mut labels = Vec::with_capacity(b);
    for scan in 0..b {
        let label = scan % 2;
        labels.push(label);
        for v in &mut data[scan * s * n * n..(scan + 1) * s * n * n] {
            *v = rng.uniform() - 0.5;
        }
        if label == 1 {
            let slice = (rng.next() % s as u64) as usize;
            let cy = 6.0 + rng.uniform() * (n as f32 - 12.0);
            let cx = 6.0 + rng.uniform() * (n as f32 - 12.0);
            let base = (scan * s + slice) * n * n;
            for y in 0..n {
                for x in 0..n {
                    let d2 = (y as f32 - cy).powi(2) + (x as f32 - cx).powi(2);
                    data[base + y * n + x] += 2.0 * (-d2 / 8.0).exp();
                }
            }
        }
    }
    (
        Tensor::from_data(TensorData::new(data, [b, s, 1, n, n]), device),
        labels,
    )
}

/// A tiny COVNet-ResNet-18 (base width 4, one input channel, two classes).
pub fn small_covnet(pooling: SlicePooling) -> CovNetConfig {
    CovNetConfig {
        backbone: BackboneConfig::ResNet(ResNetConfig {
            in_channels: 1,
            num_classes: 2,
            base_width: 4,
            ..ResNetConfig::new(ResNetDepth::R18)
        }),
        pooling,
        head: HeadKind::Linear,
        num_classes: 2,
        dropout: None,
    }
}
