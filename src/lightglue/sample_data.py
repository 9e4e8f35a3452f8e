"""The bundled example pair: Middlebury 2014 "Motorcycle" (rectified stereo, shipped in
scikit-image) with its ground-truth disparity, and the check of matches against it."""

from __future__ import annotations

import numpy as np


def stereo_motorcycle() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (left [H, W, 3] uint8 RGB, right [H, W, 3] uint8 RGB, disparity [H, W] float32 px).

    The disparity is given for the left image (``x_right = x_left - d``); unknown pixels are inf.
    """
    from skimage.data import stereo_motorcycle as load

    left, right, disparity = load()
    return left, right, disparity


def disparity_errors(kpts0: np.ndarray, kpts1: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """End-point error of stereo matches against a ground-truth disparity map.

    Args:
        kpts0: [S, 2] matched points in the left image, pixels (x, y).
        kpts1: [S, 2] their matches in the right image, pixels.
        disparity: [H, W] left disparity in pixels (inf or nan where unknown).

    Returns:
        [S] distance in pixels between ``kpts1`` and the true correspondence
        ``(x0 - d(x0, y0), y0)``, with ``d`` read bilinearly; nan where ``d`` is unknown at
        any of the four neighbouring pixels or the point lies outside the map.
    """
    kpts0 = np.asarray(kpts0, dtype=np.float64).reshape(-1, 2)
    kpts1 = np.asarray(kpts1, dtype=np.float64).reshape(-1, 2)
    h, w = disparity.shape
    x, y = kpts0[:, 0], kpts0[:, 1]
    inside = (x >= 0) & (y >= 0) & (x <= w - 1) & (y <= h - 1)
    x0 = np.clip(np.floor(x).astype(int), 0, w - 2)
    y0 = np.clip(np.floor(y).astype(int), 0, h - 2)
    fx, fy = x - x0, y - y0
    d = disparity.astype(np.float64)
    corners = [d[y0, x0], d[y0, x0 + 1], d[y0 + 1, x0], d[y0 + 1, x0 + 1]]
    with np.errstate(invalid="ignore"):  # inf * 0 where the disparity is unknown
        value = (
            corners[0] * (1 - fx) * (1 - fy) + corners[1] * fx * (1 - fy) + corners[2] * (1 - fx) * fy + corners[3] * fx * fy
        )
    known = inside & np.all([np.isfinite(c) for c in corners], axis=0)
    expected = np.stack([x - value, y], -1)
    errors = np.linalg.norm(kpts1 - expected, axis=1)
    errors[~known] = np.nan
    return errors
