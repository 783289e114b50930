//! When were the files made? The seed's EDA of file times: the low- and high-contrast exports
//! of COVID-CT-MD differed in their files' access, creation and modification times. This
//! surveys a data set's file-system times and the dates and times its DICOM headers record,
//! per group (contrast group when the data set has them, else class), and says whether any
//! of them tells a group from the others: a shortcut a classifier (or a gate) could learn
//! instead of the images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ct_io::dataset::{Dataset, Entry};
use ct_io::dicom::{format_seconds, read_slice_header};
use rayon::prelude::*;
use serde::Serialize;

/// A time that tells two groups apart this well (balanced accuracy of one threshold) is
/// reported as separating them.
pub const SEPARATES_AT: f64 = 0.95;

/// Fewer subjects than this on either side make no claim of separation (with one subject a
/// side, every time "separates").
pub const SEPARATION_MIN_SUBJECTS: usize = 5;

/// What a survey found.
#[derive(Debug, Clone, Serialize)]
pub struct FileTimes {
    /// How subjects were grouped: `contrast` or `class` (no contrast groups known).
    pub grouping: String,
    /// Each subject's times.
    pub subjects: Vec<SubjectTimes>,
    /// Per time kind, the groups' spreads and (for two groups) their separation.
    pub kinds: Vec<KindSummary>,
    /// Subjects whose files could not be read, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// One subject's times: seconds since 1970-01-01, the median over its files.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectTimes {
    /// Subject id.
    pub id: String,
    /// Its group.
    pub group: String,
    /// Files it holds.
    pub files: usize,
    /// Time kind → seconds.
    pub times: BTreeMap<String, f64>,
}

/// One time kind over the data set.
#[derive(Debug, Clone, Serialize)]
pub struct KindSummary {
    /// `file accessed`, `DICOM acquisition`, ….
    pub name: String,
    /// Per group, in group order.
    pub groups: Vec<Spread>,
}

impl KindSummary {
    /// The groups this time tells from the rest (see [`Separation::separates`]).
    pub fn separated_groups(&self) -> Vec<&str> {
        self.groups
            .iter()
            .filter(|g| g.vs_rest.is_some_and(|s| s.separates()))
            .map(|g| g.group.as_str())
            .collect()
    }
}

/// The spread of one group's times.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    /// The group.
    pub group: String,
    /// Subjects with this time.
    pub n: usize,
    /// Earliest, quartiles, latest (seconds).
    pub min: f64,
    /// First quartile.
    pub q25: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q75: f64,
    /// Latest.
    pub max: f64,
    /// How well one threshold on this time splits the group from the other groups (`None`
    /// when no other group has this time).
    pub vs_rest: Option<Separation>,
}

/// How well one time splits a group from the others.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Separation {
    /// ROC-AUC of the time as a score for the group.
    pub auc: f64,
    /// The best single threshold (seconds) …
    pub threshold: f64,
    /// … and its balanced accuracy (mean of the two groups' recalls).
    pub balanced_accuracy: f64,
    /// Subjects in the rest and in the group.
    pub subjects: (usize, usize),
}

impl Separation {
    /// At least [`SEPARATES_AT`], with [`SEPARATION_MIN_SUBJECTS`] on each side.
    pub fn separates(&self) -> bool {
        self.balanced_accuracy >= SEPARATES_AT
            && self.subjects.0.min(self.subjects.1) >= SEPARATION_MIN_SUBJECTS
    }

    /// `AUC 0.998, balanced accuracy 0.983 at 2020-01-01 10:00:00`.
    pub fn describe(&self) -> String {
        format!(
            "AUC {:.3}, balanced accuracy {:.3} at {}",
            self.auc,
            self.balanced_accuracy,
            format_seconds(self.threshold)
        )
    }
}

