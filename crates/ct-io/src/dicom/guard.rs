//! A cheap pre-scan of a DICOM file's element stream, run before the bytes are handed to
//! dicom-rs, so that hostile or careless files become typed errors instead of a crash or a
//! huge allocation:
//!
//! * dicom-rs builds nested sequences by recursion: a file of a few kilobytes with thousands
//!   of sequences nested in one another overflows the stack of the thread reading it, which
//!   aborts the whole process (`catch_unwind` cannot catch a stack overflow). The pre-scan
//!   counts the nesting depth iteratively and refuses more than [`MAX_SEQUENCE_DEPTH`]
//!   ([`Error::DicomNesting`]).
//! * dicom-rs allocates a value's declared length before reading it: a 34 KB file whose
//!   PixelData says 0xFFFFFFF0 bytes allocates 4 GB before failing. The pre-scan checks every
//!   defined length (file meta elements, elements, sequences, items, pixel-data fragments)
//!   against the bytes left in the file and refuses one that overruns it
//!   ([`Error::DicomLength`], or [`Error::Truncated`] when the overrun is in the pixel data
//!   after a header that is whole, as for a file cut short).
//! * A deflated data set is inflated (at most [`MAX_INFLATED_BYTES`], else
//!   [`Error::DicomInflated`]) and its inflated bytes are scanned the same way.
//!
//! The scan follows dicom-rs 0.10's own reading rules step by step (its `DataSetReader`
//! state machine: sequences of VR SQ — from the explicit VR, or from the data dictionary in
//! implicit VR — and any other element of undefined length are sequences; undefined-length
//! PixelData is a pixel sequence of fragments; item and delimitation items `(FFFE,E000)`,
//! `(FFFE,E00D)`, `(FFFE,E0DD)`; defined-length sequences and items end at their length), in
//! explicit VR little endian, implicit VR little endian, deflated explicit VR little endian
//! and explicit VR big endian. It never recurses: open sequences and items are a `Vec`
//! stack, at most [`MAX_SEQUENCE_DEPTH`] sequences deep. Where dicom-rs would stop with an
//! error of its own (a malformed header, an unexpected tag, a file that ends mid-header),
//! the scan stops too and lets the file through, so that dicom-rs reports it as before: the
//! pre-scan only adds the checks above, it does not replace the parser.

use std::io::Read;
use std::path::Path;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_encoding::Codec;
use dicom_encoding::transfer_syntax::{Endianness, TransferSyntaxIndex};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::{Error, Result};

/// The deepest nesting of sequences accepted: a sequence in an item of a top-level sequence
/// is at depth 2, and so on (pixel-data fragments do not count). Real CT files nest fewer
/// than 10 deep; dicom-rs needs a few hundred bytes of stack per level, so 64 levels fit
/// even a 256 KiB thread stack (tests/hostile.rs parses one there).
pub const MAX_SEQUENCE_DEPTH: usize = 64;

/// The largest deflated data set accepted, once inflated (64 MiB). A single CT slice
/// inflates to well under 10 MiB (a 1024×1024 16-bit image is 2 MiB); the limit keeps a
/// "deflate bomb" (a megabyte that inflates to a gigabyte) from being inflated, twice, in
/// memory.
pub const MAX_INFLATED_BYTES: u64 = 64 << 20;

/// The implicit VR little endian transfer syntax: the only one whose VRs come from the data
/// dictionary rather than from the file.
const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_END: Tag = Tag(0xFFFE, 0xE0DD);
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// How much of a file [`check`] scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The header only: the scan stops at the first top-level element at or after PixelData
    /// `(7FE0,0010)`, where a header-only read stops.
    Header,
    /// The whole file.
    Full,
}

/// What [`check`] saw in a file it lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Data elements read, the file meta group included (items and delimiters not counted).
    pub elements: usize,
    /// The deepest sequence nesting met (0: no sequence).
    pub max_depth: usize,
    /// Whether the scan reached the end of the data set (or the header's end with
    /// [`Scope::Header`]); `false` when it stopped early where dicom-rs will report an error
    /// of its own (or at an unknown transfer syntax, whose data set dicom-rs does not read).
    pub complete: bool,
}

