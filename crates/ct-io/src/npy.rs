//! `.npy` files (numpy format versions 1, 2 and 3), read and write.
//!
//! Arrays are `(z, y, x)` in C order. Reading accepts little- and big-endian `u1 i1 i2 u2
//! i4 u4 f4 f8`, C or Fortran order, and 2-D arrays (read as one slice). Writing produces
//! version 1.0, little-endian, C order, for every [`Sample`] type (`int16` HU, `uint8`,
//! `uint16`, `float32`, `uint32`, ...). A `.npy` file carries no spacing: [`read_scan`] uses
//! 1 mm and says so in the warnings.

use std::path::Path;

use ct_core::{Meta, Scan, Spacing, Volume};
use ndarray::{Array3, ArrayView3, ShapeBuilder};

use crate::array::{AnyArray, Sample};
use crate::util::file_name;
use crate::{Error, Result};

fn err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Npy {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a `.npy` file into an [`AnyArray`].
pub fn read(path: &Path) -> Result<AnyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes, path)
}

/// The header of a `.npy` file: dtype descriptor, order, shape, and where the data begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// The dtype descriptor (`<i2`, `|u1`, `|b1`, ...).
    pub descr: String,
    /// Fortran (column-major) order.
    pub fortran: bool,
    /// The shape, any number of axes.
    pub shape: Vec<usize>,
    /// Byte offset of the data.
    pub data_offset: usize,
}

/// Parses the header of `.npy` bytes (magic, version, header length checked against the
/// bytes present); `path` only names the source in errors.
pub fn parse_header(bytes: &[u8], path: &Path) -> Result<NpyHeader> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err(path, "missing \\x93NUMPY magic"));
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(err(path, "file ends inside the header length"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(err(path, format!("unsupported format version {v}"))),
    };
    let end = start
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| err(path, "file ends inside the header"))?;
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| err(path, "header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| err(path, "header has no 'descr'"))?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let fortran = match dict_value(header, "fortran_order").map(str::trim) {
        Some("True") => true,
        Some("False") => false,
        _ => return Err(err(path, "header has no valid 'fortran_order'")),
    };
    let shape_s = dict_value(header, "shape").ok_or_else(|| err(path, "header has no 'shape'"))?;
    let shape: Vec<usize> = shape_s
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| err(path, format!("bad shape {shape_s}")))?;
    Ok(NpyHeader {
        descr: descr.to_string(),
        fortran,
        shape,
        data_offset: end,
    })
}

/// Parses `.npy` bytes held in memory (`path` only names the source in errors). Booleans
/// (`|b1`) come back as `u8` 0/1.
pub fn parse(bytes: &[u8], path: &Path) -> Result<AnyArray> {
    let h = parse_header(bytes, path)?;
    let (descr, fortran, shape, end) = (h.descr.as_str(), h.fortran, &h.shape, h.data_offset);
    let dims = match shape.as_slice() {
        [z, y, x] => [*z, *y, *x],
        [y, x] => [1, *y, *x],
        s => {
            return Err(err(
                path,
                format!("shape {s:?}: expected a 3-D (z, y, x) or 2-D (y, x) array"),
            ));
        }
    };
    let data = &bytes[end..];
    let (kind, big) = match descr.as_bytes().first() {
        Some(b'<') | Some(b'|') | Some(b'=') => (&descr[1..], false),
        Some(b'>') => (&descr[1..], true),
        _ => (descr, false),
    };
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err(path, "shape overflows"))?;
    macro_rules! build {
        ($t:ty, $var:ident) => {{
            const S: usize = std::mem::size_of::<$t>();
            let need = n
                .checked_mul(S)
                .ok_or_else(|| err(path, "shape overflows"))?;
            if data.len() < need {
                return Err(err(
                    path,
                    format!(
                        "data has {} bytes, {need} expected for shape {dims:?} {descr}",
                        data.len()
                    ),
                ));
            }
            let v: Vec<$t> = data[..need]
                .chunks_exact(S)
                .map(|c| {
                    let a: [u8; S] = c.try_into().expect("chunk size");
                    if big {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }
                })
                .collect();
            let arr = if fortran {
                Array3::from_shape_vec((dims[0], dims[1], dims[2]).f(), v)
                    .map(|a| a.as_standard_layout().into_owned())
            } else {
                Array3::from_shape_vec((dims[0], dims[1], dims[2]), v)
            }
            .map_err(|e| err(path, e.to_string()))?;
            AnyArray::$var(arr)
        }};
    }
    Ok(match kind {
        "u1" | "B" | "b1" | "?" => build!(u8, U8),
        "i1" | "b" => build!(i8, I8),
        "i2" => build!(i16, I16),
        "u2" => build!(u16, U16),
        "i4" => build!(i32, I32),
        "u4" => build!(u32, U32),
        "f4" => build!(f32, F32),
        "f8" => build!(f64, F64),
        _ => return Err(err(path, format!("unsupported dtype {descr}"))),
    })
}

