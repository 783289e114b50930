//! Shapes, typed errors, ConvLSTM equations, overlap-tile exactness, CAM/Grad-CAM and losses
//! on the CPU backend (flex).

use burn::prelude::*;
use burn::tensor::Distribution;
use covnet_models::*;
use ndarray::{Array3, s};

fn dev() -> Device {
    Device::flex()
}

fn small_resnet(depth: ResNetDepth, in_channels: usize) -> ResNetConfig {
    ResNetConfig {
        in_channels,
        num_classes: 3,
        base_width: 4,
        ..ResNetConfig::new(depth)
    }
}

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn resnets_give_logits_and_taps_for_1_or_3_channels() {
    let device = dev();
    for depth in [ResNetDepth::R18, ResNetDepth::R34, ResNetDepth::R50] {
        for ch in [1, 3] {
            let m = small_resnet(depth, ch).init(&device).unwrap();
            let x = Tensor::<4>::random([2, ch, 64, 48], Distribution::Default, &device);
            let y = m.forward(x.clone()).unwrap();
            assert_eq!(y.dims(), [2, 3]);
            let (y2, taps) = m.forward_taps(x).unwrap();
            assert!(max_abs_diff(y, y2) < 1e-6);
            let names: Vec<&str> = taps.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, RESNET_TAPS);
            let exp = if depth == ResNetDepth::R50 { 4 } else { 1 };
            assert_eq!(taps[0].1.dims(), [2, 4, 16, 12]); // stem: /4
            assert_eq!(taps[4].1.dims(), [2, 32 * exp, 2, 2]); // layer4: /32
            assert_eq!(m.feature_channels(), 32 * exp);
        }
    }
}

