//! DICOM CT series: reading a folder of slices into a [`Scan`] in Hounsfield units, listing the
//! series of a folder, and writing a volume back as an uncompressed CT series.
//!
//! Rules (see `docs/ct-io.md` for the full list):
//! * every regular file directly in the folder is tried; files without the `DICM` magic at
//!   byte 128 are skipped and named in [`Meta::warnings`];
//! * files are grouped by SeriesInstanceUID; one series is read (the one asked for, or the
//!   largest, with a warning when there are several);
//! * slices are sorted by `ImagePositionPatient · n`, where `n = row direction × column
//!   direction` from ImageOrientationPatient; if a slice lacks either attribute the reader
//!   falls back to SliceLocation, then to InstanceNumber, then to the file names, and says so;
//! * `spacing.z` is the median gap between sorted positions; uneven gaps and duplicated
//!   positions are reported as warnings (the slices are kept, never dropped silently);
//! * stored values become HU by `stored · RescaleSlope + RescaleIntercept`, rounded half away
//!   from zero and saturated to i16 (saturation is reported);
//! * one slice only: read, with a warning, `spacing.z` from SpacingBetweenSlices, else
//!   SliceThickness, else 1 mm (or [`Error::SingleSlice`] when
//!   [`DicomReadOptions::allow_single_slice`] is off);
//! * a modality other than CT: a warning (or [`Error::NotCt`] with
//!   [`DicomReadOptions::require_ct`]);
//! * every file is pre-scanned ([`guard`]) before the DICOM parser sees it: sequences nested
//!   deeper than [`guard::MAX_SEQUENCE_DEPTH`] are [`Error::DicomNesting`] (the parser
//!   recurses per level and would overflow the thread's stack), and a length longer than the
//!   rest of the file is [`Error::DicomLength`] (or [`Error::Truncated`] inside the pixel
//!   data), refused before the parser allocates it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ct_core::{Meta, Scan, Spacing, Volume};
use dicom_core::value::Value;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;

use crate::util::{file_name, list_files, uid_from};
use crate::{Error, Result};

pub mod guard;
mod times;

/// The most pixels a slice may declare (8192²: 128 MiB decoded at 16 bits). Checked before
/// compressed pixel data is decoded, so that a small file cannot make the decoder allocate
/// the gigabytes its Rows × Columns would need.
pub const MAX_SLICE_PIXELS: usize = 8192 * 8192;

pub use times::{DicomSeconds, DicomTimes, format_seconds, parse_date_time};

/// Options of [`read_series`].
#[derive(Debug, Clone, PartialEq)]
pub struct DicomReadOptions {
    /// SeriesInstanceUID to read; `None` reads the series with the most files (with a
    /// warning if the folder holds several).
    pub series_uid: Option<String>,
    /// Reject series whose Modality is not `CT` (default `false`: a warning).
    pub require_ct: bool,
    /// Accept a series of one slice (default `true`: a warning, `spacing.z` from
    /// SpacingBetweenSlices / SliceThickness / 1 mm).
    pub allow_single_slice: bool,
    /// Gaps between neighbouring slice positions that differ from the median gap by more
    /// than `gap_tolerance · median + 0.001 mm` are reported as uneven (default 0.01).
    pub gap_tolerance: f64,
    /// Skip DICOM files that fail to parse (with a warning) instead of failing the read
    /// (default `false`).
    pub skip_unreadable: bool,
}

impl Default for DicomReadOptions {
    fn default() -> Self {
        DicomReadOptions {
            series_uid: None,
            require_ct: false,
            allow_single_slice: true,
            gap_tolerance: 0.01,
            skip_unreadable: false,
        }
    }
}

impl DicomReadOptions {
    /// Rejects a negative or non-finite gap tolerance.
    pub fn validate(&self) -> Result<()> {
        if !(self.gap_tolerance.is_finite() && self.gap_tolerance >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "gap_tolerance",
                reason: format!("{} must be finite and >= 0", self.gap_tolerance),
            });
        }
        Ok(())
    }
}

/// One series found by [`list_series`].
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    /// SeriesInstanceUID (empty when the files have none).
    pub uid: String,
    /// Number of files in the series.
    pub n_files: usize,
    /// Modality of the first file.
    pub modality: Option<String>,
    /// SeriesDescription of the first file.
    pub description: Option<String>,
    /// PatientID of the first file.
    pub patient_id: Option<String>,
    /// (Rows, Columns) of the first file.
    pub shape: (usize, usize),
    /// The files, naturally sorted by name.
    pub files: Vec<PathBuf>,
}

/// One decoded DICOM image (a single frame), as returned by [`read_slice_bytes`].
#[derive(Debug, Clone, PartialEq)]
pub struct DicomSlice {
    /// The header attributes ct-io uses.
    pub header: SliceHeader,
    /// The image in HU, `(rows, columns)`.
    pub hu: Array2<i16>,
    /// Voxels whose HU value did not fit in i16 and were saturated.
    pub saturated: usize,
}

