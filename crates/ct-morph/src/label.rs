//! Connected components on bit-packed masks: run extraction, run-level union-find, labels in
//! `scipy.ndimage.label` order, statistics, selection and hole filling.
//!
//! Labels are numbered in raster order of each component's first voxel, which is what
//! scipy's label produces: runs are created in raster order and every union keeps the
//! smaller run index as the root, so a component's root is its first run.

use ndarray::{Array, Array3, ArrayView, Dimension};
use rayon::prelude::*;

use crate::morph::{pack_nd, unpack_nd};
use crate::packed::ROWS_PER_TASK;
use crate::{Error, PackedMask, Result, Structure, generate_binary_structure};

/// Voxel count, bounding box and centroid of one component. Coordinates are `[z, y, x]` of
/// the mask padded to 3-D (a 2-D input has `z = 0`).
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentStats {
    /// The component's label (1-based).
    pub label: u32,
    /// Number of voxels.
    pub voxels: u64,
    /// Smallest `[z, y, x]` (inclusive).
    pub bbox_min: [usize; 3],
    /// Largest `[z, y, x]` (inclusive).
    pub bbox_max: [usize; 3],
    /// Mean voxel coordinate `[z, y, x]`.
    pub centroid: [f64; 3],
}

/// Backward neighbour rows of a connectivity: `(dz, dy, dx_min, dx_max, dx set as bits)`.
#[derive(Debug, Clone)]
struct BackRow {
    dz: isize,
    dy: isize,
    dmin: i64,
    dmax: i64,
    /// bit `d + 1` set when `dx = d` is a neighbour.
    dset: u8,
}

/// Connected components of a [`PackedMask`] under a `3 x .. x 3` symmetric connectivity.
#[derive(Debug, Clone)]
pub struct Components {
    shape: [usize; 3],
    /// `row_start[r]..row_start[r + 1]` are the runs of row `r`.
    row_start: Vec<u32>,
    x0: Vec<u32>,
    /// Inclusive run ends.
    x1: Vec<u32>,
    run_label: Vec<u32>,
    n: usize,
    offsets: Vec<[isize; 3]>,
}

fn check_connectivity(s: &Structure) -> Result<()> {
    let shape = s.shape();
    if shape.iter().any(|&n| n != 3) {
        return Err(Error::BadConnectivity {
            shape,
            why: "every axis must have length 3",
        });
    }
    if !s.is_symmetric() {
        return Err(Error::BadConnectivity {
            shape,
            why: "the structure must be symmetric",
        });
    }
    Ok(())
}

fn extract_row(row: &[u64], split: bool, x0: &mut Vec<u32>, x1: &mut Vec<u32>) {
    let wpr = row.len();
    let mut carry = 0u64;
    for k in 0..wpr {
        let w = row[k];
        if w == 0 {
            carry = 0;
            continue;
        }
        let base = (k * 64) as u32;
        if split {
            let mut b = w;
            while b != 0 {
                let t = b.trailing_zeros();
                x0.push(base + t);
                x1.push(base + t);
                b &= b - 1;
            }
            continue;
        }
        let next_low = if k + 1 < wpr { row[k + 1] & 1 } else { 0 };
        let mut starts = w & !((w << 1) | carry);
        let mut ends = w & !((w >> 1) | (next_low << 63));
        carry = w >> 63;
        while starts != 0 {
            x0.push(base + starts.trailing_zeros());
            starts &= starts - 1;
        }
        while ends != 0 {
            x1.push(base + ends.trailing_zeros());
            ends &= ends - 1;
        }
    }
}

#[inline]
fn find(p: &mut [u32], mut i: u32) -> u32 {
    while p[i as usize] != i {
        let g = p[p[i as usize] as usize];
        p[i as usize] = g;
        i = g;
    }
    i
}

#[inline]
fn union(p: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(p, a), find(p, b));
    if ra < rb {
        p[rb as usize] = ra;
    } else if rb < ra {
        p[ra as usize] = rb;
    }
}

