#!/usr/bin/env python3
"""Where does a Burn training step lose time against PyTorch? Replays, inside PyTorch, the
algorithms Burn 0.22.1 uses for the parts where it does not call libtorch's fused kernels, and
times a COVNet-ResNet training step with each replacement switched on:

  conv    burn-backend's default conv2d backward (burn-tch does not override it): input grad
          as conv_transpose2d(grad, w), weight grad as conv2d(x^T, grad^T) with the roles of
          stride and dilation swapped (a "kernel" the size of the output map), then ^T and a
          slice, instead of libtorch's convolution_backward (cuDNN wgrad/dgrad kernels).
  bn      burn-backend's default batch_norm_train / batch_norm_train_backward (burn-tch does not
          override them): statistics from swap_dims(0,1)+reshape copies, about ten element-wise
          passes forward and backward, plus Burn's running-statistics update (4 small ops per
          statistic), instead of one native batch_norm kernel each way.
  adam    burn-optim's Adam: per parameter ~12 out-of-place element-wise ops (new tensors every
          step) instead of torch.optim.Adam (in-place; foreach multi-tensor kernels on CUDA).

What is left between `burn` (all three) and Burn itself on the same libtorch is Burn's own
per-operation overhead (dispatch, autodiff graph, allocation), which this cannot replay.

Usage: python3 tools/covnet-models/burn_like_torch.py [--device cpu|cuda] [--depth 18|50]
          [--channels 1] [--scans 1] [--slices 16] [--size 112] [--steps 3] [--warmup 1]
          [--threads T] [--variants native,conv,bn,adam,burn] [--check]
--check compares the replacements' gradients with autograd's (run in the tests of this file's
author; prints the largest relative difference of each).
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The same COVNet as the PyTorch baseline (torchvision's ResNet, or its built-in copy when the
# GPU machine's python3 has no torchvision).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gpu"))
from torch_covnet import CovNet  # noqa: E402


# ---------------------------------------------------------------- conv backward as Burn does it
class BurnConv2dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, stride, padding, dilation):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation)
        return F.conv2d(x, w, None, stride, padding, dilation)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, dilation = ctx.conf
        cout, cin, kh, kw = w.shape
        # burn-backend conv2d_x_backward: conv_transpose2d with the padding_out that
        # restores the input size.
        out_pad = []
        for i, k in enumerate((kh, kw)):
            size_in, size_out = x.shape[2 + i], gy.shape[2 + i]
            expected = (size_out - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k - 1) + 1
            out_pad.append(size_in - expected)
        gx = F.conv_transpose2d(gy, w, None, stride, padding, tuple(out_pad), 1, dilation)
        # burn-backend conv2d_weight_grad_no_groups: conv of the swapped tensors, stride and
        # dilation exchanged, swapped back, sliced to the kernel size.
        gw = F.conv2d(x.transpose(0, 1), gy.transpose(0, 1), None, dilation, padding, stride)
        gw = gw.transpose(0, 1)[:cout, :cin, :kh, :kw]
        return gx, gw, None, None, None


class BurnConv2d(nn.Conv2d):
    def forward(self, x):
        assert self.bias is None and self.groups == 1
        return BurnConv2dFn.apply(x, self.weight, self.stride, self.padding, self.dilation)


# ---------------------------------------------------------------- batch norm as Burn does it
def _flat(t):
    # B::float_reshape(B::float_swap_dims(t, 0, 1), [C, N*H*W]): a copy (not a view)
    return t.transpose(0, 1).reshape(t.shape[1], -1)


class BurnBatchNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        c = x.shape[1]
        pc = (1, c, 1, 1)
        mean = _flat(x).mean(1).view(pc)
        centered = x - mean
        var = _flat(centered * centered).mean(1)
        std = (var.view(pc) + eps).sqrt()
        out = (x - mean) / std * gamma.view(pc) + beta.view(pc)
        ctx.save_for_backward(x, gamma, mean.view(c), var)
        ctx.eps = eps
        return out, mean.view(c), var

    @staticmethod
    def backward(ctx, gy, _gm, _gv):
        x, gamma, mean, var = ctx.saved_tensors
        c = x.shape[1]
        pc = (1, c, 1, 1)
        inv_std = (var + ctx.eps).sqrt().reciprocal().view(pc)
        normalized = (x - mean.view(pc)) * inv_std
        gy_flat = _flat(gy)
        ngy_flat = _flat(gy * normalized)
        beta_grad = gy_flat.sum(1)
        gamma_grad = ngy_flat.sum(1)
        mean_grad = gy_flat.mean(1).view(pc)
        mean_ngrad = ngy_flat.mean(1).view(pc)
        gx = gamma.view(pc) * inv_std * ((gy - mean_grad) - normalized * mean_ngrad)
        return gx, gamma_grad, beta_grad, None


class BurnBatchNorm(nn.BatchNorm2d):
    def forward(self, x):
        if not self.training:
            return super().forward(x)
        out, mean, var = BurnBatchNormFn.apply(x, self.weight, self.bias, self.eps)
        m = self.momentum
        with torch.no_grad():  # burn-nn BatchNorm::forward_train: out-of-place, then assigned
            self.running_mean = self.running_mean * (1 - m) + mean.detach() * m
            self.running_var = self.running_var * (1 - m) + var.detach() * m
        return out


# ---------------------------------------------------------------- Adam as burn-optim does it
class BurnAdam:
    def __init__(self, params, lr=1e-4, b1=0.9, b2=0.999, eps=1e-5):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.state, self.t = {}, 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2, t = self.b1, self.b2, self.t
        bc2 = (1 - b2**t) ** 0.5
        factor = bc2 / (1 - b1**t)
        for p in self.params:
            g = p.grad
            if p in self.state:
                m, v = self.state[p]
                m = m * b1 + g * (1 - b1)
                v = v * b2 + g.square() * (1 - b2)
            else:
                m, v = g * (1 - b1), g.square() * (1 - b2)
            self.state[p] = (m, v)
            upd = (m * factor) / (v.sqrt() + self.eps * bc2)
            p.data = p - upd * self.lr  # new tensor, as `tensor - delta` in Burn
            p.grad = None

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None


# ---------------------------------------------------------------- model and timing
def swap_modules(model, conv, bn):
    for name, mod in list(model.named_modules()):
        for cname, child in list(mod.named_children()):
            if conv and type(child) is nn.Conv2d:
                new = BurnConv2d(child.in_channels, child.out_channels, child.kernel_size,
                                 child.stride, child.padding, child.dilation, bias=False)
                new.weight = child.weight
                setattr(mod, cname, new)
            elif bn and type(child) is nn.BatchNorm2d:
                new = BurnBatchNorm(child.num_features, child.eps, child.momentum)
                new.load_state_dict(child.state_dict())
                setattr(mod, cname, new.to(child.weight.device))
    return model


def run(a, variant, dev, x, y, sync):
    on = {"native": set(), "conv": {"conv"}, "bn": {"bn"}, "adam": {"adam"},
          "burn": {"conv", "bn", "adam"}}[variant]
    torch.manual_seed(0)
    model = swap_modules(CovNet(a.depth, a.channels), "conv" in on, "bn" in on).to(dev)
    model.train()
    opt = (BurnAdam(model.parameters()) if "adam" in on
           else torch.optim.Adam(model.parameters(), lr=1e-4))
    fwd, bwd, stp, cpu = [], [], [], [[], [], []]
    for i in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = F.cross_entropy(model(x), y)
        sync()
        t1, c1 = time.perf_counter(), time.process_time()
        loss.backward()
        sync()
        t2, c2 = time.perf_counter(), time.process_time()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        t3, c3 = time.perf_counter(), time.process_time()
        if i >= a.warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            stp.append(t3 - t2)
            for v, d in zip(cpu, (c1 - c0, c2 - c1, c3 - c2)):
                v.append(d * 1e3)
    f, b, o = min(fwd), min(bwd), min(stp)
    n = a.scans * a.slices
    print(f"burn-like {variant:6s} COVNet-ResNet-{a.depth} {a.scans}x{a.slices}x{a.channels}x"
          f"{a.size}x{a.size}: forward+loss {f * 1e3:8.1f} ms, backward {b * 1e3:8.1f} ms, "
          f"optimizer {o * 1e3:7.1f} ms, step {(f + b + o) * 1e3:8.1f} ms "
          f"= {n / (f + b + o):.1f} slices/s [min of {a.steps}]; cpu: forward+loss "
          f"{min(cpu[0]):.0f} ms, backward {min(cpu[1]):.0f} ms, optimizer {min(cpu[2]):.0f} ms",
          flush=True)


def check(dev):
    """The replacements compute the same gradients as autograd (they must, to be a fair
    replay)."""
    torch.manual_seed(1)
    x = torch.randn(3, 5, 11, 13, device=dev, dtype=torch.float64, requires_grad=True)
    for stride, pad, dil, k in [(1, 1, 1, 3), (2, 1, 1, 3), (2, 3, 1, 7), (2, 0, 1, 1), (1, 2, 2, 3)]:
        w = torch.randn(4, 5, k, k, device=dev, dtype=torch.float64, requires_grad=True)
        ref = F.conv2d(x, w, None, stride, pad, dil)
        gy = torch.randn_like(ref)
        gx_ref, gw_ref = torch.autograd.grad(ref, (x, w), gy)
        out = BurnConv2dFn.apply(x, w, (stride,) * 2, (pad,) * 2, (dil,) * 2)
        gx, gw = torch.autograd.grad(out, (x, w), gy)
        e = max((gx - gx_ref).abs().max() / gx_ref.abs().max(),
                (gw - gw_ref).abs().max() / gw_ref.abs().max())
        print(f"check conv s{stride} p{pad} d{dil} k{k}: max rel grad diff {e:.1e}")
        assert e < 1e-10
    g = torch.randn(5, device=dev, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, device=dev, dtype=torch.float64, requires_grad=True)
    ref = F.batch_norm(x, None, None, g, b, True, 0.1, 1e-5)
    gy = torch.randn_like(ref)
    grads_ref = torch.autograd.grad(ref, (x, g, b), gy)
    out = BurnBatchNormFn.apply(x, g, b, 1e-5)[0]
    grads = torch.autograd.grad(out, (x, g, b), gy)
    e = max(float((u - v).abs().max() / v.abs().max()) for u, v in zip(grads, grads_ref))
    print(f"check batch norm: max rel output diff {float((out - ref).detach().abs().max()):.1e}, "
          f"grad diff {e:.1e}")
    assert e < 1e-10


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--depth", type=int, default=18, choices=[18, 34, 50])
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--scans", type=int, default=1)
    p.add_argument("--slices", type=int, default=16)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--variants", default="native,conv,bn,adam,burn")
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if a.device == "cuda":
        torch.backends.cudnn.benchmark = True
        sync = torch.cuda.synchronize
        where = torch.cuda.get_device_name(0)
    else:
        sync = lambda: None  # noqa: E731
        where = f"CPU, {torch.get_num_threads()} threads"
    print(f"burn-like: torch {torch.__version__} on {where}", flush=True)
    if a.check:
        check(dev)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.scans, a.slices, a.channels, a.size, a.size, generator=g).to(dev)
    y = (torch.arange(a.scans) % 3).to(dev)
    for v in a.variants.split(","):
        run(a, v, dev, x, y, sync)


if __name__ == "__main__":
    main()
