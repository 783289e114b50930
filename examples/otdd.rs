//! Optimal Transport Dataset Distance between labelled data sets stored as .npy files.
//!
//! ```text
//! cargo run --release --example otdd -- A_X.npy A_y.npy B_X.npy B_y.npy \
//!     [--inner gaussian|exact|means] [--outer exact|sinkhorn|geomloss] [--entreg 0.1] \
//!     [--scale half|unit] [--max-samples N] [--debiased] [--seed S] \
//!     [--label-heatmap labels.png] [--coupling-heatmap coupling.png] [--json out.json]
//! ```
//! Prints `distance=F`. X is float32/float64 n×d, y integer labels (int8..int64, uint8..uint64).
//! With more than two (X, y) pairs it prints the symmetric distance matrix instead
//! (`matrix[i][j]=F` lines) and `--matrix-heatmap` draws it.
//! `--entreg` is the absolute ε on the (scaled) ground cost; `--outer sinkhorn` reports the
//! transport cost ⟨P, C⟩ of the entropic plan and `--debiased` the Sinkhorn divergence;
//! `--outer geomloss` runs the reference's annealed solver (a fixed ~log₄(D²/ε) passes, the
//! fast path) and reports geomloss's value (debiased with `--debiased`, as the reference's
//! default `debiased_loss=True`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use ndarray::{Array2, ArrayD, Ix2};
use ndarray_npy::read_npy;
use otdd::{CostScale, InnerMethod, LabeledData, OtddParams, OuterMethod};

#[path = "support/flags.rs"]
mod flags;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Inner {
    Gaussian,
    Exact,
    Means,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Outer {
    Exact,
    Sinkhorn,
    /// microsoft/otdd's own outer solver (geomloss ε-annealing, dual value).
    Geomloss,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Scale {
    Half,
    Unit,
}

#[derive(Parser, Debug)]
#[command(
    about = "Optimal Transport Dataset Distance (Alvarez-Melis & Fusi 2020) between .npy data sets"
)]
struct Args {
    /// X.npy y.npy pairs: A_X A_y B_X B_y [C_X C_y ...]
    #[arg(required = true, num_args = 4..)]
    files: Vec<PathBuf>,
    /// Label-to-label distance.
    #[arg(long, value_enum, default_value = "gaussian")]
    inner: Inner,
    /// Outer OT problem.
    #[arg(long, value_enum, default_value = "sinkhorn")]
    outer: Outer,
    /// Absolute entropic regularisation of the outer Sinkhorn.
    #[arg(long, default_value_t = 0.1, value_parser = flags::finite_in(1e-9, 1e9))]
    entreg: f64,
    /// Ground-cost scaling: half (microsoft/otdd, ½‖x−x′‖² + ½W²) or unit.
    #[arg(long, value_enum, default_value = "half")]
    scale: Scale,
    /// Sub-sample each set to at most N points for the outer problem (0: no limit).
    #[arg(long, default_value_t = 10_000)]
    max_samples: usize,
    /// Print the debiased Sinkhorn divergence (sinkhorn/geomloss outer).
    #[arg(long)]
    debiased: bool,
    /// Seed of the sub-sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Outer Sinkhorn iteration cap.
    #[arg(long, default_value_t = 300)]
    max_iter: usize,
    /// Outer Sinkhorn stopping threshold on the marginal error.
    #[arg(long, default_value_t = 1e-6, value_parser = flags::finite_in(0.0, 1.0))]
    stop_thr: f64,
    /// Write the class-to-class W² matrix as a heat-map PNG.
    #[arg(long)]
    label_heatmap: Option<PathBuf>,
    /// Write the outer coupling as a heat-map PNG (rows/columns sorted by class).
    #[arg(long)]
    coupling_heatmap: Option<PathBuf>,
    /// Write the data-set distance matrix (3+ sets) as a heat-map PNG.
    #[arg(long)]
    matrix_heatmap: Option<PathBuf>,
    /// Write distance, label distances and classes as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn read_x(path: &Path) -> Result<Array2<f64>> {
    let x = if let Ok(a) = read_npy::<_, ArrayD<f64>>(path) {
        a
    } else {
        read_npy::<_, ArrayD<f32>>(path)
            .with_context(|| {
                format!(
                    "{}: expected a float32 or float64 .npy array",
                    path.display()
                )
            })?
            .mapv(f64::from)
    };
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: feature value at flat index {i} is not finite (NaN or infinite)",
            path.display()
        );
    }
    let nd = x.ndim();
    x.into_dimensionality::<Ix2>().with_context(|| {
        format!(
            "{}: expected n×d features, got {nd} dimensions",
            path.display()
        )
    })
}

fn read_y(path: &Path) -> Result<Vec<i64>> {
    macro_rules! try_int {
        ($($t:ty),*) => {$(
            if let Ok(a) = read_npy::<_, ArrayD<$t>>(path) {
                if a.ndim() != 1 {
                    bail!("{}: labels must be a 1-D array, got shape {:?}", path.display(), a.shape());
                }
                return a.iter().map(|&v| i64::try_from(v).with_context(|| format!("{}: label {v} does not fit i64", path.display()))).collect();
            }
        )*};
    }
    try_int!(i64, i32, i16, i8, u8, u16, u32, u64);
    bail!("{}: expected an integer .npy label vector", path.display())
}

