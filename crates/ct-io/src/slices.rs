//! Folders of 2-D slice images (PNG, TIFF, JPEG), read and write.
//!
//! Files are ordered by natural sort of their names (`2.png` before `10.png`); slice 0 is the
//! first name. Every image must have the same size and bit depth.
//!
//! Values: 16-bit images hold `HU + 1024` (the offset [`write_folder`] uses, as in
//! `ct_core::Volume::to_u16_offset`), so they read back as HU exactly; 8-bit images are grey
//! levels, not HU: [`read_scan`] keeps them as 0..255 and says so in the warnings. Colour
//! images are reduced to grey with the `image` crate's luma weights (with a warning).

use std::path::{Path, PathBuf};

use ct_core::{Meta, Scan, Spacing, Volume, Window};
use image::{DynamicImage, ImageBuffer, Luma};
use ndarray::{Array3, Axis};
use rayon::prelude::*;

use crate::array::AnyArray;
use crate::util::{file_name, list_files};
use crate::{Error, Result};

/// Extensions read as slice images (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "tif", "tiff", "jpg", "jpeg"];

/// True when the path has one of [`IMAGE_EXTENSIONS`].
pub fn is_image_file(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The image files of a folder, naturally sorted.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(list_files(dir)?
        .into_iter()
        .filter(|p| is_image_file(p))
        .collect())
}

enum Decoded {
    U8(Vec<u8>, u32, u32, bool),
    U16(Vec<u16>, u32, u32, bool),
}

fn decode(p: &Path) -> Result<Decoded> {
    let img = image::open(p).map_err(|e| Error::Image {
        path: p.to_path_buf(),
        reason: e.to_string(),
    })?;
    let (w, h) = (img.width(), img.height());
    Ok(match img {
        DynamicImage::ImageLuma8(b) => Decoded::U8(b.into_raw(), w, h, false),
        DynamicImage::ImageLuma16(b) => Decoded::U16(b.into_raw(), w, h, false),
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => {
            let colour = !matches!(img, DynamicImage::ImageLumaA8(_));
            Decoded::U8(img.to_luma8().into_raw(), w, h, colour)
        }
        other => Decoded::U16(other.to_luma16().into_raw(), w, h, true),
    })
}

/// Reads a folder of slice images into a `(z, y, x)` array: `U8` for 8-bit images, `U16`
/// for 16-bit ones. Non-image files are ignored; mixed sizes or depths are an error.
pub fn read_folder(dir: &Path) -> Result<(AnyArray, Vec<String>)> {
    let files = image_files(dir)?;
    if files.is_empty() {
        return Err(Error::UnknownFormat {
            path: dir.to_path_buf(),
            reason: format!("no {} files", IMAGE_EXTENSIONS.join("/")),
        });
    }
    let decoded: Vec<Decoded> = files.par_iter().map(|p| decode(p)).collect::<Result<_>>()?;
    let dims = |d: &Decoded| match d {
        Decoded::U8(_, w, h, _) => (*w, *h, 8),
        Decoded::U16(_, w, h, _) => (*w, *h, 16),
    };
    let (w, h, bits) = dims(&decoded[0]);
    for (p, d) in files.iter().zip(&decoded) {
        let (w2, h2, b2) = dims(d);
        if (w2, h2, b2) != (w, h, bits) {
            return Err(Error::Image {
                path: p.clone(),
                reason: format!(
                    "{w2}x{h2} {b2}-bit, but {} is {w}x{h} {bits}-bit: all slices must match",
                    file_name(&files[0])
                ),
            });
        }
    }
    let mut warnings = Vec::new();
    let colour: Vec<String> = files
        .iter()
        .zip(&decoded)
        .filter(|(_, d)| matches!(d, Decoded::U8(.., true) | Decoded::U16(.., true)))
        .map(|(p, _)| file_name(p))
        .collect();
    if !colour.is_empty() {
        warnings.push(format!(
            "{} non-grey image(s) converted to luma: {}",
            colour.len(),
            colour.join(", ")
        ));
    }
    let (nz, ny, nx) = (files.len(), h as usize, w as usize);
    let arr = if bits == 8 {
        let mut v = Vec::with_capacity(nz * ny * nx);
        for d in &decoded {
            if let Decoded::U8(px, ..) = d {
                v.extend_from_slice(px);
            }
        }
        AnyArray::U8(Array3::from_shape_vec((nz, ny, nx), v).expect("sizes checked"))
    } else {
        let mut v = Vec::with_capacity(nz * ny * nx);
        for d in &decoded {
            if let Decoded::U16(px, ..) = d {
                v.extend_from_slice(px);
            }
        }
        AnyArray::U16(Array3::from_shape_vec((nz, ny, nx), v).expect("sizes checked"))
    };
    Ok((arr, warnings))
}

