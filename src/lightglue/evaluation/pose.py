"""The relative-pose benchmark (ScanNet-1500 / MegaDepth-1500): AUC at 5 / 10 / 20 degrees.

Protocol: images resized as the dataset prescribes (ScanNet 640x480, MegaDepth long side
1600) with the intrinsics scaled to match; essential matrix by OpenCV RANSAC or PoseLib
LO-RANSAC; pose error = max(rotation error, translation-direction error); precision =
fraction of matches with a squared symmetric epipolar distance under 5e-4.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lightglue.evaluation.methods import Matches
from lightglue.evaluation.posedata import PosePair
from lightglue.evaluation.preprocess import Resize, load_image_for_eval
from lightglue.evaluation.summary import summarize
from lightglue.geometry import (
    POSE_ESTIMATORS,
    epipolar_errors,
    estimate_relative_pose,
    relative_pose_error,
    rotate_intrinsics,
    rotate_pose_inplane,
    scale_intrinsics,
)

POSE_AUC_THRESHOLDS = (5.0, 10.0, 20.0)
"""AUC thresholds of the pose error, degrees."""
POSE_RANSAC_TH = {"opencv": 0.5, "poselib": 2.0}
"""Default inlier thresholds, pixels (see :func:`~lightglue.geometry.estimate_relative_pose`)."""
EPIPOLAR_PRECISION_TH = 5e-4
"""A match is correct when its squared symmetric epipolar distance is below this."""


@dataclass(frozen=True)
class PoseCase:
    """A pair as the protocol presents it: resized images, matching intrinsics, ground truth.

    Attributes:
        name: identifies the pair.
        key0, key1: the image files, as cache keys for the features.
        image0, image1: ``[3, H, W]`` float images in [0, 1], rotated and resized.
        K0, K1: ``[3, 3]`` intrinsics of those images.
        T_0to1: ``[4, 4]`` ground truth from camera 0 to camera 1 (rotated frames).
    """

    name: str
    key0: str
    key1: str
    image0: torch.Tensor
    image1: torch.Tensor
    K0: np.ndarray
    K1: np.ndarray
    T_0to1: np.ndarray


def load_pose_cases(pairs: Iterable[PosePair], resize: Resize | None) -> Iterator[PoseCase]:
    """Load, rotate and resize the images of each pair; adjust intrinsics and pose."""
    for pair in pairs:
        image0, scale0, (w0, h0) = load_image_for_eval(pair.path0, resize, pair.rot0)
        image1, scale1, (w1, h1) = load_image_for_eval(pair.path1, resize, pair.rot1)
        # The rotated size is (w, h); the unrotated one is swapped after an odd rotation.
        size0 = (h0, w0) if pair.rot0 % 2 else (w0, h0)
        size1 = (h1, w1) if pair.rot1 % 2 else (w1, h1)
        K0 = scale_intrinsics(rotate_intrinsics(pair.K0, *size0, pair.rot0), scale0)
        K1 = scale_intrinsics(rotate_intrinsics(pair.K1, *size1, pair.rot1), scale1)
        T = rotate_pose_inplane(pair.T_0to1, pair.rot1) @ np.linalg.inv(rotate_pose_inplane(np.eye(4), pair.rot0))
        yield PoseCase(pair.name, f"{pair.path0}@{pair.rot0}", f"{pair.path1}@{pair.rot1}", image0, image1, K0, K1, T)


def evaluate_pose_case(
    case: PoseCase,
    matches: Matches,
    estimators: Sequence[str] = POSE_ESTIMATORS,
    ransac_th: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Score the matches of one pair.

    Args:
        case: the pair with its ground truth.
        matches: keypoints ``[S, 2]`` in the pixels of ``case.image0`` / ``case.image1``.
        estimators: names from :data:`~lightglue.geometry.POSE_ESTIMATORS`.
        ransac_th: inlier threshold per estimator, pixels (default :data:`POSE_RANSAC_TH`).
    Returns:
        A record (see :mod:`lightglue.evaluation.summary`) whose estimator errors are pose
        errors in degrees, with ``error_R``, ``error_t`` (degrees) and ``num_inliers``.
    """
    thresholds = {**POSE_RANSAC_TH, **(ransac_th or {})}
    num = len(matches.kpts0)
    epi = epipolar_errors(matches.kpts0, matches.kpts1, case.T_0to1, case.K0, case.K1) if num else np.empty(0)
    record: dict[str, Any] = {
        "name": case.name,
        "num_keypoints0": matches.num_keypoints0,
        "num_keypoints1": matches.num_keypoints1,
        "num_matches": num,
        "precision": float(np.mean(epi < EPIPOLAR_PRECISION_TH)) if num else float("nan"),
        "time_match_ms": 1000 * matches.time_match_s,
        "estimators": {},
    }
    for estimator in estimators:
        pose = estimate_relative_pose(matches.kpts0, matches.kpts1, case.K0, case.K1, estimator, thresholds[estimator])
        if pose is None:
            err_R = err_t = float("inf")
            num_inliers = 0
        else:
            err_R, err_t = relative_pose_error(case.T_0to1, pose.R, pose.t)
            num_inliers = int(pose.inliers.sum())
        record["estimators"][estimator] = {
            "error": max(err_R, err_t),
            "error_R": err_R,
            "error_t": err_t,
            "num_inliers": num_inliers,
        }
    return record


def evaluate_pose(
    cases: Iterable[PoseCase],
    matcher: Callable[[PoseCase], Matches],
    estimators: Sequence[str] = POSE_ESTIMATORS,
    ransac_th: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Match and score every pair; one record per pair (see :func:`evaluate_pose_case`)."""
    return [evaluate_pose_case(case, matcher(case), estimators, ransac_th) for case in cases]


def summarize_pose(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Overall numbers (see :func:`~lightglue.evaluation.summary.summarize`)."""
    return summarize(records, POSE_AUC_THRESHOLDS, "deg")
