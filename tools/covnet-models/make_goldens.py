#!/usr/bin/env python3
"""Golden files for covnet-models' PyTorch-import tests.

Builds torchvision models with seeded random weights (no downloads), randomises the batch-norm
running statistics and affine parameters so that the inference path is exercised, and saves
for each model: its state_dict (.pt pickle or .safetensors), a fixed input batch and
torchvision's logits in eval mode.

The committed weights must stay small (the crate's test data is well under 1 MB), so the
models keep torchvision's exact layout and depth but run at reduced width:
  - ResNet-18 at base width 2 (torchvision's ResNet class and blocks, stage widths 2..16), .pt,
  - ResNet-50 at base width 2 (Bottleneck blocks [3, 4, 6, 3], output 64 channels),
    .safetensors,
  - DenseNet-169: torchvision's DenseNet(growth_rate=2, block_config=(6, 12, 32, 32),
    num_init_features=4, bn_size=2), .safetensors,
  - VGG-16: torchvision's VGG with make_layers(cfg "D" at 1/32 width) and a classifier of the
    same structure with hidden width 8 instead of 4096, .pt.
It also records the parameter counts of the full-size torchvision models (resnet18/34/50,
densenet169, vgg16) so the Rust configurations can be checked against them.

Usage: python3 tools/covnet-models/make_goldens.py [OUT_DIR]
(default OUT_DIR: crates/covnet-models/tests/data). Needs torch, torchvision, safetensors,
numpy (pinned in tools/requirements.txt).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file
from torchvision.models import resnet as tvr
from torchvision.models import vgg as tvv
from torchvision.models.densenet import DenseNet


class NarrowResNet(tvr.ResNet):
    """torchvision's ResNet with the stem/stage widths scaled from 64 to `width`.

    Same blocks (torchvision's BasicBlock / Bottleneck), same _make_layer, same forward and
    parameter names; only ResNet.__init__'s hard-coded 64 is replaced.
    """

    def __init__(self, block, layers, width, num_classes, in_ch=3):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(in_ch, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def randomise_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=gen) + 0.5
            m.bias.data = torch.randn(c, generator=gen) * 0.1
            m.running_mean.data = torch.randn(c, generator=gen) * 0.1
            m.running_var.data = torch.rand(c, generator=gen) + 0.5


def narrow_vgg16(width_div, hidden, num_classes):
    cfg = [v if v == "M" else v // width_div for v in tvv.cfgs["D"]]
    model = tvv.VGG(tvv.make_layers(cfg, batch_norm=False), num_classes=num_classes)
    c = cfg[-2]
    model.classifier = nn.Sequential(
        nn.Linear(c * 7 * 7, hidden),
        nn.ReLU(True),
        nn.Dropout(0.5),
        nn.Linear(hidden, hidden),
        nn.ReLU(True),
        nn.Dropout(0.5),
        nn.Linear(hidden, num_classes),
    )
    return model


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "crates/covnet-models/tests/data"
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(1234)

    models = {
        # name: (model, file format, input shape)
        "resnet18": (NarrowResNet(tvr.BasicBlock, [2, 2, 2, 2], 2, 10), "pt"),
        "resnet50": (NarrowResNet(tvr.Bottleneck, [3, 4, 6, 3], 2, 10), "safetensors"),
        "densenet169": (
            DenseNet(growth_rate=2, block_config=(6, 12, 32, 32), num_init_features=4, bn_size=2, num_classes=10),
            "safetensors",
        ),
        "vgg16": (narrow_vgg16(32, 8, 10), "pt"),
    }
    # One fixed input batch for all models (2 x 3 x 32 x 32: every stride-32 network still
    # ends on a 1 x 1 map, and VGG's adaptive 7 x 7 pool then replicates it).
    shape = (2, 3, 32, 32)
    x = torch.randn(*shape, generator=gen)
    np.save(os.path.join(out, "input.npy"), x.numpy().astype(np.float32))
    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
    for name, (model, fmt) in models.items():
        randomise_bn(model, gen)
        model.eval()
        with torch.no_grad():
            y = model(x)
        sd = model.state_dict()
        path = os.path.join(out, f"{name}_small.{fmt}")
        if fmt == "pt":
            torch.save(sd, path)
        else:
            save_file({k: v.contiguous() for k, v in sd.items()}, path)
        np.save(os.path.join(out, f"{name}_logits.npy"), y.numpy().astype(np.float32))
        n_params = sum(p.numel() for p in model.parameters())
        meta["models"][name] = {"file": os.path.basename(path), "params": n_params, "input": list(shape)}
        print(f"{name}: {n_params} params, {os.path.getsize(path)} bytes, logits[0,:3]={y[0, :3].tolist()}")

    full = {
        "resnet18": torchvision.models.resnet18(),
        "resnet34": torchvision.models.resnet34(),
        "resnet50": torchvision.models.resnet50(),
        "densenet169": torchvision.models.densenet169(),
        "vgg16": torchvision.models.vgg16(),
    }
    meta["full_size_params"] = {k: sum(p.numel() for p in m.parameters()) for k, m in full.items()}
    # Burn's num_params also counts batch norm's running mean and variance.
    meta["full_size_params_plus_bn_stats"] = {
        k: sum(p.numel() for p in m.parameters())
        + sum(b.numel() for n, b in m.named_buffers() if n.endswith(("running_mean", "running_var")))
        for k, m in full.items()
    }
    with open(os.path.join(out, "goldens.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    print(json.dumps(meta["full_size_params"]))


if __name__ == "__main__":
    main()
