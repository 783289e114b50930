//! Binary erosion, dilation, opening and closing with `scipy.ndimage` semantics.
//!
//! Definitions (origin 0, centre = middle voxel, `b` = `border_value` outside the array):
//! * erosion:  `out[p] = AND_{o in S} in[p + o]`
//! * dilation: `out[p] = OR_{o in S} in[p - o]` (scipy reflects the element: the Minkowski sum)
//!
//! so with `border_value = false` erosion eats the array's outer layer wherever `S` reaches
//! outside, exactly as scipy does. `iterations = n` repeats the operation `n` times; `0` means
//! "until nothing changes" (scipy's `iterations < 1`). Opening is erosion then dilation, closing
//! dilation then erosion, each with the same iteration count and border value.
//!
//! # Speed
//! Masks are bit-packed ([`PackedMask`]); one pass ANDs/ORs whole 64-voxel words of shifted
//! neighbour rows. Elements are decomposed when that is exact:
//! `iterate_structure(generate_binary_structure(r, c), n)` runs as `n` passes of the unit
//! element, a full box as passes of 3-long lines per axis. Why this is exact even at the
//! array border: each unit `U` holds the origin and is closed under zeroing an offset's
//! component, with components in `-1..=1`. Erosion with `b = false`: extending the eroded
//! array by `false` equals eroding the `false`-extended input (a voxel outside has a `false`
//! centre), so chaining is exact. Dilation with `b = false`: a voxel `p = a + u1 + .. + un`
//! reached through a path that leaves the array can be reached by a path that does not:
//! cancel opposite-signed components pairwise (zeroing keeps each `ui` in `U`), after which
//! every partial sum lies coordinate-wise between `a` and `p`, inside the box-shaped array.
//! `b = true` follows by duality (the units are symmetric). The golden tests check both
//! forms against scipy, and the unit tests check decomposed against direct.

use ndarray::{Array, ArrayView, Dimension};
use rayon::prelude::*;

use crate::packed::{ROWS_PER_TASK, tail_mask};
use crate::structure::Decomposition;
use crate::{Error, PackedMask, Result, Structure};

/// Iterations and border value of a morphology call (scipy's defaults: 1 and `false`).
/// Origin is always 0 (centred elements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MorphParams {
    /// How many times to repeat the operation; `0` repeats until the mask stops changing.
    pub iterations: usize,
    /// Value assumed outside the array.
    pub border_value: bool,
}

impl Default for MorphParams {
    fn default() -> Self {
        MorphParams {
            iterations: 1,
            border_value: false,
        }
    }
}

impl MorphParams {
    /// `iterations` repetitions, border `false`.
    pub fn iterations(n: usize) -> MorphParams {
        MorphParams {
            iterations: n,
            ..MorphParams::default()
        }
    }

