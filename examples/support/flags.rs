//! Command-line value parsers shared by the example programs (included with `#[path]`).

/// A finite number in `[lo, hi]` (NaN, infinities and absurd magnitudes are refused here,
/// not after minutes of work or gigabytes of allocation).
pub fn finite_in(lo: f64, hi: f64) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |s: &str| {
        let v: f64 = s.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(format!("{v} is not a number in [{lo}, {hi}]"))
        }
    }
}
