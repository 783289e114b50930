//! With the `tch` feature, force-link libtorch_cuda into this package's binaries (examples,
//! tests): rustc links with `--as-needed` and nothing references libtorch_cuda directly, so
//! without this CUDA is silently unavailable to libtorch. Downstream binaries need the same
//! line in their own build script.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TCH").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