/// The attributes of one DICOM file that ct-io uses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SliceHeader {
    /// Transfer Syntax UID.
    pub transfer_syntax: String,
    /// SeriesInstanceUID.
    pub series_uid: Option<String>,
    /// StudyInstanceUID.
    pub study_uid: Option<String>,
    /// Modality.
    pub modality: Option<String>,
    /// PatientID.
    pub patient_id: Option<String>,
    /// SeriesDescription.
    pub description: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub columns: usize,
    /// ImagePositionPatient (mm).
    pub position: Option<[f64; 3]>,
    /// ImageOrientationPatient (row direction cosines, then column direction cosines).
    pub orientation: Option<[f64; 6]>,
    /// SliceLocation (mm).
    pub slice_location: Option<f64>,
    /// InstanceNumber.
    pub instance_number: Option<i64>,
    /// PixelSpacing (row spacing, column spacing) in mm.
    pub pixel_spacing: Option<[f64; 2]>,
    /// SliceThickness (mm).
    pub slice_thickness: Option<f64>,
    /// SpacingBetweenSlices (mm).
    pub spacing_between_slices: Option<f64>,
    /// RescaleSlope (1 when absent).
    pub slope: f64,
    /// RescaleIntercept (0 when absent).
    pub intercept: f64,
    /// The study, series, acquisition, content and instance-creation dates and times.
    pub times: DicomTimes,
}

/// Options-free entry point used by the fuzz target and by tests: parses one DICOM file held
/// in memory (with its 128-byte preamble and `DICM` magic) and decodes its pixels to HU.
pub fn read_slice_bytes(bytes: &[u8]) -> Result<DicomSlice> {
    parse_file(bytes, Path::new("<memory>"), true)
}

/// Reads the header of a single DICOM file (everything before the pixel data).
pub fn read_slice_header(path: &Path) -> Result<SliceHeader> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_file(&bytes, path, false).map(|s| s.header)
}

/// Reads a single DICOM file (header and pixels) into HU.
pub fn read_slice(path: &Path) -> Result<DicomSlice> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !has_dicm_magic(&bytes) {
        return Err(Error::UnknownFormat {
            path: path.to_path_buf(),
            reason: "no DICM magic at byte 128 (not a DICOM Part 10 file)".into(),
        });
    }
    parse_file(&bytes, path, true)
}

/// True when `bytes` looks like a DICOM Part 10 file (`DICM` at byte 128).
pub fn has_dicm_magic(bytes: &[u8]) -> bool {
    bytes.len() >= 132 && &bytes[128..132] == b"DICM"
}

/// True when the file at `path` starts with a DICOM Part 10 preamble and magic.
pub fn is_dicom_file(path: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 132];
    match std::fs::File::open(path) {
        Ok(mut f) => f.read_exact(&mut buf).is_ok() && &buf[128..132] == b"DICM",
        Err(_) => false,
    }
}

fn parse_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::DicomParse {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

type Obj = dicom_object::FileDicomObject<InMemDicomObject>;

fn open_bytes(bytes: &[u8], path: &Path, with_pixels: bool) -> Result<Obj> {
    if !has_dicm_magic(bytes) {
        return Err(Error::UnknownFormat {
            path: path.to_path_buf(),
            reason: "no DICM magic at byte 128 (not a DICOM Part 10 file)".into(),
        });
    }
    // Hostile nesting and lengths are refused before dicom-rs sees the bytes (guard.rs).
    let scope = if with_pixels {
        guard::Scope::Full
    } else {
        guard::Scope::Header
    };
    guard::check(bytes, path, scope)?;
    let mut opts = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
    if !with_pixels {
        opts = opts.read_until(tags::PIXEL_DATA);
    }
    opts.from_reader(&bytes[128..])
        .map_err(|e| parse_err(path, e))
}

fn get_str(obj: &Obj, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    let s = e.to_str().ok()?;
    let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!s.is_empty()).then(|| s.to_string())
}

fn get_f64(obj: &Obj, tag: Tag) -> Option<f64> {
    obj.get(tag)?.to_float64().ok().filter(|v| v.is_finite())
}

fn get_multi_f64<const N: usize>(obj: &Obj, tag: Tag) -> Option<[f64; N]> {
    let v = obj.get(tag)?.to_multi_float64().ok()?;
    if v.len() < N || v.iter().take(N).any(|x| !x.is_finite()) {
        return None;
    }
    let mut out = [0.0; N];
    out.copy_from_slice(&v[..N]);
    Some(out)
}

fn get_int(obj: &Obj, tag: Tag) -> Option<i64> {
    obj.get(tag)?.to_int::<i64>().ok()
}

fn require_uint(obj: &Obj, tag: Tag, name: &'static str, path: &Path) -> Result<usize> {
    get_int(obj, tag)
        .filter(|&v| v >= 0)
        .map(|v| v as usize)
        .ok_or_else(|| Error::MissingTag {
            path: path.to_path_buf(),
            tag: name,
        })
}

