//! Hostile and careless input (issue 25): DICOM files built here, in memory or in temporary
//! folders, that nest sequences thousands deep or declare gigabyte lengths in a few
//! kilobytes, and `Index.csv` files with quoting, a BOM, CRLF, blank lines, ragged rows and
//! unknown values. Each must give a typed error (never an abort, a panic or a huge
//! allocation) or read correctly.

use std::io::Write;
use std::path::{Path, PathBuf};

use ct_core::{Contrast, Label};
use ct_io::Error;
use ct_io::dataset::{Dataset, IndexColumn};
use ct_io::dicom::{self, DicomReadOptions, guard};

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const JPEG_2000: &str = "1.2.840.10008.1.2.4.90";

/// How a data set is encoded.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Enc {
    ExplicitLe,
    ImplicitLe,
    ExplicitBe,
    Deflated,
}

impl Enc {
    const ALL: [Enc; 4] = [
        Enc::ExplicitLe,
        Enc::ImplicitLe,
        Enc::ExplicitBe,
        Enc::Deflated,
    ];

    fn uid(self) -> &'static str {
        match self {
            Enc::ExplicitLe => EXPLICIT_LE,
            Enc::ImplicitLe => IMPLICIT_LE,
            Enc::ExplicitBe => EXPLICIT_BE,
            Enc::Deflated => DEFLATED,
        }
    }
}

/// Writes data-set elements in one encoding.
struct Body {
    big: bool,
    implicit: bool,
    out: Vec<u8>,
}

impl Body {
    fn new(enc: Enc) -> Body {
        Body {
            big: enc == Enc::ExplicitBe,
            implicit: enc == Enc::ImplicitLe,
            out: Vec::new(),
        }
    }

    fn u16(&mut self, v: u16) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }

    fn u32(&mut self, v: u32) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }

    /// An element header with a given length (the value is written by the caller).
    fn header(&mut self, tag: (u16, u16), vr: &str, len: u32) {
        self.u16(tag.0);
        self.u16(tag.1);
        if self.implicit {
            self.u32(len);
            return;
        }
        self.out.extend_from_slice(vr.as_bytes());
        if matches!(vr, "OB" | "OW" | "SQ" | "UN" | "UT" | "OF") {
            self.u16(0);
            self.u32(len);
        } else {
            self.u16(len as u16);
        }
    }

    /// An element with its value (padded to even length with `pad`).
    fn el(&mut self, tag: (u16, u16), vr: &str, value: &[u8]) {
        let pad = value.len() % 2;
        self.header(tag, vr, (value.len() + pad) as u32);
        self.out.extend_from_slice(value);
        if pad == 1 {
            self.out.push(if vr == "UI" { 0 } else { b' ' });
        }
    }

    fn str(&mut self, tag: (u16, u16), vr: &str, value: &str) {
        self.el(tag, vr, value.as_bytes());
    }

    fn us(&mut self, tag: (u16, u16), v: u16) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.el(tag, "US", &b);
    }

    /// An item (`len` may be 0xFFFFFFFF) and the two delimitation items.
    fn item(&mut self, len: u32) {
        self.u16(0xFFFE);
        self.u16(0xE000);
        self.u32(len);
    }
    fn item_end(&mut self) {
        self.u16(0xFFFE);
        self.u16(0xE00D);
        self.u32(0);
    }
    fn seq_end(&mut self) {
        self.u16(0xFFFE);
        self.u16(0xE0DD);
        self.u32(0);
    }

    /// The attributes of a small CT slice that come before (0008,1115).
    fn ct_header_start(&mut self) {
        self.str((0x0008, 0x0016), "UI", "1.2.840.10008.5.1.4.1.1.2");
        self.str((0x0008, 0x0018), "UI", "1.2.826.0.1.3680043.2.1125.1");
        self.str((0x0008, 0x0060), "CS", "CT");
    }

    /// The attributes after (0008,1115), up to (but without) the pixel data.
    fn ct_header_end(&mut self, rows: u16, cols: u16) {
        self.str((0x0010, 0x0020), "LO", "hostile");
        self.str((0x0020, 0x000E), "UI", "1.2.826.0.1.3680043.2.1125.2");
        self.us((0x0028, 0x0002), 1);
        self.str((0x0028, 0x0004), "CS", "MONOCHROME2");
        self.us((0x0028, 0x0010), rows);
        self.us((0x0028, 0x0011), cols);
        self.us((0x0028, 0x0100), 16);
        self.us((0x0028, 0x0101), 16);
        self.us((0x0028, 0x0102), 15);
        self.us((0x0028, 0x0103), 1);
    }

    /// Native 16-bit pixel data with value `v`.
    fn pixels(&mut self, rows: u16, cols: u16, v: i16) {
        let n = rows as usize * cols as usize;
        self.header((0x7FE0, 0x0010), "OW", (2 * n) as u32);
        for _ in 0..n {
            self.u16(v as u16);
        }
    }
}