/// Surveys every subject of `ds` (in parallel; a subject that cannot be read is listed in
/// `skipped`, never an error).
pub fn survey(ds: &Dataset) -> FileTimes {
    let by_contrast = ds.entries().iter().any(|e| e.contrast.is_some());
    let results: Vec<Result<SubjectTimes, (String, String)>> = ds
        .entries()
        .par_iter()
        .map(|e| subject_times(e, by_contrast).map_err(|why| (e.id.clone(), why)))
        .collect();
    let (mut subjects, mut skipped) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(s) => subjects.push(s),
            Err(s) => skipped.push(s),
        }
    }
    let groups: Vec<String> = if by_contrast {
        ["high", "low"].map(String::from).to_vec()
    } else {
        let mut g: Vec<String> = subjects.iter().map(|s| s.group.clone()).collect();
        g.sort();
        g.dedup();
        g
    };
    let mut names: Vec<String> = subjects
        .iter()
        .flat_map(|s| s.times.keys().cloned())
        .collect();
    names.sort_by_key(|n| kind_order(n));
    names.dedup();
    let kinds = names
        .into_iter()
        .map(|name| summarise(&name, &subjects, &groups))
        .collect();
    FileTimes {
        grouping: if by_contrast { "contrast" } else { "class" }.into(),
        subjects,
        kinds,
        skipped,
    }
}

/// File-system kinds first, then the DICOM ones, each in a fixed order.
fn kind_order(name: &str) -> (usize, String) {
    const ORDER: [&str; 9] = [
        "file accessed",
        "file modified",
        "file changed",
        "file created",
        "DICOM study",
        "DICOM series",
        "DICOM acquisition",
        "DICOM content",
        "DICOM instance creation",
    ];
    (
        ORDER.iter().position(|o| *o == name).unwrap_or(ORDER.len()),
        name.to_string(),
    )
}

fn subject_times(e: &Entry, by_contrast: bool) -> Result<SubjectTimes, String> {
    let files = files_of(&e.path)?;
    let mut per_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for f in &files {
        let meta = std::fs::metadata(f).map_err(|err| format!("{}: {err}", f.display()))?;
        for (name, t) in fs_times(&meta) {
            per_kind.entry(name.to_string()).or_default().push(t);
        }
    }
    // The DICOM dates of the first file that has a readable header.
    if let Some(h) = files.iter().find_map(|f| read_slice_header(f).ok()) {
        for (name, t) in h.times.named() {
            if let Some(t) = t {
                per_kind.insert(format!("DICOM {name}"), vec![t]);
            }
        }
    }
    let group = if by_contrast {
        e.contrast.map_or("unknown", |c| c.name()).to_string()
    } else {
        e.label.map_or("unlabelled", |l| l.name()).to_string()
    };
    Ok(SubjectTimes {
        id: e.id.clone(),
        group,
        files: files.len(),
        times: per_kind
            .into_iter()
            .map(|(k, mut v)| (k, quantile(&mut v, 0.5)))
            .collect(),
    })
}

/// The files of a subject: the file itself, or the plain files of its folder (one level).
fn files_of(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let rd = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let files: Vec<PathBuf> = rd
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|p| p.is_file())
        .collect();
    if files.is_empty() {
        return Err(format!("{}: no files", path.display()));
    }
    Ok(files)
}

fn seconds(t: std::io::Result<SystemTime>) -> Option<f64> {
    let t = t.ok()?;
    Some(match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    })
}

/// Accessed, modified, changed (inode change, Unix only: what Python's `os.path.getctime`
/// gives on Linux) and created (birth time, where the file system records it).
fn fs_times(meta: &std::fs::Metadata) -> Vec<(&'static str, f64)> {
    let mut out = Vec::new();
    if let Some(t) = seconds(meta.accessed()) {
        out.push(("file accessed", t));
    }
    if let Some(t) = seconds(meta.modified()) {
        out.push(("file modified", t));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        out.push((
            "file changed",
            meta.ctime() as f64 + meta.ctime_nsec() as f64 * 1e-9,
        ));
    }
    if let Some(t) = seconds(meta.created()) {
        out.push(("file created", t));
    }
    out
}

/// numpy's linear-interpolation quantile; sorts `v`.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

fn summarise(name: &str, subjects: &[SubjectTimes], groups: &[String]) -> KindSummary {
    let values = |inside: bool, g: &str| -> Vec<f64> {
        subjects
            .iter()
            .filter(|s| (s.group == g) == inside)
            .filter_map(|s| s.times.get(name).copied())
            .collect()
    };
    let spreads: Vec<Spread> = groups
        .iter()
        .filter_map(|g| {
            let mut v = values(true, g);
            (!v.is_empty()).then(|| Spread {
                group: g.clone(),
                n: v.len(),
                min: quantile(&mut v, 0.0),
                q25: quantile(&mut v, 0.25),
                median: quantile(&mut v, 0.5),
                q75: quantile(&mut v, 0.75),
                max: quantile(&mut v, 1.0),
                vs_rest: separation(&values(false, g), &v),
            })
        })
        .collect();
    KindSummary {
        name: name.to_string(),
        groups: spreads,
    }
}

