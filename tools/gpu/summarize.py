#!/usr/bin/env python3
"""Turns the `bench` / `split` / `check` lines of covnet_bench (Burn) and torch_covnet.py
(PyTorch) into markdown tables: throughput in slices/s with the ratio to PyTorch eager of the
same model, shape and dtype, and the training step split into forward, backward, optimizer.

Repeated runs of one configuration (several rounds on a noisy machine) are reduced to the
best one: the highest slices/s (= the minimum time) and the minimum of each split phase.

Usage: python3 tools/gpu/summarize.py LOG [LOG ...]   (or read stdin)
Standard library only (runs on the GPU machine's python3).
"""
import re
import sys

NUM = r"([0-9.]+)"
BENCH = re.compile(
    r"^bench (\S+) (\S+): COVNet-ResNet-(\d+) (\S+): "
    r"(?:train " + NUM + r" slices/s \(min " + NUM + r" ms/step, median " + NUM + r"\)"
    r"|train not run), inference " + NUM + r" slices/s \(min " + NUM + r" ms/batch"
)
SPLIT = re.compile(
    r"^split (\S+) (\S+): COVNet-ResNet-(\d+) (\S+): forward\+loss " + NUM
    + r" ms, backward " + NUM + r" ms, optimizer .*? " + NUM + r" ms \["
)
REPLAY = re.compile(
    r"^burn-like (\S+)\s+COVNet-ResNet-(\d+) (\S+): forward\+loss\s+" + NUM
    + r" ms, backward\s+" + NUM + r" ms, optimizer\s+" + NUM + r" ms"
)
CPU_BENCH = re.compile(r"cpu: (?:train ([0-9.]+) ms/step, )?inference ([0-9.]+) ms/batch")
CPU_SPLIT = re.compile(
    r"cpu: forward\+loss ([0-9.]+) ms, backward ([0-9.]+) ms, optimizer ([0-9.]+) ms"
)
UNSUPPORTED = re.compile(r"^bench (\S+) (\S+): not supported")
REFERENCE = "torch-eager"


def main():
    lines = []
    if len(sys.argv) > 1:
        for path in sys.argv[1:]:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines += f.read().splitlines()
    else:
        lines = sys.stdin.read().splitlines()
    bench, split, order, notes = {}, {}, [], []
    replay, replay_order = {}, []
    for line in lines:
        line = line.strip()
        m = BENCH.match(line)
        if m:
            name, dtype, depth, shape = m.group(1, 2, 3, 4)
            key = (depth, shape, dtype, name)
            train = float(m.group(5)) if m.group(5) else None
            infer = float(m.group(8))
            if key not in bench:
                order.append(key)
                bench[key] = {"train": train, "infer": infer, "runs": 0}
            b = bench[key]
            b["runs"] += 1
            if train is not None:
                b["train"] = max(train, b["train"] or 0.0)
            b["infer"] = max(infer, b["infer"])
            c = CPU_BENCH.search(line)
            if c:
                for k, v in (("cpu_train", c.group(1)), ("cpu_infer", c.group(2))):
                    if v is not None:
                        b[k] = min(float(v), b.get(k, float("inf")))
            continue
        m = SPLIT.match(line)
        if m:
            name, dtype, depth, shape = m.group(1, 2, 3, 4)
            key = (depth, shape, dtype, name)
            vals = [float(v) for v in m.group(5, 6, 7)]
            old = split.get(key)
            c = CPU_SPLIT.search(line)
            vals += [float(v) for v in c.groups()] if c else [float("nan")] * 3
            split[key] = vals if old is None else [min(a, b) for a, b in zip(old, vals)]
            continue
        m = REPLAY.match(line)
        if m:
            variant, depth, shape = m.group(1, 2, 3)
            key = (depth, shape, variant)
            vals = [float(v) for v in m.group(4, 5, 6)]
            c = CPU_SPLIT.search(line)
            vals += [float(v) for v in c.groups()] if c else [float("nan")] * 3
            if key not in replay:
                replay_order.append(key)
            old = replay.get(key)
            replay[key] = vals if old is None else [min(a, b) for a, b in zip(old, vals)]
            continue
        m = UNSUPPORTED.match(line)
        if m:
            notes.append(f"{m.group(1)} {m.group(2)}: not supported by the device")
            continue
        if (line.startswith("check ") or line.startswith("FAILED")
                or line.startswith("torch ") and " on " in line):
            if line not in notes:
                notes.append(line)
    if not bench and not replay:
        print("summarize: no `bench` or `burn-like` lines found", file=sys.stderr)
        return 1

    if bench:
        bench_table(bench, order)
    if split:
        split_table(split, order)
    if replay:
        replay_table(replay, replay_order)
    if notes:
        print()
        for n in notes:
            print(f"- {n}")
    return 0


def fmt(v):
    return "–" if v is None else f"{v:.1f}"


def ratio(v, ref):
    return "–" if v is None or not ref else f"{v / ref:.2f}×"


def bench_table(bench, order):
    print("| model | batch (B×S×C×H×W) | backend | dtype | train slices/s | vs PyTorch | "
          "inference slices/s | vs PyTorch | CPU ms/step train | CPU ms/batch infer | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    order.sort(key=lambda k: (k[0], k[1], k[2], k[3] != REFERENCE, k[3]))
    for key in order:
        depth, shape, dtype, name = key
        b = bench[key]
        ref = bench.get((depth, shape, dtype, REFERENCE), {})
        print(
            f"| COVNet-ResNet-{depth} | {shape} | {name} | {dtype} | {fmt(b['train'])} | "
            f"{ratio(b['train'], ref.get('train'))} | {fmt(b['infer'])} | "
            f"{ratio(b['infer'], ref.get('infer'))} | {fmt(b.get('cpu_train'))} | "
            f"{fmt(b.get('cpu_infer'))} | {b['runs']} |"
        )


def split_table(split, order):
    print()
    print("Training step split (ms, min over steps and runs; each phase ends with a sync):")
    print()
    print("| model | batch | backend | dtype | forward+loss | backward | optimizer | sum | "
          "CPU forward | CPU backward | CPU optimizer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key in order:
        if key in split:
            depth, shape, dtype, name = key
            f, b, o, cf, cb, co = split[key]
            print(f"| COVNet-ResNet-{depth} | {shape} | {name} | {dtype} | {f:.1f} | "
                  f"{b:.1f} | {o:.1f} | {f + b + o:.1f} | {cf:.0f} | {cb:.0f} | {co:.0f} |")


def replay_table(replay, replay_order):
    print()
    print("PyTorch replaying Burn's algorithms (burn_like_torch.py; ms, min over steps; "
          "native = PyTorch as is, burn = Burn's conv backward + batch norm + Adam):")
    print()
    print("| model | batch | variant | forward+loss | backward | optimizer | step | vs native "
          "| CPU forward | CPU backward | CPU optimizer | CPU step |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in replay_order:
        depth, shape, variant = key
        f, b, o, cf, cb, co = replay[key]
        nat = replay.get((depth, shape, "native"))
        rel = f"{(f + b + o) / sum(nat[:3]):.2f}×" if nat else "–"
        print(f"| COVNet-ResNet-{depth} | {shape} | {variant} | {f:.1f} | {b:.1f} | "
              f"{o:.1f} | {f + b + o:.1f} | {rel} | {cf:.0f} | {cb:.0f} | {co:.0f} | "
              f"{cf + cb + co:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