#[test]
fn wrong_channel_count_is_a_typed_error() {
    let device = dev();
    let m = small_resnet(ResNetDepth::R18, 1).init(&device).unwrap();
    let err = m
        .forward(Tensor::<4>::zeros([1, 3, 32, 32], &device))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ChannelMismatch {
                expected: 1,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    let bad = ResNetConfig {
        dropout: Some(1.5),
        ..small_resnet(ResNetDepth::R18, 1)
    };
    assert!(matches!(
        bad.init(&device),
        Err(Error::InvalidParam {
            param: "dropout",
            ..
        })
    ));
}

#[test]
fn attention_blocks_fit_in_every_resnet_block() {
    let device = dev();
    assert_eq!(eca_kernel_size(64), 3); // (6 + 1) / 2 = 3.5 -> 3
    assert_eq!(eca_kernel_size(256), 5); // (8 + 1) / 2 = 4.5 -> 4 -> 5
    assert_eq!(eca_kernel_size(2048), 7); // (11 + 1) / 2 = 6 -> 7
    let plain = small_resnet(ResNetDepth::R18, 1)
        .init(&device)
        .unwrap()
        .num_params();
    for att in [
        AttentionKind::Se { reduction: 4 },
        AttentionKind::Cbam {
            reduction: 4,
            kernel: 7,
        },
        AttentionKind::Eca,
        AttentionKind::Residual { depth: 2 },
    ] {
        for depth in [ResNetDepth::R18, ResNetDepth::R50] {
            let cfg = ResNetConfig {
                attention: Some(att),
                dropout: Some(0.5),
                ..small_resnet(depth, 1)
            };
            let m = cfg.init(&device).unwrap();
            let y = m.forward(Tensor::<4>::random(
                [2, 1, 32, 32],
                Distribution::Default,
                &device,
            ));
            assert_eq!(y.unwrap().dims(), [2, 3]);
            if depth == ResNetDepth::R18 {
                assert!(m.num_params() > plain, "{att:?} adds parameters");
            }
        }
    }
    // SE-ResNet-18 at width 4: each block adds C*C/4 + C/4 + C/4*C + C parameters.
    let se = ResNetConfig {
        attention: Some(AttentionKind::Se { reduction: 4 }),
        ..small_resnet(ResNetDepth::R18, 1)
    };
    let extra: usize = [4usize, 8, 16, 32]
        .iter()
        .map(|&c| 2 * (c * (c / 4) + c / 4 + (c / 4) * c + c))
        .sum();
    assert_eq!(se.init(&device).unwrap().num_params(), plain + extra);
    let bad = AttentionKind::Cbam {
        reduction: 4,
        kernel: 4,
    };
    assert!(matches!(
        bad.validate(),
        Err(Error::InvalidParam {
            param: "kernel",
            ..
        })
    ));
}

#[test]
fn densenet_vgg_csrnet_shapes() {
    let device = dev();
    let d = DenseNetConfig {
        in_channels: 1,
        num_classes: 3,
        growth_rate: 2,
        num_init_features: 4,
        bn_size: 2,
        ..DenseNetConfig::densenet169()
    };
    assert_eq!(d.feature_channels(), 104); // 1664 / 16: every width scaled by 1/16
    assert_eq!(DenseNetConfig::densenet169().feature_channels(), 1664);
    let m = d.init(&device).unwrap();
    let x = Tensor::<4>::random([2, 1, 64, 64], Distribution::Default, &device);
    let (y, taps) = m.forward_taps(x).unwrap();
    assert_eq!(y.dims(), [2, 3]);
    let names: Vec<&str> = taps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "stem",
            "denseblock1",
            "denseblock2",
            "denseblock3",
            "denseblock4",
            "norm5"
        ]
    );
    assert_eq!(taps[5].1.dims(), [2, d.feature_channels(), 2, 2]);

    let v = Vgg16Config {
        in_channels: 1,
        num_classes: 3,
        base_width: 2,
        hidden: 8,
        ..Default::default()
    };
    let y = v
        .init(&device)
        .unwrap()
        .forward(Tensor::<4>::zeros([1, 1, 64, 64], &device))
        .unwrap();
    assert_eq!(y.dims(), [1, 3]);

    for backend in [CsrBackend::A, CsrBackend::B, CsrBackend::C, CsrBackend::D] {
        let c = CsrnetConfig {
            in_channels: 1,
            backend,
            base_width: 2,
            out_channels: 1,
        };
        let m = c.init(&device).unwrap();
        let x = Tensor::<4>::random([1, 1, 64, 48], Distribution::Default, &device);
        assert_eq!(m.features(x.clone()).unwrap().dims(), [1, 2, 8, 6]);
        assert_eq!(m.forward(x).unwrap().dims(), [1, 1, 8, 6]);
    }
    assert_eq!(CsrBackend::C.dilations(), [2, 2, 2, 4, 4, 4]);
    // Paper's CSRNet (VGG front end 10 convs + back end + 1x1): 16.26 M parameters.
    let full = CsrnetConfig::default().init(&device).unwrap().num_params();
    assert_eq!(full, 16_263_489);
}

fn covnet(backbone: BackboneConfig, pooling: SlicePooling, head: HeadKind) -> CovNet {
    CovNetConfig {
        backbone,
        pooling,
        head,
        num_classes: 3,
        dropout: Some(0.2),
    }
    .init(&dev())
    .unwrap()
}

#[test]
fn covnet_any_slice_count_every_pooling_and_head() {
    let device = dev();
    let backbones = [
        BackboneConfig::ResNet(small_resnet(ResNetDepth::R18, 1)),
        BackboneConfig::DenseNet(DenseNetConfig {
            in_channels: 1,
            growth_rate: 2,
            num_init_features: 4,
            bn_size: 2,
            block_config: vec![2, 2],
            ..Default::default()
        }),
        BackboneConfig::Csrnet(CsrnetConfig {
            in_channels: 1,
            base_width: 2,
            ..Default::default()
        }),
    ];
    for bb in backbones {
        for pooling in [
            SlicePooling::Max,
            SlicePooling::Mean,
            SlicePooling::Attention { hidden: 4 },
        ] {
            for head in [HeadKind::Linear, HeadKind::Fcn] {
                let m = covnet(bb.clone(), pooling, head);
                for s in [1, 3, 7] {
                    let x = Tensor::<5>::random([2, s, 1, 32, 32], Distribution::Default, &device);
                    assert_eq!(
                        m.forward(x).unwrap().dims(),
                        [2, 3],
                        "{pooling:?} {head:?} S={s}"
                    );
                }
            }
        }
    }
}

