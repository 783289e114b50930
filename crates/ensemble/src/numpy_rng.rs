//! NumPy's legacy `RandomState` (MT19937): the draws the resamplers need, bit for bit.
//!
//! imbalanced-learn seeds a fresh `np.random.RandomState(random_state)` for each class it
//! over-samples and draws `randint(0, n, size)` then `uniform(size)`. Reproducing that stream
//! makes [`crate::Smote`] with seed `s` give exactly imbalanced-learn's samples for
//! `random_state=s`, which is what the golden tests check.

const N: usize = 624;
const M: usize = 397;

/// NumPy's `RandomState(seed)` for an integer seed (MT19937 with `init_genrand`).
#[derive(Debug, Clone)]
pub(crate) struct RandomState {
    key: [u32; N],
    pos: usize,
}

impl RandomState {
    /// `np.random.RandomState(seed)`.
    pub(crate) fn new(seed: u32) -> RandomState {
        let mut key = [0u32; N];
        key[0] = seed;
        for i in 1..N {
            let prev = key[i - 1];
            key[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        RandomState { key, pos: N }
    }

    fn refill(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..N {
            let y = (self.key[i] & UPPER) | (self.key[(i + 1) % N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.key[i] = self.key[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// The next tempered 32-bit output (`genrand_int32`).
    pub(crate) fn next_u32(&mut self) -> u32 {
        if self.pos == N {
            self.refill();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random_sample()`: a double in [0, 1) from two outputs (53 bits).
    pub(crate) fn next_f64(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `randint(0, high, size=n)` with NumPy's legacy (masked rejection) method.
    ///
    /// `high` must fit in 32 bits plus one, as it always does for row counts here.
    pub(crate) fn randint(&mut self, high: usize, n: usize) -> Vec<usize> {
        let rng = (high.max(1) - 1) as u64;
        if rng == 0 {
            // NumPy returns the lower bound without consuming a draw.
            return vec![0; n];
        }
        assert!(rng <= u64::from(u32::MAX), "randint range beyond 32 bits");
        let rng = rng as u32;
        let mut mask = rng;
        for shift in [1, 2, 4, 8, 16] {
            mask |= mask >> shift;
        }
        (0..n)
            .map(|_| {
                loop {
                    let v = self.next_u32() & mask;
                    if v <= rng {
                        break v as usize;
                    }
                }
            })
            .collect()
    }

    /// `uniform(size=n)` on [0, 1).
    pub(crate) fn uniform(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next_f64()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_mt19937_stream() {
        // init_genrand(5489): the first outputs of the reference implementation
        // (Matsumoto & Nishimura's mt19937ar.c), the same as C++ std::mt19937's default.
        let mut r = RandomState::new(5489);
        assert_eq!(r.next_u32(), 3_499_211_612);
        assert_eq!(r.next_u32(), 581_869_302);
        assert_eq!(r.next_u32(), 3_890_346_734);
        // The 10000th output of std::mt19937 (the C++ standard's check value).
        let mut r = RandomState::new(5489);
        let mut last = 0;
        for _ in 0..10_000 {
            last = r.next_u32();
        }
        assert_eq!(last, 4_123_659_995);
    }

    /// Draws of `np.random.RandomState(seed)` written by
    /// `tools/ensemble/make_resample_goldens.py`: must be identical.
    #[test]
    fn matches_numpy_randomstate_draws() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/resample/rng.json");
        let v: serde_json::Value =
            serde_json::from_reader(std::fs::File::open(path).unwrap()).unwrap();
        let ints = |v: &serde_json::Value| -> Vec<usize> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_u64().unwrap() as usize)
                .collect()
        };
        let rng = v["rng"].as_object().unwrap();
        assert_eq!(rng.len(), 3);
        for (seed, draws) in rng {
            let mut r = RandomState::new(seed.parse().unwrap());
            assert_eq!(
                r.randint(1000, 12),
                ints(&draws["randint_1000"]),
                "seed {seed}"
            );
            assert_eq!(r.randint(7, 12), ints(&draws["randint_7"]), "seed {seed}");
            let u: Vec<f64> = draws["uniform"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_f64().unwrap())
                .collect();
            assert_eq!(r.uniform(6), u, "seed {seed}");
        }
    }

    #[test]
    fn randint_of_one_value_consumes_nothing() {
        let mut a = RandomState::new(3);
        assert_eq!(a.randint(1, 4), vec![0; 4]);
        let mut b = RandomState::new(3);
        assert_eq!(a.next_u32(), b.next_u32());
    }
}
