//! A picture of the pre-processing recipe on the real chest CT of `tools/realct`: one row per
//! scan, evenly spaced slices of what the network sees (lung ROI, W1500/L−500, 1 mm then
//! every 5th slice, resized), written to `docs/img/ct-train/recipe_realct.png`.
//!
//! ```sh
//! tools/realct/fetch.sh
//! cargo run --release -p ct-train --example recipe_preview -- [CACHE] [OUT.png] [SIZE]
//! ```

use std::path::PathBuf;

use ct_report::image::{gray_u8, montage, save_png};
use ct_train::Recipe;
use ndarray::Axis;

const SCANS: [&str; 4] = [
    "lidc_0001",
    "ts_chest_cta.nii.gz",
    "pyrad_lung1.nii.gz",
    "pyrad_lung2.nii.gz",
];
const PER_ROW: usize = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cache = PathBuf::from(args.next().unwrap_or_else(|| "target/realct".into()));
    let out = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "docs/img/ct-train/recipe_realct.png".into()),
    );
    let size: usize = args.next().map_or(Ok(112), |s| s.parse())?;
    let recipe = Recipe {
        size,
        ..Recipe::default()
    };
    let mut tiles = Vec::new();
    for name in SCANS {
        let scan = ct_io::read_volume(&cache.join(name))?;
        let p = recipe.apply(&scan).map_err(|e| e.chain())?;
        let n = p.data.dim().0;
        println!("{name}: roi {:?} -> {:?}", p.roi, p.data.dim());
        for i in 0..PER_ROW {
            let z = if PER_ROW == 1 {
                n / 2
            } else {
                i * (n - 1) / (PER_ROW - 1)
            };
            let plane = p
                .data
                .index_axis(Axis(0), z)
                .mapv(|v| (v * 255.0).round() as u8);
            tiles.push(gray_u8(plane.view())?);
        }
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    save_png(&montage(&tiles, PER_ROW, 2)?, &out)?;
    println!("wrote {}", out.display());
    Ok(())
}
