//! 2-D arrays to PNG: colour maps, mask outlines, montages.

use std::io::Cursor;
use std::path::Path;

use ::image::ImageFormat;
pub use ::image::{Rgb, RgbImage};
use ndarray::{Array2, ArrayView2};

use crate::{Error, Result};

/// How values become colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMap {
    /// Black to white.
    Gray,
    /// Perceptually uniform dark-blue → green → yellow (matplotlib's viridis, 9 control points).
    Viridis,
    /// Diverging blue → white → red, for signed differences (white at 0 when the range is
    /// symmetric, which [`to_rgb_symmetric`] arranges).
    BlueWhiteRed,
}

const VIRIDIS: [[f64; 3]; 9] = [
    [68.0, 1.0, 84.0],
    [71.0, 44.0, 122.0],
    [59.0, 81.0, 139.0],
    [44.0, 113.0, 142.0],
    [33.0, 144.0, 141.0],
    [39.0, 173.0, 129.0],
    [92.0, 200.0, 99.0],
    [170.0, 220.0, 50.0],
    [253.0, 231.0, 37.0],
];

impl ColorMap {
    /// The colour of `t` in `[0, 1]` (clamped; NaN is drawn magenta so it is never hidden).
    pub fn color(self, t: f64) -> [u8; 3] {
        if t.is_nan() {
            return [255, 0, 255];
        }
        let t = t.clamp(0.0, 1.0);
        match self {
            ColorMap::Gray => {
                let v = (t * 255.0).round() as u8;
                [v, v, v]
            }
            ColorMap::Viridis => {
                let x = t * (VIRIDIS.len() - 1) as f64;
                let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
                let f = x - i as f64;
                let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
                [0, 1, 2].map(|c| (a[c] + (b[c] - a[c]) * f).round() as u8)
            }
            ColorMap::BlueWhiteRed => {
                let (lo, mid, hi) = (
                    [33.0, 102.0, 172.0],
                    [247.0, 247.0, 247.0],
                    [178.0, 24.0, 43.0],
                );
                let (a, b, f) = if t < 0.5 {
                    (lo, mid, t * 2.0)
                } else {
                    (mid, hi, (t - 0.5) * 2.0)
                };
                [0, 1, 2].map(|c| (a[c] + (b[c] - a[c]) * f).round() as u8)
            }
        }
    }
}

/// Maps `values` linearly from `[vmin, vmax]` to the colour map (finite values outside the
/// range are clamped). `vmin == vmax` draws everything at the bottom colour.
pub fn to_rgb(
    values: ArrayView2<'_, f64>,
    vmin: f64,
    vmax: f64,
    cmap: ColorMap,
) -> Result<RgbImage> {
    let (h, w) = values.dim();
    if h == 0 || w == 0 {
        return Err(Error::Empty("image with a zero-length axis"));
    }
    let span = vmax - vmin;
    let mut img = RgbImage::new(w as u32, h as u32);
    for ((y, x), &v) in values.indexed_iter() {
        let t = if span > 0.0 { (v - vmin) / span } else { 0.0 };
        img.put_pixel(x as u32, y as u32, Rgb(cmap.color(t)));
    }
    Ok(img)
}

/// Like [`to_rgb`] with the range taken from the finite data (min..max).
pub fn to_rgb_auto(values: ArrayView2<'_, f64>, cmap: ColorMap) -> Result<RgbImage> {
    let (lo, hi) = finite_range(values);
    to_rgb(values, lo, hi, cmap)
}

/// For signed differences: the range is `[-m, m]` with `m = max |v|`, so 0 is the middle colour.
pub fn to_rgb_symmetric(values: ArrayView2<'_, f64>, cmap: ColorMap) -> Result<RgbImage> {
    let m = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |a, v| a.max(v.abs()));
    to_rgb(values, -m, m, cmap)
}

fn finite_range(values: ArrayView2<'_, f64>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for &v in values.iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
}

