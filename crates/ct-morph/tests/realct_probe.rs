//! Prints what the body-first recipe finds on every volume named in `REALCT_PROBE`
//! (colon-separated paths). Not a check: `REALCT_PROBE=a:b cargo test -p ct-morph --test
//! realct_probe -- --ignored --nocapture`.

use ct_morph::lung_field::{LungFieldParams, segment_lung_field};

#[test]
#[ignore = "a probe for the developer: needs REALCT_PROBE"]
fn probe() {
    let paths = std::env::var("REALCT_PROBE").unwrap_or_default();
    for p in paths.split(':').filter(|p| !p.is_empty()) {
        let scan = ct_io::read_volume(std::path::Path::new(p)).unwrap();
        let t = std::time::Instant::now();
        let r = segment_lung_field(&scan.volume, &LungFieldParams::for_meta(&scan.meta));
        let ms = t.elapsed().as_millis();
        match r {
            Ok(m) => println!(
                "{p}: {:?} right {:.0} mL left {:.0} mL airways {:.1} mL body {:.0} mL {:?} ({ms} ms)\n   {:?}",
                scan.volume.shape(),
                m.right_ml,
                m.left_ml,
                m.airways_ml,
                m.body_ml,
                m.airways,
                m.air_components
            ),
            Err(e) => println!("{p}: error {e} ({ms} ms)"),
        }
    }
}
