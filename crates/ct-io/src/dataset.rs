//! Data-set layouts: COVID-CT-MD and a generic `root/<class>/<subject>` tree.
//!
//! * **COVID-CT-MD**: class folders `COVID-19 subjects/`, `CAP subjects/`, `Normal subjects/`
//!   (matched case-insensitively, spaces/`-`/`_` ignored), each holding `<ID>/*.dcm`; an
//!   optional `Index.csv` (columns for the subject id, the diagnosis and the contrast group
//!   are found by their header names; quoted fields, a UTF-8 BOM, CRLF, blank lines and
//!   ragged rows are read; an empty diagnosis or contrast is unknown, an unknown non-empty
//!   one is [`Error::IndexValue`]) and optional slice-level label `.npy` files (any `.npy`
//!   at the root whose name contains `slice`).
//! * **Generic tree**: `root/<class>/<subject>` where `<class>` parses as a [`Label`]
//!   (`normal`, `cap`, `covid`, `COVID-19`, `0`/`1`/`2`, ...) and `<subject>` is a DICOM
//!   folder, a slice-image folder, a `.nii`/`.nii.gz` file or a `.npy` file.
//!
//! Top-level folders that are not a class are reported in [`Dataset::warnings`] (or rejected
//! with [`DatasetOptions::strict`]). Nothing is loaded by [`Dataset::open`]: volumes are read
//! one at a time by [`Dataset::load`], [`Dataset::iter`] (lazy, sequential) or
//! [`Dataset::par_iter`] (rayon, one volume alive per worker when consumed with `for_each`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ct_core::{Contrast, Label, Scan};
use rayon::prelude::*;

use crate::array::AnyArray;
use crate::util::{file_name, list_dirs, list_files};
use crate::{Error, Result, dicom, nifti, npy, slices};

/// What a data-set entry is stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A folder of DICOM files.
    DicomFolder,
    /// A `.nii` or `.nii.gz` file.
    Nifti,
    /// A `.npy` file (int16 HU, `(z, y, x)`).
    Npy,
    /// A folder of PNG/TIFF/JPEG slices.
    SliceFolder,
}

/// The layout [`Dataset::open`] detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// COVID-CT-MD (`... subjects/` class folders).
    CovidCtMd,
    /// `root/<class>/<subject>`.
    ClassTree,
}

/// One subject of a data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Subject id: the subject folder name, or the file name without extension.
    pub id: String,
    /// Diagnosis from the class folder.
    pub label: Option<Label>,
    /// The subject folder or file.
    pub path: PathBuf,
    /// How it is stored.
    pub kind: EntryKind,
    /// Contrast group from `Index.csv`, when given.
    pub contrast: Option<Contrast>,
}

/// Options of [`Dataset::open_with`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatasetOptions {
    /// Reject top-level folders that are not a class (default `false`: a warning).
    pub strict: bool,
    /// Options for DICOM entries.
    pub dicom: dicom::DicomReadOptions,
}

/// A data set on disk: its entries, found without loading any volume.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
    layout: Layout,
    entries: Vec<Entry>,
    warnings: Vec<String>,
    slice_label_files: Vec<PathBuf>,
    options: DatasetOptions,
}

fn classify_subject(p: &Path) -> Result<Option<EntryKind>> {
    let name = file_name(p).to_ascii_lowercase();
    if p.is_file() {
        return Ok(if name.ends_with(".nii") || name.ends_with(".nii.gz") {
            Some(EntryKind::Nifti)
        } else if name.ends_with(".npy") {
            Some(EntryKind::Npy)
        } else {
            None
        });
    }
    let files = list_files(p)?;
    if files.iter().any(|f| dicom::is_dicom_file(f)) {
        Ok(Some(EntryKind::DicomFolder))
    } else if files.iter().any(|f| slices::is_image_file(f)) {
        Ok(Some(EntryKind::SliceFolder))
    } else {
        Ok(None)
    }
}

fn strip_ext(name: &str) -> &str {
    let lower = name.to_ascii_lowercase();
    for ext in [".nii.gz", ".nii", ".npy"] {
        if lower.ends_with(ext) {
            return &name[..name.len() - ext.len()];
        }
    }
    name
}

impl Dataset {
    /// Opens a data set with default options (unknown class folders are warnings).
    pub fn open(root: &Path) -> Result<Dataset> {
        Dataset::open_with(root, &DatasetOptions::default())
    }