fn read_header(obj: &Obj, path: &Path) -> Result<SliceHeader> {
    let rows = require_uint(obj, tags::ROWS, "Rows", path)?;
    let columns = require_uint(obj, tags::COLUMNS, "Columns", path)?;
    Ok(SliceHeader {
        transfer_syntax: obj.meta().transfer_syntax().to_string(),
        series_uid: get_str(obj, tags::SERIES_INSTANCE_UID),
        study_uid: get_str(obj, tags::STUDY_INSTANCE_UID),
        modality: get_str(obj, tags::MODALITY),
        patient_id: get_str(obj, tags::PATIENT_ID),
        description: get_str(obj, tags::SERIES_DESCRIPTION),
        manufacturer: get_str(obj, tags::MANUFACTURER),
        rows,
        columns,
        position: get_multi_f64::<3>(obj, tags::IMAGE_POSITION_PATIENT),
        orientation: get_multi_f64::<6>(obj, tags::IMAGE_ORIENTATION_PATIENT),
        slice_location: get_f64(obj, tags::SLICE_LOCATION),
        instance_number: get_int(obj, tags::INSTANCE_NUMBER),
        pixel_spacing: get_multi_f64::<2>(obj, tags::PIXEL_SPACING),
        slice_thickness: get_f64(obj, tags::SLICE_THICKNESS),
        spacing_between_slices: get_f64(obj, tags::SPACING_BETWEEN_SLICES),
        slope: get_f64(obj, tags::RESCALE_SLOPE).unwrap_or(1.0),
        intercept: get_f64(obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
        times: read_times(obj),
    })
}

fn read_times(obj: &Obj) -> DicomTimes {
    let at =
        |date: Tag, time: Tag| parse_date_time(&get_str(obj, date)?, get_str(obj, time).as_deref());
    DicomTimes {
        study: at(tags::STUDY_DATE, tags::STUDY_TIME),
        series: at(tags::SERIES_DATE, tags::SERIES_TIME),
        acquisition: at(tags::ACQUISITION_DATE, tags::ACQUISITION_TIME),
        content: at(tags::CONTENT_DATE, tags::CONTENT_TIME),
        instance_creation: at(tags::INSTANCE_CREATION_DATE, tags::INSTANCE_CREATION_TIME),
    }
}

fn parse_file(bytes: &[u8], path: &Path, with_pixels: bool) -> Result<DicomSlice> {
    // dicom-rs 0.10 can panic on corrupt input (e.g. an RLE segment shorter than its header
    // says: index out of bounds in rle_lossless.rs, found by tests/mutations.rs). A bad file
    // must be a typed error, not a crash, so panics inside the parser/decoders are caught.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parse_file_inner(bytes, path, with_pixels)
    })) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::DicomParse {
                path: path.to_path_buf(),
                message: format!("the DICOM decoder panicked on corrupt data: {msg}"),
            })
        }
    }
}

fn parse_file_inner(bytes: &[u8], path: &Path, with_pixels: bool) -> Result<DicomSlice> {
    let obj = match open_bytes(bytes, path, with_pixels) {
        Ok(o) => o,
        Err(Error::DicomParse { message, .. }) if with_pixels => {
            // A file whose header parses but whose full read fails was cut short inside
            // (or right before) its pixel data: report it as truncated.
            return match open_bytes(bytes, path, false) {
                Ok(h) => {
                    let rows = get_int(&h, tags::ROWS).unwrap_or(0);
                    let cols = get_int(&h, tags::COLUMNS).unwrap_or(0);
                    Err(Error::Truncated {
                        path: path.to_path_buf(),
                        detail: format!(
                            "header of a {rows}x{cols} image parses but the file ends early ({} bytes): {message}",
                            bytes.len()
                        ),
                    })
                }
                Err(_) => Err(Error::DicomParse {
                    path: path.to_path_buf(),
                    message,
                }),
            };
        }
        Err(e) => return Err(e),
    };
    let header = read_header(&obj, path)?;
    if !with_pixels {
        return Ok(DicomSlice {
            header,
            hu: Array2::zeros((0, 0)),
            saturated: 0,
        });
    }
    let (hu, saturated) = decode_pixels(&obj, &header, path)?;
    Ok(DicomSlice {
        header,
        hu,
        saturated,
    })
}

fn ts_name(uid: &str) -> String {
    TransferSyntaxRegistry
        .get(uid)
        .map(|ts| ts.name().to_string())
        .unwrap_or_else(|| "unknown transfer syntax".into())
}