#[test]
fn covnet_pooling_semantics() {
    let device = dev();
    let bb = BackboneConfig::ResNet(small_resnet(ResNetDepth::R18, 1));
    let x = Tensor::<5>::random([1, 4, 1, 32, 32], Distribution::Default, &device);
    // Max pooling: repeating a slice or permuting slices leaves the output unchanged.
    let m = covnet(bb.clone(), SlicePooling::Max, HeadKind::Linear);
    let y = m.forward(x.clone()).unwrap();
    let perm = Tensor::cat(
        vec![
            x.clone().narrow(1, 2, 2),
            x.clone().narrow(1, 0, 2),
            x.clone().narrow(1, 1, 1),
        ],
        1,
    );
    assert!(max_abs_diff(y.clone(), m.forward(perm).unwrap()) < 1e-5);
    // Mean pooling of S copies of one slice equals the single slice.
    let m = covnet(bb.clone(), SlicePooling::Mean, HeadKind::Linear);
    let one = x.clone().narrow(1, 0, 1);
    let copies = Tensor::cat(vec![one.clone(), one.clone(), one.clone()], 1);
    assert!(max_abs_diff(m.forward(one).unwrap(), m.forward(copies).unwrap()) < 1e-5);
    // Attention weights are a distribution over slices.
    let m = covnet(bb, SlicePooling::Attention { hidden: 8 }, HeadKind::Linear);
    let a = m.slice_attention(x).unwrap().unwrap();
    assert_eq!(a.dims(), [1, 4]);
    assert!((a.sum().into_scalar::<f32>() - 1.0).abs() < 1e-5);
}