/// Preamble, `DICM`, the file meta group (always explicit VR little endian) and the data set
/// (raw-deflated for the deflated transfer syntax).
fn part10(ts: &str, body: &[u8]) -> Vec<u8> {
    if ts == DEFLATED {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(body).unwrap();
        return part10_encoded(ts, &z.finish().unwrap());
    }
    part10_encoded(ts, body)
}

/// [`part10`] with the data set already encoded.
fn part10_encoded(ts: &str, body: &[u8]) -> Vec<u8> {
    let mut meta = Body::new(Enc::ExplicitLe);
    meta.el((0x0002, 0x0001), "OB", &[0, 1]);
    meta.str((0x0002, 0x0002), "UI", "1.2.840.10008.5.1.4.1.1.2");
    meta.str((0x0002, 0x0003), "UI", "1.2.826.0.1.3680043.2.1125.1");
    meta.str((0x0002, 0x0010), "UI", ts);
    meta.str((0x0002, 0x0012), "UI", "1.2.826.0.1.3680043.2.1125.9");
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    let mut group = Body::new(Enc::ExplicitLe);
    group.el(
        (0x0002, 0x0000),
        "UL",
        &(meta.out.len() as u32).to_le_bytes(),
    );
    out.extend_from_slice(&group.out);
    out.extend_from_slice(&meta.out);
    out.extend_from_slice(body);
    out
}

/// A 16x16 CT slice whose header holds `depth` sequences nested in one another at
/// (0008,1115), with undefined lengths (closed by delimitation items) or defined lengths.
fn nested_file(enc: Enc, depth: usize, defined: bool) -> Vec<u8> {
    let mut b = Body::new(enc);
    b.ct_header_start();
    for level in 0..depth {
        if defined {
            // Each inner level is an SQ header (12 bytes explicit, 8 implicit) + an item header.
            let per = if b.implicit { 16 } else { 20 };
            let inner = (per * (depth - level - 1)) as u32;
            b.header((0x0008, 0x1115), "SQ", inner + 8);
            b.item(inner);
        } else {
            b.header((0x0008, 0x1115), "SQ", u32::MAX);
            b.item(u32::MAX);
        }
    }
    if !defined {
        for _ in 0..depth {
            b.item_end();
            b.seq_end();
        }
    }
    b.ct_header_end(16, 16);
    b.pixels(16, 16, -1000);
    part10(enc.uid(), &b.out)
}

/// Runs `f` on a thread with a 256 KiB stack: a recursive parse of thousands of levels
/// would overflow it and abort the test binary.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// Peak resident memory of this process so far (Linux; `None` elsewhere).
fn peak_rss_mib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// A peak far under 1 GB: a reader that allocated a declared 3.8 or 4 GB would exceed it.
fn assert_peak_rss_small() {
    if let Some(mib) = peak_rss_mib() {
        assert!(mib < 512, "peak RSS of the test process is {mib} MiB");
    }
}

#[test]
fn builder_makes_readable_files_in_every_encoding() {
    // The hostile files below are these, changed in one place: check the base reads.
    for enc in Enc::ALL {
        let bytes = nested_file(enc, 3, false);
        let s = dicom::read_slice_bytes(&bytes).unwrap_or_else(|e| panic!("{enc:?}: {e}"));
        assert_eq!(s.hu.dim(), (16, 16), "{enc:?}");
        assert!(s.hu.iter().all(|v| *v == -1000), "{enc:?}");
        let sum = guard::check(&bytes, Path::new("x.dcm"), guard::Scope::Full).unwrap();
        assert!(sum.complete, "{enc:?}");
        assert_eq!(sum.max_depth, 3, "{enc:?}"); // 3 SQ, each in an item of the one above
    }
    let bytes = nested_file(Enc::ExplicitLe, 3, true);
    assert!(dicom::read_slice_bytes(&bytes).is_ok());
}

