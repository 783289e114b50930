//! Golden tests: torchvision models with seeded random weights (made by
//! `tools/covnet-models/make_goldens.py`, torch 2.11.0 / torchvision 0.26.0) loaded into the
//! Burn models must give torchvision's logits.
//!
//! Tolerance: 1e-4 relative to the largest |logit| of the batch (plus 1e-5 absolute). Both
//! sides compute in f32 with different summation orders (im2col/gemm blocking, BN folding),
//! so bit-equality is not expected; errors measured here are ~1e-6 relative.

use std::path::PathBuf;

use burn::prelude::*;
use covnet_models::*;
use ndarray::{Array2, Array4};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn input(device: &Device) -> Tensor<4> {
    let x: Array4<f32> = ndarray_npy::read_npy(data("input.npy")).unwrap();
    tensor_from_array(&x, device).unwrap()
}

fn assert_logits(name: &str, got: Tensor<2>) {
    let want: Array2<f32> = ndarray_npy::read_npy(data(&format!("{name}_logits.npy"))).unwrap();
    let got = array_from_tensor(got);
    assert_eq!(got.shape(), want.shape(), "{name}: logits shape");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(want.iter())
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!(
        "{name}: max |burn - torch| = {err:.2e}, relative to max |logit| {:.2e}",
        err / scale
    );
    assert!(
        err <= 1e-4 * scale + 1e-5,
        "{name}: max |burn - torch| = {err:e}, scale {scale}\nburn  {got:?}\ntorch {want:?}"
    );
}

#[test]
fn resnet18_matches_torchvision_pt() {
    let device = Device::flex();
    let cfg = ResNetConfig {
        num_classes: 10,
        base_width: 2,
        ..ResNetConfig::new(ResNetDepth::R18)
    };
    let model = load_torch_weights(cfg.init(&device).unwrap(), data("resnet18_small.pt")).unwrap();
    assert_logits("resnet18", model.forward(input(&device)).unwrap());
}

#[test]
fn resnet50_matches_torchvision_safetensors() {
    let device = Device::flex();
    let cfg = ResNetConfig {
        num_classes: 10,
        base_width: 2,
        ..ResNetConfig::new(ResNetDepth::R50)
    };
    let model = load_torch_weights(
        cfg.init(&device).unwrap(),
        data("resnet50_small.safetensors"),
    )
    .unwrap();
    assert_logits("resnet50", model.forward(input(&device)).unwrap());
}

#[test]
fn densenet169_matches_torchvision_safetensors() {
    let device = Device::flex();
    let cfg = DenseNetConfig {
        num_classes: 10,
        growth_rate: 2,
        num_init_features: 4,
        bn_size: 2,
        ..DenseNetConfig::densenet169()
    };
    let model = load_torch_weights(
        cfg.init(&device).unwrap(),
        data("densenet169_small.safetensors"),
    )
    .unwrap();
    assert_logits("densenet169", model.forward(input(&device)).unwrap());
}

#[test]
fn vgg16_matches_torchvision_pt() {
    let device = Device::flex();
    let cfg = Vgg16Config {
        num_classes: 10,
        base_width: 2,
        hidden: 8,
        ..Vgg16Config::default()
    };
    let model = load_torch_weights(cfg.init(&device).unwrap(), data("vgg16_small.pt")).unwrap();
    assert_logits("vgg16", model.forward(input(&device)).unwrap());
}

