"""XFeat + LighterGlue against ALIKED + LightGlue: time per image pair (extract both + match), one process.

Usage::

    .venv/bin/python benchmarks/bench_xfeat.py [--max-keypoints 2048] [--repeats 7] [--threads 1]

Both methods are the evaluation's (:class:`lightglue.evaluation.methods.Method`, same keypoint
budget) on the bundled Middlebury "Motorcycle" pair (741x500, not resized). They run in
alternation, ``repeats`` times each after one warm-up, so that load from other jobs hits both
alike; the medians and the ratio ALIKED / XFeat (> 1: XFeat is faster) are printed, with the
keypoint and match counts.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lightglue.evaluation.methods import Method
from lightglue.image import numpy_image_to_torch
from lightglue.sample_data import stereo_motorcycle

METHODS = ("aliked+lightglue", "xfeat+lightglue")


def run_pair(method: Method, images: list[torch.Tensor]) -> tuple[float, float, int, int]:
    """Extract both images and match them; seconds of extraction and matching, keypoints, matches."""
    start = time.perf_counter()
    feats = [method.extractor.extract(image, resize=None) for image in images]
    middle = time.perf_counter()
    matches, _ = method.match_features(*feats)
    end = time.perf_counter()
    return middle - start, end - middle, int(feats[0]["keypoints"].shape[1]), len(matches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-keypoints", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    left, right, _ = stereo_motorcycle()
    images = [numpy_image_to_torch(left), numpy_image_to_torch(right)]
    methods = {name: Method(name, max_keypoints=args.max_keypoints) for name in METHODS}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in METHODS}
    counts = {}
    for name, method in methods.items():  # warm-up
        counts[name] = run_pair(method, images)[2:]
    for _ in range(args.repeats):
        for name, method in methods.items():
            times[name].append(run_pair(method, images)[:2])
    print(f"pair 741x500, budget {args.max_keypoints} keypoints, {args.threads} thread(s), "
          f"median of {args.repeats} interleaved runs")
    print("| method | keypoints/image | matches | extract both (ms) | match (ms) | total (ms) |")
    print("|---|---|---|---|---|---|")
    totals = {}
    for name in METHODS:
        extract = statistics.median(t[0] for t in times[name])
        match = statistics.median(t[1] for t in times[name])
        totals[name] = statistics.median(sum(t) for t in times[name])
        kpts, n_matches = counts[name]
        print(f"| {name} | {kpts} | {n_matches} | {extract * 1e3:.0f} | {match * 1e3:.0f} | {totals[name] * 1e3:.0f} |")
    print(f"ratio aliked+lightglue / xfeat+lightglue (total per pair): {totals[METHODS[0]] / totals[METHODS[1]]:.2f}")


if __name__ == "__main__":
    main()
