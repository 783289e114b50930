//! NIfTI-1 single files (`.nii`, `.nii.gz`), read and write.
//!
//! # Axis convention
//! ct-io never resamples: NIfTI voxel index `(i, j, k)` is array element `[k, j, i]`, i.e.
//! the `(z, y, x)` volume is the NIfTI data block read in its stored order (i fastest), and
//! `spacing = (pixdim[3], pixdim[2], pixdim[1])`. nibabel's `get_fdata()` is therefore our
//! array transposed by `(2, 1, 0)`.
//!
//! Orientation: the sform (or else the qform) is converted from NIfTI's RAS+ world to
//! DICOM's LPS+ patient coordinates (x and y negated) and kept as
//! `meta.extra["ImageOrientationPatient"]` plus the volume origin, so a scan read from
//! DICOM, written as NIfTI and read back carries the same geometry. If the k axis points
//! against `row × column` (a negative-determinant affine), the slices are reversed on reading
//! so that slice 0 is always the one with the smallest position along the normal — the same
//! rule as the DICOM reader. Writing stores i along the DICOM row direction, j along the
//! column direction and k along their cross product (sform_code = qform_code = 1).
//!
//! Reading accepts uint8, int8, int16, uint16, int32, uint32, float32 and float64 data of 2
//! or 3 dimensions (extra dimensions must have length 1), either byte order, and applies
//! `scl_slope`/`scl_inter` when the slope is non-zero. NIfTI-2 and `.hdr/.img` pairs are
//! rejected with a typed error.

use std::io::{Read, Write};
use std::path::Path;

use ct_core::{Meta, Scan, Spacing, Volume};
use ndarray::{Array3, Axis};

use crate::array::{AnyArray, Sample};
use crate::dicom::slice_normal;
use crate::util::file_name;
use crate::{Error, Result};

fn err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Nifti {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The header fields ct-io uses.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiHeader {
    /// `dim[1..=3]`: (i, j, k) sizes.
    pub dim: [usize; 3],
    /// NIfTI datatype code.
    pub datatype: i16,
    /// `pixdim[1..=3]` (mm, absolute values).
    pub pixdim: [f64; 3],
    /// `scl_slope` (0 means no scaling).
    pub scl_slope: f64,
    /// `scl_inter`.
    pub scl_inter: f64,
    /// The voxel-to-world (RAS+) affine rows, from the sform, else the qform; `None` when
    /// both codes are 0.
    pub affine: Option<[[f64; 4]; 3]>,
}

/// A NIfTI image: its header and its voxels as `(k, j, i)` = `(z, y, x)`, unscaled.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiImage {
    /// Header.
    pub header: NiftiHeader,
    /// Stored values (before `scl_slope`/`scl_inter`).
    pub data: AnyArray,
}

const MAX_VOXELS: usize = 1 << 32;

/// Reads and parses the bytes of a `.nii` / `.nii.gz` file, decompressing at most what the
/// header says the file needs (so a small corrupt file cannot expand without bound).
fn load_bytes(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>> {
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut dec = flate2::read::MultiGzDecoder::new(&raw[..]);
        let mut head = vec![0u8; 352];
        let mut got = 0;
        while got < head.len() {
            match dec.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => return Err(err(path, format!("gzip: {e}"))),
            }
        }
        head.truncate(got);
        let need = parse_header(&head, path)
            .map(|(h, _, off)| off + data_len(&h))
            .unwrap_or(head.len());
        let mut rest = Vec::new();
        dec.take(need.saturating_sub(head.len()) as u64)
            .read_to_end(&mut rest)
            .map_err(|e| err(path, format!("gzip: {e}")))?;
        head.extend_from_slice(&rest);
        Ok(head)
    } else {
        Ok(raw)
    }
}

fn bytes_per(datatype: i16) -> Option<usize> {
    Some(match datatype {
        2 | 256 => 1,
        4 | 512 => 2,
        8 | 768 | 16 => 4,
        64 => 8,
        _ => return None,
    })
}

fn data_len(h: &NiftiHeader) -> usize {
    h.dim.iter().product::<usize>() * bytes_per(h.datatype).unwrap_or(1)
}

