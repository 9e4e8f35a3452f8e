"""Relative pose from calibrated point matches: essential matrix by OpenCV RANSAC or PoseLib."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import poselib

from lightglue.geometry.transforms import normalize_points

POSE_ESTIMATORS = ("opencv", "poselib")
"""Names accepted by :func:`estimate_relative_pose`."""


@dataclass(frozen=True)
class RelativePose:
    """An estimated relative pose ``x1 = R x0 + t`` (camera 0 to camera 1).

    Attributes:
        R: rotation ``[3, 3]``.
        t: translation direction ``[3]``, unit norm (the scale is unobservable).
        inliers: ``[S]`` bool, the matches consistent with the pose.
    """

    R: np.ndarray
    t: np.ndarray
    inliers: np.ndarray


def _mean_focal(K0: np.ndarray, K1: np.ndarray) -> float:
    return float(np.mean([K0[0, 0], K0[1, 1], K1[0, 0], K1[1, 1]]))


def _opencv_pose(
    kpts0: np.ndarray, kpts1: np.ndarray, K0: np.ndarray, K1: np.ndarray, threshold: float
) -> RelativePose | None:
    p0, p1 = normalize_points(kpts0, K0), normalize_points(kpts1, K1)
    E, mask = cv2.findEssentialMat(
        p0, p1, np.eye(3), method=cv2.RANSAC, prob=0.99999, threshold=threshold / _mean_focal(K0, K1)
    )
    if E is None or mask is None:
        return None
    inliers = mask.ravel().astype(bool)
    best: RelativePose | None = None
    best_count = -1
    # findEssentialMat may return several stacked [3, 3] solutions: keep the one whose
    # decomposition puts the most inliers in front of both cameras.
    for E_i in np.split(E, len(E) // 3):
        count, R, t, _ = cv2.recoverPose(E_i, p0, p1, np.eye(3), mask=mask.copy())
        if count > best_count:
            best_count, best = count, RelativePose(R, t.ravel() / np.linalg.norm(t), inliers)
    return best


def _poselib_pose(
    kpts0: np.ndarray, kpts1: np.ndarray, K0: np.ndarray, K1: np.ndarray, threshold: float
) -> RelativePose | None:
    cameras = [{"model": "PINHOLE", "params": [K[0, 0], K[1, 1], K[0, 2], K[1, 2]]} for K in (K0, K1)]
    pose, info = poselib.estimate_relative_pose(kpts0, kpts1, *cameras, {"max_epipolar_error": threshold}, {})
    inliers = np.asarray(info["inliers"], bool)
    t = np.asarray(pose.t, np.float64)
    if not inliers.any() or not np.isfinite(pose.R).all() or np.linalg.norm(t) == 0:
        return None
    return RelativePose(np.asarray(pose.R, np.float64), t / np.linalg.norm(t), inliers)


def estimate_relative_pose(
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    K0: np.ndarray,
    K1: np.ndarray,
    method: str = "poselib",
    threshold: float = 1.0,
) -> RelativePose | None:
    """Estimate the relative pose of two calibrated cameras from point matches.

    Args:
        kpts0, kpts1: matched points ``[S, 2]``, pixels.
        K0, K1: intrinsics ``[3, 3]`` of the two images (zero skew).
        method: ``"opencv"`` (5-point RANSAC on the essential matrix, then cheirality) or
            ``"poselib"`` (LO-RANSAC with non-linear refinement).
        threshold: inlier threshold in pixels: Sampson error for PoseLib, and for OpenCV the
            distance to the epipolar line, divided by the mean focal length.
    Returns:
        The pose, or None with fewer than 5 matches or when the estimation fails.
    """
    if method not in POSE_ESTIMATORS:
        raise ValueError(f"unknown pose estimator {method!r}; choose from {POSE_ESTIMATORS}")
    kpts0, kpts1 = np.asarray(kpts0, np.float64), np.asarray(kpts1, np.float64)
    K0, K1 = np.asarray(K0, np.float64), np.asarray(K1, np.float64)
    if len(kpts0) < 5:
        return None
    estimate = _opencv_pose if method == "opencv" else _poselib_pose
    return estimate(kpts0, kpts1, K0, K1, threshold)
