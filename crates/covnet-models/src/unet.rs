//! 2-D U-Net (Ronneberger et al. 2015) for lung segmentation, with overlap-tile inference for
//! slices of any size.

use burn::nn::BatchNorm;
use burn::nn::conv::{Conv2d, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use ndarray::{Array3, ArrayView3, s};

use crate::error::{Error, Result, invalid};
use crate::layers::{bn, conv};
use crate::util::{array_from_tensor, check_nchw};

/// Configuration of a [`UNet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UNetConfig {
    /// Input channels (1 for a CT slice).
    pub in_channels: usize,
    /// Output channels (classes; 2 for background / lung).
    pub num_classes: usize,
    /// Channels of the first level (64 in the paper); level l has `base << l`.
    pub base_channels: usize,
    /// Number of 2× down-samplings (4 in the paper).
    pub depth: usize,
}

impl Default for UNetConfig {
    /// A light lung U-Net: 1 channel in, 2 classes, 16 base channels, depth 4.
    fn default() -> Self {
        Self {
            in_channels: 1,
            num_classes: 2,
            base_channels: 16,
            depth: 4,
        }
    }
}

impl UNetConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("in_channels", self.in_channels),
            ("num_classes", self.num_classes),
            ("base_channels", self.base_channels),
            ("depth", self.depth),
        ] {
            if v == 0 {
                return Err(invalid(name, "must be at least 1"));
            }
        }
        if self.depth > 8 {
            return Err(invalid("depth", format!("at most 8, got {}", self.depth)));
        }
        Ok(())
    }

    /// Builds the network with random weights.
    pub fn init(&self, device: &Device) -> Result<UNet> {
        self.validate()?;
        let b = self.base_channels;
        let double = |cin: usize, cout: usize| DoubleConv {
            conv1: conv(device, cin, cout, 3, 1, 1, 1, false),
            bn1: bn(device, cout),
            conv2: conv(device, cout, cout, 3, 1, 1, 1, false),
            bn2: bn(device, cout),
        };
        let mut down = vec![double(self.in_channels, b)];
        for l in 1..=self.depth {
            down.push(double(b << (l - 1), b << l));
        }
        let mut up = Vec::new();
        let mut up_convs = Vec::new();
        for l in (0..self.depth).rev() {
            up_convs.push(
                ConvTranspose2dConfig::new([b << (l + 1), b << l], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
            );
            up.push(double(b << (l + 1), b << l));
        }
        Ok(UNet {
            down,
            up_convs,
            up,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            out: conv(device, b, self.num_classes, 1, 1, 0, 1, true),
            in_channels: self.in_channels,
            depth: self.depth,
        })
    }
}

/// (conv3×3-BN-ReLU) × 2 with "same" padding.
#[derive(Module, Debug)]
pub struct DoubleConv {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
}

impl DoubleConv {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(self.bn1.forward(self.conv1.forward(x)));
        relu(self.bn2.forward(self.conv2.forward(x)))
    }
}

/// U-Net with padded 3×3 convs, max-pool down, 2×2 transposed-conv up, skip concatenation.
#[derive(Module, Debug)]
pub struct UNet {
    down: Vec<DoubleConv>,
    up_convs: Vec<ConvTranspose2d>,
    up: Vec<DoubleConv>,
    pool: MaxPool2d,
    out: Conv2d,
    in_channels: usize,
    depth: usize,
}

impl UNet {
    /// 2^depth: tile sizes, margins and whole inputs must be multiples of it.
    pub fn stride(&self) -> usize {
        1 << self.depth
    }

    /// A margin (multiple of [`UNet::stride`]) at least the receptive-field radius, so that
    /// the centre of each tile sees exactly what it would see in the whole padded slice.
    ///
    /// Radius bound: each 3×3 conv at level l adds 2^l, each pool and up-conv 2^l, so
    /// Σ_{l<d} 6·2^l + 2·2^d.
    pub fn min_margin(&self) -> usize {
        let d = self.depth;
        let r = 6 * ((1usize << d) - 1) + (2usize << d);
        r.div_ceil(self.stride()) * self.stride()
    }

