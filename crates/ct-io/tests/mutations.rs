//! Stable-Rust stand-in for the cargo-fuzz targets in `crates/ct-io/fuzz/`: a seeded,
//! bounded random-mutation run over the fixtures' bytes. Every mutated input must give `Ok`
//! or a typed `Err` — a panic fails the test. The seed and case count are fixed so that a
//! failure reproduces; `CT_IO_MUTATIONS=N` runs N cases per seed file instead (the default is
//! kept small so the suite stays fast in the dev profile).

use std::path::{Path, PathBuf};

use ct_io::{dicom, nifti, npy};

/// xorshift64*: tiny, deterministic, good enough to pick mutation sites.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

/// One to four mutations: bit flips, random bytes, "interesting" 16/32-bit values (lengths,
/// dimensions), truncation, chunk duplication or deletion.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            break;
        }
        let at = rng.below(b.len());
        match rng.below(7) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = rng.next() as u8,
            2 => {
                const V: [u32; 8] = [0, 1, 0x7fff, 0x8000, 0xffff, 0xffff_ffff, 0x7fff_ffff, 348];
                let v = V[rng.below(V.len())].to_le_bytes();
                let n = if rng.below(2) == 0 { 2 } else { 4 };
                for k in 0..n {
                    if at + k < b.len() {
                        b[at + k] = v[k];
                    }
                }
            }
            3 => b.truncate(at),
            4 => {
                let len = rng.below(64).min(b.len() - at);
                let chunk = b[at..at + len].to_vec();
                let to = rng.below(b.len());
                b.splice(to..to, chunk);
            }
            5 => {
                let len = rng.below(64).min(b.len() - at);
                b.drain(at..at + len);
            }
            _ => {
                // Mutate near the start, where the headers live.
                let at = rng.below(b.len().min(512));
                b[at] = rng.next() as u8;
            }
        }
    }
    b
}

fn cases() -> usize {
    std::env::var("CT_IO_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

/// The default run: a handful of cases per seed so the suite stays fast (see `cases`).
#[test]
fn dicom_reader_never_panics_on_mutated_files() {
    dicom_mutations(cases());
}

/// The long run reported in docs/benchmarks.md (ct-io section):
/// `cargo test --release -p ct-io --test mutations -- --ignored --nocapture`.
#[test]
#[ignore]
fn dicom_reader_never_panics_long_run() {
    dicom_mutations(
        std::env::var("CT_IO_MUTATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    );
}

fn dicom_mutations(n_cases: usize) {
    let seeds = [
        "axial_explicit/b.dcm",
        "axial_implicit/b.dcm",
        "axial_deflate/b.dcm",
        "axial_rle/b.dcm",
        "axial_jpegls14/b.dcm",
        "oblique_u12",
        "693_J2KI.dcm",
    ];
    let (mut ok, mut err) = (0, 0);
    for (i, s) in seeds.into_iter().enumerate() {
        // One independent stream per seed file, so each file's cases do not depend on the
        // case count of the others.
        let mut rng = Rng(0x5eed_c710 + 7919 * i as u64);
        let p = data(s);
        let p = if p.is_dir() {
            std::fs::read_dir(&p)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path()
        } else {
            p
        };
        let seed = std::fs::read(&p).unwrap();
        let t = std::time::Instant::now();
        let mut slowest = (0.0f64, 0usize);
        for case in 0..n_cases {
            let m = mutate(&seed, &mut rng);
            let t1 = std::time::Instant::now();
            match dicom::read_slice_bytes(&m) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
            let dt = t1.elapsed().as_secs_f64();
            if dt > 1.0
                && let Some(d) = std::env::var_os("CT_IO_DUMP_SLOW")
            {
                let name = format!("{}-{case}.dcm", s.replace('/', "_"));
                std::fs::write(Path::new(&d).join(name), &m).unwrap();
            }
            if dt > slowest.0 {
                slowest = (dt, case);
            }
        }
        eprintln!(
            "{s}: {} cases in {:.2} s (slowest case {} took {:.3} s)",
            n_cases,
            t.elapsed().as_secs_f64(),
            slowest.1,
            slowest.0
        );
    }
    eprintln!("dicom mutations: {ok} ok, {err} typed errors");
    assert!(
        err > 0,
        "mutations never produced an error: the mutator is not biting"
    );
}

#[test]
fn nifti_and_npy_readers_never_panic_on_mutated_files() {
    let mut rng = Rng(0x5eed_0042);
    let (mut ok, mut err) = (0, 0);
    for s in ["vol_i16.nii.gz", "vol_u8_scaled.nii", "vol_flip.nii"] {
        let seed = std::fs::read(data(s)).unwrap();
        for _ in 0..cases() {
            let m = mutate(&seed, &mut rng);
            match nifti::read_bytes(m, Path::new(s)) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        }
    }
    for s in ["npy_int16.npy", "npy_fortran_i2.npy", "npy_big_u2.npy"] {
        let seed = std::fs::read(data(s)).unwrap();
        for _ in 0..cases() {
            let m = mutate(&seed, &mut rng);
            match npy::parse(&m, Path::new(s)) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        }
    }
    eprintln!("nifti/npy mutations: {ok} ok, {err} typed errors");
    assert!(err > 0);
}