fn decode_pixels(obj: &Obj, h: &SliceHeader, path: &Path) -> Result<(Array2<i16>, usize)> {
    let pixel = obj.get(tags::PIXEL_DATA).ok_or_else(|| Error::MissingTag {
        path: path.to_path_buf(),
        tag: "PixelData",
    })?;
    let spp = get_int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    if spp != 1 {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            tag: "SamplesPerPixel",
            value: spp.to_string(),
        });
    }
    let frames = get_int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1);
    if frames != 1 {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            tag: "NumberOfFrames",
            value: format!("{frames} (multi-frame images are not read)"),
        });
    }
    if h.rows == 0 || h.columns == 0 || h.rows * h.columns > MAX_SLICE_PIXELS {
        // A compressed file of a few bytes can declare 65535x65535 pixels: the decoder would
        // allocate gigabytes before finding out. No CT slice comes near the limit.
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            tag: "Rows/Columns",
            value: format!(
                "{}x{} (a slice must have 1 to {MAX_SLICE_PIXELS} pixels)",
                h.rows, h.columns
            ),
        });
    }
    let signed = get_int(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1;
    let bits_allocated = require_uint(obj, tags::BITS_ALLOCATED, "BitsAllocated", path)?;
    let bits_stored = get_int(obj, tags::BITS_STORED)
        .map(|v| v as usize)
        .unwrap_or(bits_allocated);

    let (bytes, bits_allocated): (Cow<'_, [u8]>, usize) = match pixel.value() {
        Value::Primitive(p) => (p.to_bytes(), bits_allocated),
        Value::PixelSequence(_) => {
            let uid = obj.meta().transfer_syntax();
            let ts = TransferSyntaxRegistry.get(uid);
            let supported = ts.is_some_and(|ts| ts.can_decode_all());
            if !supported {
                return Err(Error::UnsupportedTransferSyntax {
                    path: path.to_path_buf(),
                    uid: uid.to_string(),
                    name: ts_name(uid),
                    message: "no pixel-data decoder for it in this build".into(),
                });
            }
            let decoded =
                obj.decode_pixel_data()
                    .map_err(|e| Error::UnsupportedTransferSyntax {
                        path: path.to_path_buf(),
                        uid: uid.to_string(),
                        name: ts_name(uid),
                        message: format!("decoding failed: {e}"),
                    })?;
            let ba = decoded.bits_allocated() as usize;
            (Cow::Owned(decoded.into_data()), ba)
        }
        Value::Sequence(_) => {
            return Err(Error::MissingTag {
                path: path.to_path_buf(),
                tag: "PixelData",
            });
        }
    };
    if !matches!(bits_allocated, 8 | 16 | 32) {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            tag: "BitsAllocated",
            value: bits_allocated.to_string(),
        });
    }
    if bits_stored == 0 || bits_stored > bits_allocated {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            tag: "BitsStored",
            value: format!("{bits_stored} (BitsAllocated {bits_allocated})"),
        });
    }
    let n = h.rows * h.columns;
    let need = n * bits_allocated / 8;
    if bytes.len() < need {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            detail: format!(
                "pixel data has {} bytes, {need} expected for {}x{} at {bits_allocated} bits",
                bytes.len(),
                h.rows,
                h.columns
            ),
        });
    }
    let mut out = vec![0i16; n];
    let saturated = stored_to_hu(
        &bytes[..need],
        bits_allocated,
        bits_stored,
        signed,
        h.slope,
        h.intercept,
        &mut out,
    );
    let arr = Array2::from_shape_vec((h.rows, h.columns), out).expect("length checked above");
    Ok((arr, saturated))
}

/// Converts little-endian stored samples to HU: sign-extends (signed) or masks (unsigned)
/// to BitsStored, applies the modality LUT `v·slope + intercept` and rounds half away from
/// zero, saturating to i16. Returns the number of saturated samples.
fn stored_to_hu(
    bytes: &[u8],
    bits_allocated: usize,
    bits_stored: usize,
    signed: bool,
    slope: f64,
    intercept: f64,
    out: &mut [i16],
) -> usize {
    let shift = 32 - bits_stored as u32;
    let mask: u32 = if bits_stored >= 32 {
        u32::MAX
    } else {
        (1u32 << bits_stored) - 1
    };
    let raw = |k: usize| -> i64 {
        let u: u32 = match bits_allocated {
            8 => bytes[k] as u32,
            16 => u16::from_le_bytes([bytes[2 * k], bytes[2 * k + 1]]) as u32,
            _ => u32::from_le_bytes([
                bytes[4 * k],
                bytes[4 * k + 1],
                bytes[4 * k + 2],
                bytes[4 * k + 3],
            ]),
        };
        if signed {
            ((u << shift) as i32 >> shift) as i64
        } else {
            (u & mask) as i64
        }
    };
    let mut saturated = 0usize;
    let integer_path = slope == 1.0 && intercept.fract() == 0.0 && intercept.abs() < 1e9;
    if integer_path {
        let b = intercept as i64;
        for (k, o) in out.iter_mut().enumerate() {
            let v = raw(k) + b;
            let c = v.clamp(i16::MIN as i64, i16::MAX as i64);
            saturated += (c != v) as usize;
            *o = c as i16;
        }
    } else {
        for (k, o) in out.iter_mut().enumerate() {
            let v = (raw(k) as f64 * slope + intercept).round();
            let c = v.clamp(i16::MIN as f64, i16::MAX as f64);
            saturated += (c != v) as usize;
            *o = c as i16;
        }
    }
    saturated
}

/// A parsed file or the reason it was not used.
enum Parsed {
    Slice(PathBuf, Box<DicomSlice>),
    Skipped(PathBuf),
    Failed(PathBuf, Error),
}

fn parse_folder(dir: &Path, with_pixels: bool) -> Result<Vec<Parsed>> {
    if !dir.is_dir() {
        return Err(Error::BadPath {
            path: dir.to_path_buf(),
            reason: "not a folder".into(),
        });
    }
    let files = list_files(dir)?;
    Ok(files
        .into_par_iter()
        .map(|p| {
            let bytes = match std::fs::read(&p) {
                Ok(b) => b,
                Err(e) => return Parsed::Failed(p.clone(), Error::io(&p, e)),
            };
            if !has_dicm_magic(&bytes) {
                return Parsed::Skipped(p);
            }
            match parse_file(&bytes, &p, with_pixels) {
                Ok(s) => Parsed::Slice(p, Box::new(s)),
                Err(e) => Parsed::Failed(p, e),
            }
        })
        .collect())
}