#[test]
fn covnet_rejects_empty_scans_and_wrong_channels() {
    let device = dev();
    let m = covnet(
        BackboneConfig::ResNet(small_resnet(ResNetDepth::R18, 1)),
        SlicePooling::Max,
        HeadKind::Linear,
    );
    let err = m
        .forward(Tensor::<5>::zeros([2, 0, 1, 32, 32], &device))
        .unwrap_err();
    assert!(matches!(err, Error::NoSlices { .. }), "{err}");
    let err = m
        .forward(Tensor::<5>::zeros([2, 3, 3, 32, 32], &device))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ChannelMismatch {
                expected: 1,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    let bad = CovNetConfig {
        pooling: SlicePooling::Attention { hidden: 0 },
        ..CovNetConfig::default()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn convlstm_follows_its_equations() {
    let device = dev();
    let cfg = ConvLstmConfig {
        in_channels: 2,
        hidden_channels: 3,
        kernel_size: 3,
    };
    let lstm = cfg.init(&device).unwrap();
    let x = Tensor::<5>::random([2, 4, 2, 8, 8], Distribution::Default, &device);
    let (all, h, c) = lstm.forward(x.clone()).unwrap();
    assert_eq!(all.dims(), [2, 4, 3, 8, 8]);
    assert_eq!(h.dims(), [2, 3, 8, 8]);
    // Running the first two steps alone reproduces the first two outputs (causality).
    let (all2, h2, _) = lstm.forward(x.clone().narrow(1, 0, 2)).unwrap();
    assert!(max_abs_diff(all.clone().narrow(1, 0, 2), all2) < 1e-6);
    assert!(max_abs_diff(all.narrow(1, 1, 1).reshape([2, 3, 8, 8]), h2) < 1e-6);
    // |h| < 1 (o·tanh(c)) and |c| ≤ step count (|c_t| ≤ |c_{t-1}| + 1).
    assert!(h.abs().max().into_scalar::<f32>() < 1.0);
    assert!(c.abs().max().into_scalar::<f32>() <= 4.0);
    assert!(matches!(
        lstm.forward(Tensor::<5>::zeros([1, 0, 2, 8, 8], &device)),
        Err(Error::NoSlices { .. })
    ));

    let net = ConvLstmNetConfig {
        backbone: BackboneConfig::ResNet(small_resnet(ResNetDepth::R18, 1)),
        hidden_channels: 4,
        kernel_size: 3,
        num_classes: 3,
    }
    .init(&device)
    .unwrap();
    for s in [1, 5] {
        let x = Tensor::<5>::random([2, s, 1, 32, 32], Distribution::Default, &device);
        assert_eq!(net.forward(x).unwrap().dims(), [2, 3]);
    }
}

#[test]
fn mirror_pad_reflects_like_numpy() {
    // numpy: np.pad([[0, 1, 2]], ((0, 0), (2, 4)), mode="reflect") == [[2, 1, 0, 1, 2, 1, 0, 1, 2]]
    let a = Array3::from_shape_vec((1, 1, 3), vec![0.0f32, 1.0, 2.0]).unwrap();
    let p = mirror_pad(a.view(), 0, 0, 2, 4);
    assert_eq!(
        p.iter().copied().collect::<Vec<_>>(),
        [2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0]
    );
}

#[test]
fn unet_overlap_tile_equals_whole_padded_slice() {
    let device = dev();
    let cfg = UNetConfig {
        in_channels: 1,
        num_classes: 2,
        base_channels: 4,
        depth: 2,
    };
    let (h, w) = (37, 50); // not multiples of anything
    let slice = Array3::from_shape_fn((1, h, w), |(_, y, x)| {
        ((y * 7 + x * 3) % 11) as f32 / 11.0 - 0.5
    });
    // The margin and stride depend on the configuration only.
    let first = cfg.init(&device).unwrap();
    let (tile, margin) = (16, first.min_margin());
    assert_eq!(margin % first.stride(), 0);
    // Reference input: the same mirror-padded slice, through the network in one piece.
    let (ty, tx) = (h.div_ceil(tile), w.div_ceil(tile));
    let padded = mirror_pad(
        slice.view(),
        margin,
        margin + ty * tile - h,
        margin,
        margin + tx * tile - w,
    );
    let (ph, pw) = (padded.dim().1, padded.dim().2);
    let input = tensor_from_array::<4, _, _>(
        &padded.into_shape_with_order((1, 1, ph, pw)).unwrap(),
        &device,
    )
    .unwrap();
    // A randomly initialised narrow net can be constant on an input, or see only a few pixels
    // when its deeper path is dead (ReLUs; the backend's initialiser is not seeded): then any
    // margin gives the whole-slice result and the check below is vacuous. Take the first init
    // whose output depends on context farther than 4 pixels: with a 4-pixel margin its tiles
    // (which then see zero padding) differ from the whole slice by more than 100× the f32
    // rounding of these outputs (about 1e-7).
    let diff = |a: &ndarray::Array3<f32>, b: &ndarray::ArrayView3<'_, f32>| {
        a.iter()
            .zip(b.iter())
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    };
    let (unet, whole, bad_err) = std::iter::once(first)
        .chain((0..30).map(|_| cfg.init(&device).unwrap()))
        .find_map(|u| {
            let whole = array_from_tensor(u.forward(input.clone()).unwrap());
            let reference = whole.slice(s![0, .., margin..margin + h, margin..margin + w]);
            let bad = u.predict_tiled(slice.view(), tile, 4, 3).unwrap();
            let bad_err = diff(&bad, &reference);
            (bad_err > 1e-5).then_some((u, whole, bad_err))
        })
        .expect("an init that sees beyond 4 pixels in 31 tries");
    let reference = whole.slice(s![0, .., margin..margin + h, margin..margin + w]);
    let tiled = unet.predict_tiled(slice.view(), tile, margin, 3).unwrap();
    assert_eq!(tiled.dim(), (2, h, w));
    let err = diff(&tiled, &reference);
    // f32 convolutions of different-size inputs may sum in a different order.
    assert!(
        err < 1e-4,
        "tiled vs whole: {err} (margin 4 gave {bad_err})"
    );
    // And far closer than a too-small margin gets.
    assert!(
        100.0 * err < bad_err,
        "tiled vs whole: {err}, margin 4: {bad_err}"
    );
    eprintln!("overlap-tile vs whole: max |diff| = {err:e}; with a 4-pixel margin {bad_err:e}");
    assert!(matches!(
        unet.predict_tiled(slice.view(), 10, margin, 1),
        Err(Error::InvalidParam { param: "tile", .. })
    ));
    assert!(matches!(
        unet.forward(Tensor::<4>::zeros([1, 1, 30, 32], &device)),
        Err(Error::BadShape { .. })
    ));
}

#[test]
fn grad_cam_equals_rectified_cam_over_map_area() {
    // With a GAP + linear head, dscore/dA_k = W[k, c] / (h w), so Grad-CAM = relu(CAM) / (h w).
    let device = dev().autodiff();
    let m = small_resnet(ResNetDepth::R18, 1).init(&device).unwrap();
    let x = Tensor::<4>::random([2, 1, 96, 64], Distribution::Default, &device);
    let gc = grad_cam(&m, x.clone(), 2).unwrap();
    assert_eq!(gc.dims(), [2, 3, 2]);
    let cam = class_activation_map(&m.valid(), x.without_autodiff(), 2).unwrap();
    let expected = burn::tensor::activation::relu(cam).div_scalar(6.0);
    assert!(max_abs_diff(gc.without_autodiff(), expected) < 1e-5);
    assert!(matches!(
        grad_cam(&m.valid(), Tensor::<4>::zeros([1, 1, 32, 32], &dev()), 0),
        Err(Error::NeedsAutodiff { .. })
    ));
    assert!(grad_cam(&m, Tensor::<4>::zeros([1, 1, 32, 32], &device), 3).is_err());
}

fn logits(device: &Device) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(vec![2.0f32, 1.0, 0.0, 0.0, 0.0, 0.0], [2, 3]),
        device,
    )
}

