"""Ground truth of an image pair of a COLMAP reconstruction (fine-tuning on your own photos).

Works with any ``pycolmap.Reconstruction`` whose images keep their 2D points, e.g. the model
written by ``lightglue reconstruct`` (its points2D are the features.h5 keypoints, in order,
shifted by +0.5 px) or any COLMAP model. Cameras may have any COLMAP camera model
(distortion is handled by pycolmap's projection / unprojection).

Pixel frames: COLMAP puts the centre of the top-left pixel at (0.5, 0.5), the project's
keypoints at (0, 0); returned keypoints and projections are in the project's frame
(COLMAP − 0.5). Distances and thresholds are in pixels of the reconstruction's images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lightglue.geometry.colmap import COLMAP_PIXEL_OFFSET
from lightglue.training.groundtruth.labels import IGNORE, UNMATCHED

if TYPE_CHECKING:  # only for annotations: the caller passes the reconstruction
    import pycolmap


def _image(rec: "pycolmap.Reconstruction", image: int | str, which: str) -> Any:
    if isinstance(image, str):
        found = rec.find_image_with_name(image)
        if found is None:
            raise ValueError(f"{which}: no image named {image!r} in the reconstruction")
        image = found.image_id
    if not rec.exists_image(image):
        raise ValueError(f"{which}: no image with id {image} in the reconstruction")
    found = rec.images[image]
    if not found.has_pose:
        raise ValueError(f"{which}: image {found.name!r} is not registered (it has no pose)")
    return found


def _observations(image: Any, indices: np.ndarray | torch.Tensor | None, which: str) -> tuple[np.ndarray, np.ndarray]:
    """COLMAP pixels [K, 2] float64 and 3D point ids [K] (-1 if none) of the chosen 2D points."""
    points = image.points2D
    xy = np.array([p.xy for p in points], dtype=np.float64).reshape(-1, 2)
    ids = np.array([p.point3D_id if p.has_point3D() else -1 for p in points], dtype=np.int64)
    if indices is None:
        return xy, ids
    indices = np.asarray(indices.cpu() if torch.is_tensor(indices) else indices)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"{which} must be a 1-D integer array of 2D point indices")
    if indices.size and (indices.min() < 0 or indices.max() >= len(points)):
        raise ValueError(f"{which}: indices must be in [0, {len(points)}) for image {image.name!r}")
    return xy[indices], ids[indices]


def _reproject(rec: "pycolmap.Reconstruction", ids: np.ndarray, target: Any) -> np.ndarray:
    """COLMAP pixels [K, 2] of each 3D point in ``target`` (NaN: none, or behind the camera)."""
    out = np.full((len(ids), 2), np.nan)
    known = np.flatnonzero(ids >= 0)
    if known.size:
        xyz = np.stack([rec.points3D[int(i)].xyz for i in ids[known]])
        T = target.cam_from_world().matrix()  # [3, 4]
        cam = xyz @ T[:, :3].T + T[:, 3]
        in_front = cam[:, 2] > 1e-8
        if in_front.any():
            out[known[in_front]] = target.camera.img_from_cam(cam[in_front], check_cheirality=False)
    return out


def _skew(t: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -t[2], t[1]], [t[2], 0.0, -t[0]], [-t[1], t[0], 0.0]])


def _epipolar_distances(xy0: np.ndarray, xy1: np.ndarray, image0: Any, image1: Any) -> np.ndarray:
    """[M, N] symmetric epipolar distance in pixels (mean of both images' point-to-line distances).

    Computed on undistorted normalised coordinates and scaled by each camera's mean focal length.
    """
    rel = (image1.cam_from_world() * image0.cam_from_world().inverse()).matrix()  # cam1_from_cam0 [3, 4]
    E = _skew(rel[:, 3]) @ rel[:, :3]
    n0 = np.hstack([image0.camera.cam_from_img(xy0), np.ones((len(xy0), 1))])
    n1 = np.hstack([image1.camera.cam_from_img(xy1), np.ones((len(xy1), 1))])
    algebraic = np.abs(n0 @ E.T @ n1.T)  # [M, N]: |n1ᵀ E n0|
    lines1, lines0 = n0 @ E.T, n1 @ E  # lines in image 1 [M, 3], in image 0 [N, 3]
    d1 = algebraic / np.maximum(np.hypot(lines1[:, 0], lines1[:, 1]), 1e-15)[:, None]
    d0 = algebraic / np.maximum(np.hypot(lines0[:, 0], lines0[:, 1]), 1e-15)[None, :]
    return (d1 * image1.camera.mean_focal_length() + d0 * image0.camera.mean_focal_length()) / 2


def _unmatchable(dist_known: np.ndarray, ids: np.ndarray, candidates: np.ndarray, neg_th: float) -> np.ndarray:
    """Points (rows) with no candidate partner (columns) within ``neg_th``.

    ``dist_known``: row-wise distance of a triangulated point's reprojection to each column;
    ``candidates``: distance of an untriangulated point to each column's reprojection or line.
    NaN counts as infinitely far.
    """
    dist = np.where((ids >= 0)[:, None], dist_known, candidates)
    dist = np.where(np.isnan(dist), np.inf, dist)
    return dist.min(1, initial=np.inf) > neg_th


def _duplicated(ids: np.ndarray) -> np.ndarray:
    """Points whose 3D point is also seen by another of the chosen points of the same image."""
    known = ids >= 0
    values, counts = np.unique(ids[known], return_counts=True)
    return known & np.isin(ids, values[counts > 1])


def _project_frame(xy: np.ndarray) -> torch.Tensor:
    """COLMAP pixels [K, 2] float64 -> the project's pixel frame, float32."""
    return torch.from_numpy((xy - COLMAP_PIXEL_OFFSET).astype(np.float32))


def gt_from_colmap(
    reconstruction: "pycolmap.Reconstruction",
    image0: int | str,
    image1: int | str,
    indices0: np.ndarray | torch.Tensor | None = None,
    indices1: np.ndarray | torch.Tensor | None = None,
    neg_th: float = 5.0,
) -> dict[str, torch.Tensor]:
    """Match labels of the 2D points of two registered images of a COLMAP model (one pair).

    - Match: the two keypoints observe the same 3D point (one-to-one; a 3D point seen by
      several of the chosen keypoints of one image makes those keypoints ignored, -2).
    - Unmatchable (-1), for a keypoint without a match: if it observes a 3D point, that
      point's reprojection into the other image is farther than ``neg_th`` from every chosen
      keypoint there (or lies behind that camera); otherwise it is farther than ``neg_th``
      from the reprojection of every triangulated keypoint of the other image *and* from the
      epipolar line of every untriangulated one.
    - Ignored (-2): the rest (a plausible partner exists but the model does not confirm it).

    Args:
        reconstruction: a ``pycolmap.Reconstruction`` with 2D points.
        image0, image1: image ids or names; both must be registered.
        indices0, indices1: [M], [N] indices of the image's 2D points to label (the keypoints
            the model sees, e.g. a subset of features.h5's); None takes all, in order.
        neg_th: unmatchable threshold, pixels of the reconstruction's images (strict).

    Returns:
        one pair, unbatched: ``keypoints0 [M, 2]``, ``keypoints1 [N, 2]`` f32 (project pixel
        frame), ``gt_matches0 [M]``, ``gt_matches1 [N]`` i64 (partner index into the chosen
        points, -1, -2), ``gt_assignment [M, N]`` bool, ``gt_point3D_ids0/1`` i64 (-1 if
        untriangulated), ``gt_proj_0to1 [M, 2]`` / ``gt_proj_1to0 [N, 2]`` f32 (reprojection of
        the keypoint's 3D point into the other image, project frame, NaN if none).

    Raises:
        ValueError: unknown or unregistered image, bad indices.
    """
    im0 = _image(reconstruction, image0, "image0")
    im1 = _image(reconstruction, image1, "image1")
    if im0.image_id == im1.image_id:
        raise ValueError(f"image0 and image1 are the same image {im0.name!r}")
    xy0, ids0 = _observations(im0, indices0, "indices0")
    xy1, ids1 = _observations(im1, indices1, "indices1")
    proj0 = _reproject(reconstruction, ids0, im1)
    proj1 = _reproject(reconstruction, ids1, im0)
    m, n = len(ids0), len(ids1)

    ambiguous0, ambiguous1 = _duplicated(ids0), _duplicated(ids1)
    assignment = (ids0[:, None] == ids1[None, :]) & (ids0[:, None] >= 0)
    assignment &= ~ambiguous0[:, None] & ~ambiguous1[None, :]

    fwd = np.linalg.norm(proj0[:, None] - xy1[None], axis=-1)  # [M, N] image-1 pixels
    bwd = np.linalg.norm(xy0[:, None] - proj1[None], axis=-1)  # [M, N] image-0 pixels
    epi = _epipolar_distances(xy0, xy1, im0, im1) if m and n else np.zeros((m, n))
    # an untriangulated point's candidates: reprojections of triangulated points, lines of the others
    cand0 = np.where((ids1 >= 0)[None, :], bwd, epi)
    cand1 = np.where((ids0 >= 0)[:, None], fwd, epi)
    negative0 = _unmatchable(fwd, ids0, cand0, neg_th)
    negative1 = _unmatchable(bwd.T, ids1, cand1.T, neg_th)

    rows, cols = np.nonzero(assignment)
    m0 = np.where(negative0 & ~ambiguous0, UNMATCHED, IGNORE).astype(np.int64)
    m1 = np.where(negative1 & ~ambiguous1, UNMATCHED, IGNORE).astype(np.int64)
    m0[rows], m1[cols] = cols, rows
    return {
        "keypoints0": _project_frame(xy0),
        "keypoints1": _project_frame(xy1),
        "gt_matches0": torch.from_numpy(m0),
        "gt_matches1": torch.from_numpy(m1),
        "gt_assignment": torch.from_numpy(assignment),
        "gt_point3D_ids0": torch.from_numpy(ids0),
        "gt_point3D_ids1": torch.from_numpy(ids1),
        "gt_proj_0to1": _project_frame(proj0),
        "gt_proj_1to0": _project_frame(proj1),
    }