    /// Every combination is meaningful; kept for the crate's params convention.
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// Offsets grouped by source row `(dz, dy)`.
struct Group {
    dz: isize,
    dy: isize,
    dxs: Vec<isize>,
}

fn group(offsets: &[[isize; 3]]) -> Vec<Group> {
    let mut g: Vec<Group> = Vec::new();
    for o in offsets {
        match g.iter_mut().find(|g| g.dz == o[0] && g.dy == o[1]) {
            Some(g) => g.dxs.push(o[2]),
            None => g.push(Group {
                dz: o[0],
                dy: o[1],
                dxs: vec![o[2]],
            }),
        }
    }
    g
}

/// One pass: `out[p] = OP_{o} ext[p + o]`, OP = AND (`and = true`) or OR, `ext` = `src`
/// extended with `fill`.
fn gather(src: &PackedMask, offsets: &[[isize; 3]], and: bool, fill: bool) -> PackedMask {
    let [nz, ny, nx] = src.shape();
    let wpr = src.words_per_row();
    let maxdx = offsets
        .iter()
        .map(|o| o[2].unsigned_abs())
        .max()
        .unwrap_or(0);
    let pad = maxdx.div_ceil(64) + 1;
    let plen = wpr + 2 * pad;
    let fill_word = if fill { !0u64 } else { 0 };
    let tail = tail_mask(nx);
    // Padded copy: `pad` fill words each side, and the last word's unused bits set to the
    // fill so shifted reads see the border value past `nx`.
    let mut padded = vec![fill_word; src.n_rows() * plen];
    padded
        .par_chunks_mut(plen * ROWS_PER_TASK)
        .enumerate()
        .for_each(|(t, chunk)| {
            for (i, prow) in chunk.chunks_exact_mut(plen).enumerate() {
                let r = t * ROWS_PER_TASK + i;
                prow[pad..pad + wpr].copy_from_slice(src.row(r));
                if fill {
                    prow[pad + wpr - 1] |= !tail;
                }
            }
        });
    let groups = group(offsets);
    let mut out = PackedMask::zeros(src.shape()).expect("non-empty");
    out.words_mut()
        .par_chunks_mut(wpr * ROWS_PER_TASK)
        .enumerate()
        .for_each(|(t, chunk)| {
            for (i, orow) in chunk.chunks_exact_mut(wpr).enumerate() {
                let r = t * ROWS_PER_TASK + i;
                let (z, y) = ((r / ny) as isize, (r % ny) as isize);
                orow.fill(if and { !0 } else { 0 });
                for g in &groups {
                    let (zz, yy) = (z + g.dz, y + g.dy);
                    if zz < 0 || yy < 0 || zz >= nz as isize || yy >= ny as isize {
                        // The whole source row is border.
                        if and && !fill {
                            orow.fill(0);
                        } else if !and && fill {
                            orow.fill(!0);
                        }
                        continue;
                    }
                    let sr = zz as usize * ny + yy as usize;
                    let prow = &padded[sr * plen..(sr + 1) * plen];
                    for &dx in &g.dxs {
                        let q0 = (pad as isize + dx.div_euclid(64)) as usize;
                        let sh = dx.rem_euclid(64) as u32;
                        apply_shifted(orow, &prow[q0..], sh, and);
                    }
                }
                orow[wpr - 1] &= tail;
            }
        });
    out
}

/// A pass for unit elements (every offset in `-1..=1` per axis), plane by plane: rows are
/// combined as whole contiguous word ranges (vectorisable), the x shifts run across a whole
/// plane with the row ends fixed up, so per-row overhead disappears. Same result as
/// [`gather`].
fn gather_unit(src: &PackedMask, offsets: &[[isize; 3]], and: bool, fill: bool) -> PackedMask {
    let [nz, ny, nx] = src.shape();
    let wpr = src.words_per_row();
    let plane = ny * wpr;
    let tail = tail_mask(nx);
    let groups = group(offsets);
    let mut out = PackedMask::zeros(src.shape()).expect("non-empty");
    let words = src.words();
    out.words_mut()
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(z, acc)| {
            acc.fill(if and { !0 } else { 0 });
            let mut x = vec![0u64; plane];
            let mut tmp = vec![0u64; plane];
            for g in &groups {
                let zz = z as isize + g.dz;
                if zz < 0 || zz >= nz as isize {
                    if and && !fill {
                        acc.fill(0);
                    } else if !and && fill {
                        acc.fill(!0);
                    }
                    continue;
                }
                let p = &words[zz as usize * plane..(zz as usize + 1) * plane];
                // X = OP over the group's dx of the plane shifted along x.
                let xs: &[u64] = if g.dxs == [0] {
                    p
                } else {
                    x.fill(if and { !0 } else { 0 });
                    for &dx in &g.dxs {
                        shift_plane(p, &mut tmp, dx, wpr, tail, fill);
                        if and {
                            x.iter_mut().zip(&tmp).for_each(|(a, &b)| *a &= b);
                        } else {
                            x.iter_mut().zip(&tmp).for_each(|(a, &b)| *a |= b);
                        }
                    }
                    &x
                };
                // acc[y] OP= X[y + dy] for rows inside; rows outside are border.
                let dy = g.dy;
                let (y0, y1) = (
                    0.max(-dy) as usize,
                    (ny as isize).min(ny as isize - dy).max(0) as usize,
                );
                if y0 < y1 {
                    let a = &mut acc[y0 * wpr..y1 * wpr];
                    let b =
                        &xs[(y0 as isize + dy) as usize * wpr..(y1 as isize + dy) as usize * wpr];
                    if and {
                        a.iter_mut().zip(b).for_each(|(a, &b)| *a &= b);
                    } else {
                        a.iter_mut().zip(b).for_each(|(a, &b)| *a |= b);
                    }
                }
                if (and && !fill) || (!and && fill) {
                    let v = if fill { !0 } else { 0 };
                    for y in (0..y0).chain(y1..ny) {
                        acc[y * wpr..(y + 1) * wpr].fill(v);
                    }
                }
            }
            if tail != !0 {
                for row in acc.chunks_exact_mut(wpr) {
                    row[wpr - 1] &= tail;
                }
            }
        });
    out
}

