"""Homography estimation from point matches: OpenCV RANSAC, PoseLib LO-RANSAC, plain DLT."""

from __future__ import annotations

import cv2
import numpy as np
import poselib

HOMOGRAPHY_ESTIMATORS = ("opencv", "poselib", "dlt")
"""Names accepted by :func:`estimate_homography`."""
OPENCV_CONFIDENCE = 0.9999
"""Stopping confidence of OpenCV's RANSAC (10 000 iterations at most)."""


def _similarity_normalizer(points: np.ndarray) -> np.ndarray:
    """``[3, 3]`` similarity that centres ``points [S, 2]`` with mean distance sqrt(2)."""
    center = points.mean(0)
    spread = np.linalg.norm(points - center, axis=1).mean()
    s = np.sqrt(2) / max(spread, np.finfo(np.float64).eps)
    return np.array([[s, 0.0, -s * center[0]], [0.0, s, -s * center[1]], [0.0, 0.0, 1.0]])


def homography_dlt(kpts0: np.ndarray, kpts1: np.ndarray) -> np.ndarray | None:
    """Least-squares homography on ALL matches: normalised direct linear transform.

    Args:
        kpts0, kpts1: matched points ``[S, 2]``, pixels, ``kpts1 ~ H kpts0``.
    Returns:
        ``H [3, 3]`` with ``H[2, 2] = 1``, or None with fewer than 4 matches or a degenerate fit.
    """
    kpts0, kpts1 = np.asarray(kpts0, np.float64), np.asarray(kpts1, np.float64)
    if len(kpts0) < 4:
        return None
    T0, T1 = _similarity_normalizer(kpts0), _similarity_normalizer(kpts1)
    p = kpts0 @ T0[:2, :2].T + T0[:2, 2]
    q = kpts1 @ T1[:2, :2].T + T1[:2, 2]
    x, y, u, v = p[:, 0], p[:, 1], q[:, 0], q[:, 1]
    zero, one = np.zeros_like(x), np.ones_like(x)
    rows_u = np.stack([-x, -y, -one, zero, zero, zero, u * x, u * y, u], 1)
    rows_v = np.stack([zero, zero, zero, -x, -y, -one, v * x, v * y, v], 1)
    _, _, vt = np.linalg.svd(np.concatenate([rows_u, rows_v]), full_matrices=False)
    H = np.linalg.inv(T1) @ vt[-1].reshape(3, 3) @ T0
    if not np.isfinite(H).all() or abs(H[2, 2]) < 1e-12:
        return None
    return H / H[2, 2]


def estimate_homography(
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    method: str = "poselib",
    threshold: float = 3.0,
    confidence: float = OPENCV_CONFIDENCE,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Robustly estimate the homography that maps ``kpts0`` onto ``kpts1``.

    Args:
        kpts0, kpts1: matched points ``[S, 2]``, pixels.
        method: ``"opencv"`` (RANSAC), ``"poselib"`` (LO-RANSAC with non-linear refinement)
            or ``"dlt"`` (least squares on all matches, no outlier rejection).
        threshold: inlier reprojection threshold in pixels (ignored by ``"dlt"``).
        confidence: ``"opencv"``'s stopping confidence (more hypotheses are tried the closer it is to 1).
    Returns:
        ``(H, inliers)``: ``H [3, 3]`` normalised to ``H[2, 2] = 1`` or None when the
        estimation fails, and ``inliers [S]`` bool (all True for ``"dlt"``).
    """
    if method not in HOMOGRAPHY_ESTIMATORS:
        raise ValueError(f"unknown homography estimator {method!r}; choose from {HOMOGRAPHY_ESTIMATORS}")
    kpts0, kpts1 = np.asarray(kpts0, np.float64), np.asarray(kpts1, np.float64)
    none = np.zeros(len(kpts0), bool)
    if len(kpts0) < 4:
        return None, none
    if method == "dlt":
        H = homography_dlt(kpts0, kpts1)
        return H, none if H is None else ~none
    if method == "opencv":
        H, mask = cv2.findHomography(
            kpts0, kpts1, cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=10000, confidence=confidence
        )
        inliers = none if mask is None else mask.ravel().astype(bool)
    else:
        H, info = poselib.estimate_homography(kpts0, kpts1, {"max_reproj_error": threshold}, {})
        inliers = np.asarray(info["inliers"], bool)
    if H is None or not np.isfinite(H).all() or abs(H[2, 2]) < 1e-12 or not inliers.any():
        return None, none
    return H / H[2, 2], inliers