#[test]
fn deeply_nested_sequences_are_a_typed_error_not_an_abort() {
    for enc in Enc::ALL {
        for defined in [false, true] {
            let bytes = nested_file(enc, 3000, defined);
            let e = on_small_stack(move || dicom::read_slice_bytes(&bytes)).unwrap_err();
            match &e {
                Error::DicomNesting { depth, limit, .. } => {
                    assert_eq!(*limit, guard::MAX_SEQUENCE_DEPTH);
                    assert_eq!(*depth, guard::MAX_SEQUENCE_DEPTH + 1);
                }
                other => panic!("{enc:?} defined={defined}: {other}"),
            }
            let msg = e.to_string();
            assert!(
                msg.contains("nested") && msg.contains("limit of 64"),
                "{msg}"
            );
        }
    }
}

#[test]
fn nesting_limit_is_exact_and_the_limit_itself_parses_on_a_small_stack() {
    for defined in [false, true] {
        let at_limit = nested_file(Enc::ExplicitLe, guard::MAX_SEQUENCE_DEPTH, defined);
        let s = on_small_stack(move || dicom::read_slice_bytes(&at_limit)).unwrap();
        assert_eq!(s.hu.dim(), (16, 16));
    }
    let over = nested_file(Enc::ExplicitLe, guard::MAX_SEQUENCE_DEPTH + 1, false);
    let e = dicom::read_slice_bytes(&over).unwrap_err();
    assert!(matches!(e, Error::DicomNesting { .. }), "{e}");
}

#[test]
fn nested_file_in_a_folder_names_the_file_on_rayon_workers() {
    // read_series and list_series parse on rayon's worker threads (2 MiB stacks).
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("deep.dcm"),
        nested_file(Enc::ExplicitLe, 3000, false),
    )
    .unwrap();
    let e = dicom::read_series(tmp.path(), &DicomReadOptions::default()).unwrap_err();
    assert!(matches!(e, Error::DicomNesting { .. }), "{e}");
    assert!(e.to_string().contains("deep.dcm"), "{e}");
    let e = dicom::list_series(tmp.path()).unwrap_err();
    assert!(matches!(e, Error::DicomNesting { .. }), "{e}");
    // Skipping unreadable files skips it like any other bad file.
    std::fs::write(
        tmp.path().join("ok.dcm"),
        nested_file(Enc::ExplicitLe, 1, false),
    )
    .unwrap();
    let skip = DicomReadOptions {
        skip_unreadable: true,
        ..Default::default()
    };
    let s = dicom::read_series(tmp.path(), &skip).unwrap();
    assert_eq!(s.volume.shape(), [1, 16, 16]);
    assert!(s.meta.warnings.iter().any(|w| w.contains("deep.dcm")));
}

/// A 128x128 slice (34 KB) whose PixelData declares `len` bytes.
fn lying_pixel_data(enc: Enc, len: u32) -> Vec<u8> {
    let mut b = Body::new(enc);
    b.ct_header_start();
    b.ct_header_end(128, 128);
    b.header((0x7FE0, 0x0010), "OW", len);
    b.out.extend(std::iter::repeat_n(0u8, 2 * 128 * 128));
    part10(enc.uid(), &b.out)
}

/// The same slice with a private OB element before the pixel data that declares `len` bytes.
fn lying_private_element(enc: Enc, len: u32) -> Vec<u8> {
    let mut b = Body::new(enc);
    b.ct_header_start();
    b.ct_header_end(128, 128);
    b.str((0x0029, 0x0010), "LO", "HOSTILE");
    b.header((0x0029, 0x1010), "OB", len);
    b.out.extend_from_slice(&[0; 64]);
    b.pixels(128, 128, 0);
    part10(enc.uid(), &b.out)
}

#[test]
fn pixel_data_length_past_the_end_is_refused_before_allocating() {
    for enc in Enc::ALL {
        let bytes = lying_pixel_data(enc, 0xFFFF_FFF0);
        if enc != Enc::Deflated {
            assert!(bytes.len() < 40_000, "{}", bytes.len());
        }
        let t = std::time::Instant::now();
        let e = dicom::read_slice_bytes(&bytes).unwrap_err();
        // Cut short after a whole header: Truncated, naming the tag and the length.
        assert!(matches!(e, Error::Truncated { .. }), "{enc:?}: {e}");
        let msg = e.to_string();
        assert!(msg.contains("(7FE0,0010)"), "{msg}");
        assert!(msg.contains("4294967280 bytes"), "{msg}");
        assert!(t.elapsed().as_secs_f64() < 30.0);
        // A header-only read stops before the pixel data, as dicom-rs's does.
        let sum = guard::check(&bytes, Path::new("x.dcm"), guard::Scope::Header).unwrap();
        assert!(sum.complete);
    }
    assert_peak_rss_small();
}