#[test]
fn losses_match_hand_computed_values() {
    // Hand computation (see the crate docs): logits [[2, 1, 0], [0, 0, 0]], targets [0, 2]:
    // log p = [2 - ln(e^2 + e + 1), -ln 3] = [-0.4076059, -1.0986123].
    let device = dev();
    let t = [0usize, 2];
    let v = |x: Tensor<1>| x.into_scalar::<f32>();
    // CE = (0.4076059 + 1.0986123) / 2
    assert!(
        (v(weighted_cross_entropy(logits(&device), &t, &[]).unwrap()) - 0.7531091).abs() < 1e-6
    );
    // weights [1, 2, 3]: (1 * 0.4076059 + 3 * 1.0986123) / (1 + 3)
    assert!(
        (v(weighted_cross_entropy(logits(&device), &t, &[1.0, 2.0, 3.0]).unwrap()) - 0.9258607)
            .abs()
            < 1e-6
    );
    // focal, alpha [0.25, 0.5, 0.75], gamma 2:
    // (0.25 (1 - 0.6652410)^2 0.4076059 + 0.75 (2/3)^2 1.0986123) / 2
    let fl = FocalLoss {
        alpha: vec![0.25, 0.5, 0.75],
        gamma: 2.0,
    };
    assert!((v(fl.forward(logits(&device), &t).unwrap()) - 0.1888118).abs() < 1e-6);
    // gamma 0.5, no alpha
    let fl = FocalLoss {
        alpha: vec![],
        gamma: 0.5,
    };
    assert!((v(fl.forward(logits(&device), &t).unwrap()) - 0.5664237).abs() < 1e-6);
    // gamma 0 without alpha is cross-entropy.
    let fl = FocalLoss {
        alpha: vec![],
        gamma: 0.0,
    };
    assert!((v(fl.forward(logits(&device), &t).unwrap()) - 0.7531091).abs() < 1e-6);
    // Errors.
    let fl = FocalLoss::default();
    assert!(matches!(
        fl.forward(logits(&device), &[0, 3]),
        Err(Error::BadTarget {
            index: 1,
            class: 3,
            num_classes: 3
        })
    ));
    assert!(matches!(
        fl.forward(logits(&device), &[0]),
        Err(Error::BadShape { .. })
    ));
    let bad = FocalLoss {
        alpha: vec![1.0, 1.0],
        gamma: 2.0,
    };
    assert!(matches!(
        bad.forward(logits(&device), &t),
        Err(Error::InvalidParam { param: "alpha", .. })
    ));
    assert!(
        FocalLoss {
            alpha: vec![],
            gamma: -1.0
        }
        .validate()
        .is_err()
    );
}