/// Parses a NIfTI-1 header: returns it, whether the file is big-endian and the data offset.
fn parse_header(b: &[u8], path: &Path) -> Result<(NiftiHeader, bool, usize)> {
    if b.len() < 348 {
        return Err(err(
            path,
            format!("file has {} bytes, shorter than a NIfTI-1 header", b.len()),
        ));
    }
    let le = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let be = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let big = match (le, be) {
        (348, _) => false,
        (_, 348) => true,
        (540, _) | (_, 540) => return Err(err(path, "NIfTI-2 files are not supported")),
        _ => {
            return Err(err(
                path,
                format!("sizeof_hdr is {le}, not 348: not a NIfTI-1 file"),
            ));
        }
    };
    let i16_at = |o: usize| {
        let a = [b[o], b[o + 1]];
        if big {
            i16::from_be_bytes(a)
        } else {
            i16::from_le_bytes(a)
        }
    };
    let f32_at = |o: usize| {
        let a = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        (if big {
            f32::from_be_bytes(a)
        } else {
            f32::from_le_bytes(a)
        }) as f64
    };
    let magic = &b[344..348];
    if magic == b"ni1\0" {
        return Err(err(
            path,
            "a .hdr/.img pair (magic ni1) is not supported; use a single .nii",
        ));
    }
    if magic != b"n+1\0" {
        return Err(err(path, "missing n+1 magic"));
    }
    let ndim = i16_at(40);
    if !(1..=7).contains(&ndim) {
        return Err(err(path, format!("dim[0] = {ndim}, must be 1..7")));
    }
    let mut dims = [1usize; 7];
    for d in 0..ndim as usize {
        let v = i16_at(42 + 2 * d);
        if v < 1 {
            return Err(err(path, format!("dim[{}] = {v}, must be >= 1", d + 1)));
        }
        dims[d] = v as usize;
    }
    if dims[3..].iter().any(|&d| d != 1) {
        return Err(err(
            path,
            format!(
                "{}-D image {:?}: only 2-D and 3-D volumes are read",
                ndim,
                &dims[..ndim as usize]
            ),
        ));
    }
    if dims[..3].iter().product::<usize>() > MAX_VOXELS {
        return Err(err(path, format!("{:?} voxels is too large", &dims[..3])));
    }
    let datatype = i16_at(70);
    if bytes_per(datatype).is_none() {
        return Err(err(path, format!("unsupported datatype code {datatype}")));
    }
    let pixdim = [f32_at(80), f32_at(84), f32_at(88)].map(f64::abs);
    let vox_offset = f32_at(108);
    if !(vox_offset.is_finite() && (348.0..1e9).contains(&vox_offset)) {
        return Err(err(path, format!("vox_offset {vox_offset} is invalid")));
    }
    let scl_slope = f32_at(112);
    let scl_inter = f32_at(116);
    let qform_code = i16_at(252);
    let sform_code = i16_at(254);
    let affine = if sform_code > 0 {
        let row = |o: usize| [f32_at(o), f32_at(o + 4), f32_at(o + 8), f32_at(o + 12)];
        Some([row(280), row(296), row(312)])
    } else if qform_code > 0 {
        let (qb, qc, qd) = (f32_at(256), f32_at(260), f32_at(264));
        let t = [f32_at(268), f32_at(272), f32_at(276)];
        let qfac = if f32_at(76) < 0.0 { -1.0 } else { 1.0 };
        Some(quatern_to_affine(qb, qc, qd, t, pixdim, qfac))
    } else {
        None
    };
    let affine = affine.filter(|a| a.iter().flatten().all(|v| v.is_finite()));
    Ok((
        NiftiHeader {
            dim: [dims[0], dims[1], dims[2]],
            datatype,
            pixdim,
            scl_slope,
            scl_inter,
            affine,
        },
        big,
        vox_offset as usize,
    ))
}

