#!/usr/bin/env python3
"""PyTorch eager baseline for COVNet-ResNet, the same job as covnet_bench (Burn).

COVNet = torchvision resnet18/50 (fc removed, conv1 with --channels inputs) on every slice,
max over slices, linear head to 3 classes; Adam (lr 1e-4); batch of B scans x S slices x C x
N x N. Prints training-step and inference throughput in slices/s (min and median over --steps
after --warmup untimed steps) and the training step split into forward+loss, backward and
optimizer (each followed by a device sync), for each dtype: f32, and bf16 through autocast.
Also the process CPU time (all threads) of each, the steadier measure for single-threaded CPU
runs on a shared machine. On CUDA cudnn.benchmark is on (--cudnn-benchmark 0 turns it off).

Usage:
  python3 tools/gpu/torch_covnet.py [--device cuda|cpu] [--depth 18|50] [--channels 3]
      [--scans 2] [--slices 32] [--size 224] [--steps 10] [--warmup 3] [--dtypes f32,bf16]
      [--threads T] [--cudnn-benchmark 1] [--no-train] [--label torch-eager]
"""
import argparse
import time

import torch
import torch.nn as nn

try:
    import torchvision
except ImportError:  # the GPU machine's python3 may have torch only
    torchvision = None


class _Block(nn.Module):
    """torchvision's BasicBlock (expansion 1) / Bottleneck (expansion 4, stride on the 3x3)."""

    def __init__(self, inplanes, planes, stride, bottleneck):
        super().__init__()
        out = planes * (4 if bottleneck else 1)
        if bottleneck:
            layers = [nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes),
                      nn.ReLU(inplace=True),
                      nn.Conv2d(planes, planes, 3, stride, 1, bias=False),
                      nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
                      nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out)]
        else:
            layers = [nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False),
                      nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
                      nn.Conv2d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes)]
        self.body = nn.Sequential(*layers)
        self.down = None
        if stride != 1 or inplanes != out:
            self.down = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False),
                                      nn.BatchNorm2d(out))

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        return torch.relu(self.body(x) + identity)


