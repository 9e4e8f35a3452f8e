"""Errors of estimated two-view geometry against the ground truth.

Pixel errors are in pixels of the images the estimate was made on; angles are in degrees.
"""

from __future__ import annotations

import numpy as np

from lightglue.geometry.transforms import normalize_points, to_homogeneous, warp_points


def homography_corner_error(H_est: np.ndarray | None, H_gt: np.ndarray, width: float, height: float) -> float:
    """Mean distance between the image-0 corners mapped by ``H_est`` and by ``H_gt``.

    Args:
        H_est, H_gt: ``[3, 3]`` homographies from image 0 to image 1 (pixels); a failed
            estimate (None) has an infinite error.
        width, height: size of image 0 in pixels; the corners are (0, 0), (W, 0), (W, H), (0, H).
    Returns:
        The mean corner error in pixels of image 1.
    """
    if H_est is None:
        return float("inf")
    corners = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
    error = np.linalg.norm(warp_points(H_est, corners) - warp_points(H_gt, corners), axis=1).mean()
    return float(error) if np.isfinite(error) else float("inf")


def homography_transfer_errors(kpts0: np.ndarray, kpts1: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Symmetric transfer error of each match under ``H`` (image 0 -> image 1).

    Args:
        kpts0, kpts1: matched points ``[S, 2]``, pixels.
    Returns:
        ``[S]`` mean of ``|H p0 - p1|`` and ``|H^-1 p1 - p0|``, pixels.
    """
    forward = np.linalg.norm(warp_points(H, kpts0) - kpts1, axis=1)
    backward = np.linalg.norm(warp_points(np.linalg.inv(H), kpts1) - kpts0, axis=1)
    return 0.5 * (forward + backward)


def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def epipolar_errors(
    kpts0: np.ndarray, kpts1: np.ndarray, T_0to1: np.ndarray, K0: np.ndarray, K1: np.ndarray
) -> np.ndarray:
    """Squared symmetric epipolar distance of each match, in normalised image coordinates.

    For ``E = [t]x R`` and normalised points ``p0, p1``: the squared distance of ``p1`` to the
    epipolar line ``E p0`` plus that of ``p0`` to ``E^T p1`` (the quantity thresholded at
    5e-4 for the match precision of SuperGlue-style pose benchmarks).

    Args:
        kpts0, kpts1: matched points ``[S, 2]``, pixels.
        T_0to1: ground-truth ``[4, 4]`` transform from camera 0 to camera 1.
        K0, K1: intrinsics ``[3, 3]``.
    Returns:
        ``[S]`` errors (unitless, squared).
    """
    p0 = to_homogeneous(normalize_points(kpts0, K0))
    p1 = to_homogeneous(normalize_points(kpts1, K1))
    E = _skew(T_0to1[:3, 3]) @ T_0to1[:3, :3]
    line1 = p0 @ E.T
    line0 = p1 @ E
    algebraic = np.sum(p1 * line1, axis=1) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return algebraic * (1 / np.sum(line1[:, :2] ** 2, 1) + 1 / np.sum(line0[:, :2] ** 2, 1))


def rotation_angle_error(R_est: np.ndarray, R_gt: np.ndarray) -> float:
    """Angle of the rotation between ``R_est`` and ``R_gt`` ``[3, 3]``, degrees.

    Computed as ``2 asin(|R_est - R_gt|_F / sqrt(8))``, equal to the usual
    ``acos((trace(R_est^T R_gt) - 1) / 2)`` for exact rotations, but well conditioned near
    zero: a ground truth stored with 5 decimals (not exactly orthonormal) does not add a
    spurious ~0.1 degree error to perfect estimates.
    """
    chord = np.linalg.norm(np.asarray(R_est, np.float64) - np.asarray(R_gt, np.float64)) / np.sqrt(8)
    return float(np.degrees(2 * np.arcsin(np.clip(chord, 0.0, 1.0))))


def translation_angle_error(t_est: np.ndarray, t_gt: np.ndarray, min_gt_norm: float = 0.0) -> float:
    """Angle between two translation directions ``[3]``, up to sign, degrees in [0, 90].

    The sign is ambiguous for an essential matrix, so ``t`` and ``-t`` are equally good.
    A ground-truth translation shorter than ``min_gt_norm`` has no direction: error 0.
    """
    norm_gt, norm_est = np.linalg.norm(t_gt), np.linalg.norm(t_est)
    if norm_gt <= min_gt_norm:
        return 0.0
    cos = abs(float(np.dot(t_est, t_gt))) / max(norm_gt * norm_est, np.finfo(np.float64).tiny)
    return float(np.degrees(np.arccos(np.clip(cos, 0.0, 1.0))))


def relative_pose_error(
    T_0to1: np.ndarray, R: np.ndarray, t: np.ndarray, min_gt_norm: float = 0.0
) -> tuple[float, float]:
    """Rotation and translation-direction errors of an estimated relative pose.

    Args:
        T_0to1: ground truth ``[4, 4]``, camera 0 to camera 1.
        R, t: estimate ``[3, 3]``, ``[3]`` (any scale).
        min_gt_norm: see :func:`translation_angle_error`.
    Returns:
        ``(rotation_error, translation_error)`` in degrees; the pose error of the
        benchmarks is their maximum.
    """
    T_0to1 = np.asarray(T_0to1, np.float64)
    return (
        rotation_angle_error(R, T_0to1[:3, :3]),
        translation_angle_error(np.ravel(t), T_0to1[:3, 3], min_gt_norm),
    )
