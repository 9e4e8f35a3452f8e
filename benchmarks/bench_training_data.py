"""Samples per second of the homography training data (HomographyPairs), extracted vs cached.

For each of the first ``--samples`` samples, interleaved in one process: the sample is built
from scratch (photo read, two warps, augmentation, two extractions, ground truth; the features
are written to a temporary cache), then built again from the cache (ground truth only). The
script prints the medians per sample, samples/s of both, their ratio, and where the time of an
extracted sample goes (views, one extraction, ground truth). Threads: ``--threads`` for torch
and OpenCV (default 1, as in one DataLoader worker).

    .venv/bin/python benchmarks/bench_training_data.py [--photos DIR] [--features sift] [--keypoints 512]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import torch

from lightglue.training.data.homography_pairs import HomographyPairs

DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"


def _timed(fn):
    """(wall seconds, CPU seconds of this process, result) of ``fn()``."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--features", default="sift")
    parser.add_argument("--keypoints", type=int, default=512)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    with tempfile.TemporaryDirectory() as cache:
        dataset = HomographyPairs(args.photos, features=args.features, num_keypoints=args.keypoints, cache_dir=cache)
        plain = HomographyPairs(args.photos, features=args.features, num_keypoints=args.keypoints)
        dataset[len(dataset) - 1]  # build the extractor outside the timings
        times: dict[str, list[tuple[float, float]]] = {"extracted": [], "cached": [], "views": [], "extraction": []}
        for index in range(min(args.samples, len(dataset) - 1)):
            times["extracted"].append(_timed(lambda: dataset[index])[:2])
            times["cached"].append(_timed(lambda: dataset[index])[:2])
            wall, cpu, (_, view0, _, _) = _timed(lambda: plain.views(index, 0))
            times["views"].append((wall, cpu))
            times["extraction"].append(_timed(lambda: plain.features(view0))[:2])
    wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    print(f"HomographyPairs {args.features} K={args.keypoints}, {len(times['cached'])} samples, "
          f"{args.threads} thread(s), patch {dataset.homography.patch_size[0]}x{dataset.homography.patch_size[1]}; "
          "medians, wall clock (CPU time of this process)")  # fmt: skip
    for name in ("extracted", "cached"):
        print(f"  {name:9s}: {1000 * wall[name]:7.1f} ms/sample ({1000 * cpu[name]:6.1f} CPU)  "
              f"{1 / wall[name]:6.2f} samples/s ({1 / cpu[name]:6.2f} per CPU-second)")  # fmt: skip
    print(f"  cached / extracted speed: {wall['extracted'] / wall['cached']:.1f}x")
    print(f"  of an extracted sample: views (read, 2 warps, 2 augmentations) {1000 * wall['views']:.1f} ms "
          f"({1000 * cpu['views']:.1f} CPU), one extraction {1000 * wall['extraction']:.1f} ms "
          f"({1000 * cpu['extraction']:.1f} CPU)")  # fmt: skip
    print(f"  dropped attempts (fewer than K keypoints): {len(dataset.dropped)}")


if __name__ == "__main__":
    main()
