//! One scan's full model (anatomy, acquisition, trees, lesions) and the slice renderer.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use ct_core::{Contrast, Label};

use crate::anatomy::{Anatomy, P3, region, sq};
use crate::config::Realism;
use crate::config::{CohortConfig, ScanPlan};
use crate::lesion::{self, Lesion, LesionInfo, Spot};
use crate::realism::{self, Scene};
use crate::rng::{Purpose, rng_for};
use crate::tree::{self, Trees, Tube};

/// How a scan was acquired and exported (ground truth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acquisition {
    /// Number of slices.
    pub n_slices: usize,
    /// Rows = columns.
    pub size: usize,
    /// In-plane pixel spacing (mm).
    pub pixel_spacing_mm: f64,
    /// Slice thickness = slice spacing (mm).
    pub slice_thickness_mm: f64,
    /// Patient-frame z of the centre of slice 0 (mm below the lung apex; negative above).
    pub z_start_mm: f64,
    /// Lung length apex to base (mm), so `z / lung_length_mm` is the relative level.
    pub lung_length_mm: f64,
    /// Body centre offset from the field-of-view centre (mm, x and y).
    pub body_shift_mm: [f64; 2],
    /// Tube current–time product (mAs): low-dose scans have 20–60.
    pub dose_mas: f64,
    /// Standard deviation of the CT noise (HU).
    pub noise_sigma_hu: f64,
    /// Reconstruction kernel: `sharp` (nearly white noise) or `soft` (correlated noise).
    pub kernel: String,
    /// Value outside the reconstruction circle.
    pub padding_hu: i16,
    /// Export: HU are mapped to `−1000 + gain · (hu + 1000)` ...
    pub export_gain: f64,
    /// ... then clipped to `[−1024, export_clip_hu]`.
    pub export_clip_hu: f64,
}

/// Incidental and confounding findings (ground truth; none of them is a lesion).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Findings {
    /// Dependent (posterior) atelectasis band depth per lung (mm; right, left).
    pub atelectasis_mm: [f64; 2],
    /// Pleural effusion depth per side (mm; right, left): fluid, outside the lung mask.
    pub effusion_mm: [f64; 2],
    /// Number of small solid nodules.
    pub nodules: usize,
    /// Number of emphysema holes.
    pub emphysema: usize,
}

pub(crate) struct Model {
    pub anat: Anatomy,
    pub acq: Acquisition,
    smooth: f32,
    trees: Trees,
    lesions: Vec<Lesion>,
    spots: Vec<Spot>,
    pub subtle: bool,
    pub findings: Findings,
    /// Realism V2's scene (`None` for V1).
    pub v2: Option<Scene>,
}