/// A grey u8 slice with the outline of `mask` (non-zero voxels whose 4-neighbourhood leaves
/// the mask) drawn in `color`.
pub fn overlay_outline(
    gray: ArrayView2<'_, u8>,
    mask: ArrayView2<'_, u8>,
    color: [u8; 3],
) -> Result<RgbImage> {
    if gray.dim() != mask.dim() {
        return Err(Error::ShapeMismatch(
            gray.shape().to_vec(),
            mask.shape().to_vec(),
        ));
    }
    let (h, w) = gray.dim();
    if h == 0 || w == 0 {
        return Err(Error::Empty("image with a zero-length axis"));
    }
    let mut img = RgbImage::new(w as u32, h as u32);
    for ((y, x), &g) in gray.indexed_iter() {
        let inside = mask[[y, x]] != 0;
        let edge = inside
            && (y == 0
                || x == 0
                || y + 1 == h
                || x + 1 == w
                || mask[[y - 1, x]] == 0
                || mask[[y + 1, x]] == 0
                || mask[[y, x - 1]] == 0
                || mask[[y, x + 1]] == 0);
        img.put_pixel(
            x as u32,
            y as u32,
            Rgb(if edge { color } else { [g, g, g] }),
        );
    }
    Ok(img)
}

/// Tiles images of one size into a grid `cols` wide with a `gap`-pixel dark border.
pub fn montage(tiles: &[RgbImage], cols: usize, gap: u32) -> Result<RgbImage> {
    let first = tiles.first().ok_or(Error::Empty("montage without tiles"))?;
    let (tw, th) = first.dimensions();
    if let Some(t) = tiles.iter().find(|t| t.dimensions() != (tw, th)) {
        return Err(Error::ShapeMismatch(
            vec![th as usize, tw as usize],
            vec![t.height() as usize, t.width() as usize],
        ));
    }
    let cols = cols.clamp(1, tiles.len());
    let rows = tiles.len().div_ceil(cols);
    let mut out = RgbImage::from_pixel(
        cols as u32 * (tw + gap) + gap,
        rows as u32 * (th + gap) + gap,
        Rgb([24, 24, 24]),
    );
    for (i, t) in tiles.iter().enumerate() {
        let (r, c) = ((i / cols) as u32, (i % cols) as u32);
        ::image::imageops::replace(
            &mut out,
            t,
            (gap + c * (tw + gap)) as i64,
            (gap + r * (th + gap)) as i64,
        );
    }
    Ok(out)
}

/// u8 array to a grey RGB image.
pub fn gray_u8(values: ArrayView2<'_, u8>) -> Result<RgbImage> {
    let f: Array2<f64> = values.mapv(f64::from);
    to_rgb(f.view(), 0.0, 255.0, ColorMap::Gray)
}

/// PNG bytes of an image.
pub fn png_bytes(img: &RgbImage) -> Result<Vec<u8>> {
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, ImageFormat::Png)?;
    Ok(buf.into_inner())
}

/// Writes an image as PNG.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let bytes = png_bytes(img)?;
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn colour_maps_hit_their_ends() {
        assert_eq!(ColorMap::Gray.color(0.0), [0, 0, 0]);
        assert_eq!(ColorMap::Gray.color(1.0), [255, 255, 255]);
        assert_eq!(ColorMap::Viridis.color(0.0), [68, 1, 84]);
        assert_eq!(ColorMap::Viridis.color(1.0), [253, 231, 37]);
        assert_eq!(ColorMap::BlueWhiteRed.color(0.5), [247, 247, 247]);
        assert_eq!(ColorMap::Gray.color(f64::NAN), [255, 0, 255]);
    }

    #[test]
    fn symmetric_puts_zero_in_the_middle() {
        let d = array![[-2.0, 0.0, 1.0]];
        let img = to_rgb_symmetric(d.view(), ColorMap::BlueWhiteRed).unwrap();
        assert_eq!(img.get_pixel(1, 0).0, [247, 247, 247]);
        assert_eq!(img.get_pixel(0, 0).0, [33, 102, 172]);
    }

    #[test]
    fn outline_and_montage() {
        let g = Array2::<u8>::from_elem((5, 5), 100);
        let mut m = Array2::<u8>::zeros((5, 5));
        m.slice_mut(ndarray::s![1..4, 1..4]).fill(1);
        let img = overlay_outline(g.view(), m.view(), [255, 0, 0]).unwrap();
        assert_eq!(img.get_pixel(1, 1).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(2, 2).0, [100, 100, 100]);
        assert_eq!(img.get_pixel(0, 0).0, [100, 100, 100]);
        let mt = montage(&[img.clone(), img.clone(), img], 2, 1).unwrap();
        assert_eq!(mt.dimensions(), (2 * 6 + 1, 2 * 6 + 1));
        assert!(montage(&[], 2, 1).is_err());
        assert!(overlay_outline(g.view(), Array2::<u8>::zeros((4, 5)).view(), [0; 3]).is_err());
        let png = png_bytes(&gray_u8(g.view()).unwrap()).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
