//! Small helpers shared by the readers: natural sorting and deterministic UIDs.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Compares two strings "naturally": runs of digits compare by numeric value, so `2.png`
/// comes before `10.png`; everything else compares case-insensitively, then byte-wise as a
/// tie-break so the order is total.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            // Compare without parsing (numbers may exceed u64): strip leading zeros, then
            // longer is larger, then lexicographic.
            let na = trim_zeros(&ab[si..i]);
            let nb = trim_zeros(&bb[sj..j]);
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            let ca = ab[i].to_ascii_lowercase();
            let cb = bb[j].to_ascii_lowercase();
            if ca != cb {
                return ca.cmp(&cb);
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j)).then_with(|| a.cmp(b))
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let k = s.iter().position(|&c| c != b'0').unwrap_or(s.len());
    &s[k..]
}

/// Sorts paths by file name with [`natural_cmp`].
pub(crate) fn sort_paths_natural(paths: &mut [PathBuf]) {
    paths.sort_by(|a, b| natural_cmp(&file_name(a), &file_name(b)));
}

pub(crate) fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The regular files directly inside `dir` (hidden files excluded), naturally sorted.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(dir, e))?;
        let p = ent.path();
        if file_name(&p).starts_with('.') {
            continue;
        }
        if p.is_file() {
            out.push(p);
        }
    }
    sort_paths_natural(&mut out);
    Ok(out)
}

/// The sub-folders directly inside `dir` (hidden ones excluded), naturally sorted.
pub(crate) fn list_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(dir, e))?;
        let p = ent.path();
        if file_name(&p).starts_with('.') {
            continue;
        }
        if p.is_dir() {
            out.push(p);
        }
    }
    sort_paths_natural(&mut out);
    Ok(out)
}

/// A 128-bit FNV-1a hash: stable across Rust versions and platforms (unlike
/// `DefaultHasher`), so UIDs derived from it are reproducible.
pub(crate) fn fnv128(parts: &[&[u8]]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for part in parts {
        for &b in *part {
            h ^= b as u128;
            h = h.wrapping_mul(PRIME);
        }
        // Separator so that ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// A DICOM UID under the `2.25` root (a UUID-style integer, PS3.5 B.2), derived
/// deterministically from `parts`. At most 44 characters.
pub fn uid_from(parts: &[&[u8]]) -> String {
    // Clear the top bit so the integer stays well under 2^128 (39 digits).
    format!("2.25.{}", fnv128(parts) >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "10.png", "2.png", "1.png", "IM0003", "im0002", "a", "001.png",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            vec![
                "001.png", "1.png", "2.png", "10.png", "a", "im0002", "IM0003"
            ]
        );
        assert_eq!(
            natural_cmp("x99999999999999999999999", "x100000000000000000000000"),
            Ordering::Less
        );
    }

    #[test]
    fn uids_are_valid_and_stable() {
        let u = uid_from(&[b"case-1", b"series"]);
        assert!(u.len() <= 64 && u.starts_with("2.25."));
        assert!(u[5..].chars().all(|c| c.is_ascii_digit()));
        assert!(!u[5..].starts_with('0'));
        assert_eq!(u, uid_from(&[b"case-1", b"series"]));
        assert_ne!(u, uid_from(&[b"case-", b"1series"]));
    }
}