/// Maps t in [0, 1] to a perceptual colour ramp (dark blue → teal → yellow, viridis-like).
fn ramp(t: f64) -> [u8; 3] {
    const STOPS: [[f64; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * 4.0;
    let k = (t.floor() as usize).min(3);
    let f = t - k as f64;
    let c = |i: usize| (STOPS[k][i] + f * (STOPS[k + 1][i] - STOPS[k][i])).round() as u8;
    [c(0), c(1), c(2)]
}

/// Heat map of a matrix, min..max normalised, each cell `cell` pixels, at most ~800 px a side.
fn heatmap(m: &Array2<f64>, path: &Path) -> Result<()> {
    let (r, c) = m.dim();
    if r == 0 || c == 0 {
        bail!("empty matrix, no heat map written");
    }
    // Block-average matrices larger than 800 cells a side so the PNG stays small.
    let (br, bc) = (r.div_ceil(800), c.div_ceil(800));
    let (h, w) = (r.div_ceil(br), c.div_ceil(bc));
    let mut small = Array2::<f64>::zeros((h, w));
    for ((i, j), v) in m.indexed_iter() {
        small[[i / br, j / bc]] += v;
    }
    let lo = small.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = small.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let cell = (512 / h.max(w)).clamp(1, 64) as u32;
    let img = image::RgbImage::from_fn(w as u32 * cell, h as u32 * cell, |x, y| {
        image::Rgb(ramp(
            (small[[(y / cell) as usize, (x / cell) as usize]] - lo) / span,
        ))
    });
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.files.len() % 2 != 0 {
        bail!("expected X.npy y.npy pairs, got {} paths", args.files.len());
    }
    let params = OtddParams {
        inner: match args.inner {
            Inner::Gaussian => InnerMethod::Gaussian,
            Inner::Exact => InnerMethod::Exact,
            Inner::Means => InnerMethod::MeansOnly,
        },
        outer: match args.outer {
            Outer::Exact => OuterMethod::Exact,
            Outer::Sinkhorn => OuterMethod::Sinkhorn,
            Outer::Geomloss => OuterMethod::Geomloss,
        },
        entreg: args.entreg,
        scale: match args.scale {
            Scale::Half => CostScale::Half,
            Scale::Unit => CostScale::Unit,
        },
        debiased: args.debiased,
        max_samples: (args.max_samples > 0).then_some(args.max_samples),
        seed: args.seed,
        return_coupling: args.coupling_heatmap.is_some(),
        sinkhorn: otdd::SinkhornParams {
            max_iter: args.max_iter,
            stop_thr: args.stop_thr,
            ..OtddParams::default().sinkhorn
        },
        ..OtddParams::default()
    };
    params.validate()?;
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for pair in args.files.chunks(2) {
        xs.push(read_x(&pair[0])?);
        ys.push(read_y(&pair[1])?);
    }
    let sets = xs
        .iter()
        .zip(&ys)
        .zip(args.files.chunks(2))
        .map(|((x, y), p)| {
            LabeledData::new(x.view(), y).with_context(|| format!("data set {}", p[0].display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let t0 = std::time::Instant::now();
    if sets.len() > 2 {
        let m = otdd::otdd_matrix(&sets, &params)?;
        for ((i, j), v) in m.indexed_iter() {
            println!("matrix[{i}][{j}]={v}");
        }
        if let Some(p) = &args.matrix_heatmap {
            heatmap(&m, p)?;
        }
        if let Some(p) = &args.json {
            let rows: Vec<Vec<f64>> = m.rows().into_iter().map(|r| r.to_vec()).collect();
            std::fs::write(
                p,
                serde_json::to_string_pretty(&serde_json::json!({ "matrix": rows }))?,
            )?;
        }
        eprintln!("time={:.3}s", t0.elapsed().as_secs_f64());
        return Ok(());
    }
    let r = otdd::otdd(&sets[0], &sets[1], &params)?;
    println!("distance={}", r.distance);
    eprintln!(
        "classes A={:?} B={:?} n={}x{} outer_iter={} converged={} time={:.3}s",
        r.classes_a,
        r.classes_b,
        r.index_a.len(),
        r.index_b.len(),
        r.n_iter,
        r.converged,
        t0.elapsed().as_secs_f64()
    );
    if let Some(p) = &args.label_heatmap {
        heatmap(&r.label_distances, p)?;
    }
    if let Some(p) = &args.coupling_heatmap {
        let Some(c) = &r.coupling else {
            bail!("the coupling is not stored for this problem size (online Sinkhorn)")
        };
        // sort rows and columns by class so the block structure shows
        let mut ia: Vec<usize> = (0..r.index_a.len()).collect();
        ia.sort_by_key(|&k| ys[0][r.index_a[k]]);
        let mut ib: Vec<usize> = (0..r.index_b.len()).collect();
        ib.sort_by_key(|&k| ys[1][r.index_b[k]]);
        let sorted = Array2::from_shape_fn((ia.len(), ib.len()), |(i, j)| c[[ia[i], ib[j]]]);
        heatmap(&sorted, p)?;
    }
    if let Some(p) = &args.json {
        let w: Vec<Vec<f64>> = r
            .label_distances
            .rows()
            .into_iter()
            .map(|x| x.to_vec())
            .collect();
        let j = serde_json::json!({
            "distance": r.distance, "label_distances": w, "classes_a": r.classes_a,
            "classes_b": r.classes_b, "outer_iterations": r.n_iter, "converged": r.converged,
        });
        std::fs::write(p, serde_json::to_string_pretty(&j)?)?;
    }
    Ok(())
}