    /// Per-pixel class logits: (N, C, H, W) -> (N, classes, H, W). H and W must be multiples
    /// of [`UNet::stride`].
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        check_nchw("x", &x, self.in_channels)?;
        let [_, _, h, w] = x.dims();
        if h % self.stride() != 0 || w % self.stride() != 0 {
            return Err(Error::BadShape {
                what: "x",
                expected: format!("H and W multiples of 2^depth = {}", self.stride()),
                found: x.dims().to_vec(),
            });
        }
        let mut skips = Vec::new();
        let mut x = x;
        for (l, block) in self.down.iter().enumerate() {
            if l > 0 {
                x = self.pool.forward(x);
            }
            x = block.forward(x);
            skips.push(x.clone());
        }
        skips.pop();
        for (upc, block) in self.up_convs.iter().zip(&self.up) {
            let skip = skips.pop().expect("one skip per level");
            x = block.forward(Tensor::cat(vec![skip, upc.forward(x)], 1));
        }
        Ok(self.out.forward(x))
    }

    /// Overlap-tile inference on one slice of any size: (C, H, W) -> logits (classes, H, W).
    ///
    /// The slice is mirror-padded (reflection without repeating the edge) by `margin` on each
    /// side and up to a whole number of `tile`s; each tile plus its margins goes through the
    /// network (`batch` tiles at a time) and only its valid centre `tile`×`tile` is kept.
    /// `tile` and `margin` must be multiples of [`UNet::stride`]; with `margin` ≥
    /// [`UNet::min_margin`] the result equals running the whole padded slice at once.
    pub fn predict_tiled(
        &self,
        slice: ArrayView3<f32>,
        tile: usize,
        margin: usize,
        batch: usize,
    ) -> Result<Array3<f32>> {
        let (c, h, w) = slice.dim();
        if c != self.in_channels {
            return Err(Error::ChannelMismatch {
                what: "slice",
                expected: self.in_channels,
                found: c,
            });
        }
        if h == 0 || w == 0 {
            return Err(Error::BadShape {
                what: "slice",
                expected: "(C, H, W) with H, W ≥ 1".into(),
                found: vec![c, h, w],
            });
        }
        let st = self.stride();
        if tile == 0 || !tile.is_multiple_of(st) {
            return Err(invalid(
                "tile",
                format!("must be a positive multiple of {st}, got {tile}"),
            ));
        }
        if !margin.is_multiple_of(st) {
            return Err(invalid(
                "margin",
                format!("must be a multiple of {st}, got {margin}"),
            ));
        }
        if batch == 0 {
            return Err(invalid("batch", "must be at least 1"));
        }
        let (ty, tx) = (h.div_ceil(tile), w.div_ceil(tile));
        let padded = mirror_pad(
            slice,
            margin,
            margin + ty * tile - h,
            margin,
            margin + tx * tile - w,
        );
        let device = self.out.weight.val().device();
        let win = tile + 2 * margin;
        let mut out: Option<Array3<f32>> = None;
        let origins: Vec<(usize, usize)> = (0..ty)
            .flat_map(|i| (0..tx).map(move |j| (i * tile, j * tile)))
            .collect();
        for chunk in origins.chunks(batch) {
            let mut data = Vec::with_capacity(chunk.len() * c * win * win);
            for &(y, x) in chunk {
                data.extend(padded.slice(s![.., y..y + win, x..x + win]).iter().copied());
            }
            let input =
                Tensor::<4>::from_data(TensorData::new(data, [chunk.len(), c, win, win]), &device);
            let logits = array_from_tensor(self.forward(input)?);
            let k = logits.shape()[1];
            let result = out.get_or_insert_with(|| Array3::zeros((k, ty * tile, tx * tile)));
            for (n, &(y, x)) in chunk.iter().enumerate() {
                let centre = logits.slice(s![n, .., margin..margin + tile, margin..margin + tile]);
                result
                    .slice_mut(s![.., y..y + tile, x..x + tile])
                    .assign(&centre);
            }
        }
        let full = out.expect("at least one tile");
        Ok(full.slice(s![.., ..h, ..w]).to_owned())
    }
}

/// Index of position `i` (may be negative or ≥ n) after mirror reflection about the edges
/// (numpy's `reflect` mode, repeated for pads longer than the axis).
fn reflect_index(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m >= n as isize { period - m } else { m }) as usize
}

/// Mirror-pads the last two axes of (C, H, W) by (top, bottom, left, right).
pub fn mirror_pad(
    a: ArrayView3<f32>,
    top: usize,
    bottom: usize,
    left: usize,
    right: usize,
) -> Array3<f32> {
    let (c, h, w) = a.dim();
    Array3::from_shape_fn((c, h + top + bottom, w + left + right), |(k, y, x)| {
        let sy = reflect_index(y as isize - top as isize, h);
        let sx = reflect_index(x as isize - left as isize, w);
        a[(k, sy, sx)]
    })
}
