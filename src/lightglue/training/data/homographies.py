"""Random homographies of the reference homography pre-training recipe, and the two warped views.

A view is made by choosing a convex quadrilateral inside the photo and mapping it onto the
whole output patch (``patch_size`` W x H). The quadrilateral is drawn as in glue-factory's
``sample_homography_corners`` with the LightGlue configs (``difficulty`` 0.7,
``max_angle`` 45 degrees, ``translation`` 1.0, 10 candidate angles, ``min_convexity`` 0.05,
patch 640 x 480):

1. perspective: each photo corner moves inwards by ``U(0, 1) * difficulty / 2`` of the photo
   width and height (independently), redrawn until the quadrilateral is convex enough;
2. the quadrilateral is centred on the photo;
3. rotation: about its centre by the first of ``n_angles`` shuffled angles evenly spaced in
   ``[-max_angle, max_angle] * difficulty`` that keeps all corners inside the photo (none if
   no angle does);
4. translation: by ``U(lowest, highest) * translation * difficulty`` per axis, where the bounds
   are the largest moves that keep the corners inside the photo.

Scale follows from the size of the quadrilateral relative to the patch. Both views of a pair
are drawn independently from the same photo; ``H_0to1 = H1 @ inv(H0)``.

Pixel convention: integer coordinates are pixel centres (as OpenCV's ``warpPerspective`` and the
extractors use), so the quadrilateral lies in ``[0, W - 1] x [0, H - 1]`` and maps onto the
patch's ``[0, w - 1] x [0, h - 1]``: a view has no border pixels from outside the photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class HomographyConfig:
    """Ranges of the random homography (defaults: the LightGlue homography pre-training configs).

    Attributes:
        difficulty: in [0, 1): 0 is the identity crop, larger is stronger perspective,
            rotation and translation.
        translation: share of the admissible translation range used (0 disables translation).
        max_angle: largest rotation in degrees (scaled by ``difficulty``).
        n_angles: number of candidate rotation angles (0 disables rotation).
        min_convexity: smallest cross product of consecutive normalised edges.
        patch_size: ``(W, H)`` of the views in pixels.
    """

    difficulty: float = 0.7
    translation: float = 1.0
    max_angle: float = 45.0
    n_angles: int = 10
    min_convexity: float = 0.05
    patch_size: tuple[int, int] = (640, 480)

    def __post_init__(self) -> None:
        if not 0.0 <= self.difficulty < 1.0:
            raise ValueError(f"difficulty must lie in [0, 1), got {self.difficulty!r}.")
        if self.translation < 0 or self.max_angle < 0 or self.n_angles < 0:
            raise ValueError("translation, max_angle and n_angles must be non-negative.")
        w, h = self.patch_size
        if int(w) < 16 or int(h) < 16:
            raise ValueError(f"patch_size must be at least 16 x 16 pixels, got {self.patch_size!r}.")
        object.__setattr__(self, "patch_size", (int(w), int(h)))


def _is_convex(corners: np.ndarray, min_convexity: float) -> bool:
    """True when the closed polygon ``corners [4, 2]`` (normalised coordinates) turns consistently."""
    edges = np.roll(corners, -1, axis=0) - corners
    following = np.roll(edges, -1, axis=0)
    cross = edges[:, 0] * following[:, 1] - edges[:, 1] * following[:, 0]
    return bool(np.all(cross < -min_convexity))  # the corner order of sample_quadrilateral


def sample_quadrilateral(photo_size: tuple[int, int], conf: HomographyConfig, rng: np.random.Generator) -> np.ndarray:
    """Draw the quadrilateral of the photo that a view shows.

    Args:
        photo_size: ``(W, H)`` of the photo in pixels.
        conf: the ranges.
        rng: the random generator (consumed).

    Returns:
        ``[4, 2]`` float64 corners (x, y) in photo pixels, in the order top-left, bottom-left,
        bottom-right, top-right, all within ``[0, W - 1] x [0, H - 1]``.
    """
    extent = np.array(photo_size, np.float64) - 1.0
    unit = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    inward = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]]) * conf.difficulty / 2
    while True:
        corners = unit + rng.uniform(0.0, 1.0, size=(4, 2)) * inward
        # The corners are in [0, 1] x [0, 1]; convexity is tested there, as in the reference.
        if conf.difficulty == 0 or _is_convex(corners, conf.min_convexity):
            break
    corners = (corners - corners.mean(axis=0) + 0.5) * extent
    if conf.n_angles > 0 and conf.difficulty > 0:
        limit = math.radians(conf.max_angle) * conf.difficulty
        angles = rng.permutation(np.linspace(-limit, limit, conf.n_angles))
        centre = corners.mean(axis=0)
        for angle in angles:
            c, s = math.cos(angle), math.sin(angle)
            rotated = (corners - centre) @ np.array([[c, s], [-s, c]]) + centre
            if np.all(rotated >= 0) and np.all(rotated <= extent):
                corners = rotated
                break
    if conf.translation > 0:
        low, high = -corners.min(axis=0), extent - corners.max(axis=0)
        corners = corners + rng.uniform(low, high) * conf.translation * conf.difficulty
    return np.clip(corners, 0.0, extent)  # only rounding errors are clipped


def homography_to_patch(corners: np.ndarray, patch_size: tuple[int, int]) -> np.ndarray:
    """The homography ``[3, 3]`` (float64) mapping photo ``corners [4, 2]`` onto the patch corners."""
    w, h = patch_size
    target = np.array([[0, 0], [0, h - 1], [w - 1, h - 1], [w - 1, 0]], np.float64)
    return cv2.getPerspectiveTransform(corners.astype(np.float32), target.astype(np.float32)).astype(np.float64)


def sample_homography(photo_size: tuple[int, int], conf: HomographyConfig, rng: np.random.Generator) -> np.ndarray:
    """A random homography ``[3, 3]`` (float64) from photo pixels to the pixels of a ``conf.patch_size`` view."""
    return homography_to_patch(sample_quadrilateral(photo_size, conf, rng), conf.patch_size)


def warp_view(photo: np.ndarray, H: np.ndarray, patch_size: tuple[int, int]) -> np.ndarray:
    """Render a view: ``photo [H, W(, C)]`` warped by ``H`` (photo -> view) to ``patch_size`` (W, H), bilinear."""
    return cv2.warpPerspective(photo, H, tuple(patch_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def sample_view_pair(
    photo: np.ndarray, conf: HomographyConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two views of ``photo`` under independent random homographies.

    Returns:
        ``view0``, ``view1`` (arrays of ``conf.patch_size``, same dtype and channels as the
        photo) and ``H_0to1 [3, 3]`` float64 mapping view-0 pixels to view-1 pixels.
    """
    size = (photo.shape[1], photo.shape[0])
    H0 = sample_homography(size, conf, rng)
    H1 = sample_homography(size, conf, rng)
    H_0to1 = H1 @ np.linalg.inv(H0)
    return warp_view(photo, H0, conf.patch_size), warp_view(photo, H1, conf.patch_size), H_0to1 / H_0to1[2, 2]
