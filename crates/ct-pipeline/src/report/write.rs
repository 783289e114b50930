//! The report as a whole: its sections in order.

use std::path::Path;

use ct_report::Report;

use super::*;
use crate::Result;
use crate::config::PipelineConfig;
use crate::summary::{FeatureTable, Summary};

pub(super) fn report_text(r: &ensemble::ClassificationReport) -> String {
    r.to_string()
}

/// Writes every figure under `dir` and `report.html` beside it.
pub fn write_report(
    cfg: &PipelineConfig,
    table: &FeatureTable,
    summary: &Summary,
    figs: &Figures,
    dir: &Path,
) -> Result<()> {
    let mut rep = Report::new(&format!("covid-ct run “{}”", cfg.name));
    let inputs = Inputs {
        cfg,
        table,
        summary,
        figs,
        dir,
    };
    summary_section(&mut rep, &inputs)?;
    eda_section(rep.section("Exploratory data analysis"), table, dir)?;
    file_times_section(&mut rep, &inputs)?;

    cleaning_section(&mut rep, &inputs)?;
    segmentation_section(&mut rep, &inputs)?;
    gate_section(&mut rep, &inputs)?;
    otdd_section(&mut rep, &inputs)?;
    classification_section(&mut rep, &inputs)?;
    models_section(&mut rep, &inputs)?;
    timings_section(&mut rep, &inputs)?;
    rep.write(&cfg.run_dir().join("report.html"))?;
    Ok(())
}

/// What the report's sections read.
#[derive(Clone, Copy)]
pub(super) struct Inputs<'a> {
    pub(super) cfg: &'a PipelineConfig,
    pub(super) table: &'a FeatureTable,
    pub(super) summary: &'a Summary,
    pub(super) figs: &'a Figures,
    pub(super) dir: &'a Path,
}

/// A number with three decimals.
pub(super) fn fmt(v: f64) -> String {
    format!("{v:.3}")
}