/// `out[x] = ext[x + dx]` for every row of a plane, `dx` in `-1..=1`, `ext` = row extended
/// by `fill`. Tail bits of `out` are garbage (masked by the caller).
fn shift_plane(p: &[u64], out: &mut [u64], dx: isize, wpr: usize, tail: u64, fill: bool) {
    let n = p.len();
    let f = fill as u64;
    match dx {
        0 => out.copy_from_slice(p),
        1 => {
            for i in 0..n - 1 {
                out[i] = (p[i] >> 1) | (p[i + 1] << 63);
            }
            // Row ends: voxel nx reads the border (the tail bit, or bit 63 of the last word).
            for r in 0..n / wpr {
                let i = r * wpr + wpr - 1;
                let w = if fill { p[i] | !tail } else { p[i] };
                out[i] = (w >> 1)
                    | (if tail == !0 {
                        f << 63
                    } else {
                        p.get(i + 1).map_or(0, |&v| v << 63)
                    });
            }
        }
        -1 => {
            for i in 1..n {
                out[i] = (p[i] << 1) | (p[i - 1] >> 63);
            }
            for r in 0..n / wpr {
                let i = r * wpr;
                out[i] = (p[i] << 1) | f;
            }
        }
        _ => unreachable!("unit elements only"),
    }
}

#[inline]
fn apply_shifted(acc: &mut [u64], src: &[u64], sh: u32, and: bool) {
    let n = acc.len();
    if sh == 0 {
        let s = &src[..n];
        if and {
            acc.iter_mut().zip(s).for_each(|(a, &b)| *a &= b);
        } else {
            acc.iter_mut().zip(s).for_each(|(a, &b)| *a |= b);
        }
    } else {
        let s = &src[..n + 1];
        let f = |k: usize| (s[k] >> sh) | (s[k + 1] << (64 - sh));
        if and {
            for k in 0..n {
                acc[k] &= f(k);
            }
        } else {
            for k in 0..n {
                acc[k] |= f(k);
            }
        }
    }
}

fn check_rank(s: &Structure) -> Result<()> {
    if s.rank() > 3 {
        return Err(Error::UnsupportedRank(s.rank()));
    }
    Ok(())
}

/// The passes that make up one application of `s`: each a list of offsets.
fn plan(s: &Structure, decompose: bool) -> Vec<Vec<[isize; 3]>> {
    if !decompose {
        return vec![s.offsets()];
    }
    match s.decomposition() {
        Decomposition::Iterated { unit, n } => vec![unit.offsets(); n],
        Decomposition::Boxed { radii } => {
            let mut p = Vec::new();
            for (axis, &r) in radii.iter().enumerate() {
                let line: Vec<[isize; 3]> = (-1..=1)
                    .map(|d| {
                        let mut o = [0isize; 3];
                        o[axis] = d;
                        o
                    })
                    .collect();
                p.extend(std::iter::repeat_n(line, r));
            }
            if p.is_empty() {
                p.push(vec![[0, 0, 0]]);
            }
            p
        }
        Decomposition::Direct => vec![s.offsets()],
    }
}

