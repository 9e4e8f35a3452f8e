"""Matcher speed versus number of keypoints, adaptive versus full, on an easy and a hard pair.

The easy pair is the bundled Middlebury "Motorcycle" stereo pair (large overlap, little
appearance change); the hard pair is its left image against the right image turned by 45
degrees, shrunk to half size and seen in perspective (small overlap, strong change).
For each keypoint count the strongest keypoints of each image are kept, and each matcher
(adaptive: early exit and pruning on; full: both off) is timed over a few runs (median).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from lightglue.image import numpy_image_to_torch
from lightglue.sample_data import stereo_motorcycle

BENCH_KEYPOINTS = (256, 512, 1024, 2048, 4096)
HARD_WARP_ROTATION_DEG = 45.0
HARD_WARP_SCALE = 0.5


@dataclass(frozen=True)
class SpeedResult:
    """One timing: a pair, a matcher mode, a keypoint count.

    Attributes:
        pair: ``"easy"`` or ``"hard"``.
        mode: ``"adaptive"`` or ``"full"``.
        num_keypoints: keypoints per image given to the matcher (mean of the two images).
        time_ms: median wall time of one matcher call, milliseconds.
        layers: layers run (``stop``).
        num_matches: matches returned.
        kept_per_layer: for each layer run, the share (%) of both images' points it processed.
    """

    pair: str
    mode: str
    num_keypoints: int
    time_ms: float
    layers: int
    num_matches: int
    kept_per_layer: tuple[float, ...]


def hard_warp(image: np.ndarray) -> np.ndarray:
    """Warp ``[H, W, 3]`` by a rotation of 45 degrees, a scale of 0.5 and a perspective tilt.

    The output has the input's size; uncovered pixels are black.
    """
    h, w = image.shape[:2]
    similarity = np.eye(3)
    similarity[:2] = cv2.getRotationMatrix2D((w / 2, h / 2), HARD_WARP_ROTATION_DEG, HARD_WARP_SCALE)
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [3e-4, 1e-4, 1.0]])
    return cv2.warpPerspective(image, similarity @ tilt, (w, h), flags=cv2.INTER_LINEAR)


def bench_pairs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The easy and the hard pair as ``[3, H, W]`` float images in [0, 1]."""
    left, right, _ = stereo_motorcycle()
    return {
        "easy": (numpy_image_to_torch(left), numpy_image_to_torch(right)),
        "hard": (numpy_image_to_torch(left), numpy_image_to_torch(hard_warp(right))),
    }


def strongest_keypoints(feats: dict[str, torch.Tensor], num: int) -> dict[str, torch.Tensor]:
    """The ``num`` highest-scoring keypoints of single-image features ``[1, N, ...]``.

    Every per-keypoint entry (second dimension ``N``) is subset; ``image_size`` is kept.
    """
    n = feats["keypoints"].shape[1]
    keep = feats["keypoint_scores"][0].topk(min(num, n)).indices.sort().values
    return {k: v[:, keep] if v.ndim >= 2 and v.shape[1] == n and k != "image_size" else v for k, v in feats.items()}


def points_per_layer(prune: torch.Tensor, stop: int) -> list[int]:
    """How many points each of the ``stop`` layers run processed, from ``prune [N]``.

    A point's ``prune`` value is 1 plus the number of pruning steps it survived, so it took
    part in layers ``0 .. prune - 1``.
    """
    return [int((prune > layer).sum()) for layer in range(stop)]


def _time_call(matcher: torch.nn.Module, data: dict, repeats: int, device: torch.device) -> tuple[float, dict]:
    times, out = [], {}
    with torch.inference_mode():
        matcher(data)  # warm-up
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            out = matcher(data)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times), out


def benchmark_speed(
    features: dict[str, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]],
    matchers: dict[str, torch.nn.Module],
    keypoints: tuple[int, ...] = BENCH_KEYPOINTS,
    repeats: int = 3,
) -> list[SpeedResult]:
    """Time every matcher on every pair at every keypoint count.

    Args:
        features: pair name -> single-image features ``[1, N, ...]`` of both images, with at
            least ``max(keypoints)`` keypoints each for the counts to be met.
        matchers: mode name -> LightGlue module (on the features' device).
        keypoints: keypoint counts per image.
        repeats: timed runs per setting (after one warm-up run); the median is kept.
    """
    results = []
    for pair, (feats0, feats1) in features.items():
        device = feats0["keypoints"].device
        for num in keypoints:
            data = {"image0": strongest_keypoints(feats0, num), "image1": strongest_keypoints(feats1, num)}
            total = data["image0"]["keypoints"].shape[1] + data["image1"]["keypoints"].shape[1]
            for mode, matcher in matchers.items():
                seconds, out = _time_call(matcher, data, repeats, device)
                stop = int(out["stop"][0])
                kept = np.add(points_per_layer(out["prune0"][0], stop), points_per_layer(out["prune1"][0], stop))
                results.append(
                    SpeedResult(
                        pair,
                        mode,
                        total // 2,
                        1000 * seconds,
                        stop,
                        len(out["matches"][0]),
                        tuple(float(v) for v in 100 * kept / total),
                    )
                )
    return results