/// RLE Lossless: a few hundred bytes of compressed data declaring a 65535×65535 slice. The
/// decoder would allocate 8.6 GB for its output; the reader refuses the size first.
#[test]
fn compressed_slice_declaring_billions_of_pixels_is_refused_before_decoding() {
    const RLE: &str = "1.2.840.10008.1.2.5";
    let slice = |side: u16| {
        let mut b = Body::new(Enc::ExplicitLe);
        b.ct_header_start();
        b.ct_header_end(side, side);
        b.header((0x7FE0, 0x0010), "OB", 0xFFFF_FFFF);
        b.item(0); // empty basic offset table
        // One fragment: the RLE header (2 segments: high and low bytes) and two runs.
        let mut frag = Vec::new();
        for v in [2u32, 64, 66].into_iter().chain(std::iter::repeat_n(0, 13)) {
            frag.extend_from_slice(&v.to_le_bytes());
        }
        frag.extend_from_slice(&[0x81, 0, 0x81, 0]);
        b.item(frag.len() as u32);
        b.out.extend_from_slice(&frag);
        b.seq_end();
        part10_encoded(RLE, &b.out)
    };
    let bytes = slice(65535);
    assert!(bytes.len() < 1_000, "{}", bytes.len());
    let t = std::time::Instant::now();
    let e = dicom::read_slice_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unsupported {
                tag: "Rows/Columns",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("65535x65535"), "{e}");
    assert!(t.elapsed().as_secs_f64() < 5.0);
    assert_peak_rss_small();
    // The same file declaring a real slice size decodes (to the size check after decoding).
    let small = dicom::read_slice_bytes(&slice(8));
    assert!(
        !matches!(
            small,
            Err(Error::Unsupported {
                tag: "Rows/Columns",
                ..
            })
        ),
        "{small:?}"
    );
}

#[test]
fn private_element_length_past_the_end_is_refused_before_allocating() {
    for enc in Enc::ALL {
        let bytes = lying_private_element(enc, 3_800_000_000);
        let e = dicom::read_slice_bytes(&bytes).unwrap_err();
        match &e {
            Error::DicomLength {
                tag,
                length,
                remaining,
                ..
            } => {
                assert!(tag.starts_with("(0029,1010)"), "{tag}");
                assert_eq!(*length, 3_800_000_000);
                assert!(*remaining < 40_000, "{remaining}");
            }
            other => panic!("{enc:?}: {other}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains("3800000000") && msg.contains("<memory>"),
            "{msg}"
        );
    }
    // In a folder, the header-only listing refuses it too, naming the file.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("big.dcm"),
        lying_private_element(Enc::ExplicitLe, 3_800_000_000),
    )
    .unwrap();
    let e = dicom::list_series(tmp.path()).unwrap_err();
    assert!(matches!(e, Error::DicomLength { .. }), "{e}");
    assert!(e.to_string().contains("big.dcm"), "{e}");
    assert_peak_rss_small();
}

