use covnet_models::burn::prelude::*;
use ct_core::{Label, Spacing};
use ndarray::{Array4, Axis};

use super::*;

use covnet_models::burn::optim::GradientsParams;
use covnet_models::{FusedAdamConfig, cpu_device};
use ndarray::Array3;

#[test]
fn half_resolution_input_and_targets() {
    let mut hu = Array3::<i16>::from_elem((2, 4, 4), -1000);
    hu[[0, 0, 0]] = 600; // the mean is taken first, then clipped
    hu[[1, 2, 2]] = -200;
    hu[[1, 2, 3]] = -200;
    let v = downsample(hu.view(), 2);
    assert_eq!(v.dim(), (2, 2, 2));
    assert!((v[[0, 0, 0]] - normalise((600.0 - 3000.0) / 4.0)).abs() < 1e-6);
    assert!((v[[1, 1, 1]] - normalise(-600.0)).abs() < 1e-6);
    assert!((v[[0, 1, 1]] + 1.0).abs() < 1e-6);
    let mut les = Array3::<u8>::zeros((2, 4, 4));
    les[[1, 2, 2]] = 1;
    les[[1, 2, 3]] = 1; // two of four: set
    les[[0, 0, 0]] = 1; // one of four: not set
    assert_eq!(pattern_target(les.view(), Label::Covid, 2)[[1, 1, 1]], 2);
    assert_eq!(pattern_target(les.view(), Label::Cap, 2)[[1, 1, 1]], 1);
    assert_eq!(pattern_target(les.view(), Label::Cap, 2)[[0, 0, 0]], 0);
    assert_eq!(pattern_target(les.view(), Label::Normal, 2).sum(), 0);
}

#[test]
fn downsampling_follows_the_pixel_size() {
    // The phantoms it was trained on (256²: 1.2–1.6 mm) keep 2; clinical 512² gets 4.
    for mm in [1.2, 1.4, 1.6] {
        assert_eq!(downsample_factor(mm), DOWNSAMPLE);
    }
    assert_eq!(downsample_factor(0.7), 4);
    assert_eq!(downsample_factor(3.0), 1);
    assert_eq!(downsample_factor(f64::NAN), DOWNSAMPLE);
    assert_eq!(downsample_factor(0.0), DOWNSAMPLE);
    let hu = Array3::from_shape_fn((1, 7, 6), |(_, y, x)| (100 * y + x) as i16 - 1000);
    let v = downsample(hu.view(), 3);
    assert_eq!(v.dim(), (1, 2, 2));
    // Block (1, 1): rows 3..6, columns 3..6: mean 100·4 + 4 − 1000.
    assert!((v[[0, 1, 1]] - normalise(-596.0)).abs() < 1e-5);
    let mut m = Array3::<u8>::zeros((1, 6, 6));
    for x in 0..5 {
        m[[0, 0, x]] = 1; // 3 of the 9 voxels of block (0, 0), 2 of block (0, 1)
    }
    m[[0, 1, 0]] = 1;
    m[[0, 1, 1]] = 1; // block (0, 0): 5 of 9
    let d = downsample_mask(m.view(), 3);
    assert_eq!(d[[0, 0, 0]], 1);
    assert_eq!(d[[0, 0, 1]], 0);
}

#[test]
fn batches_hold_neighbours_flips_and_one_hot_targets() {
    let vol = Array3::from_shape_fn((3, 2, 2), |(z, y, x)| (z * 100 + y * 10 + x) as f32);
    let crop = Crop {
        y0: 0,
        x0: 0,
        h: 2,
        w: 3,
    };
    let b = input_batch(&vol, &[0, 2], crop, &[false, true]);
    assert_eq!(b.len(), 2 * 3 * 6);
    // Slice 0: neighbours clamped (0, 0, 1); the third column is outside: air.
    assert_eq!(&b[0..6], &[0.0, 1.0, -1.0, 10.0, 11.0, -1.0]);
    assert_eq!(&b[12..18], &[100.0, 101.0, -1.0, 110.0, 111.0, -1.0]);
    // Slice 2 mirrored: (1, 2, 2); a row reads (air, x=1, x=0).
    assert_eq!(&b[18..24], &[-1.0, 101.0, 100.0, -1.0, 111.0, 110.0]);
    let mut t = Array3::<u8>::zeros((3, 2, 2));
    t[[2, 0, 0]] = 2;
    let y = target_batch(&t, &[2], crop, &[true]);
    // Class 2 at the mirrored position (0, 2); everything else background.
    assert_eq!(y[2 * 6 + 2], 1.0);
    assert_eq!(y[2], 0.0);
    assert_eq!(y.iter().sum::<f32>(), 6.0);
}