/// Pre-scans a DICOM Part 10 file held in memory (with its 128-byte preamble and `DICM`
/// magic) without recursion and without allocating more than the inflated data set of a
/// deflated file (see the module page). `path` only names the file in errors.
///
/// Errors: [`Error::DicomNesting`] for sequences nested deeper than [`MAX_SEQUENCE_DEPTH`];
/// [`Error::DicomLength`] for a defined length longer than the rest of the file;
/// [`Error::Truncated`] for such a length in the pixel data after a whole header (with
/// [`Scope::Full`]); [`Error::DicomInflated`] for a deflated data set larger than
/// [`MAX_INFLATED_BYTES`]; [`Error::UnknownFormat`] without the `DICM` magic.
pub fn check(bytes: &[u8], path: &Path, scope: Scope) -> Result<Summary> {
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return Err(Error::UnknownFormat {
            path: path.to_path_buf(),
            reason: "no DICM magic at byte 128 (not a DICOM Part 10 file)".into(),
        });
    }
    let mut summary = Summary::default();
    let Some((body_start, ts)) = scan_meta(bytes, path, &mut summary)? else {
        return Ok(summary);
    };
    let Some(entry) = TransferSyntaxRegistry.get(&ts) else {
        return Ok(summary); // dicom-rs refuses an unknown transfer syntax itself
    };
    let syntax = Syntax {
        big_endian: entry.endianness() == Endianness::Big,
        implicit: ts == IMPLICIT_VR_LE,
    };
    let body = &bytes[body_start..];
    match entry.codec() {
        Codec::Dataset(Some(_)) => {
            // Deflated: dicom-rs inflates the rest of the file and reads that.
            let inflated = inflate(body, path)?;
            scan_dataset(&inflated, 0, syntax, scope, path, &mut summary)?;
        }
        Codec::Dataset(None) => {} // not readable by this build: dicom-rs says so
        _ => scan_dataset(body, body_start as u64, syntax, scope, path, &mut summary)?,
    }
    Ok(summary)
}

/// Inflates a raw-deflate data set, refusing more than [`MAX_INFLATED_BYTES`]. A stream that
/// is corrupt part-way gives what inflated before the fault (what dicom-rs reads too).
fn inflate(body: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let _ = flate2::read::DeflateDecoder::new(body)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out);
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(Error::DicomInflated {
            path: path.to_path_buf(),
            limit: MAX_INFLATED_BYTES,
        });
    }
    Ok(out)
}

/// The byte order and VR encoding of a data set.
#[derive(Debug, Clone, Copy)]
struct Syntax {
    big_endian: bool,
    implicit: bool,
}

/// A little cursor over the bytes being scanned; every read is bounds-checked (`None` at
/// the end of the data).
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    big_endian: bool,
}

impl Cursor<'_> {
    fn remaining(&self) -> u64 {
        (self.data.len() - self.pos) as u64
    }

    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.data.get(self.pos..self.pos + N)?;
        self.pos += N;
        b.try_into().ok()
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.bytes::<2>()?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.bytes::<4>()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn tag(&mut self) -> Option<Tag> {
        Some(Tag(self.u16()?, self.u16()?))
    }

    /// Skips `len` bytes (the callers have checked that they are there; saturating anyway).
    fn skip(&mut self, len: u32) {
        self.pos = self.pos.saturating_add(len as usize).min(self.data.len());
    }
}

/// One element header as dicom-rs decodes it.
#[derive(Debug, Clone, Copy)]
struct Header {
    tag: Tag,
    vr: VR,
    len: u32,
}

/// Decodes an element header as dicom-rs 0.10's explicit / implicit VR decoders do: item
/// tags (group FFFE) have no VR; an unknown explicit VR reads as UN with a 32-bit length;
/// implicit VRs come from the standard dictionary (PixelData and overlay data are OW).
fn read_header(c: &mut Cursor<'_>, implicit: bool) -> Option<Header> {
    let tag = c.tag()?;
    if implicit {
        let len = c.u32()?;
        let vr = if tag == PIXEL_DATA || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
            VR::OW
        } else {
            StandardDataDictionary
                .by_tag(tag)
                .map(|e| e.vr().relaxed())
                .unwrap_or(VR::UN)
        };
        return Some(Header { tag, vr, len });
    }
    if tag.0 == 0xFFFE {
        let len = c.u32()?;
        return Some(Header {
            tag,
            vr: VR::UN,
            len,
        });
    }
    let vr_bytes = c.bytes::<2>()?;
    let vr = VR::from_binary(vr_bytes).unwrap_or(VR::UN);
    use VR::*;
    let len = match vr {
        AE | AS | AT | CS | DA | DS | DT | FL | FD | IS | LO | LT | PN | SH | SL | SS | ST | TM
        | UI | UL | US => u32::from(c.u16()?),
        _ => {
            c.bytes::<2>()?; // reserved
            c.u32()?
        }
    };
    Some(Header { tag, vr, len })
}