/// AUC of the time as a score for `b` against `a`, and the threshold with the best balanced
/// accuracy.
fn separation(a: &[f64], b: &[f64]) -> Option<Separation> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let positive: Vec<bool> = a
        .iter()
        .map(|_| false)
        .chain(b.iter().map(|_| true))
        .collect();
    let score: Vec<f64> = a.iter().chain(b).copied().collect();
    let auc = ensemble::roc_auc_binary(&positive, &score).ok()?;
    let mut cuts: Vec<f64> = score.clone();
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let mids = cuts.windows(2).map(|w| (w[0] + w[1]) / 2.0);
    let balanced = |t: f64| {
        // Whichever side of the threshold group b lies on.
        let below = |v: &[f64]| v.iter().filter(|&&x| x < t).count() as f64 / v.len() as f64;
        let up = (below(a) + 1.0 - below(b)) / 2.0;
        up.max(1.0 - up)
    };
    let (threshold, balanced_accuracy) = mids.map(|t| (t, balanced(t))).fold(
        (f64::NAN, 0.5),
        |best, c| if c.1 > best.1 { c } else { best },
    );
    Some(Separation {
        auc,
        threshold,
        balanced_accuracy,
        subjects: (a.len(), b.len()),
    })
}

impl FileTimes {
    /// A plain-text table: per time kind and group, the spread as dates, then the separation.
    pub fn text(&self) -> String {
        let mut out = format!(
            "file and DICOM times per {} group ({} subjects{})\n",
            self.grouping,
            self.subjects.len(),
            if self.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped", self.skipped.len())
            }
        );
        for k in &self.kinds {
            for s in &k.groups {
                out += &format!(
                    "{:<24} {:<10} n={:<4} earliest {}  median {}  latest {}  vs rest: {}\n",
                    k.name,
                    s.group,
                    s.n,
                    format_seconds(s.min),
                    format_seconds(s.median),
                    format_seconds(s.max),
                    s.vs_rest.map_or("-".to_string(), |sep| sep.describe()),
                );
            }
        }
        let separating = self.separating();
        if separating.is_empty() {
            out += "no time separates a group from the others\n";
        }
        for k in separating {
            out += &format!(
                "SEPARATES: {} tells {} from the rest\n",
                k.name,
                k.separated_groups().join(", ")
            );
        }
        for (id, why) in &self.skipped {
            out += &format!("skipped {id}: {why}\n");
        }
        out
    }

    /// The kinds whose one threshold tells some group from the rest.
    pub fn separating(&self) -> Vec<&KindSummary> {
        self.kinds
            .iter()
            .filter(|k| !k.separated_groups().is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separation_finds_the_threshold_between_two_eras() {
        let a = [10.0, 11.0, 12.0, 13.0, 14.0];
        let b = [20.0, 21.0, 22.0, 23.0, 24.0];
        let s = separation(&a, &b).unwrap();
        assert_eq!(s.auc, 1.0);
        assert_eq!(s.balanced_accuracy, 1.0);
        assert_eq!(s.threshold, 17.0);
        assert!(s.separates());
        // Too few subjects to claim it.
        assert!(!separation(&a[..4], &b).unwrap().separates());
        // Reversed order: the same split, AUC 0.
        let r = separation(&b, &a).unwrap();
        assert_eq!((r.auc, r.balanced_accuracy), (0.0, 1.0));
        // Interleaved: no useful threshold.
        let m = separation(&[1.0, 3.0, 5.0, 7.0], &[2.0, 4.0, 6.0, 8.0]).unwrap();
        assert!(m.balanced_accuracy < 0.9 && !m.separates());
        assert!(separation(&[], &b).is_none());
    }

    #[test]
    fn quantiles_are_numpys() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), 2.5);
        assert_eq!(quantile(&mut v, 0.25), 1.75);
        assert_eq!(quantile(&mut v, 1.0), 4.0);
    }
}
