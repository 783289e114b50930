//! Small vectorisable kernels with runtime AVX2+FMA dispatch.
//!
//! The workspace builds for the baseline x86-64 target (SSE2). The Sinkhorn inner loops are
//! memory- or exp-bound, and AVX2 doubles their throughput, so the hot loops are compiled twice
//! (generic and `avx2,fma`) and chosen once per call with `is_x86_feature_detected!`.

/// `exp(x)` to about 1 ulp, branch-free so loops over it vectorise; `x < −708` gives 0 and
/// `x > 709` gives +inf. Cody–Waite reduction `x = k·ln2 + r`, |r| ≤ ln2/2, then a degree-13
/// Taylor polynomial (truncation error below 2⁻⁵³ on that interval).
#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer
    // Plain selects (not f64::clamp) so LLVM emits vector blends.
    let xc = if x < -708.0 { -708.0 } else { x };
    let xc = if xc > 709.0 { 709.0 } else { xc };
    let t = xc * LOG2E + SHIFTER;
    let kf = t - SHIFTER;
    let r = (xc - kf * LN2_HI) - kf * LN2_LO;
    // Horner on the Taylor series of e^r.
    let mut p = 1.0 / 6_227_020_800.0; // 1/13!
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // t's mantissa holds k exactly (ulp 1 at 1.5·2^52): take it with integer ops on the bit
    // pattern (a float-to-int cast would not vectorise).
    let k_plus_bias = t
        .to_bits()
        .wrapping_sub(SHIFTER.to_bits())
        .wrapping_add(1023);
    let scale = f64::from_bits(k_plus_bias << 52);
    let y = p * scale;
    let y = if x < -708.0 { 0.0 } else { y };
    if x > 709.0 { f64::INFINITY } else { y }
}

/// Dot product with 8 independent accumulators (vectorises; order fixed for determinism).
#[inline(always)]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y += alpha * x`.
#[inline(always)]
pub(crate) fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += alpha * xv;
    }
}

/// Sum with 8 accumulators.
#[inline(always)]
pub(crate) fn sum(a: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let c = a.chunks_exact(8);
    let r = c.remainder();
    for x in c {
        for k in 0..8 {
            acc[k] += x[k];
        }
    }
    let mut tail = 0.0;
    for v in r {
        tail += v;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// True when the AVX2+FMA copies of the kernels can run.
#[inline]
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Compiles `$body` (using only `#[inline(always)]` helpers) twice, in a module named `$name`,
/// and dispatches at run time through `$name::run`.
macro_rules! dispatch {
    ($name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty $body:block) => {
        #[allow(clippy::too_many_arguments)]
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[inline(always)]
            fn generic_impl($($arg: $ty),*) -> $ret $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2_impl($($arg: $ty),*) -> $ret { generic_impl($($arg),*) }

            pub(crate) fn run($($arg: $ty),*) -> $ret {
                #[cfg(target_arch = "x86_64")]
                {
                    if $crate::kernels::has_avx2() {
                        // SAFETY: the CPU supports avx2 and fma (checked just above).
                        return unsafe { avx2_impl($($arg),*) };
                    }
                }
                generic_impl($($arg),*)
            }
        }
    };
}
pub(crate) use dispatch;

#[cfg(test)]
mod tests {
    #[test]
    fn fast_exp_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = -707.5;
        while x < 708.0 {
            let e = super::exp(x);
            let r = x.exp();
            worst = worst.max(((e - r) / r).abs());
            x += 0.0137;
        }
        assert!(worst < 4e-16, "worst relative error {worst}");
        assert_eq!(super::exp(-800.0), 0.0);
        assert_eq!(super::exp(f64::NEG_INFINITY), 0.0);
        assert!(super::exp(800.0).is_infinite());
    }
}