/// `(gggg,eeee) Keyword` for messages.
fn tag_name(tag: Tag) -> String {
    match StandardDataDictionary.by_tag(tag) {
        Some(e) => format!("{tag} {}", e.alias()),
        None => format!("{tag}"),
    }
}

fn length_error(path: &Path, tag: Tag, len: u32, offset: u64, remaining: u64) -> Error {
    Error::DicomLength {
        path: path.to_path_buf(),
        tag: tag_name(tag),
        length: len,
        offset,
        remaining,
    }
}

/// Scans the file meta group as dicom-rs reads it: `(0002,0000)` first, then elements until
/// the group length is used up. Returns where the data set starts and its transfer syntax
/// UID, or `None` where dicom-rs will refuse the meta group itself.
fn scan_meta(bytes: &[u8], path: &Path, summary: &mut Summary) -> Result<Option<(usize, String)>> {
    let mut c = Cursor {
        data: bytes,
        pos: 132,
        big_endian: false,
    };
    let Some(first) = read_header(&mut c, false) else {
        return Ok(None);
    };
    if first.tag != Tag(0x0002, 0x0000) || first.len != 4 {
        return Ok(None);
    }
    let Some(group_length) = c.u32() else {
        return Ok(None);
    };
    summary.elements += 1;
    let mut ts = None;
    let mut read: u32 = 0;
    while read < group_length {
        let start = c.pos;
        let Some(h) = read_header(&mut c, false) else {
            return Ok(None);
        };
        let header_len = (c.pos - start) as u32;
        if h.len == UNDEFINED {
            return Ok(None);
        }
        if u64::from(h.len) > c.remaining() {
            return Err(length_error(
                path,
                h.tag,
                h.len,
                start as u64,
                c.remaining(),
            ));
        }
        if h.tag == Tag(0x0002, 0x0010) {
            let v = &c.data[c.pos..c.pos + h.len as usize];
            let s = String::from_utf8_lossy(v);
            ts = Some(
                s.trim_end_matches(|ch: char| ch.is_whitespace() || ch == '\0')
                    .to_string(),
            );
        }
        c.skip(h.len);
        summary.elements += 1;
        read = read.saturating_add(header_len).saturating_add(h.len);
    }
    Ok(ts.map(|ts| (c.pos, ts)))
}

/// An open sequence or item, as on dicom-rs's delimiter stack.
#[derive(Debug, Clone, Copy)]
struct Open {
    item: bool,
    pixel: bool,
    /// `None`: undefined length (ends at a delimitation item).
    len: Option<u32>,
    /// Where its value starts.
    base: usize,
}

/// What happened at one step of the scan.
enum Step {
    Continue,
    /// Where dicom-rs stops (its own error, the end of the data, or the header's end).
    Stop {
        complete: bool,
    },
}

/// The data-set scanner: dicom-rs 0.10's `DataSetReader` state machine, keeping positions
/// and lengths only.
struct Scanner<'a, 'p> {
    c: Cursor<'a>,
    implicit: bool,
    scope: Scope,
    path: &'p Path,
    /// Added to positions in messages (the data set's offset in the file).
    base_offset: u64,
    stack: Vec<Open>,
    /// Sequences (not pixel sequences) on the stack.
    depth: usize,
    in_sequence: bool,
    check_end: bool,
    /// The next pixel-data fragment is the basic offset table.
    offset_table_next: bool,
    /// Set once the scan is past the header (a top-level element at or after PixelData).
    in_pixels: bool,
}

