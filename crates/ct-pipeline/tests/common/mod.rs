//! What the integration tests share: a tiny phantom run.

use ct_pipeline::PipelineConfig;

/// A run of 12 phantoms of 64², 16–24 slices, with the lesion detector trained in the run
/// (a few seconds).
pub fn tiny(out: &std::path::Path, name: &str) -> PipelineConfig {
    PipelineConfig {
        name: name.into(),
        out: out.to_path_buf(),
        n_per_class: 4,
        phantom_size: 64,
        phantom_slices: (16, 24),
        folds: 2,
        grid: false,
        gbdt_rounds: 10,
        otdd_samples: 60,
        lesion_train_per_class: 2,
        lesion_rounds: 10,
        eda_size: 32,
        ..PipelineConfig::default()
    }
}