fn run(
    mask: &PackedMask,
    s: &Structure,
    p: &MorphParams,
    dilate: bool,
    decompose: bool,
) -> Result<PackedMask> {
    check_rank(s)?;
    p.validate()?;
    let mut passes = plan(s, decompose);
    if dilate {
        for ofs in &mut passes {
            for o in ofs.iter_mut() {
                *o = [-o[0], -o[1], -o[2]];
            }
        }
    }
    let unit = |ofs: &[[isize; 3]]| ofs.iter().all(|o| o.iter().all(|d| d.abs() <= 1));
    let pass = |m: &PackedMask, ofs: &[[isize; 3]]| {
        if decompose && unit(ofs) {
            gather_unit(m, ofs, !dilate, p.border_value)
        } else {
            gather(m, ofs, !dilate, p.border_value)
        }
    };
    let once = |m: &PackedMask| {
        let mut cur = pass(m, &passes[0]);
        for ofs in &passes[1..] {
            cur = pass(&cur, ofs);
        }
        cur
    };
    // Once a pass changes nothing, no later pass will: stop there (exact, and what scipy's
    // iterative algorithm does), so `iterations = 10⁹` ends as soon as the mask is stable.
    let mut cur = once(mask);
    let mut done = 1;
    while p.iterations == 0 || done < p.iterations {
        let next = once(&cur);
        done += 1;
        if next == cur {
            break;
        }
        cur = next;
    }
    Ok(cur)
}

impl PackedMask {
    /// Binary erosion (see the module docs). A structure of lower rank than 3 acts within
    /// each slice (rank 2) or row (rank 1).
    pub fn erode(&self, s: &Structure, p: &MorphParams) -> Result<PackedMask> {
        run(self, s, p, false, true)
    }

    /// Binary dilation.
    pub fn dilate(&self, s: &Structure, p: &MorphParams) -> Result<PackedMask> {
        run(self, s, p, true, true)
    }

    /// Binary opening: erosion then dilation.
    pub fn open(&self, s: &Structure, p: &MorphParams) -> Result<PackedMask> {
        self.erode(s, p)?.dilate(s, p)
    }

    /// Binary closing: dilation then erosion.
    pub fn close(&self, s: &Structure, p: &MorphParams) -> Result<PackedMask> {
        self.dilate(s, p)?.erode(s, p)
    }

    /// Erosion over the element's every offset in one pass (no decomposition); for tests
    /// and comparisons.
    pub fn erode_direct(&self, s: &Structure, p: &MorphParams) -> Result<PackedMask> {
        run(self, s, p, false, false)
    }

    /// Dilation without decomposition; for tests and comparisons.
    pub fn dilate_direct(&self, s: &Structure, p: &MorphParams) -> Result<PackedMask> {
        run(self, s, p, true, false)
    }
}

/// Shape of an n-D input padded to 3-D, with rank checks against the element.
pub(crate) fn shape3(shape: &[usize], s_rank: Option<usize>) -> Result<[usize; 3]> {
    let rank = shape.len();
    if !(1..=3).contains(&rank) {
        return Err(Error::UnsupportedRank(rank));
    }
    if let Some(sr) = s_rank
        && sr != rank
    {
        return Err(Error::RankMismatch {
            structure: sr,
            input: rank,
        });
    }
    if shape.contains(&0) {
        return Err(Error::EmptyInput(shape.to_vec()));
    }
    let mut s = [1usize; 3];
    s[3 - rank..].copy_from_slice(shape);
    Ok(s)
}