fn scan_dataset(
    data: &[u8],
    base_offset: u64,
    syntax: Syntax,
    scope: Scope,
    path: &Path,
    summary: &mut Summary,
) -> Result<()> {
    let mut s = Scanner {
        c: Cursor {
            data,
            pos: 0,
            big_endian: syntax.big_endian,
        },
        implicit: syntax.implicit,
        scope,
        path,
        base_offset,
        stack: Vec::new(),
        depth: 0,
        in_sequence: false,
        check_end: false,
        offset_table_next: false,
        in_pixels: false,
    };
    loop {
        match s.step(summary)? {
            Step::Continue => {}
            Step::Stop { complete } => {
                summary.complete = complete;
                return Ok(());
            }
        }
    }
}

impl Scanner<'_, '_> {
    fn offset(&self, pos: usize) -> u64 {
        self.base_offset + pos as u64
    }

    /// Refuses a defined length longer than what is left after the header at `start`.
    fn check_len(&self, tag: Tag, len: u32, start: usize) -> Result<()> {
        let remaining = self.c.remaining();
        if u64::from(len) <= remaining {
            return Ok(());
        }
        let offset = self.offset(start);
        if self.in_pixels && self.scope == Scope::Full {
            // The header is whole: the file ends inside (or right before) its pixel data.
            return Err(Error::Truncated {
                path: self.path.to_path_buf(),
                detail: format!(
                    "element {} at byte {offset} declares {len} bytes but only {remaining} remain in the file",
                    tag_name(tag)
                ),
            });
        }
        Err(length_error(self.path, tag, len, offset, remaining))
    }

    fn push(&mut self, open: Open, at: usize, summary: &mut Summary) -> Result<()> {
        if !open.item && !open.pixel {
            self.depth += 1;
            summary.max_depth = summary.max_depth.max(self.depth);
            if self.depth > MAX_SEQUENCE_DEPTH {
                return Err(Error::DicomNesting {
                    path: self.path.to_path_buf(),
                    depth: self.depth,
                    limit: MAX_SEQUENCE_DEPTH,
                    offset: self.offset(at),
                });
            }
        }
        self.stack.push(open);
        Ok(())
    }

    fn pop(&mut self) {
        if let Some(o) = self.stack.pop()
            && !o.item
            && !o.pixel
        {
            self.depth -= 1;
        }
    }

    /// One token of dicom-rs's reader.
    fn step(&mut self, summary: &mut Summary) -> Result<Step> {
        // Ends of defined-length sequences and items.
        if self.check_end {
            if let Some(top) = self.stack.last()
                && let Some(len) = top.len
            {
                let end = top.base as u64 + u64::from(len);
                let pos = self.c.pos as u64;
                if end == pos {
                    let item = top.item;
                    self.in_sequence = item;
                    self.pop();
                    return Ok(Step::Continue); // check again: ends can cascade
                }
                if end < pos {
                    return Ok(Step::Stop { complete: false }); // inconsistent sequence end
                }
            }
            self.check_end = false;
        }
        if self.in_sequence {
            return self.item_header(summary);
        }
        if let Some(top) = self.stack.last()
            && top.item
            && top.pixel
        {
            // A pixel-data fragment (or the basic offset table), whose length was checked
            // against the rest of the file when its item header was read.
            let Some(len) = top.len else {
                return Ok(Step::Stop { complete: false });
            };
            if std::mem::take(&mut self.offset_table_next) && len % 4 != 0 && len >= 4 {
                // dicom-rs reads the offset table as len / 4 u32s, then the rest of the item
                // again as a fragment, which overruns the item: an error of its own.
                return Ok(Step::Stop { complete: false });
            }
            self.c.skip(len);
            self.check_end = true;
            return Ok(Step::Continue);
        }
        self.element(summary)
    }