#[test]
fn sequence_item_and_fragment_lengths_past_the_end_are_refused() {
    // A defined-length sequence longer than the file.
    let mut b = Body::new(Enc::ExplicitLe);
    b.ct_header_start();
    b.header((0x0008, 0x1115), "SQ", 0x7000_0000);
    b.item(0);
    b.ct_header_end(16, 16);
    b.pixels(16, 16, 0);
    let e = dicom::read_slice_bytes(&part10(EXPLICIT_LE, &b.out)).unwrap_err();
    assert!(
        matches!(&e, Error::DicomLength { tag, .. } if tag.starts_with("(0008,1115)")),
        "{e}"
    );
    // An item longer than the file.
    let mut b = Body::new(Enc::ExplicitLe);
    b.ct_header_start();
    b.header((0x0008, 0x1115), "SQ", u32::MAX);
    b.item(0xFFFF_0000);
    b.ct_header_end(16, 16);
    let e = dicom::read_slice_bytes(&part10(EXPLICIT_LE, &b.out)).unwrap_err();
    assert!(
        matches!(&e, Error::DicomLength { tag, length: 0xFFFF_0000, .. } if tag.starts_with("(FFFE,E000)")),
        "{e}"
    );
    // An encapsulated (JPEG 2000) pixel-data fragment longer than the file.
    let mut b = Body::new(Enc::ExplicitLe);
    b.ct_header_start();
    b.ct_header_end(16, 16);
    b.header((0x7FE0, 0x0010), "OB", u32::MAX);
    b.item(0); // empty basic offset table
    b.item(0xFFFF_FFF0);
    b.out.extend_from_slice(&[0xFF, 0x4F, 0xFF, 0x51]);
    let e = dicom::read_slice_bytes(&part10(JPEG_2000, &b.out)).unwrap_err();
    assert!(matches!(e, Error::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("4294967280"), "{e}");
    assert_peak_rss_small();
}

#[test]
fn meta_group_length_past_the_end_is_refused() {
    let mut bytes = part10(EXPLICIT_LE, &[]);
    // An extra, unknown meta element declaring 3 GB (the group length grows by its header).
    let mut extra = Body::new(Enc::ExplicitLe);
    extra.header((0x0002, 0x0200), "OB", 3_000_000_000);
    let glen = u32::from_le_bytes(bytes[140..144].try_into().unwrap());
    bytes[140..144].copy_from_slice(&(glen + 12 + 3_000_000_000).to_le_bytes());
    bytes.extend_from_slice(&extra.out);
    bytes.extend_from_slice(&[0; 16]);
    let e = dicom::read_slice_bytes(&bytes).unwrap_err();
    assert!(
        matches!(&e, Error::DicomLength { tag, .. } if tag.starts_with("(0002,0200)")),
        "{e}"
    );
}

#[test]
fn deflate_bomb_is_refused_before_inflating_it_all() {
    // 80 MB of zeros in a private element deflate to ~80 KB; the limit is 64 MiB.
    let mut b = Body::new(Enc::ExplicitLe);
    b.ct_header_start();
    b.ct_header_end(16, 16);
    let n = 80_000_000u32;
    b.header((0x0029, 0x1010), "OB", n);
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&b.out).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..n as usize / zeros.len() {
        z.write_all(&zeros).unwrap();
    }
    z.write_all(&zeros[..n as usize % zeros.len()]).unwrap();
    let bytes = part10_encoded(DEFLATED, &z.finish().unwrap());
    assert!(bytes.len() < 1_000_000, "{}", bytes.len());
    let e = dicom::read_slice_bytes(&bytes).unwrap_err();
    assert!(
        matches!(e, Error::DicomInflated { limit, .. } if limit == guard::MAX_INFLATED_BYTES),
        "{e}"
    );
}

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

/// Every DICOM file under `dir`, recursively.
fn dicom_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            dicom_files(&p, out);
        } else if dicom::is_dicom_file(&p) {
            out.push(p);
        }
    }
}