impl Model {
    pub fn build(cfg: &CohortConfig, plan: ScanPlan, index: usize) -> Model {
        let mut rng = rng_for(cfg.seed, Purpose::Patient, &[index as u64]);
        let mut anat = Anatomy::sample(&mut rng);
        let n = rng.random_range(cfg.slices.0..=cfg.slices.1);
        let (tl, th) = cfg.thickness;
        // Cover most of the chest (200–340 mm) when the thickness range allows it.
        let lo = (200.0 / n as f64).clamp(tl, th);
        let hi = (340.0 / n as f64).clamp(lo, th);
        let t = ((rng.random_range(lo..=hi) * 20.0).round() / 20.0).clamp(tl, th);
        let cover = n as f64 * t;
        let zc = anat.len * rng.random_range(0.45..0.6);
        let z_start = zc - cover / 2.0 + t / 2.0;
        // The field of view holds the body (plus the table under it).
        let need = (anat.a + 14.0).max(0.5 * (anat.ba + anat.bp + 60.0) + 10.0);
        let (pl, ph) = cfg.pixel_spacing_512;
        let p_lo = (need / 256.0).clamp(pl, ph);
        let p512 = rng.random_range(p_lo..=ph);
        let px = p512 * 512.0 / cfg.size as f64;
        let slack = (256.0 * p512 - anat.a - 4.0).clamp(0.0, 12.0);
        let shift = [
            rng.random_range(-1.0..=1.0) * slack,
            -0.5 * (anat.bp + 45.0 - anat.ba) + rng.random_range(-6.0..6.0),
        ];
        let low = plan.contrast == Contrast::Low;
        let dose = if low {
            rng.random_range(20.0..60.0)
        } else {
            rng.random_range(120.0..300.0)
        };
        let sigma_ref: f64 = if low {
            rng.random_range(28.0..55.0)
        } else {
            rng.random_range(9.0..18.0)
        };
        let sigma = sigma_ref * (2.5 / t).sqrt() * (anat.a / 150.0);
        let sharp = rng.random_bool(0.5);
        let padding = match rng.random_range(0..10) {
            0..=6 => -1024,
            7 | 8 => -2000,
            _ => -3024,
        };
        let (gain, clip) = if low {
            let clip = if rng.random_bool(0.7) {
                rng.random_range(-80.0..60.0)
            } else {
                rng.random_range(60.0..250.0)
            };
            (rng.random_range(0.92..1.0), clip)
        } else if rng.random_bool(0.15) {
            (1.0, rng.random_range(450.0..1000.0))
        } else {
            (1.0, 3071.0)
        };
        let subtle = plan.label != Label::Normal && rng.random_bool(cfg.subtle_fraction);
        let mut findings = Findings::default();
        if rng.random_bool(0.4) {
            for side in 0..2 {
                if side == 0 || rng.random_bool(0.6) {
                    anat.atelectasis[side] = rng.random_range(3.0..10.0);
                }
            }
            anat.atelectasis.swap(0, usize::from(rng.random_bool(0.5)));
        }
        let p_eff = match plan.label {
            Label::Cap => 0.3,
            Label::Covid => 0.05,
            Label::Normal => 0.03,
        };
        if rng.random_bool(p_eff) {
            anat.effusion[rng.random_range(0..2)] = rng.random_range(10.0..35.0);
        }
        findings.atelectasis_mm = anat.atelectasis;
        findings.effusion_mm = anat.effusion;
        let leaves = if cfg.size >= 192 { 96 } else { 48 };
        let trees = tree::build(&anat, leaves, &mut rng);
        let z_end = z_start + (n - 1) as f64 * t;
        let margin = (0.15 * cover).min(8.0);
        let lcover = (z_start + margin, z_end - margin);
        let lesions = match plan.label {
            Label::Normal => Vec::new(),
            Label::Covid => lesion::covid(&anat, lcover, subtle, &mut rng),
            Label::Cap => lesion::cap(&anat, lcover, subtle, &trees.bundles, &mut rng),
        };
        let mut spots = Vec::new();
        if rng.random_bool(0.3) {
            let nod = lesion::nodules(&anat, &mut rng);
            findings.nodules = nod.len();
            spots.extend(nod);
        }
        if rng.random_bool(0.12) {
            let e = lesion::emphysema(&anat, &mut rng);
            findings.emphysema = e.len();
            spots.extend(e);
        }
        let mut acq = Acquisition {
            n_slices: n,
            size: cfg.size,
            pixel_spacing_mm: px,
            slice_thickness_mm: t,
            z_start_mm: z_start,
            lung_length_mm: anat.len,
            body_shift_mm: shift,
            dose_mas: dose,
            noise_sigma_hu: sigma,
            kernel: if sharp { "sharp" } else { "soft" }.to_string(),
            padding_hu: padding,
            export_gain: gain,
            export_clip_hu: clip,
        };
        let v2 = (cfg.realism == Realism::V2)
            .then(|| Scene::sample(cfg.seed, index, &mut anat, &mut acq));
        Model {
            anat,
            acq,
            smooth: if sharp { 0.15 } else { 0.5 },
            trees,
            lesions,
            spots,
            subtle,
            findings,
            v2,
        }
    }

    pub fn lesion_infos(&self) -> Vec<LesionInfo> {
        self.lesions.iter().map(|l| l.info.clone()).collect()
    }

    /// z (mm) of the centre of slice `k`.
    pub fn slice_z(&self, k: usize) -> f64 {
        self.acq.z_start_mm + k as f64 * self.acq.slice_thickness_mm
    }

    /// Renders the axial plane at `z` (mm) into `hu`, `lung` and `lesion` (each
    /// `size × size`, row-major), with noise drawn from `noise_key`.
    pub fn render(
        &self,
        z: f64,
        noise_key: u64,
        hu: &mut [i16],
        lung: &mut [u8],
        lesion: &mut [u8],
        regions: &mut [u8],
    ) {
        let (mut val, reg) = self.clean(z, lesion);
        if regions.len() == reg.len() {
            regions.copy_from_slice(&reg);
        }
        if let Some(sc) = &self.v2 {
            self.finish_v2(sc, z, noise_key, &mut val, &reg, hu, lung);
            return;
        }
        self.finish_v1(noise_key, &val, &reg, hu, lung);
    }