impl Components {
    /// Labels `mask` with connectivity `s` (`3 x .. x 3`, symmetric, rank <= 3; a rank-2
    /// element labels each slice separately).
    pub fn new(mask: &PackedMask, s: &Structure) -> Result<Components> {
        check_connectivity(s)?;
        let offsets = s.offsets();
        let has = |o: [isize; 3]| offsets.contains(&o);
        let split = !has([0, 0, 1]);
        let mut back = Vec::new();
        for dz in -1..=0isize {
            for dy in -1..=1isize {
                if dz == 0 && dy >= 0 {
                    continue;
                }
                let ds: Vec<i64> = (-1..=1).filter(|&dx| has([dz, dy, dx as isize])).collect();
                if let (Some(&dmin), Some(&dmax)) = (ds.first(), ds.last()) {
                    let dset = ds.iter().fold(0u8, |a, &d| a | 1 << (d + 1));
                    back.push(BackRow {
                        dz,
                        dy,
                        dmin,
                        dmax,
                        dset,
                    });
                }
            }
        }
        let [nz, ny, _] = mask.shape();
        let n_rows = nz * ny;
        // 1. Runs, in parallel over blocks of rows.
        let blocks: Vec<(Vec<u32>, Vec<u32>, Vec<u32>)> = (0..n_rows.div_ceil(ROWS_PER_TASK))
            .into_par_iter()
            .map(|t| {
                let (mut cnt, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
                for r in t * ROWS_PER_TASK..((t + 1) * ROWS_PER_TASK).min(n_rows) {
                    let before = a.len();
                    extract_row(mask.row(r), split, &mut a, &mut b);
                    cnt.push((a.len() - before) as u32);
                }
                (cnt, a, b)
            })
            .collect();
        let total: u64 = blocks.iter().map(|b| b.1.len() as u64).sum();
        if total >= u32::MAX as u64 {
            return Err(Error::LabelOverflow(total));
        }
        let mut row_start = Vec::with_capacity(n_rows + 1);
        let (mut x0, mut x1) = (
            Vec::with_capacity(total as usize),
            Vec::with_capacity(total as usize),
        );
        let mut acc = 0u32;
        for (cnt, a, b) in blocks {
            for c in cnt {
                row_start.push(acc);
                acc += c;
            }
            x0.extend_from_slice(&a);
            x1.extend_from_slice(&b);
        }
        row_start.push(acc);
        // 2. Union-find over runs, rows in raster order.
        let mut parent: Vec<u32> = (0..total as u32).collect();
        for z in 0..nz {
            for y in 0..ny {
                let r = z * ny + y;
                let (ra, rb) = (row_start[r] as usize, row_start[r + 1] as usize);
                if ra == rb {
                    continue;
                }
                for br in &back {
                    let (zz, yy) = (z as isize + br.dz, y as isize + br.dy);
                    if zz < 0 || yy < 0 || yy >= ny as isize {
                        continue;
                    }
                    let r2 = zz as usize * ny + yy as usize;
                    let (sa, sb) = (row_start[r2] as usize, row_start[r2 + 1] as usize);
                    let (mut i, mut j) = (ra, sa);
                    while i < rb && j < sb {
                        let (a0, a1) = (x0[i] as i64, x1[i] as i64);
                        // The x range of row r that run j can reach.
                        let (b0, b1) = (x0[j] as i64 - br.dmax, x1[j] as i64 - br.dmin);
                        if a1 < b0 {
                            i += 1;
                        } else if b1 < a0 {
                            j += 1;
                        } else {
                            // Exact test: some dx in the set within [x0j - a1, x1j - a0].
                            let (lo, hi) = (x0[j] as i64 - a1, x1[j] as i64 - a0);
                            let ok = (-1..=1i64)
                                .any(|d| br.dset >> (d + 1) & 1 == 1 && lo <= d && d <= hi);
                            if ok {
                                union(&mut parent, i as u32, j as u32);
                            }
                            if a1 < b1 {
                                i += 1;
                            } else {
                                j += 1;
                            }
                        }
                    }
                }
            }
        }
        // 3. Labels in order of each component's first run.
        let mut run_label = vec![0u32; total as usize];
        let mut n = 0u32;
        for i in 0..total as usize {
            let root = find(&mut parent, i as u32) as usize;
            if root == i {
                n += 1;
                run_label[i] = n;
            } else {
                run_label[i] = run_label[root];
            }
        }
        Ok(Components {
            shape: mask.shape(),
            row_start,
            x0,
            x1,
            run_label,
            n: n as usize,
            offsets,
        })
    }

    /// Number of components.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the mask had no voxel.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Number of runs (maximal horizontal segments) found.
    pub fn n_runs(&self) -> usize {
        self.x0.len()
    }

    /// The label array (0 = background, `1..=len()` = components).
    pub fn labels(&self) -> Array3<u32> {
        let [nz, ny, nx] = self.shape;
        let mut out = vec![0u32; nz * ny * nx];
        out.par_chunks_mut(nx).enumerate().for_each(|(r, row)| {
            for i in self.row_start[r] as usize..self.row_start[r + 1] as usize {
                row[self.x0[i] as usize..=self.x1[i] as usize].fill(self.run_label[i]);
            }
        });
        Array3::from_shape_vec((nz, ny, nx), out).expect("sizes agree")
    }

    pub(crate) fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize, usize, u32)) {
        let ny = self.shape[1];
        for r in 0..self.row_start.len() - 1 {
            for i in self.row_start[r] as usize..self.row_start[r + 1] as usize {
                f(
                    r / ny,
                    r % ny,
                    self.x0[i] as usize,
                    self.x1[i] as usize,
                    self.run_label[i],
                );
            }
        }
    }

    /// Voxel count per component (`sizes()[l - 1]` for label `l`).
    pub fn sizes(&self) -> Vec<u64> {
        let mut s = vec![0u64; self.n];
        for i in 0..self.x0.len() {
            s[self.run_label[i] as usize - 1] += (self.x1[i] - self.x0[i] + 1) as u64;
        }
        s
    }

    /// Voxel count, bounding box and centroid of every component, in label order.
    pub fn stats(&self) -> Vec<ComponentStats> {
        let mut st: Vec<ComponentStats> = (0..self.n)
            .map(|l| ComponentStats {
                label: l as u32 + 1,
                voxels: 0,
                bbox_min: [usize::MAX; 3],
                bbox_max: [0; 3],
                centroid: [0.0; 3],
            })
            .collect();
        self.for_each_run(|z, y, a, b, l| {
            let s = &mut st[l as usize - 1];
            let len = (b - a + 1) as u64;
            s.voxels += len;
            for (k, (lo, hi)) in [(z, z), (y, y), (a, b)].into_iter().enumerate() {
                s.bbox_min[k] = s.bbox_min[k].min(lo);
                s.bbox_max[k] = s.bbox_max[k].max(hi);
            }
            s.centroid[0] += z as f64 * len as f64;
            s.centroid[1] += y as f64 * len as f64;
            s.centroid[2] += (a + b) as f64 * len as f64 / 2.0;
        });
        for s in &mut st {
            for c in &mut s.centroid {
                *c /= s.voxels as f64;
            }
        }
        st
    }

    /// For each component, whether it touches the array's faces along the chosen axes
    /// (`[z, y, x]`), i.e. has a voxel from which the connectivity reaches outside the array
    /// across one of those faces (for elements holding the face neighbours: a voxel on the
    /// face).
    pub fn touching_border(&self, axes: [bool; 3]) -> Vec<bool> {
        let [nz, ny, nx] = self.shape;
        let dims = [nz as isize, ny as isize, nx as isize];
        let mut t = vec![false; self.n];
        let offs = &self.offsets;
        self.for_each_run(|z, y, a, b, l| {
            let hit = offs.iter().any(|o| {
                (axes[0] && !(0..dims[0]).contains(&(z as isize + o[0])))
                    || (axes[1] && !(0..dims[1]).contains(&(y as isize + o[1])))
                    || (axes[2] && (a as isize + o[2] < 0 || b as isize + o[2] >= dims[2]))
            });
            if hit {
                t[l as usize - 1] = true;
            }
        });
        t
    }

    /// The mask of the components whose label `keep(label)` accepts.
    pub fn select(&self, keep: impl Fn(u32) -> bool) -> PackedMask {
        let mut m = PackedMask::zeros(self.shape).expect("non-empty");
        let wpr = m.words_per_row();
        let keep_l: Vec<bool> = (0..=self.n as u32).map(|l| l > 0 && keep(l)).collect();
        let words = m.words_mut();
        for r in 0..self.row_start.len() - 1 {
            let row = &mut words[r * wpr..(r + 1) * wpr];
            for i in self.row_start[r] as usize..self.row_start[r + 1] as usize {
                if keep_l[self.run_label[i] as usize] {
                    set_bits(row, self.x0[i] as usize, self.x1[i] as usize);
                }
            }
        }
        m
    }

    /// Labels of the `k` largest components, largest first (ties: smaller label first).
    pub fn largest_labels(&self, k: usize) -> Vec<u32> {
        let sizes = self.sizes();
        let mut order: Vec<u32> = (1..=self.n as u32).collect();
        order.sort_by(|&a, &b| {
            sizes[b as usize - 1]
                .cmp(&sizes[a as usize - 1])
                .then(a.cmp(&b))
        });
        order.truncate(k);
        order
    }

    /// The mask of the `k` largest components (all of them when fewer exist).
    pub fn largest(&self, k: usize) -> PackedMask {
        let keep = self.largest_labels(k);
        self.select(|l| keep.contains(&l))
    }
}