/// nifti1_io's `quatern_to_mat44`.
fn quatern_to_affine(
    b: f64,
    c: f64,
    d: f64,
    t: [f64; 3],
    pixdim: [f64; 3],
    qfac: f64,
) -> [[f64; 4]; 3] {
    let a2 = 1.0 - (b * b + c * c + d * d);
    let (a, b, c, d) = if a2 < 1e-7 {
        let s = 1.0 / (b * b + c * c + d * d).sqrt();
        (0.0, b * s, c * s, d * s)
    } else {
        (a2.sqrt(), b, c, d)
    };
    let r = [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ];
    let [x, y, z] = pixdim.map(|p| if p > 0.0 { p } else { 1.0 });
    let z = z * qfac;
    let mut m = [[0.0; 4]; 3];
    for i in 0..3 {
        m[i] = [r[i][0] * x, r[i][1] * y, r[i][2] * z, t[i]];
    }
    m
}

/// Parses NIfTI-1 bytes (uncompressed) held in memory.
pub fn parse(b: &[u8], path: &Path) -> Result<NiftiImage> {
    let (header, big, off) = parse_header(b, path)?;
    let [ni, nj, nk] = header.dim;
    let need = data_len(&header);
    let end = off
        .checked_add(need)
        .ok_or_else(|| err(path, "size overflows"))?;
    if b.len() < end {
        return Err(err(
            path,
            format!(
                "truncated: data needs {need} bytes at offset {off}, file has {}",
                b.len()
            ),
        ));
    }
    let data = &b[off..end];
    macro_rules! build {
        ($t:ty, $var:ident) => {{
            const S: usize = std::mem::size_of::<$t>();
            let v: Vec<$t> = data
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
            AnyArray::$var(Array3::from_shape_vec((nk, nj, ni), v).expect("length checked"))
        }};
    }
    let data = match header.datatype {
        2 => build!(u8, U8),
        256 => build!(i8, I8),
        4 => build!(i16, I16),
        512 => build!(u16, U16),
        8 => build!(i32, I32),
        768 => build!(u32, U32),
        16 => build!(f32, F32),
        64 => build!(f64, F64),
        _ => unreachable!("checked by parse_header"),
    };
    Ok(NiftiImage { header, data })
}

/// Reads a `.nii` or `.nii.gz` file (gzip is detected from the content).
pub fn read_image(path: &Path) -> Result<NiftiImage> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = load_bytes(path, raw)?;
    parse(&bytes, path)
}

/// Converts NIfTI bytes (plain or gzip) into a [`Scan`]; used by [`read`] and the fuzz target.
pub fn read_bytes(raw: Vec<u8>, path: &Path) -> Result<Scan> {
    let bytes = load_bytes(path, raw)?;
    let img = parse(&bytes, path)?;
    image_to_scan(img, path)
}

/// Reads a `.nii` / `.nii.gz` volume as a [`Scan`] in HU: `scl_slope`/`scl_inter` applied
/// when the slope is non-zero, values rounded half away from zero and saturated to i16.
pub fn read(path: &Path) -> Result<Scan> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_bytes(raw, path)
}