    /// The noise-free slice at `z`: values, region codes, and the lesion mask in `lesion`.
    fn clean(&self, z: f64, lesion: &mut [u8]) -> (Vec<f32>, Vec<u8>) {
        let acq = &self.acq;
        let n = acq.size;
        let px = acq.pixel_spacing_mm;
        let half = n as f64 * px / 2.0;
        let [sx, sy] = acq.body_shift_mm;
        let g = self.anat.at(z);
        let mut val = vec![0f32; n * n];
        let mut reg = vec![region::OUTSIDE_FOV; n * n];
        lesion.fill(0);
        for r in 0..n {
            let yi = (r as f64 + 0.5) * px - half;
            let y = yi - sy;
            // The reconstruction circle, row by row.
            let w = (half * half - yi * yi).max(0.0).sqrt();
            for c in 0..n {
                let xi = (c as f64 + 0.5) * px - half;
                if xi.abs() >= w {
                    continue;
                }
                let (mut v, mut rg) = g.pixel(&self.anat, xi - sx, y);
                if let Some(sc) = &self.v2 {
                    if rg == region::AIR {
                        (v, rg) = sc.outside(&g, xi - sx, y);
                    } else if rg == region::WALL
                        && let Some(gv) = realism::abdomen_gas(sc, &g, &self.anat, xi - sx, y)
                    {
                        v = gv;
                    }
                }
                val[r * n + c] = v;
                reg[r * n + c] = rg;
            }
        }
        let frame = Frame {
            n,
            px,
            half,
            sx,
            sy,
            z,
            t: acq.slice_thickness_mm,
        };
        for les in &self.lesions {
            if z < les.lo[2] || z > les.hi[2] {
                continue;
            }
            let (r0, r1, c0, c1) = frame.bbox(les.lo, les.hi, 0.0);
            for r in r0..r1 {
                let y = frame.y(r);
                for c in c0..c1 {
                    let i = r * n + c;
                    if reg[i] != region::LUNG {
                        continue;
                    }
                    let x = frame.x(c);
                    let w = les.weight(&g, usize::from(x >= 0.0), x, y, z);
                    if w > 0.0 {
                        let target = les.target(x, y, z, w) as f32;
                        val[i] += w as f32 * (target - val[i]);
                        if w >= 0.5 {
                            lesion[i] = 1;
                        }
                    }
                }
            }
        }
        for sp in &self.spots {
            if (z - sp.c[2]).abs() >= sp.r {
                continue;
            }
            let lo = [sp.c[0] - sp.r, sp.c[1] - sp.r, 0.0];
            let hi = [sp.c[0] + sp.r, sp.c[1] + sp.r, 0.0];
            let (r0, r1, c0, c1) = frame.bbox(lo, hi, 0.0);
            for r in r0..r1 {
                for c in c0..c1 {
                    let i = r * n + c;
                    if reg[i] == region::LUNG {
                        let w = sp.weight(frame.x(c), frame.y(r), z) as f32;
                        val[i] += w * (sp.hu as f32 - val[i]);
                    }
                }
            }
        }
        let soft = (1 << region::LUNG) | (1 << region::MEDIASTINUM);
        let blood = self.anat.blood_hu as f32;
        for tube in &self.trees.vessels {
            frame.draw_tube(&mut val, &reg, soft, tube, tube.r, blood);
        }
        for aw in &self.trees.airways {
            frame.draw_tube(&mut val, &reg, soft, &aw.tube, aw.tube.r + aw.wall, 30.0);
        }
        for aw in &self.trees.airways {
            frame.draw_tube(&mut val, &reg, soft, &aw.tube, aw.tube.r, -1000.0);
        }
        (val, reg)
    }

    /// White Gaussian noise of unit variance (Irwin–Hall), `n²` values.
    fn white_noise(n: usize, noise_key: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(noise_key);
        let mut noise = vec![0f32; n * n];
        // Irwin–Hall: the sum of 4 uniform bytes, standardised, is Gaussian to within CT's
        // needs (kurtosis 2.7, tails cut at 3.46 σ) and takes two samples per 64-bit draw,
        // 3× cheaper than a ziggurat sampler fed by ChaCha.
        const INV_SD: f32 = 1.0 / 147.801_22; // sqrt(4 · (256² − 1) / 12)
        let byte_sum = |r: u64| {
            ((r & 0xFF) + ((r >> 8) & 0xFF) + ((r >> 16) & 0xFF) + ((r >> 24) & 0xFF)) as f32
        };
        for pair in noise.chunks_mut(2) {
            let r: u64 = rng.random();
            pair[0] = (byte_sum(r) - 510.0) * INV_SD;
            if let Some(second) = pair.get_mut(1) {
                *second = (byte_sum(r >> 32) - 510.0) * INV_SD;
            }
        }
        noise
    }

