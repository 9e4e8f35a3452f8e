"""COLMAP's conventions to the project's: pixel frame, intrinsics, poses of pycolmap objects.

The functions take pycolmap objects (duck-typed; this module does not import pycolmap).
"""

from __future__ import annotations

from typing import Any

import numpy as np

COLMAP_PIXEL_OFFSET = 0.5
"""COLMAP puts the centre of the top-left pixel at (0.5, 0.5), the project at (0, 0): a COLMAP
pixel (keypoint, principal point) is the project's pixel plus this offset."""


def colmap_pose(image: Any) -> np.ndarray:
    """The ``[4, 4]`` world-to-camera transform of a registered pycolmap image."""
    T = np.eye(4)
    T[:3] = image.cam_from_world().matrix()
    return T


def colmap_intrinsics(camera: Any) -> np.ndarray:
    """The ``[3, 3]`` pinhole matrix of a pycolmap camera in the project's pixel frame (pixels)."""
    K = np.array(camera.calibration_matrix(), np.float64)
    K[:2, 2] -= COLMAP_PIXEL_OFFSET
    return K
