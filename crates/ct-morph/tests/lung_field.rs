//! The body-first recipe on small synthetic chests built to hold what broke the seed's recipe
//! on real scans (a couch with a foam mattress, outside air, bowel gas, a trachea), and on
//! inputs with no lungs in them.

use ct_core::{Spacing, Volume};
use ct_morph::Error;
use ct_morph::lung::{LungParams, segment};
use ct_morph::lung_field::{
    AIRWAYS, AirwayReport, LEFT_LUNG, LungFieldParams, RIGHT_LUNG, segment_lung_field,
};
use ndarray::Array3;

const NZ: usize = 40;
const NY: usize = 96;
const NX: usize = 128;

fn inside(y: usize, x: usize, cy: f64, cx: f64, ry: f64, rx: f64) -> bool {
    let (dy, dx) = ((y as f64 - cy) / ry, (x as f64 - cx) / rx);
    dy * dy + dx * dx <= 1.0
}

/// A 40×96×128 chest at 2.5 mm × 1.5 mm: body, two lungs in slices 4..34 (a little noise), a
/// trachea from the top down to slice 26 dividing into two bronchi (slices 22..26), a gas
/// bubble under the diaphragm (slices 0..2), a couch with a foam mattress under the body, outside air.
fn chest() -> Array3<i16> {
    let mut v = Array3::<i16>::from_elem((NZ, NY, NX), -1000);
    let mut noise = 12345u64;
    for z in 0..NZ {
        for y in 0..NY {
            for x in 0..NX {
                let mut hu = -1000;
                if (66..86).contains(&y) && (10..118).contains(&x) {
                    hu = -800; // foam mattress
                }
                if (86..92).contains(&y) && (6..122).contains(&x) {
                    hu = 300; // couch shell
                }
                if inside(y, x, 45.0, 64.0, 32.0, 54.0) {
                    hu = 40; // body
                    let lungs = (4..34).contains(&z);
                    if lungs
                        && (inside(y, x, 44.0, 40.0, 22.0, 18.0)
                            || inside(y, x, 44.0, 88.0, 22.0, 18.0))
                    {
                        noise = noise.wrapping_mul(6364136223846793005).wrapping_add(1);
                        hu = -850 + ((noise >> 33) % 60) as i16 - 30; // parenchyma
                    }
                    let trachea = z >= 26 && inside(y, x, 30.0, 64.0, 4.0, 4.0);
                    let bronchi = (22..26).contains(&z)
                        && (inside(y, x, 32.0, 54.0, 3.0, 7.0)
                            || inside(y, x, 32.0, 74.0, 3.0, 7.0));
                    if trachea || bronchi {
                        hu = -1000;
                    }
                    if z < 2 && inside(y, x, 50.0, 80.0, 6.0, 10.0) {
                        hu = -990; // bowel gas
                    }
                }
                v[[z, y, x]] = hu;
            }
        }
    }
    v
}

fn volume(a: Array3<i16>) -> Volume<i16> {
    Volume::new(a, Spacing::new(2.5, 1.5, 1.5).unwrap()).unwrap()
}

fn count(labels: &Array3<u8>, l: u8, f: impl Fn(usize, usize, usize) -> bool) -> usize {
    labels
        .indexed_iter()
        .filter(|&((z, y, x), &v)| v == l && f(z, y, x))
        .count()
}

#[test]
fn lungs_without_couch_gas_or_trachea() {
    let m = segment_lung_field(&volume(chest()), &LungFieldParams::default()).unwrap();
    let lab = m.labels.data();
    // Nothing outside the body: mattress, couch, outside air.
    let outside = |_z, y, x| !inside(y, x, 45.0, 64.0, 32.0, 54.0);
    for l in [RIGHT_LUNG, LEFT_LUNG, AIRWAYS] {
        let n = count(lab, l, outside);
        if n > 0 {
            let at: Vec<_> = lab
                .indexed_iter()
                .filter(|&((z, y, x), &v)| v == l && outside(z, y, x))
                .take(5)
                .collect();
            panic!("label {l}: {n} voxels outside the body, e.g. {at:?}");
        }
    }
    // Patient right is on the image's left (x toward the patient's left).
    assert!(count(lab, RIGHT_LUNG, |_, _, x| x >= 64) == 0);
    assert!(count(lab, LEFT_LUNG, |_, _, x| x < 64) == 0);
    // No gas below the lungs.
    assert_eq!(count(lab, RIGHT_LUNG, |z, _, _| z < 4), 0);
    assert_eq!(count(lab, LEFT_LUNG, |z, _, _| z < 4), 0);
    // Both lungs nearly whole: 30 slices of an ellipse of ~π·22·18 px at 2.5·1.5·1.5 mm.
    let ellipse_ml = 30.0 * std::f64::consts::PI * 22.0 * 18.0 * 5.625 / 1000.0;
    for ml in [m.right_ml, m.left_ml] {
        assert!(
            (ml / ellipse_ml - 1.0).abs() < 0.05,
            "{ml} mL vs {ellipse_ml}"
        );
    }
    assert!(m.airways_ml > 0.0);
    assert_eq!(
        m.airways,
        AirwayReport::Found {
            open_end_z: 39,
            carina_z: Some(25)
        }
    );
    assert_eq!(
        count(lab, AIRWAYS, |z, _, _| z < 20),
        0,
        "airways reach the lung bases"
    );
}

