//! Any byte string (plain or gzip) given to the NIfTI reader must give Ok or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ct_io::nifti::read_bytes(data.to_vec(), std::path::Path::new("fuzz.nii"));
});
