#![deny(missing_docs)]
//! Procedural chest-CT cohorts with ground truth: the embedded default data set of covid-ct.
//!
//! A cohort holds `3 · n_per_class` scans (Normal, then CAP, then COVID-19), each a
//! [`ct_core::Scan`] in Hounsfield units with a [`Truth`]: label, contrast group, lung mask,
//! lesion mask, out-of-place slices and acquisition parameters. Everything is a pure
//! function of the [`CohortConfig`] (seed included) and the scan index, whatever the number
//! of threads.
//!
//! What is modelled (see `docs/ct-phantom.md` for the details and the honest limits):
//! * anatomy: body outline, skin, subcutaneous fat, muscle, ribs with costal cartilage,
//!   sternum, scapulae, vertebrae with discs, spinal canal, mediastinal vessels, heart,
//!   trachea and main bronchi, two lungs whose outline changes along z (apices, hila,
//!   heart, diaphragm domes, liver and stomach below), fissures (lobes), branching
//!   artery/bronchus bundles and veins, the patient table;
//! * pathology: COVID-19 bilateral peripheral multifocal ground glass (−700…−300 HU, some
//!   with consolidation or crazy paving); CAP lobar/segmental consolidation (−100…+50 HU)
//!   with air bronchograms, usually one-sided, or patchy bronchopneumonia; subtle
//!   positives; confounders in every class (dependent atelectasis, effusion, nodules,
//!   emphysema, expiratory lung density);
//! * acquisition: 40–120 slices of 1–5 mm, pixel spacing 0.6–0.8 mm at 512² (scaled to
//!   `size`), correlated noise by dose and kernel, two export groups (high contrast; low
//!   contrast = low dose plus a compressed export clipped in the soft-tissue range, so many
//!   pixels saturate at the slice maximum), out-of-place slices (another scan's, or the
//!   same patient's from a distant level).
//!
//! # API
//! * [`CohortConfig`] (`Default`, [`CohortConfig::small`] for tests, `validate`),
//! * [`generate_cohort`] (rayon over scans) and [`generate_scan`] (scan `i` alone),
//! * [`PhantomScan`] `{ scan, truth }`, [`Truth`] (serialisable, masks skipped),
//! * [`write_cohort`] to disk in the COVID-CT-MD layout (DICOM, via `ct-io`) or as NIfTI,
//!   with masks, `Index.csv` and `ground_truth.json` ([`GroundTruth`]);
//!   [`read_ground_truth`] reads that file back.
//!
//! # Example
//! ```
//! use ct_phantom::{CohortConfig, generate_scan};
//! use ct_core::Label;
//!
//! let cfg = CohortConfig { n_per_class: 1, slices: (12, 12), size: 64, ..CohortConfig::default() };
//! let p = generate_scan(&cfg, 2)?; // index 2 = the COVID-19 scan
//! assert_eq!(p.scan.label, Some(Label::Covid));
//! assert_eq!(p.scan.volume.shape(), [12, 64, 64]);
//! assert_eq!(p.truth.lung_mask.dim(), (12, 64, 64));
//! // Lesions lie inside the lungs.
//! assert!(p.truth.lesion_mask.iter().zip(&p.truth.lung_mask).all(|(&l, &m)| l <= m));
//! # Ok::<(), ct_phantom::Error>(())
//! ```

mod anatomy;
mod cohort;
mod config;
mod error;
mod lesion;
mod model;
mod realism;
mod rng;
mod tree;
mod write;

pub use cohort::{Injection, InjectionKind, PhantomScan, Truth, generate_cohort, generate_scan};
pub use config::{CohortConfig, Format, Realism};
pub use error::{Error, Result};
pub use lesion::{LesionInfo, LesionKind};
pub use model::{Acquisition, Findings};
pub use realism::{Arms, RealismInfo};
pub use write::{GroundTruth, TruthEntry, class_folder, read_ground_truth, write_cohort};
