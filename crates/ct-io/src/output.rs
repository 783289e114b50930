//! Output folders that hold one result only: a program that writes a folder makes it fresh,
//! or refuses a folder that already holds files (which would end up mixed with the new
//! ones), unless the user asks to clear it first.

use std::path::Path;

use crate::{Error, Result};

/// Makes `dir` ready for a new result: created when missing, accepted when empty; a folder
/// that holds files is refused with [`Error::OutputNotEmpty`], or, with `overwrite`,
/// cleared first. A file at `dir`, the filesystem root, and the current folder or one of
/// its ancestors are refused even with `overwrite`.
pub fn prepare_output_dir(dir: &Path, overwrite: bool) -> Result<()> {
    if dir.is_file() {
        return Err(Error::OutputNotEmpty {
            path: dir.to_path_buf(),
            reason: "it is a file, not a folder".into(),
        });
    }
    if !dir.exists() {
        return std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e));
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    if entries.next().is_none() {
        return Ok(());
    }
    if !overwrite {
        return Err(Error::OutputNotEmpty {
            path: dir.to_path_buf(),
            reason: "it already holds files, which would be mixed with the new ones; choose \
                     an empty folder or pass --overwrite to clear it first"
                .into(),
        });
    }
    let full = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let cwd = std::env::current_dir().map_err(|e| Error::io(Path::new("."), e))?;
    if full.parent().is_none() || cwd.starts_with(&full) {
        return Err(Error::OutputNotEmpty {
            path: dir.to_path_buf(),
            reason: "refusing to clear the filesystem root or a folder holding the current \
                     one"
            .into(),
        });
    }
    std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_with_files_is_refused_or_cleared_on_request() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("cohort");
        prepare_output_dir(&out, false).unwrap();
        assert!(out.is_dir());
        prepare_output_dir(&out, false).unwrap(); // empty: fine
        std::fs::write(out.join("old.dcm"), b"x").unwrap();
        let e = prepare_output_dir(&out, false).unwrap_err().to_string();
        assert!(
            e.contains("already holds files") && e.contains("--overwrite"),
            "{e}"
        );
        assert!(
            out.join("old.dcm").exists(),
            "nothing removed without --overwrite"
        );
        prepare_output_dir(&out, true).unwrap();
        assert!(out.is_dir() && std::fs::read_dir(&out).unwrap().next().is_none());
        let file = tmp.path().join("f.nii");
        std::fs::write(&file, b"x").unwrap();
        assert!(prepare_output_dir(&file, true).is_err());
        assert!(prepare_output_dir(Path::new("/"), true).is_err());
        assert!(prepare_output_dir(Path::new("."), true).is_err());
    }
}