/// Reads a slice folder as a [`Scan`]: 16-bit values minus 1024 are HU; 8-bit grey levels are
/// kept as 0..255 (with a warning); spacing is 1 mm (with a warning).
pub fn read_scan(dir: &Path) -> Result<Scan> {
    let (arr, mut warnings) = read_folder(dir)?;
    let data = match arr {
        AnyArray::U8(a) => {
            warnings.push("8-bit slices are grey levels 0..255, not HU; kept as-is".into());
            a.mapv(|v| v as i16)
        }
        AnyArray::U16(a) => {
            a.mapv(|v| (v as i32 - 1024).clamp(i16::MIN as i32, i16::MAX as i32) as i16)
        }
        _ => unreachable!("read_folder returns U8 or U16"),
    };
    warnings.push("slice images have no spacing: 1 mm assumed on every axis".into());
    let volume =
        Volume::new(data, Spacing::ISOTROPIC_1MM).map_err(|e| Error::core(dir.display(), e))?;
    Ok(Scan {
        id: file_name(dir),
        label: None,
        volume,
        meta: Meta {
            source: Some(dir.to_path_buf()),
            warnings,
            ..Meta::default()
        },
    })
}

/// Image format and depth for [`write_folder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceFormat {
    /// 16-bit grey PNG holding `HU + 1024` (lossless for −1024..=64511 HU).
    Png16,
    /// 16-bit grey TIFF holding `HU + 1024`.
    Tiff16,
    /// 8-bit grey PNG of the HU windowed with the given window.
    Png8(Window),
    /// 8-bit grey JPEG (quality 95) of the windowed HU.
    Jpeg8(Window),
}

impl SliceFormat {
    fn ext(self) -> &'static str {
        match self {
            SliceFormat::Png16 | SliceFormat::Png8(_) => "png",
            SliceFormat::Tiff16 => "tif",
            SliceFormat::Jpeg8(_) => "jpg",
        }
    }
}

/// Writes one image per slice, `dir/0001.png`, `0002.png`, ... (slice 0 first), creating
/// `dir`. Returns the paths written.
pub fn write_folder(dir: &Path, volume: &Volume<i16>, format: SliceFormat) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let [nz, ny, nx] = volume.shape();
    let width = nz.to_string().len().max(4);
    (0..nz)
        .into_par_iter()
        .map(|k| {
            let path = dir.join(format!("{:0width$}.{}", k + 1, format.ext()));
            let s = volume.data().index_axis(Axis(0), k);
            let ie = |e: image::ImageError| Error::Image {
                path: path.clone(),
                reason: e.to_string(),
            };
            match format {
                SliceFormat::Png16 | SliceFormat::Tiff16 => {
                    let px: Vec<u16> = s
                        .iter()
                        .map(|&v| (v as i32 + 1024).clamp(0, 65535) as u16)
                        .collect();
                    let img: ImageBuffer<Luma<u16>, Vec<u16>> =
                        ImageBuffer::from_raw(nx as u32, ny as u32, px).expect("buffer size");
                    img.save(&path).map_err(ie)?;
                }
                SliceFormat::Png8(w) => {
                    let px: Vec<u8> = s.iter().map(|&v| w.apply(v)).collect();
                    let img: ImageBuffer<Luma<u8>, Vec<u8>> =
                        ImageBuffer::from_raw(nx as u32, ny as u32, px).expect("buffer size");
                    img.save(&path).map_err(ie)?;
                }
                SliceFormat::Jpeg8(w) => {
                    let px: Vec<u8> = s.iter().map(|&v| w.apply(v)).collect();
                    let f = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
                    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(
                        std::io::BufWriter::new(f),
                        95,
                    );
                    enc.encode(&px, nx as u32, ny as u32, image::ExtendedColorType::L8)
                        .map_err(ie)?;
                }
            }
            Ok(path)
        })
        .collect()
}
