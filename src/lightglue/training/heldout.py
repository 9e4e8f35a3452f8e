"""Homography test pairs made from the photos a training run never saw.

The pairs are views of the held-out (``"val"``) photos of a corpus, drawn exactly as the
training pairs are (:class:`~lightglue.training.data.homography_pairs.HomographyPairs`: the
recipe's random homographies and photometric augmentation), from their own seed. They are
given to the evaluation harness as images with a ground-truth homography, so that every
method extracts its own features from the same pixels: ``sift+lightglue``, ``sift+ratio`` and
``sift+mnn`` then match the same SIFT keypoints.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from lightglue.evaluation.benchmarks import run_homography_cases
from lightglue.evaluation.homography import HomographyCase
from lightglue.geometry import HOMOGRAPHY_ESTIMATORS
from lightglue.training.data.homography_pairs import HomographyPairs

HELDOUT_SEED = 1
"""Default seed of the test pairs: not the trainer's default (0), whose validation pairs on the
same held-out photos may have been used to pick a checkpoint."""


def heldout_pairs(root: str | os.PathLike, num_pairs: int, seed: int = HELDOUT_SEED, **options: Any) -> HomographyPairs:
    """The held-out split of the photo corpus at ``root``, long enough for ``num_pairs`` pairs.

    ``options`` go to :class:`HomographyPairs` (``val_fraction``, ``homography``,
    ``augmentation``, ...); they must equal the training run's for the split to be its held-out one.
    """
    if num_pairs < 1:
        raise ValueError(f"num_pairs must be >= 1, got {num_pairs}")
    return HomographyPairs(root, split="val", seed=seed, pairs_per_photo=num_pairs, **options)


def heldout_cases(dataset: HomographyPairs, num_pairs: int) -> Iterator[HomographyCase]:
    """The first ``num_pairs`` pairs of ``dataset`` as evaluation cases (views at their own size).

    Pair ``i`` shows held-out photo ``i mod P``; its ``sequence`` is the photo's top folder (the
    package it came from), its images are the two augmented views ``[3, H, W]`` in [0, 1] and
    ``H_0to1`` maps view 0 to view 1 (pixels).
    """
    for index in range(num_pairs):
        photo, view0, view1, H_0to1 = dataset.views(index, 0)
        name = f"{photo}#{index}"
        image0, image1 = (torch.from_numpy(v).permute(2, 0, 1).float().div(255.0) for v in (view0, view1))
        yield HomographyCase(
            name,
            photo.split("/")[0],
            f"{name}/0",
            f"{name}/1",
            image0,
            image1,
            H_0to1.astype("float64"),
            (int(view0.shape[1]), int(view0.shape[0])),
        )


def run_heldout_benchmark(
    root: str | os.PathLike,
    methods: Sequence[str],
    num_pairs: int = 100,
    seed: int = HELDOUT_SEED,
    max_keypoints: int = 1024,
    estimators: Sequence[str] = HOMOGRAPHY_ESTIMATORS,
    ransac_th: dict[str, float] | None = None,
    device: str = "cpu",
    progress: bool = False,
    matcher_conf: dict[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The homography benchmark on ``num_pairs`` pairs of held-out corpus photos.

    Returns the results dict of :func:`lightglue.evaluation.benchmarks.run_homography_cases`
    (the protocol also names the seed, the split and the homography / augmentation settings).
    """
    dataset = heldout_pairs(root, num_pairs, seed, **options)
    protocol = {
        "pairs": num_pairs,
        "seed": seed,
        "split": f"val ({len(dataset.photos)} held-out photos)",
        "view_size": dataset.homography.patch_size,
        "homography": asdict(dataset.homography),
        "augmentation": asdict(dataset.augmentation),
    }
    return run_homography_cases(
        Path(root), lambda: heldout_cases(dataset, num_pairs), num_pairs, methods, max_keypoints, estimators,
        ransac_th, device, progress, protocol, matcher_conf,
    )
