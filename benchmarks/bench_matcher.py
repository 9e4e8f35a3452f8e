"""Our LightGlue against the official implementation: same process, same features, interleaved.

Usage::

    .venv/bin/python benchmarks/bench_matcher.py [--features aliked] [--repeats 5] [--threads 1]

Features are the reference extractor's outputs stored in ``tests/data/motorcycle.npz``
(2048 keypoints per image); smaller sizes keep the strongest keypoints. For every size and
mode three matchers run on the same input in alternation: the reference, ours in float32 and
ours with ``mp=True`` (bfloat16 matrix products on the CPU, float16 autocast on CUDA). The
table gives the median times, the speed-ups (reference / ours, ours / ours-mp), the layers
run (``stop``) and the share of ``matches0`` equal: ours against the reference (must be 100 %:
a faster model that changes the matches is a bug), mp against our float32.

``--roofline`` adds what bounds the ratio: the floating-point work of a full-depth forward
(counted from the architecture), the rate each side reaches in full mode, and this machine's
float32 and bfloat16 matrix-product peaks (``torch.mm`` on 2048 x 2048 matrices).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from reference import reference_lightglue  # noqa: E402

from lightglue import LightGlue  # noqa: E402

DATA = Path(__file__).parents[1] / "tests" / "data" / "motorcycle.npz"
MODES = {"adaptive": {}, "full": {"depth_confidence": -1, "width_confidence": -1}}


def load_features(feat: str, n: int, device: str, pair: str = "motorcycle") -> dict:
    """The strongest ``n`` reference keypoints of each image of a golden pair as matcher input (in their order)."""
    g = np.load(DATA.with_name(f"{pair}.npz"))
    data = {}
    for i in (0, 1):
        keep = np.argsort(-g[f"{feat}_keypoint_scores{i}"], kind="stable")[:n]
        keep.sort()
        data[f"image{i}"] = {
            "keypoints": torch.from_numpy(g[f"{feat}_keypoints{i}"][keep]).float()[None].to(device),
            "descriptors": torch.from_numpy(g[f"{feat}_descriptors{i}"][keep]).float()[None].to(device),
            "image_size": torch.from_numpy(g[f"{feat}_image_size{i}"]).float()[None].to(device),
        }
    return data


def timed(model, data, device: str) -> tuple[float, dict]:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = model(data)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def interleaved(models: dict, data: dict, repeats: int, device: str) -> tuple[dict[str, float], dict[str, dict]]:
    """Median seconds of each model on ``data`` (one warm-up each, then ``repeats`` rounds in turn) and its last output."""
    times: dict[str, list[float]] = {name: [] for name in models}
    outs = {}
    for model in models.values():
        timed(model, data, device)
    for _ in range(repeats):
        for name, model in models.items():
            t, outs[name] = timed(model, data, device)
            times[name].append(t)
    return {name: statistics.median(ts) for name, ts in times.items()}, outs


def full_forward_flops(model: LightGlue, m: int, n: int) -> float:
    """Floating-point operations of a full-depth forward (no exit, no pruning) on M + N points.

    Counts the matrix products (2 per multiply-add): per layer and point the dense layers
    (self block 10 d^2, cross block 9 d^2), per layer the attention (self: 2 (M^2 + N^2) d,
    cross: 4 M N d), then the input projection and the last assignment head (2 (M + N) d^2 +
    M N d). Element-wise work (norms, softmax, rotary) is left out.
    """
    c = model.conf
    d = c.descriptor_dim
    dense = 19 * d * d * (m + n)
    attention = 2 * (m * m + n * n) * d + 4 * m * n * d
    projection = (m + n) * c.input_dim * d if c.input_dim != d else 0
    head = (m + n) * d * d + m * n * d
    return 2.0 * (c.n_layers * (dense + attention) + projection + head)


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """Measured rate of ``torch.mm`` on two [size, size] matrices of ``dtype``, in FLOP/s."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2.0 * size**3 / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", default="aliked", choices=["aliked", "disk"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--roofline", action="store_true", help="print FLOP rates and this machine's matmul peaks")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, features {args.features}")
    print(
        f"{'mode':9} {'kpts':>5} {'ref ms':>8} {'ours ms':>8} {'ref/ours':>8} {'stop r/o':>9} {'same m0':>8}"
        f" {'mp ms':>8} {'ours/mp':>8} {'stop mp':>8} {'mp same m0':>10}"
    )
    ratios, mp_ratios, rates = [], [], []
    for mode, conf in MODES.items():
        ref = reference_lightglue(args.features, **conf).to(args.device)
        ours = LightGlue(args.features, **conf).eval().to(args.device)
        mixed = LightGlue(args.features, mp=True, **conf).eval().to(args.device)
        for n in args.sizes:
            data = load_features(args.features, n, args.device)
            medians, outs = interleaved({"ref": ref, "ours": ours, "mp": mixed}, data, args.repeats, args.device)
            r, o, m = (medians[k] for k in ("ref", "ours", "mp"))
            ratios.append(r / o)
            if mode == "full":
                flops = full_forward_flops(ours, n, n)
                rates.append((n, flops, flops / r, flops / o, flops / m))
            mp_ratios.append(o / m)
            same = (outs["ref"]["matches0"] == outs["ours"]["matches0"]).float().mean().item()
            same_mp = (outs["mp"]["matches0"] == outs["ours"]["matches0"]).float().mean().item()
            stops = f"{int(outs['ref']['stop'])}/{int(outs['ours']['stop'][0])}"
            print(
                f"{mode:9} {n:5d} {1000 * r:8.1f} {1000 * o:8.1f} {r / o:8.2f} {stops:>9} {100 * same:7.2f}%"
                f" {1000 * m:8.1f} {o / m:8.2f} {int(outs['mp']['stop'][0]):8d} {100 * same_mp:9.2f}%",
                flush=True,
            )
    print(f"geometric mean: reference / ours {statistics.geometric_mean(ratios):.2f}x, ours / mp {statistics.geometric_mean(mp_ratios):.2f}x")
    if args.roofline and args.device == "cpu":
        fp32, bf16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
        print(f"torch.mm peak: float32 {fp32 / 1e9:.0f} GFLOP/s, bfloat16 {bf16 / 1e9:.0f} GFLOP/s")
        print(f"{'full kpts':>9} {'GFLOP':>7} {'ref GFLOP/s':>12} {'ours GFLOP/s':>13} {'mp GFLOP/s':>11} {'best ref/ours':>14}")
        for n, flops, ref_rate, our_rate, mp_rate in rates:
            print(
                f"{n:9d} {flops / 1e9:7.1f} {ref_rate / 1e9:12.1f} {our_rate / 1e9:13.1f} {mp_rate / 1e9:11.1f}"
                f" {fp32 / ref_rate:13.2f}x"
            )


if __name__ == "__main__":
    main()
