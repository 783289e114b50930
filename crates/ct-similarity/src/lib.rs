#![deny(missing_docs)]
//! Image similarity for CT slices, with the numbers Python users know.
//!
//! * [`mse`], [`psnr`], [`ssim`] / [`ssim_full`]: equal to scikit-image 0.26's
//!   `mean_squared_error`, `peak_signal_noise_ratio` and `structural_similarity` (both the
//!   default 7×7 uniform window with sample covariance and Wang et al.'s Gaussian window,
//!   [`SsimParams::gaussian`]), borders included; u8, u16, i16, f32 and f64 input.
//! * [`average_hash`], [`phash`], [`dhash`], [`whash`]: bit-exact with Python `imagehash`
//!   4.3.2 on PIL images, through ports of Pillow 13's `convert('L')` ([`to_grey`]) and
//!   fixed-point LANCZOS resize ([`resize_lanczos`]) and PyWavelets' Haar transform;
//!   [`ImageHash`] prints and parses imagehash's hex and gives Hamming distances.
//! * Cleaning: [`outlier_slices`] (the seed's rule `d(left, this) > t and d(this, right) > t`,
//!   ends defined in [`flag_outliers`]), [`check_order`] / [`is_reversed`] for shuffled or
//!   reversed scans, and [`BkTree`] / [`duplicate_scans`] for near duplicates across a data set.
//!
//! # Example
//! ```
//! use ct_similarity::{ssim, psnr, SsimParams, average_hash, ImageHash};
//! use ndarray::Array2;
//!
//! let a = Array2::from_shape_fn((32, 32), |(y, x)| ((x * 7 + y * 3) % 256) as u8);
//! let b = a.mapv(|v| v.saturating_add(4));
//! let s = ssim(a.view(), b.view(), &SsimParams::default())?;
//! assert!(s > 0.9 && s < 1.0);
//! assert!((psnr(a.view(), b.view(), None)? - 10.0 * (255.0f64 * 255.0 / 16.0).log10()).abs() < 0.2);
//!
//! let h = average_hash(a.view(), 8)?;
//! let parsed: ImageHash = h.to_string().parse()?;
//! assert_eq!(h.hamming(&parsed)?, 0);
//! # Ok::<(), ct_similarity::Error>(())
//! ```

/// Defines a function whose body is compiled three times, for the baseline target, for AVX2
/// and AVX-512, and picks the best copy at run time when the CPU has it (detected once, cached by std).
/// The kernels defined this way are plain loops that LLVM vectorises with 256-bit lanes.
/// FMA is enabled for explicit `mul_add` calls only: Rust never contracts `a * b + c` by
/// itself, so floating-point results are bit-identical on every copy.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn inner($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) $(-> $ret)? {
                inner($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,fma")]
            fn avx512($($arg: $ty),*) $(-> $ret)? {
                inner($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512dq")
            {
                // SAFETY: the CPU supports these AVX-512 subsets, checked just above.
                return unsafe { avx512($($arg),*) };
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                return unsafe { avx2($($arg),*) };
            }
            inner($($arg),*)
        }
    };
}

mod clean;
mod dedup;
mod error;
mod hash;
mod metrics;
mod pillow;

pub use clean::{
    Criterion, OrderCheck, Outliers, chain_order, check_order, dissimilarity_matrix, flag_outliers,
    is_reversed, outlier_slices,
};
pub use dedup::{BkTree, ScanMatch, duplicate_scans, duplicate_slices};
pub use error::{Error, Result};
pub use hash::{
    HashKind, Hashes, ImageHash, average_hash, dhash, hash_volume, hashes_volume, image_hash,
    phash, whash,
};
pub use metrics::{Pixel, SsimParams, mse, psnr, ssim, ssim_full};
pub use pillow::{resize_lanczos, to_grey};
