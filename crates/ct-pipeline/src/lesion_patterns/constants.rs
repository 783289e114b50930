//! The network's fixed settings.

/// Seed offset of the pattern network's training cohort (the evaluated cohort uses the run's
/// seed, the voxel detector's `seed + 0x1e51_0000`).
pub const PATTERN_SEED_OFFSET: u64 = 0x1e52_0000;

/// In-plane down-sampling of the network's input on the phantoms it was trained on (2×2
/// means of 1.2–1.6 mm pixels); other pixel sizes get [`downsample_factor`].
pub const DOWNSAMPLE: usize = 2;

/// The pixel size (mm) the network sees, about (see [`downsample_factor`]).
pub const TARGET_PIXEL_MM: f64 = 2.8;

/// The classes of the network's output.
pub const PATTERN_CLASSES: [&str; 3] = ["background", "cap_like", "covid_like"];
