//! Where the tests find the real chest CT of `tools/realct/fetch.sh`: `$COVID_CT_REALCT`,
//! else `target/realct` of the workspace. Shared by the real-CT tests of several crates
//! (`#[path = "../../../tools/realct/cache.rs"] mod realct_cache;`), so that one rule
//! decides whether they run.

use std::path::{Path, PathBuf};

/// The fetched scans, or `None` (with the reason printed) when they are not there; with
/// `COVID_CT_REALCT_REQUIRED=1` (CI) their absence fails the test instead.
pub fn cache() -> Option<PathBuf> {
    let dir = std::env::var_os("COVID_CT_REALCT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/realct"),
        PathBuf::from,
    );
    if dir.join("README.txt").is_file() {
        return Some(dir);
    }
    let why = format!(
        "real-CT cache {} is absent: run tools/realct/fetch.sh",
        dir.display()
    );
    assert!(
        std::env::var("COVID_CT_REALCT_REQUIRED").as_deref() != Ok("1"),
        "{why} (COVID_CT_REALCT_REQUIRED=1)"
    );
    println!("skipped: {why}");
    None
}