    /// V1's noise and export.
    fn finish_v1(&self, noise_key: u64, val: &[f32], reg: &[u8], hu: &mut [i16], lung: &mut [u8]) {
        let acq = &self.acq;
        let n = acq.size;
        // Noise: white Gaussian, smoothed by a separable [k, 1, k] kernel for soft
        // reconstruction kernels, rescaled to the target standard deviation.
        let mut noise = Self::white_noise(n, noise_key);
        let k = self.smooth;
        smooth_rows(&mut noise, n, k);
        transpose_in_place(&mut noise, n);
        smooth_rows(&mut noise, n, k);
        let norm = (1.0 + 2.0 * k) * (1.0 + 2.0 * k);
        let sum_k2 = (1.0 + 2.0 * k * k) / norm;
        // The transposed noise field is as good as the original (i.i.d. before smoothing),
        // so it is indexed directly.
        acq.export(
            val,
            &noise,
            acq.noise_sigma_hu as f32 / sum_k2,
            reg,
            hu,
            lung,
        );
    }

    /// V2's acquisition: breathing blur, partial-volume blur, streaks, band-pass noise, then
    /// V1's export. The masks are those of the slice centre at `z`.
    #[allow(clippy::too_many_arguments)]
    fn finish_v2(
        &self,
        sc: &Scene,
        z: f64,
        noise_key: u64,
        val: &mut [f32],
        reg: &[u8],
        hu: &mut [i16],
        lung: &mut [u8],
    ) {
        let acq = &self.acq;
        let n = acq.size;
        let px = acq.pixel_spacing_mm;
        let half = n as f64 * px / 2.0;
        let [sx, sy] = acq.body_shift_mm;
        if sc.breathing > 0.0 {
            let mut scratch = vec![0u8; n * n];
            let (v2, _) = self.clean(z + sc.breathing, &mut scratch);
            for (a, b) in val.iter_mut().zip(&v2) {
                *a = 0.5 * (*a + b);
            }
        }
        for (v, &r) in val.iter_mut().zip(reg) {
            if r == region::OUTSIDE_FOV {
                *v = -1000.0;
            }
        }
        realism::gaussian_blur(val, n, sc.blur_px());
        let g = self.anat.at(z);
        sc.streaks(&g, z, n, px, val, |r, c| {
            (
                (c as f64 + 0.5) * px - half - sx,
                (r as f64 + 0.5) * px - half - sy,
            )
        });
        let mut noise = Self::white_noise(n, noise_key);
        realism::dog_noise(&mut noise, n, sc.info.noise_dog);
        acq.export(val, &noise, acq.noise_sigma_hu as f32, reg, hu, lung);
    }
}

impl Acquisition {
    /// One slice as exported: the clean values plus `scale` times the noise, the export's
    /// gain and clip, the padding outside the reconstruction circle; and its lung mask.
    fn export(
        &self,
        val: &[f32],
        noise: &[f32],
        scale: f32,
        reg: &[u8],
        hu: &mut [i16],
        lung: &mut [u8],
    ) {
        let gain = self.export_gain as f32;
        let clip = self.export_clip_hu as f32;
        for i in 0..val.len() {
            if reg[i] == region::OUTSIDE_FOV {
                hu[i] = self.padding_hu;
                lung[i] = 0;
                continue;
            }
            let v = val[i] + noise[i] * scale;
            let v = -1000.0 + gain * (v + 1000.0);
            hu[i] = v.clamp(-1024.0, clip).round() as i16;
            lung[i] = u8::from(reg[i] == region::LUNG);
        }
    }
}

fn smooth_rows(buf: &mut [f32], n: usize, k: f32) {
    let norm = 1.0 / (1.0 + 2.0 * k);
    let mut row = vec![0f32; n];
    for r in 0..n {
        let line = &mut buf[r * n..(r + 1) * n];
        row.copy_from_slice(line);
        for c in 0..n {
            let l = row[c.saturating_sub(1)];
            let rr = row[(c + 1).min(n - 1)];
            line[c] = (row[c] + k * (l + rr)) * norm;
        }
    }
}