/// Lists the series of a DICOM folder (headers only; pixel data is not decoded), the largest
/// first. Errors when the folder holds no DICOM file or a DICOM file that cannot be parsed.
pub fn list_series(dir: &Path) -> Result<Vec<SeriesInfo>> {
    let parsed = parse_folder(dir, false)?;
    let mut skipped = 0;
    let mut groups: BTreeMap<String, Vec<(PathBuf, Box<DicomSlice>)>> = BTreeMap::new();
    for p in parsed {
        match p {
            Parsed::Slice(path, s) => groups
                .entry(s.header.series_uid.clone().unwrap_or_default())
                .or_default()
                .push((path, s)),
            Parsed::Skipped(_) => skipped += 1,
            Parsed::Failed(_, e) => return Err(e),
        }
    }
    if groups.is_empty() {
        return Err(Error::NoDicom {
            dir: dir.to_path_buf(),
            skipped,
        });
    }
    let mut out: Vec<SeriesInfo> = groups
        .into_iter()
        .map(|(uid, v)| {
            let h = &v[0].1.header;
            SeriesInfo {
                uid,
                n_files: v.len(),
                modality: h.modality.clone(),
                description: h.description.clone(),
                patient_id: h.patient_id.clone(),
                shape: (h.rows, h.columns),
                files: v.iter().map(|(p, _)| p.clone()).collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| b.n_files.cmp(&a.n_files).then_with(|| a.uid.cmp(&b.uid)));
    Ok(out)
}

/// How the slice order was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Position,
    SliceLocation,
    InstanceNumber,
    FileName,
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The slice normal `row × column` of an ImageOrientationPatient, normalised; `None` when
/// the two direction vectors are degenerate (zero or parallel).
pub fn slice_normal(orientation: [f64; 6]) -> Option<[f64; 3]> {
    let r = [orientation[0], orientation[1], orientation[2]];
    let c = [orientation[3], orientation[4], orientation[5]];
    let n = cross(r, c);
    let len = dot(n, n).sqrt();
    (len > 1e-6).then(|| [n[0] / len, n[1] / len, n[2] / len])
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// Reads one series of a DICOM folder into a [`Scan`] in HU (see the module page for the
/// rules). The scan id is the PatientID (or the folder name when absent).
pub fn read_series(dir: &Path, opts: &DicomReadOptions) -> Result<Scan> {
    opts.validate()?;
    let parsed = parse_folder(dir, true)?;
    let mut warnings = Vec::new();
    let mut skipped = Vec::new();
    let mut groups: BTreeMap<String, Vec<(PathBuf, Box<DicomSlice>)>> = BTreeMap::new();
    let mut failed: Vec<(PathBuf, Error)> = Vec::new();
    for p in parsed {
        match p {
            Parsed::Slice(path, s) => groups
                .entry(s.header.series_uid.clone().unwrap_or_default())
                .or_default()
                .push((path, s)),
            Parsed::Skipped(p) => skipped.push(p),
            Parsed::Failed(p, e) => failed.push((p, e)),
        }
    }
    if !failed.is_empty() && !opts.skip_unreadable {
        return Err(failed.swap_remove(0).1);
    }
    for (p, e) in &failed {
        warnings.push(format!(
            "skipped unreadable DICOM file {}: {e}",
            p.display()
        ));
    }
    if !skipped.is_empty() {
        let names: Vec<String> = skipped.iter().map(|p| file_name(p)).collect();
        warnings.push(format!(
            "skipped {} non-DICOM file(s): {}",
            skipped.len(),
            names.join(", ")
        ));
    }
    if groups.is_empty() {
        return Err(Error::NoDicom {
            dir: dir.to_path_buf(),
            skipped: skipped.len(),
        });
    }
    let uid = match &opts.series_uid {
        Some(u) => {
            if !groups.contains_key(u) {
                return Err(Error::SeriesNotFound {
                    dir: dir.to_path_buf(),
                    uid: u.clone(),
                    available: groups.keys().cloned().collect(),
                });
            }
            u.clone()
        }
        None => {
            let best = groups
                .iter()
                .max_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| b.0.cmp(a.0)))
                .map(|(k, _)| k.clone())
                .expect("non-empty");
            if groups.len() > 1 {
                let others: Vec<String> = groups
                    .iter()
                    .filter(|(k, _)| **k != best)
                    .map(|(k, v)| format!("{k} ({} files)", v.len()))
                    .collect();
                warnings.push(format!(
                    "folder holds {} series; read the largest, {best} ({} files); others: {}",
                    groups.len(),
                    groups[&best].len(),
                    others.join(", ")
                ));
            }
            best
        }
    };
    let slices = groups.remove(&uid).expect("checked");
    assemble(dir, &uid, slices, warnings, opts)
}

fn assemble(
    dir: &Path,
    uid: &str,
    mut slices: Vec<(PathBuf, Box<DicomSlice>)>,
    mut warnings: Vec<String>,
    opts: &DicomReadOptions,
) -> Result<Scan> {
    let first = slices[0].1.header.clone();
    let first_path = slices[0].0.clone();
    // Shapes must agree before anything is stacked.
    for (p, s) in &slices[1..] {
        let (r, c) = (s.header.rows, s.header.columns);
        if (r, c) != (first.rows, first.columns) {
            return Err(Error::MixedShapes {
                series: uid.to_string(),
                first_file: first_path.clone(),
                first: (first.rows, first.columns),
                other_file: p.clone(),
                other: (r, c),
            });
        }
    }
    match first.modality.as_deref() {
        Some(m) if m.eq_ignore_ascii_case("CT") => {}
        other => {
            let m = other.unwrap_or("(missing)").to_string();
            if opts.require_ct {
                return Err(Error::NotCt {
                    dir: dir.to_path_buf(),
                    series: uid.to_string(),
                    modality: m,
                });
            }
            warnings.push(format!("modality is {m}, not CT: values may not be HU"));
        }
    }
    let n = slices.len();
    if n == 1 && !opts.allow_single_slice {
        return Err(Error::SingleSlice {
            dir: dir.to_path_buf(),
            series: uid.to_string(),
        });
    }

    // Orientation: the first file's, checked against the others.
    let normal = first.orientation.and_then(slice_normal);
    if let Some(o) = first.orientation {
        let differs = slices.iter().any(|(_, s)| {
            s.header
                .orientation
                .is_none_or(|q| q.iter().zip(o.iter()).any(|(a, b)| (a - b).abs() > 1e-4))
        });
        if differs {
            warnings.push(
                "ImageOrientationPatient differs between slices; the first file's is used".into(),
            );
        }
    }

    // Choose the sort key: positions along the normal, else SliceLocation, else
    // InstanceNumber, else file names.
    let all_pos = normal.is_some() && slices.iter().all(|(_, s)| s.header.position.is_some());
    let key = if all_pos {
        SortKey::Position
    } else if slices
        .iter()
        .all(|(_, s)| s.header.slice_location.is_some())
    {
        SortKey::SliceLocation
    } else if slices
        .iter()
        .all(|(_, s)| s.header.instance_number.is_some())
    {
        SortKey::InstanceNumber
    } else {
        SortKey::FileName
    };
    let pos_of = |s: &DicomSlice| -> f64 {
        match key {
            SortKey::Position => dot(
                s.header.position.unwrap_or_default(),
                normal.unwrap_or_default(),
            ),
            SortKey::SliceLocation => s.header.slice_location.unwrap_or(0.0),
            SortKey::InstanceNumber => s.header.instance_number.unwrap_or(0) as f64,
            SortKey::FileName => 0.0,
        }
    };
    match key {
        SortKey::Position => {}
        SortKey::SliceLocation if n > 1 => warnings.push(
            "ImagePositionPatient/ImageOrientationPatient missing: slices sorted by SliceLocation"
                .into(),
        ),
        SortKey::InstanceNumber if n > 1 => warnings.push(
            "ImagePositionPatient/ImageOrientationPatient and SliceLocation missing: slices sorted by InstanceNumber, spacing.z from the header"
                .into(),
        ),
        SortKey::FileName if n > 1 => warnings.push(
            "no ImagePositionPatient, SliceLocation or InstanceNumber: slices in file-name order, spacing.z from the header"
                .into(),
        ),
        _ => {}
    }
    // Stable sort: ties (duplicated positions) keep InstanceNumber, then file-name order.
    slices.sort_by(|a, b| {
        pos_of(&a.1)
            .total_cmp(&pos_of(&b.1))
            .then_with(|| a.1.header.instance_number.cmp(&b.1.header.instance_number))
    });
    let positions: Vec<f64> = slices.iter().map(|(_, s)| pos_of(s)).collect();

    let header_dz = first
        .spacing_between_slices
        .filter(|v| *v > 0.0)
        .or(first.slice_thickness.filter(|v| *v > 0.0));
    let mut dz = None;
    if n > 1 && matches!(key, SortKey::Position | SortKey::SliceLocation) {
        let gaps: Vec<f64> = positions.windows(2).map(|w| w[1] - w[0]).collect();
        let dups: Vec<String> = gaps
            .iter()
            .enumerate()
            .filter(|(_, g)| **g < 1e-3)
            .map(|(i, _)| {
                format!(
                    "{} and {} at {:.3} mm",
                    file_name(&slices[i].0),
                    file_name(&slices[i + 1].0),
                    positions[i]
                )
            })
            .collect();
        if !dups.is_empty() {
            warnings.push(format!(
                "{} duplicated slice position(s) (kept): {}",
                dups.len(),
                dups.join("; ")
            ));
        }
        let mut nonzero: Vec<f64> = gaps.iter().copied().filter(|g| *g >= 1e-3).collect();
        if !nonzero.is_empty() {
            let med = median(&mut nonzero);
            let tol = opts.gap_tolerance * med + 1e-3;
            let uneven: Vec<String> = gaps
                .iter()
                .enumerate()
                .filter(|(_, g)| **g >= 1e-3 && (**g - med).abs() > tol)
                .map(|(i, g)| format!("{g:.3} mm between slices {i} and {}", i + 1))
                .collect();
            if !uneven.is_empty() {
                warnings.push(format!(
                    "uneven slice gaps (median {med:.4} mm used as spacing.z): {}",
                    uneven.join("; ")
                ));
            }
            dz = Some(med);
        }
    }
    let dz = match dz {
        Some(d) => d,
        None => match header_dz {
            Some(d) => {
                if n == 1 {
                    warnings.push(format!(
                        "single-slice series: spacing.z = {d} mm from SpacingBetweenSlices/SliceThickness"
                    ));
                }
                d
            }
            None => {
                warnings.push(
                    "spacing.z unknown (no positions or SliceThickness): 1 mm assumed".into(),
                );
                1.0
            }
        },
    };
    let (dy, dx) = match first.pixel_spacing {
        Some([r, c]) if r > 0.0 && c > 0.0 => (r, c),
        _ => {
            warnings.push("PixelSpacing missing or invalid: 1 mm assumed".into());
            (1.0, 1.0)
        }
    };
    if slices.iter().any(|(_, s)| {
        s.header
            .pixel_spacing
            .is_some_and(|p| (p[0] - dy).abs() > 1e-4 || (p[1] - dx).abs() > 1e-4)
    }) {
        warnings.push("PixelSpacing differs between slices; the first file's is used".into());
    }
    let saturated: usize = slices.iter().map(|(_, s)| s.saturated).sum();
    if saturated > 0 {
        warnings.push(format!(
            "{saturated} voxel(s) outside the i16 range after rescale were saturated"
        ));
    }

    let (rows, cols) = (first.rows, first.columns);
    let mut data = Array3::<i16>::zeros((n, rows, cols));
    data.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(slices.par_iter())
        .for_each(|(mut dst, (_, s))| dst.assign(&s.hu));

    let spacing = Spacing::new(dz, dy, dx).map_err(|e| Error::core(dir.display(), e))?;
    let origin = slices[0].1.header.position.unwrap_or([0.0; 3]);
    let volume =
        Volume::with_origin(data, spacing, origin).map_err(|e| Error::core(dir.display(), e))?;

    let mut extra = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            extra.insert(k.to_string(), v);
        }
    };
    put("Modality", first.modality.clone());
    put("Manufacturer", first.manufacturer.clone());
    put("SeriesDescription", first.description.clone());
    put("StudyInstanceUID", first.study_uid.clone());
    put("TransferSyntaxUID", Some(first.transfer_syntax.clone()));
    put(
        "ImageOrientationPatient",
        first.orientation.map(|o| {
            o.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\\")
        }),
    );
    put("SortedBy", Some(format!("{key:?}")));
    let id = first.patient_id.clone().unwrap_or_else(|| file_name(dir));
    let meta = Meta {
        patient_id: first.patient_id.clone(),
        series_uid: (!uid.is_empty()).then(|| uid.to_string()),
        source: Some(dir.to_path_buf()),
        contrast: None,
        slice_thickness: first.slice_thickness,
        extra,
        warnings,
    };
    Ok(Scan {
        id,
        label: None,
        volume,
        meta,
    })
}