#[test]
fn the_seed_recipe_takes_the_mattress() {
    // What the issue reports on real scans, reproduced: the largest air component away from
    // the image border is the mattress.
    let s = segment(&volume(chest()), &LungParams::default()).unwrap();
    let on_mattress = s
        .mask
        .data()
        .indexed_iter()
        .filter(|&((_, y, x), &v)| {
            v != 0 && (66..86).contains(&y) && !inside(y, x, 45.0, 64.0, 32.0, 54.0)
        })
        .count();
    assert!(on_mattress > 0);
}

#[test]
fn either_z_direction_and_mirrored_x() {
    let p = LungFieldParams::default();
    let a = segment_lung_field(&volume(chest()), &p).unwrap();
    let mut flipped = chest();
    flipped.invert_axis(ndarray::Axis(0));
    let b = segment_lung_field(&volume(flipped.as_standard_layout().to_owned()), &p).unwrap();
    let mut back = b.labels.data().clone();
    back.invert_axis(ndarray::Axis(0));
    assert_eq!(&back, a.labels.data());
    let mirrored = LungFieldParams {
        x_toward_patient_left: false,
        ..p
    };
    let c = segment_lung_field(&volume(chest()), &mirrored).unwrap();
    assert_eq!(c.right_ml, a.left_ml);
    assert_eq!(c.left_ml, a.right_ml);
}

#[test]
fn inputs_without_lungs_give_typed_errors() {
    let p = LungFieldParams::default();
    let air = Array3::<i16>::from_elem((8, 32, 32), -1000);
    assert!(matches!(
        segment_lung_field(&volume(air), &p),
        Err(Error::NoBody(_))
    ));
    // A head-like slab: tissue with a small pure-air sinus.
    let mut head = Array3::<i16>::from_elem((8, 64, 64), -1000);
    for ((_, y, x), v) in head.indexed_iter_mut() {
        if inside(y, x, 32.0, 32.0, 28.0, 24.0) {
            *v = if inside(y, x, 20.0, 32.0, 4.0, 6.0) {
                -1000
            } else {
                40
            };
        }
    }
    assert!(matches!(
        segment_lung_field(&volume(head), &p),
        Err(Error::NoLung(_))
    ));
    // Solid tissue filling the whole field of view.
    let solid = Array3::<i16>::from_elem((4, 32, 32), 50);
    assert!(matches!(
        segment_lung_field(&volume(solid), &p),
        Err(Error::NoLung(_))
    ));
    // A single slice of the chest works.
    let one = chest().slice(ndarray::s![20..21, .., ..]).to_owned();
    let m = segment_lung_field(&volume(one), &p).unwrap();
    assert!(m.right_ml > 0.0 && m.left_ml > 0.0);
}

#[test]
fn bad_parameters_are_rejected() {
    let bad = LungFieldParams {
        max_pure_air_fraction: 0.0,
        ..LungFieldParams::default()
    };
    assert!(matches!(
        segment_lung_field(&volume(chest()), &bad),
        Err(Error::InvalidParam { .. })
    ));
    let bad = LungFieldParams {
        pure_air_hu: -300,
        ..LungFieldParams::default()
    };
    assert!(bad.validate().is_err());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// HU values that matter to the recipe's thresholds, and the padding values scanners use.
    const VALUES: [i16; 9] = [-3024, -2000, -1024, -1000, -960, -850, -450, 40, 900];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Any small volume of air, lung, tissue and padding (blocky, so that bodies, holes and
        /// tubes appear; tissue-rich inside an ellipse so that a body is found) gives a mask or
        /// a typed error, never a panic.
        #[test]
        fn random_volumes(
            nz in 1usize..6,
            ny in 8usize..48,
            nx in 8usize..48,
            block in 1usize..6,
            picks in proptest::collection::vec(0usize..VALUES.len(), 256),
            pixel in 1.0f64..4.0,
        ) {
            let (cy, cx) = (ny as f64 / 2.0, nx as f64 / 2.0);
            let v = Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
                let k = picks[(z * 7 + (y / block) * 13 + (x / block) * 31) % picks.len()];
                let body = inside(y, x, cy, cx, 0.45 * ny as f64, 0.45 * nx as f64);
                let ring = !inside(y, x, cy, cx, 0.3 * ny as f64, 0.3 * nx as f64);
                match (body, ring) {
                    (true, true) => 40,
                    (true, false) if k % 3 == 0 => VALUES[3 + k % 6],
                    (true, false) => -850,
                    _ => VALUES[k],
                }
            });
            let vol = Volume::new(v, Spacing::new(2.0 * pixel, pixel, pixel).unwrap()).unwrap();
            match segment_lung_field(&vol, &LungFieldParams::default()) {
                Ok(m) => prop_assert_eq!(m.labels.shape(), vol.shape()),
                Err(e) => prop_assert!(matches!(
                    e,
                    Error::NoBody(_) | Error::NoLung(_)
                )),
            }
        }
    }
}