#[test]
fn full_size_parameter_counts_match_torchvision() {
    // Counts recorded by make_goldens.py from torchvision's constructors (parameters plus batch
    // norm running mean/var, which Burn's `num_params` also counts); `num_params` does not
    // materialise the lazily initialised weights, so this is cheap.
    let device = Device::flex();
    let file = std::fs::read_to_string(data("goldens.json")).unwrap();
    let json = &file[file.find("\"full_size_params_plus_bn_stats\"").unwrap()..];
    let count = |name: &str| -> usize {
        let key = format!("\"{name}\": ");
        let start = json.find(&key).unwrap() + key.len();
        json[start..]
            .split([',', '\n', '}'])
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let r = |d| ResNetConfig::new(d).init(&device).unwrap().num_params();
    assert_eq!(r(ResNetDepth::R18), count("resnet18"));
    assert_eq!(r(ResNetDepth::R34), count("resnet34"));
    assert_eq!(r(ResNetDepth::R50), count("resnet50"));
    assert_eq!(
        DenseNetConfig::densenet169()
            .init(&device)
            .unwrap()
            .num_params(),
        count("densenet169")
    );
    assert_eq!(
        Vgg16Config::default().init(&device).unwrap().num_params(),
        count("vgg16")
    );
}

#[test]
fn mismatched_weight_files_name_keys_and_shapes() {
    let device = Device::flex();
    // A ResNet-50 file into a ResNet-18: many missing/unexpected keys and shape mismatches.
    let cfg = ResNetConfig {
        num_classes: 10,
        base_width: 2,
        ..ResNetConfig::new(ResNetDepth::R18)
    };
    let err = load_torch_weights(
        cfg.init(&device).unwrap(),
        data("resnet50_small.safetensors"),
    )
    .unwrap_err();
    let Error::WeightMismatch { problems, .. } = &err else {
        panic!("wrong error {err}")
    };
    assert!(problems.iter().any(
        |p| matches!(p, KeyProblem::Unexpected { key, .. } if key == "layer1.0.conv3.weight")
    ));
    assert!(problems.contains(&KeyProblem::Shape {
        key: "layer1.0.conv1.weight".into(),
        expected: vec![2, 2, 3, 3],
        found: vec![2, 2, 1, 1],
    }));
    let msg = err.to_string();
    assert!(msg.contains("resnet50_small.safetensors") && msg.contains("layer1.0.conv1.weight"));

    // Wrong number of classes: exactly the fc tensors disagree.
    let cfg = ResNetConfig {
        num_classes: 3,
        base_width: 2,
        ..ResNetConfig::new(ResNetDepth::R18)
    };
    let err =
        load_torch_weights(cfg.init(&device).unwrap(), data("resnet18_small.pt")).unwrap_err();
    let Error::WeightMismatch { problems, .. } = err else {
        panic!("wrong error")
    };
    assert_eq!(
        problems,
        vec![
            KeyProblem::Shape {
                key: "fc.bias".into(),
                expected: vec![3],
                found: vec![10]
            },
            KeyProblem::Shape {
                key: "fc.weight".into(),
                expected: vec![3, 16],
                found: vec![10, 16]
            },
        ]
    );

    // A model with parameters the file lacks (attention blocks): missing keys with shapes.
    let cfg = ResNetConfig {
        num_classes: 10,
        base_width: 2,
        attention: Some(AttentionKind::Eca),
        ..ResNetConfig::new(ResNetDepth::R18)
    };
    let err =
        load_torch_weights(cfg.init(&device).unwrap(), data("resnet18_small.pt")).unwrap_err();
    let Error::WeightMismatch { problems, .. } = err else {
        panic!("wrong error")
    };
    assert!(
        problems
            .iter()
            .all(|p| matches!(p, KeyProblem::Missing { key, .. } if key.contains("attention")))
    );
    assert_eq!(problems.len(), 8, "one ECA conv per block: {problems:?}");

    // Not a file.
    let err = load_torch_weights(cfg.init(&device).unwrap(), data("nope.pt")).unwrap_err();
    assert!(matches!(err, Error::WeightFile { .. }));
}

#[test]
fn configurations_are_inferred_from_weight_files() {
    let shapes = torch_shapes(data("densenet169_small.safetensors")).unwrap();
    let want = DenseNetConfig {
        num_classes: 10,
        growth_rate: 2,
        num_init_features: 4,
        bn_size: 2,
        ..DenseNetConfig::densenet169()
    };
    assert_eq!(DenseNetConfig::from_torch_shapes(&shapes).unwrap(), want);
    let shapes = torch_shapes(data("resnet50_small.safetensors")).unwrap();
    let r = ResNetConfig::from_torch_shapes(&shapes, ResNetDepth::R50).unwrap();
    assert_eq!((r.in_channels, r.base_width, r.num_classes), (3, 2, 10));
    let shapes = torch_shapes(data("vgg16_small.pt")).unwrap();
    let v = Vgg16Config::from_torch_shapes(&shapes).unwrap();
    assert_eq!((v.base_width, v.hidden, v.num_classes), (2, 8, 10));
    // A ResNet file is not a DenseNet: the missing key is named.
    let shapes = torch_shapes(data("resnet18_small.pt")).unwrap();
    let err = DenseNetConfig::from_torch_shapes(&shapes).unwrap_err();
    assert!(err.to_string().contains("features.conv0.weight"), "{err}");
}
