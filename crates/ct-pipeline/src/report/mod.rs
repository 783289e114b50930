//! Figures and the HTML report of a run.

mod data_sections;
mod eda;
mod figures;
mod prediction;
mod result_sections;
mod write;

pub(crate) use figures::{Figures, KeyedPreview};
pub use prediction::write_prediction_page;
pub(crate) use write::write_report;

use data_sections::{
    cleaning_section, file_times_section, gate_section, segmentation_section, summary_section,
};
use eda::group_name;
use eda::{eda_section, save};
use result_sections::{classification_section, models_section, otdd_section, timings_section};
use write::{Inputs, fmt, report_text};
