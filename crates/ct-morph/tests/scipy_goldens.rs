//! Golden tests against scipy.ndimage (made by `tools/ct-morph/make_goldens.py`, scipy 1.17.1).
//!
//! Tolerance: none. Every output voxel and every label must equal scipy's exactly (binary
//! morphology and labelling are exact integer operations); component centroids are compared
//! to 1e-9 relative (scipy sums in a different order).

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;

use ct_morph::{
    Components, MorphParams, PackedMask, Structure, binary_closing, binary_dilation,
    binary_erosion, binary_fill_holes, binary_opening, label,
};
use ndarray::{Array1, Array2, Array3, ArrayD, IxDyn};
use ndarray_npy::ReadNpyExt;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn unpack(bytes: &[u8], shape: [usize; 3]) -> Array3<bool> {
    let n = shape.iter().product::<usize>();
    Array3::from_shape_fn(shape, |(z, y, x)| {
        let i = (z * shape[1] + y) * shape[2] + x;
        assert!(i < n);
        (bytes[i / 8] >> (i % 8)) & 1 == 1
    })
}

struct Case {
    shape: [usize; 3],
    rank: usize,
    input: Array3<bool>,
    outs: Option<Array2<u8>>,
}

impl Case {
    fn nd(&self, a: &Array3<bool>) -> ArrayD<bool> {
        let s = &self.shape[3 - self.rank..];
        a.clone().into_shape_with_order(IxDyn(s)).unwrap()
    }
    fn out(&self, k: usize) -> Array3<bool> {
        let o = self.outs.as_ref().expect("outputs");
        unpack(o.row(k).as_slice().unwrap(), self.shape)
    }
}

fn load() -> (
    Vec<Vec<String>>,
    HashMap<String, Case>,
    HashMap<String, Structure>,
) {
    let text = std::fs::read_to_string(data("manifest.txt")).unwrap();
    let lines: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    let mut cases = HashMap::new();
    let mut structs = HashMap::new();
    for l in &lines {
        if l[0] == "case" {
            let shape = [
                l[2].parse().unwrap(),
                l[3].parse().unwrap(),
                l[4].parse().unwrap(),
            ];
            let bytes =
                Array1::<u8>::read_npy(File::open(data(&format!("{}_in.npy", l[1]))).unwrap())
                    .unwrap();
            let outs = File::open(data(&format!("{}_out.npy", l[1])))
                .ok()
                .map(|f| Array2::<u8>::read_npy(f).unwrap());
            cases.insert(
                l[1].clone(),
                Case {
                    shape,
                    rank: l[5].parse().unwrap(),
                    input: unpack(bytes.as_slice().unwrap(), shape),
                    outs,
                },
            );
        }
        for name in l.iter().skip(1) {
            let p = data(&format!("s_{name}.npy"));
            if !structs.contains_key(name) && p.exists() {
                let a = ArrayD::<bool>::read_npy(File::open(p).unwrap()).unwrap();
                structs.insert(name.clone(), Structure::from_mask(a.view()).unwrap());
            }
        }
    }
    (lines, cases, structs)
}

#[test]
fn morphology_matches_scipy() {
    let (lines, cases, structs) = load();
    let mut n = 0;
    for l in lines.iter().filter(|l| l[0] == "morph") {
        let c = &cases[&l[1]];
        let k: usize = l[2].parse().unwrap();
        let s = &structs[&l[4]];
        let p = MorphParams {
            iterations: l[5].parse().unwrap(),
            border_value: l[6] == "1",
        };
        let input = c.nd(&c.input);
        let got = match l[3].as_str() {
            "erode" => binary_erosion(input.view(), s, &p),
            "dilate" => binary_dilation(input.view(), s, &p),
            "open" => binary_opening(input.view(), s, &p),
            "close" => binary_closing(input.view(), s, &p),
            op => panic!("unknown op {op}"),
        }
        .unwrap();
        let want = c.nd(&c.out(k));
        let diff = got.iter().zip(want.iter()).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 0, "{l:?}: {diff} voxels differ from scipy");
        // The packed API without decomposition must agree too (when ranks allow it).
        if l[3] == "erode" || l[3] == "dilate" {
            let pm = PackedMask::from_bool(c.input.view()).unwrap();
            let d = if l[3] == "erode" {
                pm.erode_direct(s, &p).unwrap()
            } else {
                pm.dilate_direct(s, &p).unwrap()
            };
            assert_eq!(d.to_bool(), c.out(k), "{l:?} (direct)");
        }
        n += 1;
    }
    assert!(n > 150, "only {n} morphology checks ran");
}