/// Sets bits `a..=b` of a packed row.
fn set_bits(row: &mut [u64], a: usize, b: usize) {
    let (wa, wb) = (a / 64, b / 64);
    let lo = !0u64 << (a % 64);
    let hi = !0u64 >> (63 - b % 64);
    if wa == wb {
        row[wa] |= lo & hi;
    } else {
        row[wa] |= lo;
        row[wa + 1..wb].fill(!0);
        row[wb] |= hi;
    }
}

impl PackedMask {
    /// Fills holes: background components (under connectivity `s`, `3 x .. x 3`
    /// symmetric) that do not reach the array border, as `scipy.ndimage.binary_fill_holes`.
    /// A rank-2 `s` on a 3-D mask fills each slice separately.
    pub fn fill_holes(&self, s: &Structure) -> Result<PackedMask> {
        let bg = Components::new(&self.not(), s)?;
        let touch = bg.touching_border([true; 3]);
        let holes = bg.select(|l| !touch[l as usize - 1]);
        self.or(&holes)
    }
}

/// `scipy.ndimage.label(input, structure)`: `(labels, number of components)`. The default
/// scipy structure is `generate_binary_structure(rank, 1)`.
pub fn label<D: Dimension>(
    input: ArrayView<'_, bool, D>,
    structure: &Structure,
) -> Result<(Array<u32, D>, usize)> {
    let m = pack_nd(&input, Some(structure.rank()))?;
    let c = Components::new(&m, structure)?;
    let l = c
        .labels()
        .into_shape_with_order(input.raw_dim())
        .expect("same length");
    Ok((l, c.len()))
}

