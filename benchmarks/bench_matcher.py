"""Our LightGlue against the official implementation: same process, same features, interleaved.

Usage::

    .venv/bin/python benchmarks/bench_matcher.py [--features aliked] [--repeats 5] [--device cpu]

Features are the reference extractor's outputs stored in ``tests/data/motorcycle.npz``
(2048 keypoints per image); smaller sizes keep the strongest keypoints. For every size and
mode both matchers run on the same input in alternation and the median time of each is
reported with the ratio reference / ours (> 1: ours is faster). The matches are compared too:
a faster model that changes the matches would be a bug.
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


def load_features(feat: str, n: int, device: str) -> dict:
    """The strongest ``n`` reference keypoints of each motorcycle image as matcher input."""
    g = np.load(DATA)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", default="aliked", choices=["aliked", "disk"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, features {args.features}")
    print(f"{'mode':9} {'kpts':>5} {'reference ms':>13} {'ours ms':>8} {'ratio':>6} {'stop ref/ours':>14} {'same matches0':>14}")
    for mode, conf in MODES.items():
        ref = reference_lightglue(args.features, **conf).to(args.device)
        ours = LightGlue(args.features, **conf).eval().to(args.device)
        for n in args.sizes:
            data = load_features(args.features, n, args.device)
            timed(ref, data, args.device), timed(ours, data, args.device)  # warm-up
            t_ref, t_ours = [], []
            for _ in range(args.repeats):
                t, out_ref = timed(ref, data, args.device)
                t_ref.append(t)
                t, out_ours = timed(ours, data, args.device)
                t_ours.append(t)
            r, o = statistics.median(t_ref), statistics.median(t_ours)
            same = (out_ref["matches0"] == out_ours["matches0"]).float().mean().item()
            stops = f"{int(out_ref['stop'])}/{int(out_ours['stop'][0])}"
            print(f"{mode:9} {n:5d} {1000 * r:13.1f} {1000 * o:8.1f} {r / o:6.2f} {stops:>14} {100 * same:13.2f}%")


if __name__ == "__main__":
    main()