    /// Opens a data set: detects the layout and lists the entries (see the module page).
    pub fn open_with(root: &Path, options: &DatasetOptions) -> Result<Dataset> {
        options.dicom.validate()?;
        let derr = |reason: String| Error::Dataset {
            root: root.to_path_buf(),
            reason,
        };
        if !root.is_dir() {
            return Err(derr("not a folder".into()));
        }
        let mut warnings = Vec::new();
        let mut classes = Vec::new();
        let mut layout = Layout::ClassTree;
        for d in list_dirs(root)? {
            let name = file_name(&d);
            match name.parse::<Label>() {
                Ok(l) => {
                    if name.to_ascii_lowercase().trim_end().ends_with("subjects") {
                        layout = Layout::CovidCtMd;
                    }
                    classes.push((l, d));
                }
                Err(_) => {
                    if options.strict {
                        return Err(derr(format!(
                            "unknown class folder {name:?} (expected normal, cap, covid-19 or 0/1/2)"
                        )));
                    }
                    warnings.push(format!("ignored folder {name:?}: not a class name"));
                }
            }
        }
        if classes.is_empty() {
            return Err(derr(
                "no class folders (expected e.g. 'COVID-19 subjects', 'CAP subjects', 'Normal subjects' or normal/cap/covid)"
                    .into(),
            ));
        }
        let mut entries = Vec::new();
        for (label, cdir) in &classes {
            let mut subjects = list_dirs(cdir)?;
            subjects.extend(list_files(cdir)?);
            crate::util::sort_paths_natural(&mut subjects);
            for s in subjects {
                match classify_subject(&s)? {
                    Some(kind) => entries.push(Entry {
                        id: strip_ext(&file_name(&s)).to_string(),
                        label: Some(*label),
                        path: s,
                        kind,
                        contrast: None,
                    }),
                    None => warnings.push(format!(
                        "ignored {}: not a DICOM folder, slice folder, NIfTI or .npy",
                        s.display()
                    )),
                }
            }
        }
        let mut slice_label_files = Vec::new();
        for f in list_files(root)? {
            let name = file_name(&f).to_ascii_lowercase();
            if name == "index.csv" {
                apply_index(&f, &mut entries, &mut warnings)?;
            } else if name.ends_with(".npy") && name.contains("slice") {
                slice_label_files.push(f);
            }
        }
        Ok(Dataset {
            root: root.to_path_buf(),
            layout,
            entries,
            warnings,
            slice_label_files,
            options: options.clone(),
        })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The detected layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The entries, by class then natural order of the subject names.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Problems found while listing (unknown folders, skipped files, index mismatches).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Slice-level label files found at the root (COVID-CT-MD ships them as `.npy`).
    pub fn slice_label_files(&self) -> &[PathBuf] {
        &self.slice_label_files
    }

    /// Reads a slice-level label file.
    pub fn read_slice_labels(&self, path: &Path) -> Result<AnyArray> {
        npy::read(path)
    }

    /// Loads one entry as a [`Scan`] with the entry's id, label and contrast.
    pub fn load(&self, e: &Entry) -> Result<Scan> {
        let mut scan = match e.kind {
            EntryKind::DicomFolder => dicom::read_series(&e.path, &self.options.dicom)?,
            EntryKind::Nifti => nifti::read(&e.path)?,
            EntryKind::Npy => npy::read_scan(&e.path)?,
            EntryKind::SliceFolder => slices::read_scan(&e.path)?,
        };
        if scan.meta.patient_id.is_none() {
            scan.meta.patient_id = Some(scan.id.clone());
        }
        scan.id = e.id.clone();
        scan.label = e.label;
        if e.contrast.is_some() {
            scan.meta.contrast = e.contrast;
        }
        Ok(scan)
    }

    /// Loads the entries one at a time, in order (only one volume alive at once).
    pub fn iter(&self) -> impl Iterator<Item = (&Entry, Result<Scan>)> + '_ {
        self.entries.iter().map(move |e| (e, self.load(e)))
    }

    /// Loads the entries in parallel with rayon. Each item is loaded when a worker takes
    /// it, so `par_iter().for_each(...)` keeps one volume per worker in memory (collecting
    /// keeps them all).
    pub fn par_iter(&self) -> impl IndexedParallelIterator<Item = (&Entry, Result<Scan>)> + '_ {
        self.entries.par_iter().map(move |e| (e, self.load(e)))
    }
}

/// A column of `Index.csv` whose values ct-io parses, named in [`Error::IndexValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexColumn {
    /// The diagnosis ([`Label`]).
    Diagnosis,
    /// The contrast group ([`Contrast`]).
    Contrast,
}

impl IndexColumn {
    /// `diagnosis` or `contrast`.
    pub fn noun(self) -> &'static str {
        match self {
            IndexColumn::Diagnosis => "diagnosis",
            IndexColumn::Contrast => "contrast",
        }
    }

    /// The values accepted in the column: [`ACCEPTED_DIAGNOSES`] or [`ACCEPTED_CONTRASTS`].
    pub fn accepted(self) -> &'static str {
        match self {
            IndexColumn::Diagnosis => ACCEPTED_DIAGNOSES,
            IndexColumn::Contrast => ACCEPTED_CONTRASTS,
        }
    }
}

