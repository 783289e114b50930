//! Any byte string given to the DICOM slice reader must give Ok or a typed error, never a
//! panic. Seed corpus: `crates/ct-io/tests/data/**/*.dcm`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Give the fuzzer the preamble for free so it spends its time inside the parser.
    let mut file = vec![0u8; 128];
    file.extend_from_slice(b"DICM");
    let body = data.strip_prefix(&file[..]).unwrap_or(data);
    file.extend_from_slice(body);
    let _ = ct_io::dicom::read_slice_bytes(&file);
});
