//! Near-duplicate search over many hashes (a BK-tree under the Hamming metric).

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::hash::{ImageHash, hamming_words};

#[derive(Debug, Clone)]
struct Node {
    item: usize,
    /// (distance to this node, child index)
    children: Vec<(u32, usize)>,
}

/// A BK-tree over equal-length hashes: radius queries visit only the subtrees whose edge
/// distance lies within `[d − r, d + r]` (triangle inequality), which for small radii touches
/// a small fraction of the items: near-duplicate search over a data set is sub-quadratic.
#[derive(Debug, Clone, Default)]
pub struct BkTree {
    hashes: Vec<ImageHash>,
    nodes: Vec<Node>,
}

impl BkTree {
    /// An empty tree.
    pub fn new() -> BkTree {
        BkTree::default()
    }

    /// A tree holding `hashes`; item ids are their indices.
    pub fn from_hashes(hashes: impl IntoIterator<Item = ImageHash>) -> Result<BkTree> {
        let mut t = BkTree::new();
        for h in hashes {
            t.insert(h)?;
        }
        Ok(t)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The hash of item `id`.
    pub fn hash(&self, id: usize) -> &ImageHash {
        &self.hashes[id]
    }

    /// Adds a hash and returns its id.
    ///
    /// Errors: a hash whose length differs from the first one inserted.
    pub fn insert(&mut self, h: ImageHash) -> Result<usize> {
        if let Some(first) = self.hashes.first()
            && first.len() != h.len()
        {
            return Err(Error::HashSizeMismatch(first.len(), h.len()));
        }
        let id = self.hashes.len();
        self.hashes.push(h);
        self.nodes.push(Node {
            item: id,
            children: Vec::new(),
        });
        if id == 0 {
            return Ok(id);
        }
        let mut cur = 0;
        loop {
            let d = hamming_words(
                self.hashes[self.nodes[cur].item].words(),
                self.hashes[id].words(),
            );
            match self.nodes[cur].children.iter().find(|(cd, _)| *cd == d) {
                Some(&(_, child)) => cur = child,
                None => {
                    self.nodes[cur].children.push((d, id));
                    return Ok(id);
                }
            }
        }
    }

    /// All items within Hamming distance `radius` of `query`, as `(id, distance)` sorted by
    /// distance then id.
    pub fn query(&self, query: &ImageHash, radius: u32) -> Result<Vec<(usize, u32)>> {
        let mut out = Vec::new();
        if self.nodes.is_empty() {
            return Ok(out);
        }
        if self.hashes[0].len() != query.len() {
            return Err(Error::HashSizeMismatch(self.hashes[0].len(), query.len()));
        }
        let mut stack = vec![0usize];
        while let Some(n) = stack.pop() {
            let node = &self.nodes[n];
            let d = hamming_words(self.hashes[node.item].words(), query.words());
            if d <= radius {
                out.push((node.item, d));
            }
            let (lo, hi) = (d.saturating_sub(radius), d + radius);
            stack.extend(
                node.children
                    .iter()
                    .filter(|(cd, _)| *cd >= lo && *cd <= hi)
                    .map(|&(_, c)| c),
            );
        }
        out.sort_by_key(|&(id, d)| (d, id));
        Ok(out)
    }

    /// Every pair `(i, j, distance)` with `i < j` within `radius`, sorted.
    pub fn pairs_within(&self, radius: u32) -> Result<Vec<(usize, usize, u32)>> {
        let mut out = Vec::new();
        for i in 0..self.len() {
            for (j, d) in self.query(&self.hashes[i], radius)? {
                if j > i {
                    out.push((i, j, d));
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }
}

/// A pair of scans that share near-duplicate slices.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanMatch {
    /// Index of the first scan (the smaller).
    pub a: usize,
    /// Index of the second scan.
    pub b: usize,
    /// Slices of `a` with a near duplicate in `b`.
    pub matched_a: usize,
    /// Fraction of the smaller scan's slices that found a near duplicate in the other.
    pub fraction: f64,
}

/// Near-duplicate slices across a data set: every pair of slices from *different* scans
/// within `radius`, as `((scan, slice), (scan, slice), distance)`.
pub fn duplicate_slices(
    scans: &[Vec<ImageHash>],
    radius: u32,
) -> Result<Vec<((usize, usize), (usize, usize), u32)>> {
    let (tree, owner) = build(scans)?;
    let mut out = Vec::new();
    for (i, j, d) in tree.pairs_within(radius)? {
        if owner[i].0 != owner[j].0 {
            out.push((owner[i], owner[j], d));
        }
    }
    Ok(out)
}

fn build(scans: &[Vec<ImageHash>]) -> Result<(BkTree, Vec<(usize, usize)>)> {
    let mut tree = BkTree::new();
    let mut owner = Vec::new();
    for (s, hs) in scans.iter().enumerate() {
        for (z, h) in hs.iter().enumerate() {
            tree.insert(h.clone())?;
            owner.push((s, z));
        }
    }
    Ok((tree, owner))
}

/// Scans that are near duplicates of each other (train/test leakage, one subject under two
/// ids): pairs of scans where at least `min_fraction` of the smaller scan's slices have a
/// slice of the other scan within Hamming distance `radius`.
pub fn duplicate_scans(
    scans: &[Vec<ImageHash>],
    radius: u32,
    min_fraction: f64,
) -> Result<Vec<ScanMatch>> {
    let (tree, owner) = build(scans)?;
    // For each scan pair, the set of slices of the first that matched.
    let mut matched: HashMap<(usize, usize), (Vec<bool>, Vec<bool>)> = HashMap::new();
    for (i, j, _) in tree.pairs_within(radius)? {
        let ((sa, za), (sb, zb)) = (owner[i], owner[j]);
        if sa == sb {
            continue;
        }
        let (a, b, za, zb) = if sa < sb {
            (sa, sb, za, zb)
        } else {
            (sb, sa, zb, za)
        };
        let e = matched
            .entry((a, b))
            .or_insert_with(|| (vec![false; scans[a].len()], vec![false; scans[b].len()]));
        e.0[za] = true;
        e.1[zb] = true;
    }
    let mut out: Vec<ScanMatch> = matched
        .into_iter()
        .filter_map(|((a, b), (ma, mb))| {
            let ca = ma.iter().filter(|&&v| v).count();
            let cb = mb.iter().filter(|&&v| v).count();
            let fraction = if scans[a].len() <= scans[b].len() {
                ca as f64 / scans[a].len() as f64
            } else {
                cb as f64 / scans[b].len() as f64
            };
            (fraction >= min_fraction).then_some(ScanMatch {
                a,
                b,
                matched_a: ca,
                fraction,
            })
        })
        .collect();
    out.sort_by_key(|m| (m.a, m.b));
    Ok(out)
}