#[test]
fn weights_round_trip_and_bad_bytes_are_errors() {
    let dev = cpu_device();
    let net = PatternNet::new(&dev).unwrap();
    let bytes = net.to_bytes().unwrap();
    let back = PatternNet::from_bytes(&bytes, &dev).unwrap();
    let vol = Array3::from_shape_fn((3, 16, 16), |(z, y, x)| ((z + y * x) % 7) as f32 / 7.0);
    let crop = Crop {
        y0: 0,
        x0: 0,
        h: 16,
        w: 16,
    };
    let a = net.predict(&vol, &[0, 1, 2], crop, 2).unwrap();
    let b = back.predict(&vol, &[0, 1, 2], crop, 2).unwrap();
    assert_eq!(a, b);
    let sums = a.sum_axis(Axis(1));
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4));
    assert!(PatternNet::from_bytes(b"not safetensors", &dev).is_err());
    assert!(PatternNet::from_bytes(&bytes[..bytes.len() / 2], &dev).is_err());
}

#[test]
fn mirrored_prediction_is_aligned_with_the_input() {
    // predict_flipped(v) must equal mirror(predict(mirror(v))): the mirrored pass of the
    // test-time augmentation lands on the pixels it describes.
    let dev = cpu_device();
    let net = PatternNet::new(&dev).unwrap();
    let vol = Array3::from_shape_fn((3, 16, 16), |(z, y, x)| {
        ((z * 3 + y * 5 + x * x) % 11) as f32 / 11.0 - 0.5
    });
    let crop = Crop {
        y0: 0,
        x0: 0,
        h: 16,
        w: 16,
    };
    let mirrored = vol.slice(ndarray::s![.., .., ..;-1]).to_owned();
    let a = net
        .predict_flipped(&vol, &[0, 1, 2], crop, 2, true)
        .unwrap();
    let b = net.predict(&mirrored, &[0, 1, 2], crop, 2).unwrap();
    let b = b.slice(ndarray::s![.., .., .., ..;-1]);
    assert!(a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() < 1e-6));
    // The untrained network is not mirror-symmetric, so the two passes differ.
    let plain = net.predict(&vol, &[0, 1, 2], crop, 2).unwrap();
    assert!(
        plain
            .iter()
            .zip(a.iter())
            .any(|(x, y)| (x - y).abs() > 1e-4)
    );
}

#[test]
fn pattern_loss_falls_when_training_on_a_blob() {
    // A bright disc labelled COVID-like in front of noise: a few Adam steps must halve the
    // loss (the real training runs in the example `train_pattern_unet`).
    let dev = cpu_device().autodiff();
    dev.seed(3);
    let mut model = pattern_config().init(&dev).unwrap();
    let mut optim = FusedAdamConfig::default().init();
    let n = 16;
    let mut vol = Array3::<f32>::from_elem((2, n, n), -0.6);
    let mut t = Array3::<u8>::zeros((2, n, n));
    for z in 0..2 {
        for y in 0..n {
            for x in 0..n {
                let (dy, dx) = (y as f32 - 7.5, x as f32 - 5.0 - 5.0 * z as f32);
                vol[[z, y, x]] += (((y * 7 + x * 13 + z) % 5) as f32 - 2.0) * 0.05;
                if dy * dy + dx * dx < 9.0 {
                    vol[[z, y, x]] = 0.4;
                    t[[z, y, x]] = 2;
                }
            }
        }
    }
    let crop = Crop {
        y0: 0,
        x0: 0,
        h: n,
        w: n,
    };
    let x = input_batch(&vol, &[0, 1], crop, &[]);
    let y = target_batch(&t, &[0, 1], crop, &[]);
    let mut losses = Vec::new();
    for _ in 0..40 {
        let xt = Tensor::<1>::from_floats(x.as_slice(), &dev).reshape([2, 3, n, n]);
        let yt = Tensor::<1>::from_floats(y.as_slice(), &dev).reshape([2, 3, n, n]);
        let loss = pattern_loss(model.forward(xt).unwrap(), yt, [1.0, 3.0, 3.0]);
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(5e-3, model, grads);
    }
    let first = losses[..3].iter().sum::<f32>() / 3.0;
    let last = losses[losses.len() - 3..].iter().sum::<f32>() / 3.0;
    assert!(last < 0.5 * first, "loss {first} -> {last}");
}

