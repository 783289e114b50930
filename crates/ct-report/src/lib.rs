#![deny(missing_docs)]
//! Figures and self-contained HTML reports for covid-ct runs.
//!
//! * [`image`]: 2-D arrays to PNG with a colour map ([`ColorMap::Gray`], [`ColorMap::Viridis`],
//!   the diverging [`ColorMap::BlueWhiteRed`] for difference images), mask outlines over a
//!   slice, and montages.
//! * [`chart`]: SVG charts written directly (no font files needed, so they render the same
//!   on any machine): histograms / line charts, bar charts, confusion matrices, heat maps.
//! * [`html`]: a [`Report`] made of sections (text, key-value tables, tables, preformatted
//!   text, embedded PNG and SVG figures) written as one HTML file with everything inlined.
//!
//! # Example
//! ```
//! use ct_report::{chart, Report};
//! let svg = chart::confusion_matrix(&[vec![5, 1], vec![0, 6]], &["Normal", "COVID-19"], "Test split");
//! let mut r = Report::new("Demo run");
//! r.section("Confusion matrix").svg(&svg).text("12 scans.");
//! let html = r.render();
//! assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
//! ```

pub mod chart;
mod error;
pub mod html;
pub mod image;

pub use error::{Error, Result};
pub use html::{Report, Section};
pub use image::ColorMap;