#[test]
fn focal_loss_gradient_flows() {
    let device = dev().autodiff();
    let x = logits(&device).require_grad();
    let loss = FocalLoss::default().forward(x.clone(), &[0, 2]).unwrap();
    let g = x.grad(&loss.backward()).unwrap();
    // Raising the target logit lowers the loss: negative gradient at the targets.
    let g = g
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert!(g[0] < 0.0 && g[5] < 0.0, "{g:?}");
}

/// C3D's parameter count from the paper's layer table (Tran et al. 2015, Fig. 3): eight
/// 3×3×3 convolutions with biases (3→64→128→256→256→512→512→512→512), fc6 512·1·4·4 → 4096,
/// fc7 4096 → 4096, fc8 4096 → 487; 79,991,015 parameters (320 MB in f32; the paper's
/// Caffe model is reported as 321 MB).
#[test]
fn c3d_has_the_papers_parameter_count_and_takes_any_volume() {
    let device = dev();
    let conv = |cin: usize, cout: usize| cin * cout * 27 + cout;
    let fc = |i: usize, o: usize| i * o + o;
    let expected = conv(3, 64)
        + conv(64, 128)
        + conv(128, 256)
        + conv(256, 256)
        + conv(256, 512)
        + 3 * conv(512, 512)
        + fc(512 * 16, 4096)
        + fc(4096, 4096)
        + fc(4096, 487);
    assert_eq!(expected, 79_991_015);
    assert_eq!(
        C3dConfig::paper().init(&device).unwrap().num_params(),
        expected
    );

    let small = C3dConfig {
        in_channels: 1,
        width: 4,
        fc_width: 16,
        num_classes: 3,
        dropout: Some(0.5),
    }
    .init(&device)
    .unwrap();
    for (s, h, w) in [(16, 32, 32), (5, 20, 17), (1, 8, 8)] {
        let x = Tensor::<5>::random([2, 1, s, h, w], Distribution::Default, &device);
        assert_eq!(small.features(x.clone()).unwrap().dims(), [2, 32, 1, 4, 4]);
        assert_eq!(small.forward(x).unwrap().dims(), [2, 3], "{s}x{h}x{w}");
    }
    let wrong = Tensor::<5>::zeros([1, 3, 4, 8, 8], &device);
    assert!(matches!(
        small.forward(wrong),
        Err(Error::ChannelMismatch { .. })
    ));
    let empty = Tensor::<5>::zeros([1, 1, 0, 8, 8], &device);
    assert!(matches!(small.forward(empty), Err(Error::NoSlices { .. })));
}

