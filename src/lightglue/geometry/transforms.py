"""Conversions between coordinate frames: homogeneous points, image resizing and rotation.

Conventions: keypoints ``[S, 2]`` are (x, y) pixels; a resize by ``scale = (sx, sy)`` maps a
pixel ``p`` to ``p * scale`` (the convention of the published HPatches / ScanNet / MegaDepth
protocols); rigid transforms ``T [4, 4]`` map points from one camera frame to another,
``x1 = R x0 + t``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def to_homogeneous(points: np.ndarray) -> np.ndarray:
    """Append a coordinate of ones: ``[..., D] -> [..., D + 1]``."""
    return np.concatenate([points, np.ones_like(points[..., :1])], axis=-1)


def from_homogeneous(points: np.ndarray) -> np.ndarray:
    """Divide by the last coordinate: ``[..., D + 1] -> [..., D]``."""
    return points[..., :-1] / points[..., -1:]


def warp_points(H: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a homography ``H [3, 3]`` to pixel points ``[S, 2]``; returns ``[S, 2]``."""
    return from_homogeneous(to_homogeneous(np.asarray(points, np.float64)) @ np.asarray(H).T)


def _scale_matrix(scale: Sequence[float] | np.ndarray | float) -> np.ndarray:
    sx, sy = np.broadcast_to(np.asarray(scale, np.float64), (2,))
    return np.diag([sx, sy, 1.0])


def scale_homography(H: np.ndarray, scale0: Sequence[float] | float, scale1: Sequence[float] | float) -> np.ndarray:
    """Express ``H [3, 3]`` (image 0 -> image 1 pixels) between resized images.

    Args:
        H: homography between the original images.
        scale0, scale1: the (sx, sy) factors (new size / old size) that resized each image.
    Returns:
        ``S1 @ H @ inv(S0)`` ``[3, 3]``, normalised so that its last entry is 1.
    """
    Hs = _scale_matrix(scale1) @ np.asarray(H, np.float64) @ np.linalg.inv(_scale_matrix(scale0))
    return Hs / Hs[2, 2]


def scale_intrinsics(K: np.ndarray, scale: Sequence[float] | float) -> np.ndarray:
    """Intrinsics ``[3, 3]`` of an image resized by ``scale = (sx, sy)`` (new / old size)."""
    return _scale_matrix(scale) @ np.asarray(K, np.float64)


def rotate_intrinsics(K: np.ndarray, width: int, height: int, rot: int) -> np.ndarray:
    """Intrinsics of an image rotated like ``np.rot90(image, rot)`` (counter-clockwise).

    Args:
        K: ``[3, 3]`` intrinsics of the unrotated image.
        width, height: size of the unrotated image, pixels.
        rot: number of quarter turns.
    """
    K = np.asarray(K, np.float64).copy()
    for _ in range(rot % 4):
        # One quarter turn sends pixel (x, y) to (y, width - 1 - x).
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        K[0, 0], K[1, 1], K[0, 2], K[1, 2] = fy, fx, cy, width - 1 - cx
        width, height = height, width
    return K


def rotate_pose_inplane(T_cam_from_x: np.ndarray, rot: int) -> np.ndarray:
    """Re-express a transform into a camera frame after rotating its image by ``rot`` turns.

    Rotating the image counter-clockwise by a quarter turn (``np.rot90``) turns the camera
    frame so that ``(X, Y, Z) -> (Y, -X, Z)``; this applies that change ``rot`` times.

    Args:
        T_cam_from_x: ``[4, 4]`` transform whose output is the camera frame.
    Returns:
        ``[4, 4]`` transform into the rotated camera frame.
    """
    quarter = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    R = np.eye(4)
    R[:3, :3] = np.linalg.matrix_power(quarter, rot % 4)
    return R @ np.asarray(T_cam_from_x, np.float64)


def relative_transform(T_cam0_from_world: np.ndarray, T_cam1_from_world: np.ndarray) -> np.ndarray:
    """``T_0to1 [4, 4]`` mapping camera-0 coordinates to camera-1 coordinates."""
    return np.asarray(T_cam1_from_world, np.float64) @ np.linalg.inv(T_cam0_from_world)


def normalize_points(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixel points ``[S, 2]`` to normalised image coordinates ``K^-1 [x, y, 1]`` ``[S, 2]``."""
    return from_homogeneous(to_homogeneous(np.asarray(points, np.float64)) @ np.linalg.inv(K).T)