/// Statistics of every component of `input` under connectivity `structure`, in label order.
pub fn component_stats<D: Dimension>(
    input: ArrayView<'_, bool, D>,
    structure: &Structure,
) -> Result<Vec<ComponentStats>> {
    let m = pack_nd(&input, Some(structure.rank()))?;
    Ok(Components::new(&m, structure)?.stats())
}

/// Keeps the `k` largest components (ties: the one labelled first wins).
pub fn keep_largest<D: Dimension>(
    input: ArrayView<'_, bool, D>,
    structure: &Structure,
    k: usize,
) -> Result<Array<bool, D>> {
    let m = pack_nd(&input, Some(structure.rank()))?;
    Ok(unpack_nd(
        &Components::new(&m, structure)?.largest(k),
        input.raw_dim(),
    ))
}

/// Removes the components that touch the array border (any face).
pub fn remove_border_components<D: Dimension>(
    input: ArrayView<'_, bool, D>,
    structure: &Structure,
) -> Result<Array<bool, D>> {
    let m = pack_nd(&input, Some(structure.rank()))?;
    let c = Components::new(&m, structure)?;
    let t = c.touching_border([true; 3]);
    Ok(unpack_nd(
        &c.select(|l| !t[l as usize - 1]),
        input.raw_dim(),
    ))
}

/// `scipy.ndimage.binary_fill_holes(input, structure)`; `None` uses
/// `generate_binary_structure(rank, 1)` as scipy does.
pub fn binary_fill_holes<D: Dimension>(
    input: ArrayView<'_, bool, D>,
    structure: Option<&Structure>,
) -> Result<Array<bool, D>> {
    let default;
    let s = match structure {
        Some(s) => s,
        None => {
            default = generate_binary_structure(input.ndim().clamp(1, 3), 1)?;
            &default
        }
    };
    let m = pack_nd(&input, Some(s.rank()))?;
    Ok(unpack_nd(&m.fill_holes(s)?, input.raw_dim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn small_2d() {
        let a = array![
            [true, true, false, false, true],
            [false, true, false, true, true],
            [true, false, false, false, false],
            [true, false, true, true, true]
        ];
        let s4 = generate_binary_structure(2, 1).unwrap();
        let (l, n) = label(a.view(), &s4).unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            l,
            array![
                [1, 1, 0, 0, 2],
                [0, 1, 0, 2, 2],
                [3, 0, 0, 0, 0],
                [3, 0, 4, 4, 4]
            ]
        );
        let s8 = generate_binary_structure(2, 2).unwrap();
        let (l8, n8) = label(a.view(), &s8).unwrap();
        assert_eq!(n8, 3);
        assert_eq!(l8[[2, 0]], 1);
        let st = component_stats(a.view(), &s4).unwrap();
        assert_eq!(st[3].voxels, 3);
        assert_eq!(st[3].bbox_min, [0, 3, 2]);
        assert_eq!(st[3].centroid, [0.0, 3.0, 3.0]);
        let big = keep_largest(a.view(), &s4, 1).unwrap();
        assert_eq!(big.iter().filter(|&&b| b).count(), 3);
        assert!(big[[0, 0]]); // label 1 wins the tie with label 2 and 4
        assert!(
            remove_border_components(a.view(), &s4)
                .unwrap()
                .iter()
                .all(|&b| !b)
        );
    }

    #[test]
    fn bad_connectivity() {
        let s = crate::iterate_structure(&generate_binary_structure(2, 1).unwrap(), 2).unwrap();
        let a = array![[true]];
        assert!(matches!(
            label(a.view(), &s),
            Err(Error::BadConnectivity { .. })
        ));
    }

    #[test]
    fn set_bits_spans() {
        let mut row = [0u64; 3];
        set_bits(&mut row, 60, 130);
        assert_eq!(row[0], 0xF << 60);
        assert_eq!(row[1], !0);
        assert_eq!(row[2], 0b111);
    }
}
