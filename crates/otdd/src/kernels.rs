//! Small vectorisable kernels with runtime AVX2+FMA dispatch.
//!
//! The workspace builds for the baseline x86-64 target (SSE2). The Sinkhorn inner loops are
//! memory- or exp-bound, and AVX2 doubles their throughput, so the hot loops are compiled twice
//! (generic and `avx2,fma`) and chosen once per call with `is_x86_feature_detected!`.

/// `a·b + c`, fused (one rounding) when `F` (the AVX2/AVX-512 copies, which enable `fma`),
/// else plain (a libm `fma` call would be slow on the baseline target).
#[inline(always)]
pub(crate) fn fmadd<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    if F { a.mul_add(b, c) } else { a * b + c }
}

/// `exp(x)` to about 1 ulp, branch-free so loops over it vectorise; `x < −708` gives 0 and
/// `x > 709` gives +inf. Cody–Waite reduction `x = k·ln2 + r`, |r| ≤ ln2/2, then the
/// degree-13 Taylor polynomial of e^r (truncation error below 2⁻⁵³ on that interval) evaluated
/// by Estrin's scheme: depth 7 instead of Horner's 13 dependent multiply-adds, so the
/// out-of-order core overlaps more vectors. `F` selects fused multiply-adds.
#[inline(always)]
pub(crate) fn exp<const F: bool>(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer
    const C: [f64; 14] = [
        1.0,
        1.0,
        0.5,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    // Plain selects (not f64::clamp) so LLVM emits vector blends.
    let xc = if x < -708.0 { -708.0 } else { x };
    let xc = if xc > 709.0 { 709.0 } else { xc };
    let t = fmadd::<F>(xc, LOG2E, SHIFTER);
    let kf = t - SHIFTER;
    let r = fmadd::<F>(-kf, LN2_LO, fmadd::<F>(-kf, LN2_HI, xc));
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    // e^r = 1 + (r + r²·T(r)), T of degree 11 by Estrin; the leading 1 and r are added last
    // so their rounding does not dominate.
    let q0 = fmadd::<F>(C[3], r, C[2]);
    let q1 = fmadd::<F>(C[5], r, C[4]);
    let q2 = fmadd::<F>(C[7], r, C[6]);
    let q3 = fmadd::<F>(C[9], r, C[8]);
    let q4 = fmadd::<F>(C[11], r, C[10]);
    let q5 = fmadd::<F>(C[13], r, C[12]);
    let s0 = fmadd::<F>(q1, r2, q0);
    let s1 = fmadd::<F>(q3, r2, q2);
    let s2 = fmadd::<F>(q5, r2, q4);
    let t0 = fmadd::<F>(s1, r4, s0);
    let tail = fmadd::<F>(s2, r8, t0);
    let p = C[0] + fmadd::<F>(r2, tail, r);
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

/// Which copy of the kernels runs: 0 baseline, 1 AVX2+FMA, 2 AVX-512 (F, DQ) + FMA.
/// `OTDD_SIMD=generic|avx2` caps it (for benchmarks and for checking the copies agree).
#[inline]
pub(crate) fn simd_level() -> u8 {
    static LEVEL: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        let hw = if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
        {
            2
        } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            1
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let hw = 0u8;
        let cap = match std::env::var("OTDD_SIMD").as_deref() {
            Ok("generic") => 0,
            Ok("avx2") => 1,
            _ => 2,
        };
        hw.min(cap)
    })
}

/// Compiles `$body` (using only `#[inline(always)]` helpers; the const `F` says whether fused
/// multiply-adds are available) three times, in a module named `$name`, and dispatches at run
/// time through `$name::run`: baseline x86-64, AVX2+FMA, and AVX-512 (512-bit vectors halve
/// the instruction count of the exponential-bound Sinkhorn loops where the core has them).
macro_rules! dispatch {
    ($name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty $body:block) => {
        #[allow(clippy::too_many_arguments)]
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[inline(always)]
            fn generic_impl<const F: bool>($($arg: $ty),*) -> $ret $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2_impl($($arg: $ty),*) -> $ret { generic_impl::<true>($($arg),*) }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
            unsafe fn avx512_impl($($arg: $ty),*) -> $ret { generic_impl::<true>($($arg),*) }

            pub(crate) fn run($($arg: $ty),*) -> $ret {
                #[cfg(target_arch = "x86_64")]
                {
                    match $crate::kernels::simd_level() {
                        // SAFETY: the CPU supports avx512f, avx512dq, avx2 and fma (checked
                        // by `simd_level`).
                        2 => return unsafe { avx512_impl($($arg),*) },
                        // SAFETY: the CPU supports avx2 and fma (checked by `simd_level`).
                        1 => return unsafe { avx2_impl($($arg),*) },
                        _ => {}
                    }
                }
                generic_impl::<false>($($arg),*)
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
        let mut x: f64 = -707.5;
        while x < 708.0 {
            let r = x.exp();
            // Both copies (plain and fused multiply-adds).
            for e in [super::exp::<false>(x), super::exp::<true>(x)] {
                worst = worst.max(((e - r) / r).abs());
            }
            x += 0.0137;
        }
        assert!(worst < 4e-16, "worst relative error {worst}");
        for f in [super::exp::<false> as fn(f64) -> f64, super::exp::<true>] {
            assert_eq!(f(-800.0), 0.0);
            assert_eq!(f(f64::NEG_INFINITY), 0.0);
            assert!(f(800.0).is_infinite());
            assert_eq!(f(0.0), 1.0);
        }
    }
}
