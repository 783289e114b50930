//! Any byte string given to the .npy reader must give Ok or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ct_io::npy::parse(data, std::path::Path::new("fuzz.npy"));
});