#[test]
fn pre_scan_accepts_every_fixture() {
    let mut files = Vec::new();
    dicom_files(&data(""), &mut files);
    assert!(files.len() > 40, "{}", files.len());
    let mut deepest = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let header = guard::check(&bytes, f, guard::Scope::Header).unwrap();
        assert!(header.complete, "{}", f.display());
        match guard::check(&bytes, f, guard::Scope::Full) {
            Ok(s) => {
                assert!(s.complete, "{}", f.display());
                assert!(s.elements > 10, "{}", f.display());
                deepest = deepest.max(s.max_depth);
            }
            // The fixture cut short inside its pixel data.
            Err(Error::Truncated { .. }) if f.ends_with("truncated/b.dcm") => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(deepest < 10, "{deepest}");
}

#[test]
fn pre_scan_never_panics_on_damaged_fixtures() {
    // The pre-scan runs inside the reader's catch_unwind, which would hide a panic of its
    // own: call it directly on every 32-bit word of the headers set to hostile values, and
    // on every truncation of the first kilobytes.
    for name in [
        "axial_explicit/b.dcm",
        "axial_implicit/b.dcm",
        "axial_deflate/b.dcm",
        "693_J2KI.dcm",
        "CT_small.dcm",
    ] {
        let seed = std::fs::read(data(name)).unwrap();
        let mut checked = 0;
        for at in (132..seed.len().min(3000)).step_by(2) {
            for v in [
                0u32,
                1,
                3,
                0x7FFF_FFFF,
                0xFFFF_FFFF,
                0xFFFF_FFF0,
                0x0000_FFFF,
            ] {
                let mut m = seed.clone();
                let end = (at + 4).min(m.len());
                m[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
                for scope in [guard::Scope::Header, guard::Scope::Full] {
                    let _ = guard::check(&m, Path::new(name), scope);
                }
                checked += 1;
            }
            let _ = guard::check(&seed[..at], Path::new(name), guard::Scope::Full);
        }
        assert!(checked > 100, "{name}");
    }
}

#[test]
fn pre_scan_accepts_written_series() {
    use ct_core::{Scan, Spacing, Volume};
    let tmp = tempfile::tempdir().unwrap();
    let hu = ndarray::Array3::from_shape_fn((3, 20, 24), |(z, y, x)| (z * 7 + y * 3 + x) as i16);
    let vol = Volume::new(hu, Spacing::new(2.0, 0.5, 0.5).unwrap()).unwrap();
    dicom::write_series(tmp.path(), &Scan::new("w", None, vol)).unwrap();
    let mut files = Vec::new();
    dicom_files(tmp.path(), &mut files);
    assert_eq!(files.len(), 3);
    for f in files {
        let s = guard::check(&std::fs::read(&f).unwrap(), &f, guard::Scope::Full).unwrap();
        assert!(s.complete);
    }
}

// ---------------------------------------------------------------------------------------------
// Index.csv

/// A class-tree data set with subjects normal/n1, normal/n2, covid/c1, covid/"c, 2" (as .npy).
fn dataset_with_index(index: &[u8]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let vol = ndarray::Array3::<i16>::zeros((2, 3, 3));
    for (class, id) in [
        ("normal", "n1"),
        ("normal", "n2"),
        ("covid", "c1"),
        ("covid", "c, 2"),
    ] {
        let dir = tmp.path().join(class);
        std::fs::create_dir_all(&dir).unwrap();
        ct_io::npy::write(&dir.join(format!("{id}.npy")), vol.view()).unwrap();
    }
    std::fs::write(tmp.path().join("Index.csv"), index).unwrap();
    tmp
}

fn contrast_of(ds: &Dataset, id: &str) -> Option<Contrast> {
    ds.entries().iter().find(|e| e.id == id).unwrap().contrast
}

#[test]
fn index_csv_with_quotes_bom_crlf_blank_lines_and_ragged_rows() {
    let csv = "\u{feff}Folder/ID,Notes,Diagnosis,Contrast\r\n\
               \r\n\
               n1,\"seen twice, then discharged\",Normal,High\r\n\
               \"c, 2\",\"quote \"\"inside\"\"\",COVID-19,low\r\n\
               \r\n\
               c1,,covid\r\n\
               n2,,,\r\n\
               ,,,\r\n\
               ,\"no id\",normal,low\r\n";
    let tmp = dataset_with_index(csv.as_bytes());
    let ds = Dataset::open(tmp.path()).unwrap();
    // The comma inside the quoted note no longer shifts Diagnosis and Contrast.
    assert_eq!(contrast_of(&ds, "n1"), Some(Contrast::High));
    assert_eq!(contrast_of(&ds, "c, 2"), Some(Contrast::Low));
    // A ragged row (no contrast column) and empty values are "unknown".
    assert_eq!(contrast_of(&ds, "c1"), None);
    assert_eq!(contrast_of(&ds, "n2"), None);
    assert!(
        ds.warnings().iter().all(|w| !w.contains("Index.csv says")),
        "{:?}",
        ds.warnings()
    );
    // A row with values but no id is ignored with a warning naming its line.
    assert!(
        ds.warnings()
            .iter()
            .any(|w| w.contains("line 9: no subject id")),
        "{:?}",
        ds.warnings()
    );
    let c2 = ds.entries().iter().find(|e| e.id == "c, 2").unwrap();
    assert_eq!(c2.label, Some(Label::Covid));
    // The BOM is not part of the first column's name.
    let tmp = dataset_with_index("\u{feff}Diagnosis,ID\r\npneumonia?,n1\r\n".as_bytes());
    let e = Dataset::open(tmp.path()).unwrap_err();
    assert!(
        matches!(&e, Error::IndexValue { line: 2, column, .. } if column == "Diagnosis"),
        "{e}"
    );
}

#[test]
fn index_csv_unknown_diagnosis_is_a_typed_error_naming_line_column_and_value() {
    let csv = "id,\"Note, free text\",diagnosis,contrast\nn1,\"a, b\",normal,high\nc1,x,flu,low\n";
    let tmp = dataset_with_index(csv.as_bytes());
    let e = Dataset::open(tmp.path()).unwrap_err();
    match &e {
        Error::IndexValue {
            path,
            line,
            column,
            value,
            kind,
            ..
        } => {
            assert!(path.ends_with("Index.csv"));
            assert_eq!(*line, 3);
            assert_eq!(column, "diagnosis");
            assert_eq!(value, "flu");
            assert_eq!(*kind, IndexColumn::Diagnosis);
            assert!(kind.accepted().contains("covid-19") && kind.accepted().contains("cap"));
        }
        other => panic!("{other}"),
    }
    let msg = e.to_string();
    for part in [
        "Index.csv",
        "line 3",
        "column \"diagnosis\"",
        "unknown diagnosis \"flu\"",
        "normal",
        "covid-19",
    ] {
        assert!(msg.contains(part), "{part} not in {msg}");
    }
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn index_csv_unknown_contrast_is_a_typed_error() {
    let csv = "Patient ID,Diagnosis,Contrast Group\r\nn1,Normal,medium\r\n";
    let tmp = dataset_with_index(csv.as_bytes());
    let e = Dataset::open(tmp.path()).unwrap_err();
    assert!(
        matches!(&e, Error::IndexValue { line: 2, column, value, .. }
            if column == "Contrast Group" && value == "medium"),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("high") && msg.contains("low"), "{msg}");
}

#[test]
fn index_csv_that_is_not_utf8_is_a_typed_error() {
    let tmp = dataset_with_index(b"id,diagnosis\nn1,norm\xffal\n");
    let e = Dataset::open(tmp.path()).unwrap_err();
    assert!(matches!(e, Error::IndexCsv { line: Some(2), .. }), "{e}");
}

#[test]
fn accepted_value_lists_match_the_parsers() {
    // The lists in the messages are written out in ct-io: check each entry parses.
    let words = |s: &str| -> Vec<String> {
        s.split('(')
            .next()
            .unwrap()
            .replace(" or ", ",")
            .split([',', ';'])
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty())
            .collect()
    };
    let labels = words(ct_io::dataset::ACCEPTED_DIAGNOSES);
    assert!(labels.len() >= 12, "{labels:?}");
    for w in labels {
        assert!(w.parse::<Label>().is_ok(), "{w}");
    }
    let contrasts = words(ct_io::dataset::ACCEPTED_CONTRASTS);
    assert_eq!(contrasts.len(), 8, "{contrasts:?}");
    for w in contrasts {
        assert!(w.parse::<Contrast>().is_ok(), "{w}");
    }
}

/// A `.npy` header whose length runs past the file is an error, not a panic; booleans read
/// as 0/1 bytes with their shape kept in the header.
#[test]
fn npy_header_length_past_the_end_and_bool_masks() {
    let mut f = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }";
    let mut h = header.as_bytes().to_vec();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    f.extend((h.len() as u16).to_le_bytes());
    f.extend(&h);
    f.extend([1u8, 0, 1, 0, 1, 1]);
    let p = std::path::Path::new("mask.npy");
    let hd = ct_io::npy::parse_header(&f, p).unwrap();
    assert_eq!(
        (hd.descr.as_str(), hd.shape.as_slice()),
        ("|b1", &[2usize, 3][..])
    );
    let ct_io::AnyArray::U8(a) = ct_io::npy::parse(&f, p).unwrap() else {
        panic!("booleans read as u8")
    };
    assert_eq!(a.shape(), [1, 2, 3]);
    assert_eq!(a.iter().copied().collect::<Vec<_>>(), [1, 0, 1, 0, 1, 1]);
    let mut lying = f.clone();
    lying[8..10].copy_from_slice(&60000u16.to_le_bytes());
    let e = ct_io::npy::parse_header(&lying, p).unwrap_err().to_string();
    assert!(e.contains("ends inside the header"), "{e}");
    assert!(ct_io::npy::parse(&lying, p).is_err());
}