/// Writes `scan` as an uncompressed (explicit VR little endian) CT Image Storage series:
/// `dir/IM0001.dcm`, `IM0002.dcm`, ... (one file per z slice, slice 0 first), creating `dir`.
///
/// * PatientID and PatientName are `scan.id`; SeriesInstanceUID is `scan.meta.series_uid`
///   or a `2.25.` UID derived deterministically from the id; study, frame-of-reference and
///   SOP instance UIDs are derived the same way, so writing twice gives identical files.
/// * ImageOrientationPatient comes from `meta.extra["ImageOrientationPatient"]` (as written
///   by [`read_series`]) or is axial `1\0\0\0\1\0`; ImagePositionPatient of slice `k` is
///   `origin + k · spacing.z · normal`, so [`read_series`] reads the same volume back.
/// * Pixels are signed 16-bit HU with RescaleSlope 1 and RescaleIntercept 0 (lossless for
///   every i16 value).
pub fn write_series(dir: &Path, scan: &Scan) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let vol = &scan.volume;
    let [nz, ny, nx] = vol.shape();
    if ny > u16::MAX as usize || nx > u16::MAX as usize {
        return Err(Error::InvalidParameter {
            name: "scan.volume",
            reason: format!("slices of {ny}x{nx} exceed DICOM's 65535 rows/columns"),
        });
    }
    let sp = vol.spacing();
    let id = scan.id.as_bytes();
    let series_uid = scan
        .meta
        .series_uid
        .clone()
        .unwrap_or_else(|| uid_from(&[b"covid-ct series", id]));
    let study_uid = scan
        .meta
        .extra
        .get("StudyInstanceUID")
        .cloned()
        .unwrap_or_else(|| uid_from(&[b"covid-ct study", id]));
    let frame_uid = uid_from(&[b"covid-ct frame", id, series_uid.as_bytes()]);
    let orientation: [f64; 6] = scan
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
    let normal = slice_normal(orientation).expect("checked");
    let origin = vol.origin();
    let width = nz.to_string().len().max(4);
    let thickness = scan.meta.slice_thickness.unwrap_or(sp.z);
    let ds = |v: f64| -> String {
        // DS values are at most 16 characters.
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        let s = if s == "-0" { "0".to_string() } else { s };
        if s.len() > 16 { format!("{v:.4e}") } else { s }
    };
    let ds_multi = |v: &[f64]| v.iter().map(|x| ds(*x)).collect::<Vec<_>>().join("\\");

    (0..nz).into_par_iter().try_for_each(|k| -> Result<()> {
        let pos = [
            origin[0] + k as f64 * sp.z * normal[0],
            origin[1] + k as f64 * sp.z * normal[1],
            origin[2] + k as f64 * sp.z * normal[2],
        ];
        let sop_uid = uid_from(&[b"covid-ct sop", series_uid.as_bytes(), &k.to_le_bytes()]);
        let slice = vol.data().index_axis(Axis(0), k);
        let mut px = Vec::with_capacity(ny * nx * 2);
        for v in slice.iter() {
            px.extend_from_slice(&v.to_le_bytes());
        }
        let s = |t: Tag, vr: VR, v: &str| DataElement::new(t, vr, PrimitiveValue::from(v));
        let obj = InMemDicomObject::from_element_iter([
            s(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100"),
            s(tags::IMAGE_TYPE, VR::CS, "DERIVED\\SECONDARY\\AXIAL"),
            s(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE),
            s(tags::SOP_INSTANCE_UID, VR::UI, &sop_uid),
            s(tags::STUDY_DATE, VR::DA, ""),
            s(tags::STUDY_TIME, VR::TM, ""),
            s(tags::ACCESSION_NUMBER, VR::SH, ""),
            s(tags::MODALITY, VR::CS, "CT"),
            s(tags::MANUFACTURER, VR::LO, "covid-ct"),
            s(tags::REFERRING_PHYSICIAN_NAME, VR::PN, ""),
            s(tags::SERIES_DESCRIPTION, VR::LO, "covid-ct export"),
            s(tags::PATIENT_NAME, VR::PN, &scan.id),
            s(tags::PATIENT_ID, VR::LO, &scan.id),
            s(tags::PATIENT_BIRTH_DATE, VR::DA, ""),
            s(tags::PATIENT_SEX, VR::CS, ""),
            s(tags::SLICE_THICKNESS, VR::DS, &ds(thickness)),
            s(tags::KVP, VR::DS, ""),
            s(tags::STUDY_INSTANCE_UID, VR::UI, &study_uid),
            s(tags::SERIES_INSTANCE_UID, VR::UI, &series_uid),
            s(tags::STUDY_ID, VR::SH, ""),
            s(tags::SERIES_NUMBER, VR::IS, "1"),
            s(tags::INSTANCE_NUMBER, VR::IS, &(k + 1).to_string()),
            s(tags::IMAGE_POSITION_PATIENT, VR::DS, &ds_multi(&pos)),
            s(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                &ds_multi(&orientation),
            ),
            s(tags::FRAME_OF_REFERENCE_UID, VR::UI, &frame_uid),
            s(tags::POSITION_REFERENCE_INDICATOR, VR::LO, ""),
            s(tags::SLICE_LOCATION, VR::DS, &ds(dot(pos, normal))),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
            s(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(ny as u16)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(nx as u16)),
            s(tags::PIXEL_SPACING, VR::DS, &ds_multi(&[sp.y, sp.x])),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
            DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)),
            DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(1u16),
            ),
            s(tags::RESCALE_INTERCEPT, VR::DS, "0"),
            s(tags::RESCALE_SLOPE, VR::DS, "1"),
            s(tags::RESCALE_TYPE, VR::LO, "HU"),
            DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(px)),
        ]);
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .implementation_class_uid(uid_from(&[b"covid-ct implementation"]))
                    .implementation_version_name("COVID_CT_IO"),
            )
            .map_err(|e| Error::BadPath {
                path: dir.to_path_buf(),
                reason: format!("cannot build the file meta group: {e}"),
            })?;
        let path = dir.join(format!("IM{:0width$}.dcm", k + 1));
        file.write_to_file(&path).map_err(|e| Error::BadPath {
            path: path.clone(),
            reason: format!("cannot write DICOM: {e}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_to_hu() {
        // 12-bit signed: 0xFFF is −1 after sign extension; 0x800 is −2048.
        let bytes = [0xFF, 0x0F, 0x00, 0x08, 0x01, 0x00];
        let mut out = [0i16; 3];
        assert_eq!(stored_to_hu(&bytes, 16, 12, true, 1.0, 0.0, &mut out), 0);
        assert_eq!(out, [-1, -2048, 1]);
        // Unsigned with the usual −1024 intercept; high bits above BitsStored are masked.
        let bytes = [0x00, 0xF0, 0x00, 0x04, 0xFF, 0x0F];
        assert_eq!(
            stored_to_hu(&bytes, 16, 12, false, 1.0, -1024.0, &mut out),
            0
        );
        assert_eq!(out, [-1024, 0, 3071]);
        // Non-integer slope rounds half away from zero; saturation is counted.
        let bytes = [3, 0, 0xFF, 0xFF];
        let mut out2 = [0i16; 2];
        assert_eq!(stored_to_hu(&bytes, 16, 16, false, 0.5, -0.0, &mut out2), 1);
        assert_eq!(out2, [2, i16::MAX]); // 1.5 -> 2; 32767.5 -> 32768 saturates
        let mut out3 = [0i16; 2];
        assert_eq!(stored_to_hu(&bytes, 16, 16, false, 1.0, 0.0, &mut out3), 1);
        assert_eq!(out3, [3, i16::MAX]);
    }

    #[test]
    fn normal_of_axial_and_degenerate() {
        assert_eq!(
            slice_normal([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            Some([0.0, 0.0, 1.0])
        );
        assert_eq!(slice_normal([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]), None);
    }
}
