//! Seeding: every random stream is a ChaCha8 generator keyed by the cohort seed, a purpose and
//! a few indices, so results never depend on evaluation order or thread count.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a random stream is used for (keeps the streams independent).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    Plan = 1,
    Patient = 2,
    Noise = 3,
    Inject = 4,
    Realism = 5,
}

#[inline]
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit key from the seed, the purpose and the indices.
pub(crate) fn key(seed: u64, purpose: Purpose, parts: &[u64]) -> u64 {
    let mut h = splitmix64(seed ^ 0x5EED_C0DE_u64.wrapping_mul(purpose as u64 + 1));
    for &p in parts {
        h = splitmix64(h ^ splitmix64(p.wrapping_add(0x1234_5678_9ABC)));
    }
    h
}

/// The generator of one stream.
pub(crate) fn rng_for(seed: u64, purpose: Purpose, parts: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(key(seed, purpose, parts))
}
