#!/usr/bin/env python3
"""PyTorch eager baseline for COVNet-ResNet-50 on the GPU, the same job as gpu_bench.

COVNet = torchvision resnet50 (fc removed) on every slice, max over slices, linear head to
3 classes; Adam; batch of B scans x S slices x 3 x N x N. Prints training-step and inference
throughput in slices/s, fp32 and bf16 (autocast), cudnn.benchmark on.

Usage: python3 tools/gpu/torch_covnet.py [--scans 2] [--slices 32] [--size 224] [--steps 10]
"""
import argparse
import time

import torch
import torch.nn as nn
import torchvision


class CovNet(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.backbone = torchvision.models.resnet50()
        self.backbone.fc = nn.Identity()
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        b, s = x.shape[:2]
        f = self.backbone(x.flatten(0, 1)).view(b, s, -1)
        return self.fc(f.max(dim=1).values)


def median_time(fn, steps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scans", type=int, default=2)
    p.add_argument("--slices", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    x = torch.randn(a.scans, a.slices, 3, a.size, a.size, device=dev)
    y = torch.arange(a.scans, device=dev) % 3
    n = a.scans * a.slices
    for dtype in ["f32", "bf16"]:
        torch.manual_seed(0)
        model = CovNet().to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        ac = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == "bf16")

        def train():
            opt.zero_grad(set_to_none=True)
            with ac:
                loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        model.train()
        t_train = median_time(train, a.steps)
        model.eval()

        def infer():
            with torch.no_grad(), ac:
                model(x)

        t_inf = median_time(infer, a.steps)
        print(
            f"bench torch-eager {dtype}: COVNet-ResNet-50 {a.scans}x{a.slices}x3x{a.size}x{a.size}: "
            f"train {n / t_train:.1f} slices/s ({t_train * 1e3:.1f} ms/step), "
            f"inference {n / t_inf:.1f} slices/s ({t_inf * 1e3:.1f} ms/batch) [median of {a.steps}]"
        )


if __name__ == "__main__":
    main()