/// Packs a 1-, 2- or 3-D boolean array.
pub(crate) fn pack_nd<D: Dimension>(
    a: &ArrayView<'_, bool, D>,
    s_rank: Option<usize>,
) -> Result<PackedMask> {
    let s3 = shape3(a.shape(), s_rank)?;
    let v = a
        .view()
        .into_dyn()
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(s3)
        .expect("same length");
    PackedMask::from_bool(v.view())
}

pub(crate) fn unpack_nd<D: Dimension>(m: &PackedMask, dim: D) -> Array<bool, D> {
    m.to_bool().into_shape_with_order(dim).expect("same length")
}

macro_rules! nd_op {
    ($(#[$doc:meta])* $name:ident, $method:ident) => {
        $(#[$doc])*
        pub fn $name<D: Dimension>(
            input: ArrayView<'_, bool, D>,
            structure: &Structure,
            params: &MorphParams,
        ) -> Result<Array<bool, D>> {
            let m = pack_nd(&input, Some(structure.rank()))?;
            Ok(unpack_nd(&m.$method(structure, params)?, input.raw_dim()))
        }
    };
}

nd_op!(
    /// `scipy.ndimage.binary_erosion(input, structure, iterations, border_value=..)` on a
    /// 1-, 2- or 3-D mask; the element's rank must equal the input's.
    binary_erosion,
    erode
);
nd_op!(
    /// `scipy.ndimage.binary_dilation` (see [`binary_erosion`]).
    binary_dilation,
    dilate
);
nd_op!(
    /// `scipy.ndimage.binary_opening` (erosion then dilation, same iterations and border).
    binary_opening,
    open
);
nd_op!(
    /// `scipy.ndimage.binary_closing` (dilation then erosion). Note scipy's quirk kept here:
    /// with `border_value = false` the erosion step removes voxels on the array's faces that
    /// the dilation could not support from outside.
    binary_closing,
    close
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{generate_binary_structure, iterate_structure};
    use ndarray::{Array2, Array3};

    fn rnd(shape: (usize, usize, usize), seed: u64, p: u64) -> Array3<bool> {
        let mut s = seed;
        Array3::from_shape_simple_fn(shape, || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s % 100 < p
        })
    }

    /// Reference implementation straight from the definitions, on bools.
    fn naive(a: &Array3<bool>, s: &Structure, dilate: bool, border: bool) -> Array3<bool> {
        let (nz, ny, nx) = a.dim();
        let offs = s.offsets();
        Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
            let get = |o: &[isize; 3]| {
                let sg = if dilate { -1 } else { 1 };
                let (zz, yy, xx) = (
                    z as isize + sg * o[0],
                    y as isize + sg * o[1],
                    x as isize + sg * o[2],
                );
                if zz < 0
                    || yy < 0
                    || xx < 0
                    || zz >= nz as isize
                    || yy >= ny as isize
                    || xx >= nx as isize
                {
                    border
                } else {
                    a[[zz as usize, yy as usize, xx as usize]]
                }
            };
            if dilate {
                offs.iter().any(get)
            } else {
                offs.iter().all(get)
            }
        })
    }

    #[test]
    fn decomposed_equals_direct_and_naive() {
        let c1 = generate_binary_structure(3, 1).unwrap();
        let c2 = generate_binary_structure(3, 2).unwrap();
        let elems = vec![
            c1.clone(),
            iterate_structure(&c1, 2).unwrap(),
            iterate_structure(&c2, 2).unwrap(),
            generate_binary_structure(3, 3).unwrap(),
            Structure::boxed(&[3, 5, 7]).unwrap(),
            Structure::ball(3, 2).unwrap(),
        ];
        for (k, shape) in [
            (5, 7, 70),
            (1, 9, 65),
            (4, 1, 3),
            (3, 5, 64),
            (2, 3, 128),
            (3, 4, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let a = rnd(shape, 11 + k as u64, 60);
            let pm = PackedMask::from_bool(a.view()).unwrap();
            for s in &elems {
                for border in [false, true] {
                    let p = MorphParams {
                        iterations: 1,
                        border_value: border,
                    };
                    let e = pm.erode(s, &p).unwrap();
                    assert_eq!(e, pm.erode_direct(s, &p).unwrap());
                    assert_eq!(e.to_bool(), naive(&a, s, false, border), "{s:?} {border}");
                    let d = pm.dilate(s, &p).unwrap();
                    assert_eq!(d, pm.dilate_direct(s, &p).unwrap());
                    assert_eq!(d.to_bool(), naive(&a, s, true, border));
                }
            }
        }
    }

    #[test]
    fn asymmetric_and_long_shifts() {
        // An element reaching 70 voxels along x exercises multi-word shifts.
        let mut m = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[3, 141]), false);
        m[[1, 70]] = true;
        m[[0, 0]] = true;
        m[[2, 139]] = true;
        let s = Structure::from_mask(m.view()).unwrap();
        let s3 = Structure::from_mask(
            m.clone()
                .into_shape_with_order(ndarray::IxDyn(&[1, 3, 141]))
                .unwrap()
                .view(),
        )
        .unwrap();
        assert_eq!(s.rank(), 2);
        let a = rnd((2, 6, 200), 5, 50);
        let pm = PackedMask::from_bool(a.view()).unwrap();
        for border in [false, true] {
            let p = MorphParams {
                iterations: 1,
                border_value: border,
            };
            assert_eq!(
                pm.erode(&s, &p).unwrap().to_bool(),
                naive(&a, &s3, false, border)
            );
            assert_eq!(
                pm.dilate(&s, &p).unwrap().to_bool(),
                naive(&a, &s3, true, border)
            );
        }
    }

    #[test]
    fn until_stable_and_extremes() {
        let c = generate_binary_structure(2, 1).unwrap();
        let a = Array3::from_elem((1, 5, 5), true)
            .into_shape_with_order((5, 5))
            .unwrap();
        let e = binary_erosion(a.view(), &c, &MorphParams::iterations(0)).unwrap();
        assert!(e.iter().all(|&b| !b));
        let z = Array3::from_elem((1, 5, 5), false)
            .into_shape_with_order((5, 5))
            .unwrap();
        let d = binary_dilation(z.view(), &c, &MorphParams::iterations(0)).unwrap();
        assert!(d.iter().all(|&b| !b));
        let ones = binary_dilation(
            z.view(),
            &c,
            &MorphParams {
                iterations: 0,
                border_value: true,
            },
        )
        .unwrap();
        assert!(ones.iter().all(|&b| b));
        // A billion iterations stop when the mask stops changing, with the same result as
        // "until stable" and as exactly as many iterations as it takes.
        let mut blob = Array2::from_elem((9, 9), false);
        blob.slice_mut(ndarray::s![1..8, 2..7]).fill(true);
        let stable = binary_erosion(blob.view(), &c, &MorphParams::iterations(0)).unwrap();
        let many =
            binary_erosion(blob.view(), &c, &MorphParams::iterations(1_000_000_000)).unwrap();
        assert_eq!(many, stable);
        let three = binary_erosion(blob.view(), &c, &MorphParams::iterations(3)).unwrap();
        assert_eq!(three, stable, "a 5-wide blob is gone after 3 erosions");
        let two = binary_erosion(blob.view(), &c, &MorphParams::iterations(2)).unwrap();
        assert_eq!(two.iter().filter(|&&b| b).count(), 3, "after 2: a 1×3 line");
        let c3 = generate_binary_structure(3, 1).unwrap();
        assert!(matches!(
            binary_erosion(a.view(), &c3, &MorphParams::default()),
            Err(Error::RankMismatch { .. })
        ));
    }
}