/// P3D ResNet's parameter count (Qiu et al. 2017): a bottleneck ResNet whose 3×3 convolution
/// becomes a 1×3×3 spatial and a 3×1×1 temporal filter, each with batch norm. So each unit
/// with p bottleneck channels adds 3p² (the temporal filter) and one batch norm of p channels
/// to the 2-D network: P3D-199 (ResNet-152's [3, 8, 36, 3] units, 487 classes) has
/// torchvision's ResNet-152 count (60,192,808 with 1000 classes) − its classifier + a
/// 487-class one + Σ(3p² + 2p) = 69,032,871 trainable parameters (263 MiB in f32; the paper
/// reports a 261 MB model). Burn's `num_params` also counts batch norm's running mean and
/// variance (2 per channel), added here from the channel count.
#[test]
fn p3d_has_the_papers_parameter_count_and_every_block_kind_runs() {
    let device = dev();
    let fc = |o: usize| 2048 * o + o;
    let widths = |layers: [usize; 4]| layers.into_iter().zip([64usize, 128, 256, 512]);
    // Batch norm channels of ResNet-152 / -50 (stem 64; 6p per unit: p, p, 4p; 4p per
    // stage's projection shortcut).
    let bn_channels = |layers: [usize; 4]| -> usize {
        64 + widths(layers)
            .map(|(n, p)| n * 6 * p + 4 * p)
            .sum::<usize>()
    };
    let expect = |resnet_trainable: usize, layers: [usize; 4]| -> (usize, usize) {
        let extra: usize = widths(layers).map(|(n, p)| n * (3 * p * p + 2 * p)).sum();
        let extra_bn: usize = widths(layers).map(|(n, p)| n * p).sum();
        let trainable = resnet_trainable - fc(1000) + fc(487) + extra;
        (trainable, trainable + 2 * (bn_channels(layers) + extra_bn))
    };
    // The ResNet-50 channel count agrees with torchvision's recorded count plus statistics.
    assert_eq!(25_557_032 + 2 * bn_channels([3, 4, 6, 3]), 25_610_152);

    let (trainable, with_stats) = expect(60_192_808, [3, 8, 36, 3]);
    assert_eq!(trainable, 69_032_871);
    let net = P3dConfig::p3d199().init(&device).unwrap();
    assert_eq!(net.num_params(), with_stats);
    assert_eq!(net.units().len(), 50, "3 + 8 + 36 + 3 units");
    let kinds: Vec<P3dBlock> = net.units().iter().take(4).map(|u| u.block()).collect();
    assert_eq!(kinds, [P3dBlock::A, P3dBlock::B, P3dBlock::C, P3dBlock::A]);
    for block in [P3dBlock::A, P3dBlock::B, P3dBlock::C] {
        let r50 = P3dConfig::resnet50(block).init(&device).unwrap();
        assert_eq!(
            r50.num_params(),
            expect(25_557_032, [3, 4, 6, 3]).1,
            "{block:?}"
        );
    }

    for mix in [
        P3dMix::All(P3dBlock::A),
        P3dMix::All(P3dBlock::B),
        P3dMix::All(P3dBlock::C),
        P3dMix::Cycle,
    ] {
        let small = P3dConfig {
            layers: [1, 1, 1, 1],
            mix,
            base_width: 4,
            in_channels: 1,
            num_classes: 3,
            dropout: Some(0.2),
        }
        .init(&device)
        .unwrap();
        for (s, h) in [(3, 32), (1, 17)] {
            let x = Tensor::<5>::random([2, 1, s, h, h], Distribution::Default, &device);
            assert_eq!(small.forward(x).unwrap().dims(), [2, 3], "{mix:?} {s}x{h}");
        }
    }
    assert!(
        P3dConfig {
            layers: [1, 0, 1, 1],
            ..P3dConfig::p3d199()
        }
        .validate()
        .is_err()
    );
}
