//! ct-io read speed: a 300-slice 512×512 uncompressed CT series (written once by
//! `ct_io::dicom::write_series` into `$CT_IO_BENCH_DIR`, default `<tmp>/ct-io-bench-300`, and
//! kept so that `tools/ct-io/bench_pydicom.py` reads the same files).
//!
//! ```text
//! cargo bench --bench io -- --warm-up-time 1 --measurement-time 3
//! python3 tools/ct-io/bench_pydicom.py        # the pydicom + numpy side, same folder
//! ```

use std::path::PathBuf;

use covid_ct::core::{Scan, Spacing, Volume};
use covid_ct::io::dicom::{self, DicomReadOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array3;

fn series_dir() -> PathBuf {
    let dir = std::env::var_os("CT_IO_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ct-io-bench-300"));
    let complete = std::fs::read_dir(&dir)
        .map(|d| d.filter(|e| e.is_ok()).count() == 300)
        .unwrap_or(false);
    if !complete {
        let _ = std::fs::remove_dir_all(&dir);
        // A body-like pattern: air outside an ellipse, soft tissue inside, varying along z.
        let data = Array3::from_shape_fn((300, 512, 512), |(z, y, x)| {
            let (dy, dx) = (y as f64 - 256.0, x as f64 - 256.0);
            let r = (dy * dy / (200.0 * 200.0) + dx * dx / (240.0 * 240.0)).sqrt();
            if r > 1.0 {
                -1000 + ((x * 7 + y * 3 + z) % 17) as i16
            } else {
                40 + ((x * 13 + y * 5 + z * 3) % 61) as i16 - 30
            }
        });
        let vol = Volume::new(data, Spacing::new(1.25, 0.7, 0.7).unwrap()).unwrap();
        dicom::write_series(&dir, &Scan::new("bench-300", None, vol)).expect("write series");
    }
    dir
}

fn bench_read(c: &mut Criterion) {
    let dir = series_dir();
    let opts = DicomReadOptions::default();
    let scan = dicom::read_series(&dir, &opts).unwrap();
    assert_eq!(scan.volume.shape(), [300, 512, 512]);
    let mut g = c.benchmark_group("ct-io");
    g.sample_size(10);
    g.bench_function("read_series_300x512x512_uncompressed", |b| {
        b.iter(|| dicom::read_series(&dir, &opts).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_read);
criterion_main!(benches);
