//! Enhances one 8-bit grey image like the seed: global histogram equalisation, CLAHE, or
//! both (OpenCV-identical output).
//!
//! ```text
//! cargo run --release --example enhance -- --method he|clahe|he+clahe [--clip 2.0] [--tiles 8x8] IN OUT
//! ```
//! IN and OUT are PNG (grey or colour; colour becomes grey as cv2.cvtColor(..., COLOR_RGB2GRAY))
//! or `.npy` (2-D uint8). The program prints nothing but errors.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use covid_ct::enhance::{Clahe, equalize_hist};
use ndarray::Array2;

#[path = "support/flags.rs"]
mod flags;
use flags::finite_in;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Method {
    /// Global histogram equalisation (cv2.equalizeHist).
    He,
    /// CLAHE (cv2.createCLAHE(clip, tiles).apply).
    Clahe,
    /// Histogram equalisation followed by CLAHE.
    #[value(name = "he+clahe")]
    HeClahe,
}

#[derive(Debug, Parser)]
#[command(about = "Histogram equalisation / CLAHE of an 8-bit image (OpenCV-identical)")]
struct Args {
    /// he, clahe or he+clahe.
    #[arg(long, value_enum)]
    method: Method,
    /// CLAHE clip limit (OpenCV's clipLimit; the seed used 2.0).
    #[arg(long, default_value_t = 2.0, value_parser = finite_in(0.0, 1000.0))]
    clip: f64,
    /// CLAHE tile grid, columns x rows (OpenCV's tileGridSize).
    #[arg(long, default_value = "8x8")]
    tiles: String,
    /// Input image: .png or .npy.
    input: String,
    /// Output image: .png or .npy.
    output: String,
}

fn parse_tiles(s: &str) -> Result<(usize, usize)> {
    let (a, b) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("--tiles {s:?}: expected COLSxROWS, e.g. 8x8"))?;
    let tx = a
        .trim()
        .parse()
        .with_context(|| format!("--tiles {s:?}: bad column count"))?;
    let ty = b
        .trim()
        .parse()
        .with_context(|| format!("--tiles {s:?}: bad row count"))?;
    Ok((tx, ty))
}

fn is_npy(p: &str) -> bool {
    Path::new(p)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Reads a 2-D uint8 .npy (version 1/2/3 header, C or Fortran order).
fn read_npy_u8(path: &str) -> Result<Array2<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("{path}: not a .npy file");
    }
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        if bytes.len() < 12 {
            bail!("{path}: truncated .npy header");
        }
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(bytes.get(start..start + hlen).context("truncated header")?)?;
    let descr_ok = header.contains("'|u1'") || header.contains("'u1'") || header.contains("'<u1'");
    if !descr_ok {
        bail!("{path}: expected dtype uint8, header {header:?}");
    }
    let fortran = header.contains("'fortran_order': True");
    let shape_txt = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split(['(', ')']).nth(1))
        .with_context(|| format!("{path}: no shape in header {header:?}"))?;
    let dims: Vec<usize> = shape_txt
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse())
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("{path}: bad shape {shape_txt:?}"))?;
    if dims.len() != 2 {
        bail!("{path}: expected a 2-D array, got shape {dims:?}");
    }
    let data = bytes[start + hlen..].to_vec();
    if data.len() != dims[0] * dims[1] {
        bail!("{path}: {} data bytes for shape {dims:?}", data.len());
    }
    Ok(if fortran {
        Array2::from_shape_vec((dims[1], dims[0]), data)?
            .reversed_axes()
            .to_owned()
    } else {
        Array2::from_shape_vec((dims[0], dims[1]), data)?
    })
}

fn write_npy_u8(path: &str, a: &Array2<u8>) -> Result<()> {
    let mut header = format!(
        "{{'descr': '|u1', 'fortran_order': False, 'shape': ({}, {}), }}",
        a.nrows(),
        a.ncols()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(a.iter().copied());
    std::fs::write(path, out).with_context(|| format!("writing {path}"))
}

fn read_image(path: &str) -> Result<Array2<u8>> {
    if is_npy(path) {
        return read_npy_u8(path);
    }
    let img = image::open(path).with_context(|| format!("reading {path}"))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let grey: Vec<u8> = match img {
        image::DynamicImage::ImageLuma8(g) => g.into_raw(),
        other => {
            // OpenCV 5's RGB2GRAY fixed point (15 bits; checked pixel-exact against
            // cv2.cvtColor on skimage's coffee): (9798 R + 19235 G + 3735 B + 2^14) >> 15.
            let rgb = other.to_rgb8();
            rgb.pixels()
                .map(|p| {
                    let [r, g, b] = p.0.map(u32::from);
                    ((r * 9798 + g * 19235 + b * 3735 + 16384) >> 15) as u8
                })
                .collect()
        }
    };
    Ok(Array2::from_shape_vec((h, w), grey)?)
}

fn write_image(path: &str, a: &Array2<u8>) -> Result<()> {
    if is_npy(path) {
        return write_npy_u8(path, a);
    }
    let (h, w) = a.dim();
    let buf = image::GrayImage::from_raw(w as u32, h as u32, a.iter().copied().collect())
        .context("image buffer")?;
    buf.save(path).with_context(|| format!("writing {path}"))
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("enhance: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let (tiles_x, tiles_y) = parse_tiles(&args.tiles)?;
    let img = read_image(&args.input)?;
    let out = match args.method {
        Method::He => equalize_hist(img.view())?,
        Method::Clahe => Clahe::new(args.clip, tiles_x, tiles_y)?.apply(img.view())?,
        Method::HeClahe => Clahe::new(args.clip, tiles_x, tiles_y)?.apply_after_he(img.view())?,
    };
    write_image(&args.output, &out)
}
