"""What a picture of a reconstruction needs, as plain arrays: points, cameras, frusta, framing.

:func:`scene_from_reconstruction` reads a pycolmap model once into a :class:`Scene`;
:func:`robust_inliers` separates the bulk of the points from stray ones, and
:func:`view_axes` finds the directions to look at the scene from (principal axes of the
bulk, oriented by the cameras). The static PNG (:mod:`~lightglue.collection.render`) and
the HTML viewer (:mod:`~lightglue.collection.viewer_reconstruction`) both draw from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lightglue.collection._pycolmap import pycolmap

OUTLIER_MADS = 5.0  # a point is an outlier when its distance to the median point exceeds median + 5 MAD


@dataclass(frozen=True)
class Scene:
    """A reconstruction as arrays (world frame, model units).

    Attributes:
        xyz: ``[N, 3]`` 3D points.
        rgb: ``[N, 3]`` uint8 point colours.
        track_length: ``[N]`` observations per point.
        error: ``[N]`` mean reprojection error per point, pixels.
        centres: ``[C, 3]`` camera centres of the registered images.
        rotations: ``[C, 3, 3]`` world-from-camera rotations (columns: camera x right, y down,
            z viewing direction, in world coordinates).
        corners: ``[C, 4, 2]`` image corners in normalised camera coordinates (x / z, y / z).
        names: image names, one per camera.
        num_observed: ``[C]`` 3D points seen by each image.
    """

    xyz: np.ndarray
    rgb: np.ndarray
    track_length: np.ndarray
    error: np.ndarray
    centres: np.ndarray
    rotations: np.ndarray
    corners: np.ndarray
    names: list[str]
    num_observed: np.ndarray


def scene_from_reconstruction(rec: pycolmap.Reconstruction) -> Scene:
    """Read the points and the registered cameras of a pycolmap model (images sorted by id)."""
    points = list(rec.points3D.values())
    centres, rotations, corners, names, observed = [], [], [], [], []
    for image_id in sorted(rec.reg_image_ids()):
        image = rec.image(image_id)
        camera = rec.camera(image.camera_id)
        world_from_cam = image.cam_from_world().inverse()
        centres.append(world_from_cam.translation)
        rotations.append(world_from_cam.rotation.matrix())
        w, h = camera.width, camera.height
        corners.append(camera.cam_from_img(np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])))
        names.append(image.name)
        observed.append(image.num_points3D)
    return Scene(
        xyz=np.array([p.xyz for p in points], dtype=np.float64).reshape(-1, 3),
        rgb=np.array([p.color for p in points], dtype=np.uint8).reshape(-1, 3),
        track_length=np.array([p.track.length() for p in points], dtype=np.int64),
        error=np.array([p.error for p in points], dtype=np.float64),
        centres=np.array(centres, dtype=np.float64).reshape(-1, 3),
        rotations=np.array(rotations, dtype=np.float64).reshape(-1, 3, 3),
        corners=np.array(corners, dtype=np.float64).reshape(-1, 4, 2),
        names=names,
        num_observed=np.array(observed, dtype=np.int64),
    )


def robust_inliers(xyz: np.ndarray, num_mads: float = OUTLIER_MADS) -> np.ndarray:
    """Mask ``[N]`` of the points that belong to the bulk of the cloud.

    A point is an outlier when its distance to the coordinate-wise median of all points
    exceeds the median distance by more than ``num_mads`` median absolute deviations of
    the distances (scaled by 1.4826, the MAD of a normal distribution). Fewer than 5 points
    are all inliers.

    Args:
        xyz: ``[N, 3]`` points.
        num_mads: how far from the bulk a point may lie, in (normal-scaled) MADs.
    """
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    if len(xyz) < 5:
        return np.ones(len(xyz), dtype=bool)
    dist = np.linalg.norm(xyz - np.median(xyz, axis=0), axis=1)
    med = np.median(dist)
    mad = 1.4826 * np.median(np.abs(dist - med))
    return dist <= med + num_mads * max(mad, 1e-12 * max(med, 1.0))


def view_axes(xyz: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """An orthonormal frame ``[3, 3]`` (rows: right, up, forward) to look at a scene from.

    ``forward`` is the principal axis of least spread of the points (PCA), the direction
    in which a roughly flat scene (a facade, a terrain) is thinnest, signed so that it
    points the way the cameras look; ``up`` is the cameras' mean up direction (image y
    points down) made orthogonal to ``forward``; ``right`` completes the frame as a
    camera's x axis does. Coordinates ``(right, up)`` of the points show the scene much as
    the photos do. Without cameras, or when their up direction lies close to ``forward``
    (photos of the ground), ``up`` is the principal axis of middle spread; with fewer than
    3 points the principal axes are the world axes.

    Args:
        xyz: ``[N, 3]`` points (the inliers).
        rotations: ``[C, 3, 3]`` world-from-camera rotations.
    """
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    rotations = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    if len(xyz) >= 3:
        _, _, vt = np.linalg.svd(xyz - xyz.mean(0), full_matrices=False)
        principal = vt  # rows: axes by decreasing spread
    else:
        principal = np.eye(3)
    forward = principal[2]
    if len(rotations):
        look = rotations[:, :, 2].mean(0)
        up = -rotations[:, :, 1].mean(0)
        if forward.dot(look) < 0:
            forward = -forward
    else:
        up = principal[1]
    up = up - up.dot(forward) * forward
    if np.linalg.norm(up) < 0.3:  # the cameras' up is (nearly) along the thin axis
        up = principal[1] - principal[1].dot(forward) * forward
    up /= np.linalg.norm(up)
    right = np.cross(forward, up)  # as a camera's x = y x z, with y = -up and z = forward
    return np.stack([right, up, forward])


def robust_bounds(points: np.ndarray, margin: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners ``([D], [D])`` of a box holding 98 % of ``points [N, D]`` per axis, with a margin.

    ``margin`` is a fraction of the box's largest side added on every side.
    """
    points = np.asarray(points, dtype=np.float64)
    lo, hi = np.percentile(points, [1, 99], axis=0) if len(points) > 20 else (points.min(0), points.max(0))
    pad = margin * max(float(np.max(hi - lo)), 1e-9)
    return lo - pad, hi + pad


def frustum_lines(scene: Scene, depth: float) -> np.ndarray:
    """Edges of every camera's viewing pyramid, ``[C, 8, 2, 3]`` segments (world frame).

    Per camera: 4 edges from the centre to the image corners placed at ``depth`` along
    the viewing direction, then the 4 edges of that image rectangle.
    """
    corners_cam = np.concatenate([scene.corners, np.ones((*scene.corners.shape[:2], 1))], axis=2) * depth
    corners = np.einsum("cij,ckj->cki", scene.rotations, corners_cam) + scene.centres[:, None]  # [C, 4, 3]
    centre = np.repeat(scene.centres[:, None], 4, axis=1)
    rim = np.roll(corners, -1, axis=1)
    return np.concatenate([np.stack([centre, corners], 2), np.stack([corners, rim], 2)], axis=1)


def frustum_depth(scene: Scene, inliers: np.ndarray) -> float:
    """A frustum depth that reads well: 5 % of the extent of the scene (inlier points and cameras), model units."""
    both = np.concatenate([scene.xyz[inliers], scene.centres])
    if len(both) < 2:
        return 1.0
    lo, hi = robust_bounds(both, margin=0.0)
    return 0.05 * max(float(np.linalg.norm(hi - lo)), 1e-9)
