"""The homography benchmark (HPatches protocol): corner error, AUC at 1 / 3 / 5 px.

Protocol: pairs (1, k) of each sequence, short side resized to 480 px, homography
estimated from the matches by OpenCV RANSAC, PoseLib LO-RANSAC and DLT on all matches;
precision = fraction of matches with a symmetric transfer error under 3 px.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lightglue.evaluation.hpatches import HPATCHES_RESIZE_SHORT_SIDE, HomographyPair
from lightglue.evaluation.methods import Matches
from lightglue.evaluation.preprocess import Resize, load_image_for_eval
from lightglue.evaluation.summary import summarize
from lightglue.geometry import (
    HOMOGRAPHY_ESTIMATORS,
    estimate_homography,
    homography_corner_error,
    homography_transfer_errors,
    scale_homography,
)

HOMOGRAPHY_RESIZE = Resize(HPATCHES_RESIZE_SHORT_SIDE, "short")
HOMOGRAPHY_AUC_THRESHOLDS = (1.0, 3.0, 5.0)
"""AUC thresholds of the corner error, pixels."""
HOMOGRAPHY_RANSAC_TH = {"opencv": 3.0, "poselib": 2.0}
"""Default inlier thresholds (pixels); PoseLib refines on its inliers, so it uses a tighter one."""
MATCH_PRECISION_TH = 3.0
"""A match is correct when its symmetric transfer error is below this many pixels."""


@dataclass(frozen=True)
class HomographyCase:
    """A pair as the protocol presents it: resized images and the homography between them.

    Attributes:
        name, sequence: identify the pair.
        key0, key1: the image files, as cache keys for the features.
        image0, image1: ``[3, H, W]`` float images in [0, 1], resized.
        H_0to1: ``[3, 3]`` ground truth between the resized images.
        size0: ``(W, H)`` of the resized image 0, pixels.
    """

    name: str
    sequence: str
    key0: str
    key1: str
    image0: torch.Tensor
    image1: torch.Tensor
    H_0to1: np.ndarray
    size0: tuple[int, int]


def load_homography_cases(
    pairs: Iterable[HomographyPair], resize: Resize | None = HOMOGRAPHY_RESIZE
) -> Iterator[HomographyCase]:
    """Load and resize the images of each pair and adjust its homography accordingly."""
    for pair in pairs:
        image0, scale0, _ = load_image_for_eval(pair.path0, resize)
        image1, scale1, _ = load_image_for_eval(pair.path1, resize)
        yield HomographyCase(
            pair.name,
            pair.sequence,
            str(pair.path0),
            str(pair.path1),
            image0,
            image1,
            scale_homography(pair.H_0to1, scale0, scale1),
            (int(image0.shape[-1]), int(image0.shape[-2])),
        )


def evaluate_homography_case(
    case: HomographyCase,
    matches: Matches,
    estimators: Sequence[str] = HOMOGRAPHY_ESTIMATORS,
    ransac_th: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Score the matches of one pair.

    Args:
        case: the pair with its ground truth.
        matches: keypoints ``[S, 2]`` in the pixels of ``case.image0`` / ``case.image1``.
        estimators: names from :data:`~lightglue.geometry.HOMOGRAPHY_ESTIMATORS`.
        ransac_th: inlier threshold per estimator, pixels (default :data:`HOMOGRAPHY_RANSAC_TH`).
    Returns:
        A record (see :mod:`lightglue.evaluation.summary`) whose estimator errors are mean
        corner errors in pixels, with ``num_inliers``.
    """
    thresholds = {**HOMOGRAPHY_RANSAC_TH, **(ransac_th or {})}
    num = len(matches.kpts0)
    errors = homography_transfer_errors(matches.kpts0, matches.kpts1, case.H_0to1) if num else np.empty(0)
    record: dict[str, Any] = {
        "name": case.name,
        "sequence": case.sequence,
        "num_keypoints0": matches.num_keypoints0,
        "num_keypoints1": matches.num_keypoints1,
        "num_matches": num,
        "precision": float(np.mean(errors < MATCH_PRECISION_TH)) if num else float("nan"),
        "time_match_ms": 1000 * matches.time_match_s,
        "estimators": {},
    }
    for estimator in estimators:
        threshold = thresholds.get(estimator, 0.0)  # DLT has no inlier threshold
        H, inliers = estimate_homography(matches.kpts0, matches.kpts1, estimator, threshold)
        record["estimators"][estimator] = {
            "error": homography_corner_error(H, case.H_0to1, *case.size0),
            "num_inliers": int(inliers.sum()),
        }
    return record


def evaluate_homography(
    cases: Iterable[HomographyCase],
    matcher: Callable[[HomographyCase], Matches],
    estimators: Sequence[str] = HOMOGRAPHY_ESTIMATORS,
    ransac_th: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Match and score every pair; one record per pair (see :func:`evaluate_homography_case`)."""
    return [evaluate_homography_case(case, matcher(case), estimators, ransac_th) for case in cases]


def summarize_homography(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Overall numbers plus ``per_sequence`` numbers (see :func:`~lightglue.evaluation.summary.summarize`)."""
    sequences = sorted({r["sequence"] for r in records})
    return {
        **summarize(records, HOMOGRAPHY_AUC_THRESHOLDS, "px"),
        "per_sequence": {
            s: summarize([r for r in records if r["sequence"] == s], HOMOGRAPHY_AUC_THRESHOLDS, "px") for s in sequences
        },
    }
