//! Binary morphology on a 2-D or 3-D `.npy` mask (u8 or bool), with scipy.ndimage semantics.
//!
//! ```text
//! cargo run --release --example morph -- --op erode|dilate|open|close|fill|label|largest \
//!     [--connectivity C] [--iterate K] [--iterations N] IN.npy OUT.npy
//! ```
//! The element is `iterate_structure(generate_binary_structure(rank, C), K)` (defaults C=1,
//! K=1, N=1, as scipy); `fill` uses `generate_binary_structure(rank, C)`; `label` and
//! `largest` use it as the connectivity. Masks are written in the input's dtype (u8 0/1 or
//! bool); `label` writes u32 labels and prints `components=N`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use covid_ct::morph::{
    MorphParams, Structure, binary_closing, binary_dilation, binary_erosion, binary_fill_holes,
    binary_opening, generate_binary_structure, iterate_structure, keep_largest, label,
};
use ndarray::{ArrayD, IxDyn};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Op {
    Erode,
    Dilate,
    Open,
    Close,
    Fill,
    Label,
    Largest,
}

#[derive(Parser, Debug)]
#[command(about = "Binary morphology on .npy masks (scipy.ndimage semantics)")]
struct Args {
    /// Operation.
    #[arg(long, value_enum)]
    op: Op,
    /// Connectivity of generate_binary_structure(rank, C), 1..=rank.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=3))]
    connectivity: usize,
    /// iterate_structure(.., K) for the morphology element.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    iterate: usize,
    /// Iterations of the operation (0 = until stable, as scipy's iterations < 1).
    #[arg(long, default_value_t = 1)]
    iterations: usize,
    /// Input mask (.npy, 2-D or 3-D, u8 or bool).
    input: PathBuf,
    /// Output (.npy).
    output: PathBuf,
}

/// Element type code of a .npy header (`|u1`, `|b1`, `<u4`).
#[derive(Clone, Copy, PartialEq)]
enum Dtype {
    U8,
    Bool,
}

fn read_mask(path: &Path) -> Result<(ArrayD<bool>, Dtype)> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let h = ct_io::npy::parse_header(&b, path)?;
    let dtype = match h.descr.trim_start_matches(['|', '<', '>', '=']) {
        "u1" => Dtype::U8,
        "b1" => Dtype::Bool,
        d => bail!("{}: mask must be u8 or bool (dtype {d})", path.display()),
    };
    if !(2..=3).contains(&h.shape.len()) {
        bail!(
            "{}: expected a 2-D or 3-D mask, got shape {:?}",
            path.display(),
            h.shape
        );
    }
    let ct_io::AnyArray::U8(a) = ct_io::npy::parse(&b, path)? else {
        bail!("{}: mask must be u8 or bool", path.display());
    };
    let a = a
        .mapv(|v| v != 0)
        .into_shape_with_order(IxDyn(&h.shape))
        .with_context(|| format!("{}: shape {:?}", path.display(), h.shape))?;
    Ok((a, dtype))
}

fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) -> Result<()> {
    let sh = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {sh}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

fn run(a: &Args) -> Result<()> {
    let (mask, dtype) = read_mask(&a.input)?;
    let rank = mask.ndim();
    let conn = generate_binary_structure(rank, a.connectivity)?;
    let elem: Structure = iterate_structure(&conn, a.iterate)?;
    let p = MorphParams {
        iterations: a.iterations,
        border_value: false,
    };
    let shape = mask.shape().to_vec();
    let out = match a.op {
        Op::Erode => binary_erosion(mask.view(), &elem, &p)?,
        Op::Dilate => binary_dilation(mask.view(), &elem, &p)?,
        Op::Open => binary_opening(mask.view(), &elem, &p)?,
        Op::Close => binary_closing(mask.view(), &elem, &p)?,
        Op::Fill => binary_fill_holes(mask.view(), Some(&conn))?,
        Op::Largest => keep_largest(mask.view(), &conn, 1)?,
        Op::Label => {
            let (lab, n) = label(mask.view(), &conn)?;
            let bytes: Vec<u8> = lab.iter().flat_map(|v| v.to_le_bytes()).collect();
            write_npy(&a.output, "<u4", &shape, &bytes)?;
            println!("components={n}");
            return Ok(());
        }
    };
    let descr = if dtype == Dtype::Bool { "|b1" } else { "|u1" };
    let bytes: Vec<u8> = out.iter().map(|&b| b as u8).collect();
    write_npy(&a.output, descr, &shape, &bytes)?;
    println!(
        "voxels_in={} voxels_out={}",
        mask.iter().filter(|&&b| b).count(),
        bytes.iter().filter(|&&b| b != 0).count()
    );
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