    /// An item header where a sequence expects one (dicom-rs's `decode_item_header`).
    fn item_header(&mut self, summary: &mut Summary) -> Result<Step> {
        let start = self.c.pos;
        let (Some(tag), Some(len)) = (self.c.tag(), self.c.u32()) else {
            // The end of the data: graceful inside a pixel sequence, an error elsewhere.
            return Ok(Step::Stop {
                complete: self.stack.last().is_some_and(|t| t.pixel),
            });
        };
        match tag {
            ITEM => {
                let Some(parent) = self.stack.last() else {
                    return Ok(Step::Stop { complete: false });
                };
                let pixel = parent.pixel;
                let len = (len != UNDEFINED).then_some(len);
                if let Some(l) = len {
                    self.check_len(tag, l, start)?;
                }
                self.in_sequence = false;
                let base = self.c.pos;
                self.push(
                    Open {
                        item: true,
                        pixel,
                        len,
                        base,
                    },
                    start,
                    summary,
                )?;
                if len == Some(0) {
                    self.check_end = true;
                }
                Ok(Step::Continue)
            }
            ITEM_END if len == 0 => {
                self.pop();
                self.in_sequence = true;
                self.check_end = true;
                Ok(Step::Continue)
            }
            SEQUENCE_END => {
                self.pop();
                self.in_sequence = false;
                self.check_end = true;
                Ok(Step::Continue)
            }
            _ => Ok(Step::Stop { complete: false }),
        }
    }

    /// A data element header and, for a primitive element, its value.
    fn element(&mut self, summary: &mut Summary) -> Result<Step> {
        let start = self.c.pos;
        // dicom-rs ends gracefully when the data ends within an element's tag, and fails on
        // a header cut short after it; either way it stops here.
        let ends_in_tag = self.c.remaining() < 4;
        let Some(h) = read_header(&mut self.c, self.implicit) else {
            return Ok(Step::Stop {
                complete: ends_in_tag,
            });
        };
        let top_level = self.stack.is_empty();
        let ignored_delimiter = h.vr != VR::SQ && h.tag == ITEM_END && top_level;
        if top_level && !ignored_delimiter && h.tag >= PIXEL_DATA {
            if self.scope == Scope::Header {
                return Ok(Step::Stop { complete: true });
            }
            self.in_pixels = true;
        }
        if h.vr == VR::SQ {
            summary.elements += 1;
            let len = (h.len != UNDEFINED).then_some(h.len);
            if let Some(l) = len {
                self.check_len(h.tag, l, start)?;
            }
            self.in_sequence = true;
            let base = self.c.pos;
            self.push(
                Open {
                    item: false,
                    pixel: false,
                    len,
                    base,
                },
                start,
                summary,
            )?;
            if len == Some(0) {
                self.check_end = true;
            }
            return Ok(Step::Continue);
        }
        if h.tag == ITEM_END {
            if !top_level {
                self.in_sequence = true;
                self.pop();
                self.check_end = true;
            }
            return Ok(Step::Continue);
        }
        summary.elements += 1;
        if h.tag == PIXEL_DATA && h.len == UNDEFINED {
            // Encapsulated pixel data: its first item (the offset table) or its end.
            let base = self.c.pos;
            self.push(
                Open {
                    item: false,
                    pixel: true,
                    len: None,
                    base,
                },
                start,
                summary,
            )?;
            let item_start = self.c.pos;
            let (Some(tag), Some(len)) = (self.c.tag(), self.c.u32()) else {
                return Ok(Step::Stop { complete: false });
            };
            return match tag {
                ITEM => {
                    let len = (len != UNDEFINED).then_some(len);
                    if let Some(l) = len {
                        self.check_len(tag, l, item_start)?;
                    }
                    self.in_sequence = false;
                    let base = self.c.pos;
                    self.push(
                        Open {
                            item: true,
                            pixel: true,
                            len,
                            base,
                        },
                        item_start,
                        summary,
                    )?;
                    if len == Some(0) {
                        self.check_end = true;
                    } else {
                        self.offset_table_next = true;
                    }
                    Ok(Step::Continue)
                }
                SEQUENCE_END => {
                    self.pop();
                    self.in_sequence = false;
                    Ok(Step::Continue)
                }
                _ => Ok(Step::Stop { complete: false }),
            };
        }
        if h.len == UNDEFINED {
            // Any other undefined-length element is read as a sequence.
            self.in_sequence = true;
            let base = self.c.pos;
            self.push(
                Open {
                    item: false,
                    pixel: false,
                    len: None,
                    base,
                },
                start,
                summary,
            )?;
            return Ok(Step::Continue);
        }
        self.check_len(h.tag, h.len, start)?;
        self.c.skip(h.len);
        self.check_end = true;
        Ok(Step::Continue)
    }
}