#[test]
fn features_of_known_probabilities() {
    // Region: two 4×4 squares (left and right) on 2 slices; COVID-like certainty on the
    // left square of both slices, CAP-like ½ on one pixel on the right.
    let (nz, n) = (2, 16);
    let mut region = Array3::<u8>::zeros((nz, n, n));
    let mut vol = Array3::<f32>::from_elem((nz, n, n), normalise(-850.0));
    let mut p = Array4::<f32>::zeros((nz, 3, n, n));
    p.index_axis_mut(Axis(1), 0).fill(1.0);
    for z in 0..nz {
        for y in 4..8 {
            for x in 2..6 {
                region[[z, y, x]] = 1;
                region[[z, y, x + 8]] = 1;
                p[[z, 0, y, x]] = 0.0;
                p[[z, 2, y, x]] = 1.0;
                vol[[z, y, x]] = normalise(-600.0);
            }
        }
    }
    p[[0, 0, 5, 11]] = 0.5;
    p[[0, 1, 5, 11]] = 0.5;
    let crop = Crop {
        y0: 0,
        x0: 0,
        h: n,
        w: n,
    };
    let spacing = Spacing {
        z: 2.5,
        y: 1.0,
        x: 1.0,
    };
    let maps = |region, zs| PatternMaps {
        p: &p,
        vol: &vol,
        region,
        zs,
        crop,
        spacing,
        factor: 2,
        z_step: 1,
    };
    let f = pattern_features(&maps(&region, &[0, 1])).unwrap();
    let get = |name: &str| f.get(name).unwrap();
    // 32 certain pixels of 2.5 × 2 × 2 mm³ = 10 µl each.
    assert!((get("cnn_covid_ml") - 0.32).abs() < 1e-9);
    assert!((get("cnn_cap_ml") - 0.005).abs() < 1e-9);
    assert!((get("cnn_lesion_pct") - 100.0 * 32.5 / 64.0).abs() < 1e-9);
    assert_eq!(get("cnn_foci"), 1.0); // 0.32 ml ≥ 0.2 ml; the ½ pixel alone is tiny
    // The ½ pixel on the right is its own (tiny) component.
    assert!((get("cnn_top1_ml") - 0.32).abs() < 1e-9);
    assert_eq!(get("cnn_top1_covid_share"), 1.0);
    // Probability-weighted: 32 pixels at −600 HU, the ½ pixel at −850 HU.
    let hu = (32.0 * -600.0 + 0.5 * -850.0) / 32.5;
    assert!((get("cnn_lesion_mean_hu") - hu).abs() < 1e-3);
    assert!((get("cnn_bilateral_balance") - 0.5 / 32.0).abs() < 1e-9);
    // Lateral beyond 0.6 of the half-width (5.5 px about x = 7.5): x = 2, 3, 4 and 11.
    assert!((get("cnn_peripheral_share") - 24.5 / 33.5).abs() < 1e-9);
    assert!((get("cnn_covid_top") - 0.5).abs() < 1e-9); // 32 ones among the top 64
    assert_eq!(get("cnn_peak"), 1.0);
    // An empty region gives zeros; a shape mismatch is an error.
    let empty = Array3::<u8>::zeros((nz, n, n));
    let z = pattern_features(&maps(&empty, &[0, 1])).unwrap();
    assert!(z.values().iter().all(|&v| v == 0.0));
    assert!(pattern_features(&maps(&region, &[0])).is_err());
    assert!(pattern_features(&maps(&region, &[0, 9])).is_err());
}

#[test]
fn overlay_tints_by_class() {
    let gray = ndarray::Array2::<u8>::from_elem((4, 4), 100);
    let mut p = Array4::<f32>::zeros((1, 3, 2, 2));
    p[[0, 0, 0, 0]] = 1.0; // background: grey stays
    p[[0, 1, 0, 1]] = 1.0; // CAP-like: orange
    p[[0, 2, 1, 0]] = 1.0; // COVID-19-like: magenta
    p[[0, 0, 1, 1]] = 1.0;
    let crop = Crop {
        y0: 0,
        x0: 0,
        h: 2,
        w: 2,
    };
    let img = pattern_overlay(gray.view(), &p, 0, crop, 2).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [100, 100, 100]);
    let [r, g, b] = img.get_pixel(3, 1).0; // x = 3, y = 1: half-res (0, 1)
    assert!(r > 200 && g > b && b < 50, "{r} {g} {b}");
    let [r, g, b] = img.get_pixel(0, 2).0; // half-res (1, 0)
    assert!(r > 200 && b > 200 && g < 50, "{r} {g} {b}");
    assert!(pattern_overlay(gray.view(), &p, 1, crop, 2).is_err());
}