/// The diagnosis values `Index.csv` may hold (what [`Label`]'s parser accepts), for messages.
pub const ACCEPTED_DIAGNOSES: &str = "normal, healthy, non-covid, non-pneumonia or 0; \
cap, pneumonia, community-acquired pneumonia or 1; covid, covid-19, ncp, sars-cov-2 or 2 \
(case, spaces, '-' and '_' ignored; a trailing 'subjects' allowed)";

/// The contrast values `Index.csv` may hold (what [`Contrast`]'s parser accepts), for messages.
pub const ACCEPTED_CONTRASTS: &str = "high, high contrast, high-contrast, highcontrast; \
low, low contrast, low-contrast, lowcontrast (case ignored)";

/// The 1-based line of the record starting at byte `at` of a CSV file. (The csv crate's own
/// line count is one short after a CRLF: its record starts at the CR's LF.)
fn line_at(bytes: &[u8], at: u64) -> u64 {
    let at = (at as usize).min(bytes.len());
    let start = at
        + bytes[at..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
    1 + bytes[..start].iter().filter(|b| **b == b'\n').count() as u64
}

/// Reads `Index.csv` (RFC 4180 CSV: quoted fields, a UTF-8 BOM, CRLF, blank lines and rows of
/// uneven length are accepted): finds the id, diagnosis and contrast columns by their header
/// names and applies them to the entries (the class folder wins on disagreement, with a
/// warning). An empty diagnosis or contrast is "unknown"; any other value that does not parse
/// is [`Error::IndexValue`], and malformed CSV is [`Error::IndexCsv`].
fn apply_index(path: &Path, entries: &mut [Entry], warnings: &mut Vec<String>) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let mut records = reader.records();
    let csv_err = |e: csv::Error| Error::IndexCsv {
        path: path.to_path_buf(),
        line: e.position().map(|p| line_at(&bytes, p.byte())),
        reason: e.to_string(),
    };
    // The header is the first record that is not empty.
    let cols = loop {
        match records.next() {
            None => return Ok(()),
            Some(r) => {
                let r = r.map_err(csv_err)?;
                if r.iter().any(|f| !f.is_empty()) {
                    break r;
                }
            }
        }
    };
    let find = |keys: &[&str]| {
        cols.iter()
            .position(|c| keys.iter().any(|k| c.to_ascii_lowercase().contains(k)))
    };
    let Some(id_col) = find(&["folder", "patient", "subject", "id"]) else {
        warnings.push(format!("{}: no id column, ignored", path.display()));
        return Ok(());
    };
    let label_col = find(&["diagnosis", "label", "class"]);
    let contrast_col = find(&["contrast"]);
    let mut rows: BTreeMap<String, (Option<Label>, Option<Contrast>)> = BTreeMap::new();
    for r in records {
        let r = r.map_err(csv_err)?;
        let line = r.position().map_or(0, |p| line_at(&bytes, p.byte()));
        let Some(id) = r.get(id_col).filter(|id| !id.is_empty()) else {
            if r.iter().any(|f| !f.is_empty()) {
                warnings.push(format!(
                    "{}, line {line}: no subject id in column {:?}, row ignored",
                    path.display(),
                    &cols[id_col]
                ));
            }
            continue;
        };
        let cell = |col: Option<usize>| {
            col.and_then(|k| Some((k, r.get(k)?)))
                .filter(|(_, v)| !v.is_empty())
        };
        let value_err = |k: usize, value: &str, kind: IndexColumn, source| Error::IndexValue {
            path: path.to_path_buf(),
            line,
            column: cols[k].to_string(),
            value: value.to_string(),
            kind,
            source: Box::new(source),
        };
        let label = match cell(label_col) {
            Some((k, v)) => Some(
                v.parse::<Label>()
                    .map_err(|e| value_err(k, v, IndexColumn::Diagnosis, e))?,
            ),
            None => None,
        };
        let contrast = match cell(contrast_col) {
            Some((k, v)) => Some(
                v.parse::<Contrast>()
                    .map_err(|e| value_err(k, v, IndexColumn::Contrast, e))?,
            ),
            None => None,
        };
        rows.insert(id.to_string(), (label, contrast));
    }
    for e in entries.iter_mut() {
        if let Some((label, contrast)) = rows.get(&e.id) {
            if let (Some(a), Some(b)) = (label, e.label)
                && *a != b
            {
                warnings.push(format!(
                    "Index.csv says {} is {a} but it is in the {b} folder; the folder is used",
                    e.id
                ));
            }
            e.contrast = *contrast;
        }
    }
    Ok(())
}