class _ResNet(nn.Module):
    """The same network as torchvision.models.resnet{18,34,50}() (same layers, shapes and
    FLOPs; parameter names differ), used only when torchvision is not installed."""

    def __init__(self, depth):
        super().__init__()
        blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3]}[depth]
        bottleneck = depth == 50
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        stem = [nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
        layers, inplanes = [], 64
        for stage, n in enumerate(blocks):
            planes = 64 << stage
            for i in range(n):
                layers.append(_Block(inplanes, planes, 2 if i == 0 and stage > 0 else 1,
                                     bottleneck))
                inplanes = planes * (4 if bottleneck else 1)
        self.rest = nn.Sequential(*stem, *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(inplanes, 1000)

    def forward(self, x):
        return self.fc(self.rest(self.conv1(x)))


def resnet(depth):
    if torchvision is not None:
        return getattr(torchvision.models, f"resnet{depth}")()
    return _ResNet(depth)


class CovNet(nn.Module):
    def __init__(self, depth=50, channels=3, classes=3):
        super().__init__()
        self.backbone = resnet(depth)
        if channels != 3:
            self.backbone.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
        features = self.backbone.fc.in_features
        self.backbone.fc = nn.Identity()
        self.fc = nn.Linear(features, classes)

    def forward(self, x):
        b, s = x.shape[:2]
        f = self.backbone(x.flatten(0, 1)).view(b, s, -1)
        return self.fc(f.max(dim=1).values)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--depth", type=int, default=50, choices=[18, 34, 50])
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--scans", type=int, default=2)
    p.add_argument("--slices", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--dtypes", default="f32,bf16")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    p.add_argument("--cudnn-benchmark", type=int, default=1)
    p.add_argument("--no-train", action="store_true")
    p.add_argument("--label", default="torch-eager", help="name on the output lines")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if a.device == "cuda":
        torch.backends.cudnn.benchmark = bool(a.cudnn_benchmark)
        card = torch.cuda.get_device_name(0)
        sync = torch.cuda.synchronize
    else:
        card = f"CPU, {torch.get_num_threads()} threads"
        sync = lambda: None  # noqa: E731 (eager CPU ops are synchronous)
    tv = f"torchvision {torchvision.__version__}" if torchvision else "no torchvision: built-in ResNet"
    print(f"torch {torch.__version__} on {card} ({tv})")
    shape = f"{a.scans}x{a.slices}x{a.channels}x{a.size}x{a.size}"
    n = a.scans * a.slices
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.scans, a.slices, a.channels, a.size, a.size, generator=g).to(dev)
    y = (torch.arange(a.scans) % 3).to(dev)
    for dtype in a.dtypes.split(","):
        if dtype not in ("f32", "bf16"):
            raise SystemExit(f"--dtypes: unknown dtype {dtype!r} (f32, bf16)")
        torch.manual_seed(0)
        model = CovNet(a.depth, a.channels).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        ac = torch.autocast(a.device, dtype=torch.bfloat16, enabled=dtype == "bf16")
        train_txt = "train not run"
        cpu_train = ""
        split_txt = None
        if not a.no_train:
            model.train()
            total, fwd, bwd, stp = [], [], [], []
            cpu = [[], [], [], []]
            t0 = time.perf_counter()
            for i in range(a.warmup + a.steps):
                t = time.perf_counter()
                c = time.process_time()
                with ac:
                    loss = nn.functional.cross_entropy(model(x), y)
                sync()
                t1, c1 = time.perf_counter(), time.process_time()
                loss.backward()
                sync()
                t2, c2 = time.perf_counter(), time.process_time()
                opt.step()
                opt.zero_grad(set_to_none=True)
                sync()
                t3, c3 = time.perf_counter(), time.process_time()
                if i == 0:
                    print(f"  {a.label} {dtype}: first train step {t3 - t0:.2f} s")
                if i >= a.warmup:
                    total.append(t3 - t)
                    fwd.append(t1 - t)
                    bwd.append(t2 - t1)
                    stp.append(t3 - t2)
                    for v, d in zip(cpu, (c3 - c, c1 - c, c2 - c1, c3 - c2)):
                        v.append(d * 1e3)
            total.sort()
            tmin, tmed = total[0], total[len(total) // 2]
            train_txt = (
                f"train {n / tmin:.1f} slices/s (min {tmin * 1e3:.1f} ms/step, "
                f"median {tmed * 1e3:.1f})"
            )
            split_txt = (
                f"split {a.label} {dtype}: COVNet-ResNet-{a.depth} {shape}: forward+loss "
                f"{min(fwd) * 1e3:.1f} ms, backward {min(bwd) * 1e3:.1f} ms, optimizer "
                f"(Adam + zero_grad) {min(stp) * 1e3:.1f} ms [min of {a.steps}]; cpu: forward+loss "
                f"{min(cpu[1]):.0f} ms, backward {min(cpu[2]):.0f} ms, optimizer {min(cpu[3]):.0f} ms"
            )
            cpu_train = f"train {min(cpu[0]):.0f} ms/step, "
        model.eval()
        times, cpu_inf = [], []
        for i in range(a.warmup + a.steps):
            t, c = time.perf_counter(), time.process_time()
            with torch.no_grad(), ac:
                model(x).float().cpu()
            if i >= a.warmup:
                times.append(time.perf_counter() - t)
                cpu_inf.append((time.process_time() - c) * 1e3)
        times.sort()
        imin, imed = times[0], times[len(times) // 2]
        print(
            f"bench {a.label} {dtype}: COVNet-ResNet-{a.depth} {shape}: {train_txt}, inference "
            f"{n / imin:.1f} slices/s (min {imin * 1e3:.1f} ms/batch, median {imed * 1e3:.1f}) "
            f"[{a.steps} timed after {a.warmup} warm-up; threads {torch.get_num_threads()}]; "
            f"cpu: {cpu_train}inference {min(cpu_inf):.0f} ms/batch",
            flush=True,
        )
        if split_txt:
            print(split_txt, flush=True)


if __name__ == "__main__":
    main()