/// The raw text of `key`'s value in a numpy header dict (`{'descr': '<i2', ...}`).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat1 = format!("'{key}'");
    let pat2 = format!("\"{key}\"");
    let at = header.find(&pat1).or_else(|| header.find(&pat2))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?;
    // The value ends at the first comma outside parentheses.
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

/// Serialises a 3-D array as `.npy` version 1.0 bytes (little-endian, C order).
pub fn to_bytes<T: Sample>(array: ArrayView3<'_, T>) -> Vec<u8> {
    let (z, y, x) = array.dim();
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({z}, {y}, {x}), }}",
        T::NPY_DESCR
    );
    // Pad so that magic + version + length + header (with '\n') is a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + array.len() * T::SIZE);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in array.iter() {
        v.put_le(&mut out);
    }
    out
}

/// Writes a 3-D array as `.npy` (version 1.0, little-endian, C order).
pub fn write<T: Sample>(path: &Path, array: ArrayView3<'_, T>) -> Result<()> {
    std::fs::write(path, to_bytes(array)).map_err(|e| Error::io(path, e))
}

/// Reads a `.npy` volume as a [`Scan`] in HU: int16 is taken as HU; other types are rounded
/// / saturated to i16 with a warning (see [`AnyArray::to_i16`]); spacing is 1 mm (warned).
pub fn read_scan(path: &Path) -> Result<Scan> {
    let arr = read(path)?;
    let mut warnings = vec![".npy has no spacing: 1 mm assumed on every axis".to_string()];
    if !matches!(arr, AnyArray::I16(_)) {
        warnings.push(format!(
            "{} values converted to int16 without rescaling (taken as HU)",
            arr.dtype()
        ));
    }
    let (data, changed) = arr.to_i16();
    if changed > 0 {
        warnings.push(format!(
            "{changed} value(s) saturated to the int16 range or NaN"
        ));
    }
    let volume =
        Volume::new(data, Spacing::ISOTROPIC_1MM).map_err(|e| Error::core(path.display(), e))?;
    let id = file_name(path).trim_end_matches(".npy").to_string();
    Ok(Scan {
        id,
        label: None,
        volume,
        meta: Meta {
            source: Some(path.to_path_buf()),
            warnings,
            ..Meta::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header_alignment() {
        let a = Array3::from_shape_fn((2, 3, 4), |(z, y, x)| (z * 100 + y * 10 + x) as i16 - 50);
        let b = to_bytes(a.view());
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert_eq!(parse(&b, Path::new("x")).unwrap(), AnyArray::I16(a));
    }

    #[test]
    fn fortran_and_big_endian() {
        // shape (1, 2, 3) Fortran order, big-endian u2: element (0, j, i) = 10 j + i.
        let header = "{'descr': '>u2', 'fortran_order': True, 'shape': (1, 2, 3), }";
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        // Fortran order: first index fastest: (0,0,0),(0,1,0),(0,0,1),(0,1,1),(0,0,2),(0,1,2).
        for v in [0u16, 10, 1, 11, 2, 12] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let AnyArray::U16(a) = parse(&b, Path::new("x")).unwrap() else {
            panic!("wrong type")
        };
        assert_eq!(a[[0, 1, 2]], 12);
        assert_eq!(a[[0, 0, 1]], 1);
    }

    #[test]
    fn rejects_bad_files() {
        assert!(matches!(
            parse(b"nope", Path::new("x")),
            Err(Error::Npy { .. })
        ));
        let a = Array3::<f32>::zeros((2, 2, 2));
        let b = to_bytes(a.view());
        assert!(parse(&b[..b.len() - 1], Path::new("x")).is_err());
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1), }";
        let mut bad = b"\x93NUMPY\x01\x00".to_vec();
        bad.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bad.extend_from_slice(header.as_bytes());
        bad.extend_from_slice(&[0; 4]);
        let e = parse(&bad, Path::new("x")).unwrap_err().to_string();
        assert!(e.contains("expected a 3-D"), "{e}");
    }
}
