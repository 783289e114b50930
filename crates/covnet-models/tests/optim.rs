//! `FusedAdam` off libtorch. A test binary of its own: tests in one binary run in parallel and
//! share the device RNG that lazily initialised parameters draw from, so a test initialising a
//! model next to `train.rs`'s seeded training runs would change their starting weights.

use burn::optim::GradientsParams;
use burn::prelude::*;
use covnet_models::*;

mod common;

use common::{Rng, batch, small_covnet};

/// Off libtorch, `FusedAdam` is Burn's Adam with the same hyper-parameters: the same model
/// after the same steps, bit for bit (on libtorch, `tests/tch_native.rs` compares the fused
/// kernel with Burn's Adam; it needs `--features tch`).
#[test]
fn fused_adam_is_burns_adam_off_libtorch() {
    let device = Device::flex().autodiff();
    // One initial model, materialised by a forward pass (parameters are initialised lazily,
    // from a device RNG that tests running in parallel share), then an independent copy per
    // run through its record: clones of a module share their batch-norm running statistics.
    let probe = || batch(&mut Rng(9), 2, 3, 24, &Device::flex()).0;
    let initial = small_covnet(SlicePooling::Max).init(&device).unwrap();
    let untrained = initial.valid().forward(probe()).unwrap().into_data();
    let fresh = || {
        small_covnet(SlicePooling::Max)
            .init(&device)
            .unwrap()
            .load_record(initial.clone().into_record())
    };
    let config = FusedAdamConfig {
        weight_decay: Some(1e-3),
        ..FusedAdamConfig::default()
    };
    let run = |mut optim: burn::optim::ModuleOptimizer| {
        let mut rng = Rng(7);
        let mut m = fresh();
        for _ in 0..3 {
            let (x, y) = batch(&mut rng, 2, 3, 24, &device);
            let loss = weighted_cross_entropy(m.forward(x).unwrap(), &y, &[]).unwrap();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            m = optim.step(1e-2, m, grads);
        }
        m.valid().forward(probe()).unwrap().into_data()
    };
    let fused = run(config.init());
    let plain = run(config.burn_config().init());
    assert_eq!(fused, plain);
    assert_ne!(untrained, fused, "the steps must move the model");
}
