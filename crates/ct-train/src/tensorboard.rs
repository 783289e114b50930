//! TensorBoard event files (`<run>/tensorboard/events.out.tfevents.*`), written directly:
//! TensorBoard is what users open, and no maintained Rust crate writes its format (the
//! `tensorboard-rs` crate has had no release since 2020 and pulls a protobuf code generator),
//! while the subset needed for scalars is small:
//!
//! - a file is a sequence of TFRecords: `u64` length, masked CRC-32C of the length bytes,
//!   the data, masked CRC-32C of the data (masked: `((crc >> 15) | (crc << 17)) +
//!   0xa282ead8`);
//! - each record is an `Event` protobuf: `wall_time` (field 1, double), `step` (2, int64),
//!   `file_version` (3, string; `brain.Event:2` in the first event), `summary` (5) holding
//!   `Summary.Value`s of `tag` (1, string) and `simple_value` (2, float).
//!
//! The bytes match TensorBoard's own writer (golden test `tests/tensorboard_golden.rs`, from
//! `tools/ct-train/make_tensorboard_golden.py`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, io};

/// CRC-32C (Castagnoli), as TFRecord uses.
pub fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut crc = !0u32;
    for &b in data {
        crc = table[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

fn masked(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord around `data`.
pub fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked(crc32c(&len)).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked(crc32c(data)).to_le_bytes());
    out
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(field: u32, data: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(field << 3 | 2), out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// The `Event` bytes of a file-version event.
pub fn version_event(wall_time: f64) -> Vec<u8> {
    let mut e = vec![0x09];
    e.extend_from_slice(&wall_time.to_le_bytes());
    bytes_field(3, b"brain.Event:2", &mut e);
    e
}

/// The `Event` bytes of scalars at `step`.
pub fn scalars_event(wall_time: f64, step: u64, values: &[(&str, f32)]) -> Vec<u8> {
    let mut summary = Vec::new();
    for (tag, v) in values {
        let mut value = Vec::new();
        bytes_field(1, tag.as_bytes(), &mut value);
        value.push(0x15);
        value.extend_from_slice(&v.to_le_bytes());
        bytes_field(1, &value, &mut summary);
    }
    let mut e = vec![0x09];
    e.extend_from_slice(&wall_time.to_le_bytes());
    if step != 0 {
        e.push(0x10);
        varint(step, &mut e);
    }
    bytes_field(5, &summary, &mut e);
    e
}

/// An open event file.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: File,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl EventWriter {
    /// A new event file in `dir` (created), replacing the event files already there (the
    /// caller replays what should stay, so a resumed run shows one seamless curve).
    pub fn create(dir: &Path) -> Result<EventWriter> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
            if e.file_name().to_string_lossy().contains("tfevents") {
                std::fs::remove_file(e.path()).map_err(io(e.path()))?;
            }
        }
        let t = now();
        let path = dir.join(format!("events.out.tfevents.{}.ct-train", t as u64));
        let mut file = File::create(&path).map_err(io(&path))?;
        file.write_all(&record(&version_event(t)))
            .map_err(io(&path))?;
        Ok(EventWriter { path, file })
    }

    /// Appends scalars at `step` and flushes.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f32)]) -> Result<()> {
        let bytes = record(&scalars_event(now(), step, values));
        self.file.write_all(&bytes).map_err(io(&self.path))?;
        self.file.flush().map_err(io(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // The CRC-32C catalogue's check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn varints() {
        let mut v = Vec::new();
        varint(300, &mut v);
        assert_eq!(v, [0xAC, 0x02]);
    }
}