fn image_to_scan(img: NiftiImage, path: &Path) -> Result<Scan> {
    let h = img.header;
    let mut warnings = Vec::new();
    let scaled = h.scl_slope != 0.0
        && h.scl_slope.is_finite()
        && h.scl_inter.is_finite()
        && !(h.scl_slope == 1.0 && h.scl_inter == 0.0);
    let (mut data, changed) = if scaled {
        let (s, i) = (h.scl_slope, h.scl_inter);
        let f = match &img.data {
            AnyArray::U8(a) => a.mapv(|v| v as f64 * s + i),
            AnyArray::I8(a) => a.mapv(|v| v as f64 * s + i),
            AnyArray::I16(a) => a.mapv(|v| v as f64 * s + i),
            AnyArray::U16(a) => a.mapv(|v| v as f64 * s + i),
            AnyArray::I32(a) => a.mapv(|v| v as f64 * s + i),
            AnyArray::U32(a) => a.mapv(|v| v as f64 * s + i),
            AnyArray::F32(a) => a.mapv(|v| v as f64 * s + i),
            AnyArray::F64(a) => a.mapv(|v| v * s + i),
        };
        AnyArray::F64(f).to_i16()
    } else {
        img.data.to_i16()
    };
    if changed > 0 {
        warnings.push(format!(
            "{changed} value(s) saturated to the int16 range or NaN"
        ));
    }
    let mut sp = [h.pixdim[2], h.pixdim[1], h.pixdim[0]];
    for (v, axis) in sp.iter_mut().zip(["z", "y", "x"]) {
        if !(v.is_finite() && *v > 0.0) {
            warnings.push(format!("pixdim for {axis} is {v}: 1 mm assumed"));
            *v = 1.0;
        }
    }
    let mut extra = std::collections::BTreeMap::new();
    let mut origin = [0.0; 3];
    match h.affine {
        Some(m) => {
            // RAS -> LPS: negate the x and y rows.
            let col = |c: usize| [-m[0][c], -m[1][c], m[2][c]];
            let unit = |v: [f64; 3]| {
                let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                (n > 0.0).then(|| [v[0] / n, v[1] / n, v[2] / n])
            };
            origin = [-m[0][3], -m[1][3], m[2][3]];
            if let (Some(r), Some(c)) = (unit(col(0)), unit(col(1))) {
                let iop = [r[0], r[1], r[2], c[0], c[1], c[2]];
                if let Some(n) = slice_normal(iop) {
                    let k = col(2);
                    let along = k[0] * n[0] + k[1] * n[1] + k[2] * n[2];
                    if along < 0.0 && data.len_of(Axis(0)) > 1 {
                        // Put slice 0 at the smallest position along the normal.
                        let nk = data.len_of(Axis(0)) as f64 - 1.0;
                        for a in 0..3 {
                            origin[a] += nk * k[a];
                        }
                        data.invert_axis(Axis(0));
                        data = data.as_standard_layout().into_owned();
                        warnings.push(
                            "NIfTI k axis points against row x column: slices reversed".into(),
                        );
                    }
                    extra.insert(
                        "ImageOrientationPatient".to_string(),
                        iop.iter()
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join("\\"),
                    );
                }
            }
        }
        None => warnings.push("NIfTI has no sform/qform: orientation unknown".into()),
    }
    let spacing = Spacing::new(sp[0], sp[1], sp[2]).map_err(|e| Error::core(path.display(), e))?;
    let volume =
        Volume::with_origin(data, spacing, origin).map_err(|e| Error::core(path.display(), e))?;
    let name = file_name(path);
    let id = name
        .strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))
        .unwrap_or(&name)
        .to_string();
    Ok(Scan {
        id,
        label: None,
        volume,
        meta: Meta {
            source: Some(path.to_path_buf()),
            extra,
            warnings,
            ..Meta::default()
        },
    })
}

