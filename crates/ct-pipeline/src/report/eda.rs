//! The exploratory-data-analysis section: mean/std images and HU histograms.

use std::path::Path;

use ct_core::Label;
use ct_report::Section;
use ct_report::chart::{self, Series};
use ct_report::image::{self, ColorMap};
use ndarray::Array2;

use crate::preprocess::{HU_HIST_BINS, HU_HIST_LO, HU_HIST_STEP};
use crate::summary::FeatureTable;
use crate::{Error, Result};

pub(super) fn save(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).map_err(|source| Error::Io { path: p, source })
}

pub(super) fn png_of(values: &Array2<f64>, lo: f64, hi: f64, cmap: ColorMap) -> Result<Vec<u8>> {
    Ok(image::png_bytes(&image::to_rgb(
        values.view(),
        lo,
        hi,
        cmap,
    )?)?)
}

pub(super) fn group_name(g: u8) -> &'static str {
    match g {
        0 => "high contrast",
        1 => "low contrast",
        _ => "contrast unknown",
    }
}

pub(super) fn eda_section(s: &mut Section, table: &FeatureTable, dir: &Path) -> Result<()> {
    let names = Label::ALL.map(|l| l.name());
    let mut means: Vec<Option<Array2<f64>>> = Vec::new();
    let mut row_mean = Vec::new();
    let mut row_std = Vec::new();
    for (k, st) in table.eda.slices.iter().enumerate() {
        let (Ok(m), Ok(sd)) = (st.mean(), st.std(0)) else {
            means.push(None);
            continue;
        };
        let a = png_of(&m, 0.0, 255.0, ColorMap::Gray)?;
        let b = png_of(
            &sd,
            0.0,
            sd.iter().cloned().fold(1.0, f64::max),
            ColorMap::Viridis,
        )?;
        save(dir, &format!("mean_{}.png", names[k]), &a)?;
        save(dir, &format!("std_{}.png", names[k]), &b)?;
        row_mean.push((
            a,
            format!("mean image: {} ({} slices)", names[k], st.count()),
        ));
        row_std.push((b, format!("std image: {}", names[k])));
        means.push(Some(m));
    }
    s.text("Per-class mean and standard-deviation images of every lung-window slice (resized), as in the seed's EDA.");
    s.png_row(row_mean).png_row(row_std);
    let mut diffs = Vec::new();
    for (a, b) in [(1usize, 0usize), (2, 0), (2, 1)] {
        if let (Some(ma), Some(mb)) = (&means[a], &means[b]) {
            let d = ma - mb;
            let png =
                image::png_bytes(&image::to_rgb_symmetric(d.view(), ColorMap::BlueWhiteRed)?)?;
            save(
                dir,
                &format!("diff_{}_minus_{}.png", names[a], names[b]),
                &png,
            )?;
            let m = d.iter().fold(0.0f64, |x, v| x.max(v.abs()));
            diffs.push((
                png,
                format!("{} − {} (±{m:.1} grey levels)", names[a], names[b]),
            ));
        }
    }
    s.text("Difference images (blue: lower, red: higher).");
    s.png_row(diffs);
    let edges: Vec<f64> = (0..=HU_HIST_BINS)
        .map(|i| HU_HIST_LO + i as f64 * HU_HIST_STEP)
        .collect();
    let per_class: Vec<(String, Vec<f64>)> = table
        .eda
        .hu_class
        .iter()
        .enumerate()
        .map(|(k, h)| (names[k].to_string(), h.clone()))
        .collect();
    let svg = chart::histogram("HU histogram per class", "HU", &edges, &per_class, true);
    save(dir, "hu_hist_class.svg", svg.as_bytes())?;
    s.svg(&svg);
    let per_group: Vec<(String, Vec<f64>)> = ["high contrast", "low contrast"]
        .iter()
        .zip(&table.eda.hu_contrast)
        .filter(|(_, h)| h.iter().sum::<f64>() > 0.0)
        .map(|(n, h)| (n.to_string(), h.clone()))
        .collect();
    if !per_group.is_empty() {
        let svg = chart::histogram(
            "HU histogram per contrast group",
            "HU",
            &edges,
            &per_group,
            true,
        );
        save(dir, "hu_hist_contrast.svg", svg.as_bytes())?;
        s.svg(&svg);
    }
    // Slice counts and z spacing per class.
    let mut counts: Vec<Series> = Vec::new();
    let mut spacing: Vec<Series> = Vec::new();
    for l in Label::ALL {
        let mut pts: Vec<(f64, f64)> = table
            .records
            .iter()
            .filter(|r| r.label == Some(l))
            .map(|r| (r.n_slices as f64, r.spacing[0]))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = pts.len() as f64;
        counts.push(Series::new(
            l.name(),
            pts.iter()
                .enumerate()
                .map(|(i, p)| (p.0, (i + 1) as f64 / n))
                .collect(),
        ));
        let mut z: Vec<f64> = pts.iter().map(|p| p.1).collect();
        z.sort_by(f64::total_cmp);
        spacing.push(Series::new(
            l.name(),
            z.iter()
                .enumerate()
                .map(|(i, v)| (*v, (i + 1) as f64 / n))
                .collect(),
        ));
    }
    let a = chart::line_chart(
        "Slices per scan (cumulative)",
        "slices",
        "fraction of scans",
        &counts,
    );
    let b = chart::line_chart(
        "Slice spacing (cumulative)",
        "z spacing (mm)",
        "fraction of scans",
        &spacing,
    );
    save(dir, "slice_counts.svg", a.as_bytes())?;
    save(dir, "z_spacing.svg", b.as_bytes())?;
    s.svg(&a).svg(&b);
    Ok(())
}