fn transpose_in_place(buf: &mut [f32], n: usize) {
    for r in 0..n {
        for c in r + 1..n {
            buf.swap(r * n + c, c * n + r);
        }
    }
}

/// Pixel ↔ patient-frame mapping of one slice.
struct Frame {
    n: usize,
    px: f64,
    half: f64,
    sx: f64,
    sy: f64,
    z: f64,
    t: f64,
}

impl Frame {
    #[inline]
    fn x(&self, c: usize) -> f64 {
        (c as f64 + 0.5) * self.px - self.half - self.sx
    }
    #[inline]
    fn y(&self, r: usize) -> f64 {
        (r as f64 + 0.5) * self.px - self.half - self.sy
    }

    /// Pixel rows `r0..r1` and columns `c0..c1` covering the patient-frame box.
    fn bbox(&self, lo: P3, hi: P3, pad: f64) -> (usize, usize, usize, usize) {
        let n = self.n as f64;
        let col = |x: f64| ((x + self.sx + self.half) / self.px - 0.5).clamp(0.0, n);
        let row = |y: f64| ((y + self.sy + self.half) / self.px - 0.5).clamp(0.0, n);
        (
            row(lo[1] - pad).floor() as usize,
            (row(hi[1] + pad).ceil() as usize + 1).min(self.n),
            col(lo[0] - pad).floor() as usize,
            (col(hi[0] + pad).ceil() as usize + 1).min(self.n),
        )
    }

    /// Blends a tube into the slab `z ± t/2`: the part of the tube inside the slab is
    /// projected onto the plane and drawn with radius `r`, weighted by the fraction of the
    /// slab thickness it fills (partial-volume effect of thick slices).
    fn draw_tube(
        &self,
        val: &mut [f32],
        reg: &[u8],
        allowed: u8,
        tube: &Tube,
        r: f64,
        target: f32,
    ) {
        let h = 0.5 * self.t + 0.25 * r;
        let (z0, z1) = (self.z - h, self.z + h);
        if tube.zmax < z0 || tube.zmin > z1 {
            return;
        }
        let (a, b) = (tube.a, tube.b);
        let dz = b[2] - a[2];
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        if dz.abs() < 1e-9 {
            if a[2] < z0 || a[2] > z1 {
                return;
            }
        } else {
            let (ta, tb) = ((z0 - a[2]) / dz, (z1 - a[2]) / dz);
            t0 = t0.max(ta.min(tb));
            t1 = t1.min(ta.max(tb));
            if t0 > t1 {
                return;
            }
        }
        let p0 = [a[0] + t0 * (b[0] - a[0]), a[1] + t0 * (b[1] - a[1])];
        let p1 = [a[0] + t1 * (b[0] - a[0]), a[1] + t1 * (b[1] - a[1])];
        let len3 = (sq(b[0] - a[0]) + sq(b[1] - a[1]) + sq(dz))
            .sqrt()
            .max(1e-9);
        let sin_a = (sq(b[0] - a[0]) + sq(b[1] - a[1])).sqrt() / len3;
        let occ = (2.0 * r / (self.t * sin_a).max(1e-6)).min(1.0) as f32;
        let lo = [p0[0].min(p1[0]) - r, p0[1].min(p1[1]) - r, 0.0];
        let hi = [p0[0].max(p1[0]) + r, p0[1].max(p1[1]) + r, 0.0];
        let (r0, r1, c0, c1) = self.bbox(lo, hi, self.px);
        let (ex, ey) = (p1[0] - p0[0], p1[1] - p0[1]);
        let ee = (ex * ex + ey * ey).max(1e-12);
        let inv_px = 1.0 / self.px;
        for row in r0..r1 {
            let y = self.y(row);
            for c in c0..c1 {
                let i = row * self.n + c;
                if allowed & (1 << reg[i]) == 0 {
                    continue;
                }
                let x = self.x(c);
                let (dx, dy) = (x - p0[0], y - p0[1]);
                let u = ((dx * ex + dy * ey) / ee).clamp(0.0, 1.0);
                let d = (sq(dx - u * ex) + sq(dy - u * ey)).sqrt();
                let w = ((r - d) * inv_px + 0.5).clamp(0.0, 1.0) as f32;
                if w > 0.0 {
                    val[i] += w * occ * (target - val[i]);
                }
            }
        }
    }
}