/// Serialises a volume as NIfTI-1 bytes (uncompressed, little-endian), with the sform and
/// qform built from `orientation` (DICOM ImageOrientationPatient, LPS), the volume's origin
/// (LPS) and spacing.
pub fn to_bytes<T: Sample>(volume: &Volume<T>, orientation: [f64; 6]) -> Result<Vec<u8>> {
    let [nz, ny, nx] = volume.shape();
    for (n, axis) in [(nx, "x"), (ny, "y"), (nz, "z")] {
        if n > i16::MAX as usize {
            return Err(Error::InvalidParameter {
                name: "volume",
                reason: format!("{axis} size {n} exceeds NIfTI-1's 32767"),
            });
        }
    }
    let n = slice_normal(orientation).ok_or_else(|| Error::InvalidParameter {
        name: "orientation",
        reason: format!("{orientation:?} has parallel or zero direction vectors"),
    })?;
    let sp = volume.spacing();
    let o = volume.origin();
    let r = [orientation[0], orientation[1], orientation[2]];
    let c = [orientation[3], orientation[4], orientation[5]];
    // LPS -> RAS: negate x and y components.
    let flip = [-1.0, -1.0, 1.0];
    let mut m = [[0.0f64; 4]; 3];
    for a in 0..3 {
        m[a] = [
            flip[a] * r[a] * sp.x,
            flip[a] * c[a] * sp.y,
            flip[a] * n[a] * sp.z,
            flip[a] * o[a],
        ];
    }
    let mut h = vec![0u8; 352];
    let put_i16 = |h: &mut [u8], o: usize, v: i16| h[o..o + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 =
        |h: &mut [u8], o: usize, v: f64| h[o..o + 4].copy_from_slice(&(v as f32).to_le_bytes());
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    for (k, d) in [3usize, nx, ny, nz, 1, 1, 1, 1].iter().enumerate() {
        put_i16(&mut h, 40 + 2 * k, *d as i16);
    }
    put_i16(&mut h, 70, T::NIFTI_CODE);
    put_i16(&mut h, 72, (T::SIZE * 8) as i16);
    // The rotation [r c n] is proper (det +1) by construction, so qfac = 1.
    for (k, v) in [1.0, sp.x, sp.y, sp.z, 0.0, 0.0, 0.0, 0.0]
        .iter()
        .enumerate()
    {
        put_f32(&mut h, 76 + 4 * k, *v);
    }
    put_f32(&mut h, 108, 352.0);
    put_f32(&mut h, 112, 1.0);
    put_f32(&mut h, 116, 0.0);
    h[123] = 2; // xyzt_units: mm
    put_i16(&mut h, 252, 1);
    put_i16(&mut h, 254, 1);
    let rot = [
        [m[0][0] / sp.x, m[0][1] / sp.y, m[0][2] / sp.z],
        [m[1][0] / sp.x, m[1][1] / sp.y, m[1][2] / sp.z],
        [m[2][0] / sp.x, m[2][1] / sp.y, m[2][2] / sp.z],
    ];
    let (qb, qc, qd) = rotation_to_quatern(rot);
    put_f32(&mut h, 256, qb);
    put_f32(&mut h, 260, qc);
    put_f32(&mut h, 264, qd);
    put_f32(&mut h, 268, m[0][3]);
    put_f32(&mut h, 272, m[1][3]);
    put_f32(&mut h, 276, m[2][3]);
    for (row, o) in m.iter().zip([280usize, 296, 312]) {
        for (k, v) in row.iter().enumerate() {
            put_f32(&mut h, o + 4 * k, *v);
        }
    }
    h[344..348].copy_from_slice(b"n+1\0");
    h.reserve(volume.data().len() * T::SIZE);
    for &v in volume.data().iter() {
        v.put_le(&mut h);
    }
    Ok(h)
}

/// nifti1_io's `mat44_to_quatern` for a proper rotation matrix.
fn rotation_to_quatern(r: [[f64; 3]; 3]) -> (f64, f64, f64) {
    let (r11, r12, r13) = (r[0][0], r[0][1], r[0][2]);
    let (r21, r22, r23) = (r[1][0], r[1][1], r[1][2]);
    let (r31, r32, r33) = (r[2][0], r[2][1], r[2][2]);
    let a = r11 + r22 + r33 + 1.0;
    let (a, b, c, d) = if a > 0.5 {
        let a = 0.5 * a.sqrt();
        (
            a,
            0.25 * (r32 - r23) / a,
            0.25 * (r13 - r31) / a,
            0.25 * (r21 - r12) / a,
        )
    } else {
        let xd = 1.0 + r11 - (r22 + r33);
        let yd = 1.0 + r22 - (r11 + r33);
        let zd = 1.0 + r33 - (r11 + r22);
        if xd > 1.0 {
            let b = 0.5 * xd.sqrt();
            (
                0.25 * (r32 - r23) / b,
                b,
                0.25 * (r12 + r21) / b,
                0.25 * (r13 + r31) / b,
            )
        } else if yd > 1.0 {
            let c = 0.5 * yd.sqrt();
            (
                0.25 * (r13 - r31) / c,
                0.25 * (r12 + r21) / c,
                c,
                0.25 * (r23 + r32) / c,
            )
        } else {
            let d = 0.5 * zd.sqrt();
            (
                0.25 * (r21 - r12) / d,
                0.25 * (r13 + r31) / d,
                0.25 * (r23 + r32) / d,
                d,
            )
        }
    };
    if a < 0.0 { (-b, -c, -d) } else { (b, c, d) }
}

/// Writes a volume (any [`Sample`] type: i16 HU, u8 masks, ...) as `.nii`, or gzip-compressed
/// when the path ends in `.gz`, with an axial orientation (`1\0\0\0\1\0`) and the volume's
/// origin and spacing.
pub fn write<T: Sample>(path: &Path, volume: &Volume<T>) -> Result<()> {
    write_oriented(path, volume, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
}

/// Writes a scan as `.nii` / `.nii.gz`, keeping the orientation recorded in its metadata
/// (`meta.extra["ImageOrientationPatient"]`, as the DICOM and NIfTI readers set it).
pub fn write_scan(path: &Path, scan: &Scan) -> Result<()> {
    let iop = scan
        .meta
        .extra
        .get("ImageOrientationPatient")
        .and_then(|s| {
            let v: Vec<f64> = s
                .split('\\')
                .filter_map(|t| t.trim().parse().ok())
                .collect();
            (v.len() == 6).then(|| [v[0], v[1], v[2], v[3], v[4], v[5]])
        })
        .filter(|o| slice_normal(*o).is_some())
        .unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    write_oriented(path, &scan.volume, iop)
}

/// Writes with an explicit DICOM-style orientation.
pub fn write_oriented<T: Sample>(
    path: &Path,
    volume: &Volume<T>,
    orientation: [f64; 6],
) -> Result<()> {
    let bytes = to_bytes(volume, orientation)?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = std::io::BufWriter::new(f);
    if gz {
        // Fast compression: CT volumes are large and level 6 costs ~4x the time for ~10% size.
        let mut enc = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
        enc.write_all(&bytes).map_err(|e| Error::io(path, e))?;
        enc.finish()
            .and_then(|mut w| w.flush())
            .map_err(|e| Error::io(path, e))?;
    } else {
        w.write_all(&bytes)
            .and_then(|_| w.flush())
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_oblique() {
        let data =
            Array3::from_shape_fn((3, 4, 5), |(z, y, x)| (z * 100 + y * 10 + x) as i16 - 300);
        let vol = Volume::with_origin(
            data,
            Spacing::new(2.5, 0.7, 0.8).unwrap(),
            [-10.0, 20.0, 30.0],
        )
        .unwrap();
        let s = 0.5f64.sqrt();
        let iop = [1.0, 0.0, 0.0, 0.0, s, -s];
        let bytes = to_bytes(&vol, iop).unwrap();
        let scan = image_to_scan(
            parse(&bytes, Path::new("t.nii")).unwrap(),
            Path::new("t.nii"),
        )
        .unwrap();
        assert_eq!(scan.volume.data(), vol.data());
        let sp = scan.volume.spacing();
        assert!(
            (sp.z - 2.5).abs() < 1e-6 && (sp.y - 0.7).abs() < 1e-6 && (sp.x - 0.8).abs() < 1e-6
        );
        for a in 0..3 {
            assert!((scan.volume.origin()[a] - vol.origin()[a]).abs() < 1e-4);
        }
        let got: Vec<f64> = scan.meta.extra["ImageOrientationPatient"]
            .split('\\')
            .map(|t| t.parse().unwrap())
            .collect();
        for (g, e) in got.iter().zip(iop) {
            assert!((g - e).abs() < 1e-6, "{got:?}");
        }
        // The qform alone gives the same affine.
        let mut q = bytes.clone();
        q[254..256].copy_from_slice(&0i16.to_le_bytes());
        let h1 = parse_header(&bytes, Path::new("a"))
            .unwrap()
            .0
            .affine
            .unwrap();
        let h2 = parse_header(&q, Path::new("a")).unwrap().0.affine.unwrap();
        for i in 0..3 {
            for j in 0..4 {
                assert!((h1[i][j] - h2[i][j]).abs() < 1e-4, "{h1:?} {h2:?}");
            }
        }
    }

    #[test]
    fn rejects_bad_headers() {
        let vol = Volume::new(Array3::<u8>::zeros((2, 2, 2)), Spacing::default()).unwrap();
        let b = to_bytes(&vol, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap();
        assert!(parse(&b[..b.len() - 1], Path::new("x")).is_err());
        assert!(parse(&b[..100], Path::new("x")).is_err());
        let mut bad = b.clone();
        bad[70..72].copy_from_slice(&1234i16.to_le_bytes());
        assert!(
            parse(&bad, Path::new("x"))
                .unwrap_err()
                .to_string()
                .contains("datatype")
        );
        let mut four = b.clone();
        four[40..42].copy_from_slice(&4i16.to_le_bytes());
        four[48..50].copy_from_slice(&3i16.to_le_bytes());
        assert!(parse(&four, Path::new("x")).is_err());
    }
}