#[test]
fn fill_holes_matches_scipy() {
    let (lines, cases, structs) = load();
    let mut n = 0;
    for l in lines.iter().filter(|l| l[0] == "fill") {
        let c = &cases[&l[1]];
        let k: usize = l[2].parse().unwrap();
        let s = &structs[&l[3]];
        let want = c.out(k);
        let got = if l[4] == "1" {
            // Per-slice: a rank-2 element on the packed 3-D mask.
            PackedMask::from_bool(c.input.view())
                .unwrap()
                .fill_holes(s)
                .unwrap()
                .to_bool()
        } else {
            let g = binary_fill_holes(c.nd(&c.input).view(), Some(s)).unwrap();
            g.into_shape_with_order(c.shape).unwrap()
        };
        assert_eq!(got, want, "{l:?}");
        n += 1;
    }
    assert!(n >= 14, "only {n} fill checks ran");
}

#[test]
fn labels_match_scipy() {
    let (lines, cases, structs) = load();
    let mut n = 0;
    for l in lines.iter().filter(|l| l[0] == "label") {
        let c = &cases[&l[1]];
        let s = &structs[&l[2]];
        let f = File::open(data(&format!("{}_lab{}.npy", l[1], l[2]))).unwrap();
        let want: Array3<u32> = match Array3::<u16>::read_npy(f) {
            Ok(a) => a.mapv(u32::from),
            Err(_) => {
                let f = File::open(data(&format!("{}_lab{}.npy", l[1], l[2]))).unwrap();
                ndarray::ArrayD::<u8>::read_npy(f)
                    .unwrap()
                    .mapv(u32::from)
                    .into_shape_with_order(c.shape)
                    .unwrap()
            }
        };
        let want = want.into_shape_with_order(c.shape).unwrap();
        let (got, count) = label(c.nd(&c.input).view(), s).unwrap();
        assert_eq!(count, l[3].parse::<usize>().unwrap(), "{l:?}");
        assert_eq!(got.into_shape_with_order(c.shape).unwrap(), want, "{l:?}");
        n += 1;
    }
    assert!(n >= 15);
}

#[test]
fn stats_match_scipy() {
    let (lines, cases, structs) = load();
    let mut cache: HashMap<(String, String), Vec<ct_morph::ComponentStats>> = HashMap::new();
    let mut n = 0;
    for l in lines.iter().filter(|l| l[0] == "stats") {
        let c = &cases[&l[1]];
        let st = cache
            .entry((l[1].clone(), l[2].clone()))
            .or_insert_with(|| {
                let pm = PackedMask::from_bool(c.input.view()).unwrap();
                Components::new(&pm, &structs[&l[2]]).unwrap().stats()
            });
        let lab: usize = l[3].parse().unwrap();
        let s = &st[lab - 1];
        let v: Vec<f64> = l[4..].iter().map(|x| x.parse().unwrap()).collect();
        assert_eq!(s.voxels, v[0] as u64, "{l:?}");
        assert_eq!(
            s.bbox_min,
            [v[1] as usize, v[2] as usize, v[3] as usize],
            "{l:?}"
        );
        assert_eq!(
            s.bbox_max,
            [v[4] as usize, v[5] as usize, v[6] as usize],
            "{l:?}"
        );
        for k in 0..3 {
            assert!(
                (s.centroid[k] - v[7 + k]).abs() <= 1e-9 * v[7 + k].abs().max(1.0),
                "{l:?}: centroid {:?}",
                s.centroid
            );
        }
        n += 1;
    }
    assert!(n > 20);
}
