"""Synthetic posed scenes: textured rooms with boxes, rendered into the MegaDepth layout.

Posed training pairs (images, depth maps, intrinsics, poses) without MegaDepth: each scene is a
room (floor, ceiling and four walls, 4-8 m wide, 2.5-3.2 m high) with 3-7 boxes standing on
its floor, every face a rectangle textured with a photo of the corpus. The boxes occlude the
walls and each other, so a pair of views is not related by one homography: the ground truth
comes from the depth maps (:func:`~lightglue.training.groundtruth.gt_from_depth`), as for
MegaDepth, with occlusions and points without a correspondence.

Cameras (pinhole, focal 0.75-0.97 x the image width, principal point at the centre) look at
one of two points of interest of the room from 1.2-3.5 m, at a height of 1-2 m, from
directions spread around a base direction per point, so that views of the same point overlap
by varied amounts. Rendering is ray casting per pixel: the colour image is rendered at 2x
2 samples per pixel from a texture pyramid level chosen per face and view, shaded per face
(Lambertian, one directional light) and averaged; then a per-view photometric change (gain,
offset, gamma, optional Gaussian blur, noise) is applied. The depth map is the camera z of the
ray through each pixel centre (0: no surface).

Pixel frame: the ray of image point (x, y) is ``K^-1 [x, y, 1]`` with pixel centres at integer
coordinates, the frame of the project's keypoints and of the intrinsics written; depth pixel
(row y, column x) is the depth along the ray of (x, y). (The depth ground truth samples depth
maps as glue-factory does, with centres at +0.5 px, as it does on MegaDepth.)

The output is the layout :class:`~.megadepth.MegaDepthPairs` reads: ``images/<scene>/NNN.png``,
``depth_undistorted/<scene>/NNN.h5`` and ``scene_info/<scene>.npz`` (with ``overlap_matrix``:
the smaller of the two shares of grid points of one view seen in the other at a consistent
depth). A scene's ``.npz`` is written last and atomically, so that an interrupted run leaves
no scene half-listed; running again skips the finished scenes. The ``.npz`` also records the
photos used as textures (``texture_paths``): only photos of the corpus' training split are
used (by the hash of their path, as :mod:`.photos` splits), so held-out photos stay unseen.
Everything is deterministic given (seed, scene name).
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np

from lightglue.training.data.cache import store_entry
from lightglue.training.data.photos import scan_photos

logger = logging.getLogger(__name__)

SUPERSAMPLING = 2
_MIN_DEPTH = 0.05  # metres: rays closer than this do not hit


@dataclass(frozen=True)
class Face:
    """A rectangle ``origin + a * u + b * v`` for (a, b) in [0, 1]^2 (metres, world frame, z up).

    ``normal`` is the unit normal ``u x v``; a texture spans the face, ``u`` along its width.
    """

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.u, self.v)
        return n / np.linalg.norm(n)


def _face(origin, u, v) -> Face:
    return Face(np.asarray(origin, float), np.asarray(u, float), np.asarray(v, float))


def make_room(rng: np.random.Generator) -> tuple[np.ndarray, list[Face], list[tuple[np.ndarray, float]]]:
    """A random room with boxes.

    Returns:
        ``size`` (X, Y, Z) in metres, the faces (room first, then 6 per box) and the boxes'
        footprints as (centre (x, y), radius) for keeping cameras out of them.
    """
    X, Y, Z = rng.uniform(4, 8), rng.uniform(4, 8), rng.uniform(2.5, 3.2)
    faces = [
        _face([0, 0, 0], [X, 0, 0], [0, Y, 0]),
        _face([0, 0, Z], [0, Y, 0], [X, 0, 0]),
        _face([0, 0, 0], [0, 0, Z], [X, 0, 0]),
        _face([0, Y, 0], [X, 0, 0], [0, 0, Z]),
        _face([0, 0, 0], [0, Y, 0], [0, 0, Z]),
        _face([X, 0, 0], [0, 0, Z], [0, Y, 0]),
    ]
    footprints = []
    for _ in range(rng.integers(3, 8)):
        sx, sy, sz = rng.uniform(0.3, 1.4), rng.uniform(0.3, 1.4), rng.uniform(0.3, 2.0)
        cx, cy = rng.uniform(0.8, X - 0.8), rng.uniform(0.8, Y - 0.8)
        angle = rng.uniform(0, np.pi)
        ex = np.array([np.cos(angle), np.sin(angle), 0.0]) * sx
        ey = np.array([-np.sin(angle), np.cos(angle), 0.0]) * sy
        ez = np.array([0.0, 0.0, sz])
        corner = np.array([cx, cy, 0.0]) - ex / 2 - ey / 2
        footprints.append((np.array([cx, cy]), max(sx, sy)))
        faces += [
            _face(corner, ey, ex), _face(corner + ez, ex, ey),
            _face(corner, ex, ez), _face(corner + ey, ez, ex),
            _face(corner, ez, ey), _face(corner + ex, ey, ez),
        ]  # fmt: skip
    return np.array([X, Y, Z]), faces, footprints


def look_at(center: np.ndarray, target: np.ndarray, roll: float) -> np.ndarray:
    """World-to-camera ``[4, 4]`` of a camera at ``center`` looking at ``target`` (OpenCV axes:
    x right, y down, z forward; the image's up is the world's +z before ``roll``, radians)."""
    z = (target - center) / np.linalg.norm(target - center)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    c, s = np.cos(roll), np.sin(roll)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.stack([x, np.cross(z, x), z])
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, -R @ center
    return T


def camera_poses(
    rng: np.random.Generator, size: np.ndarray, footprints: list[tuple[np.ndarray, float]], views: int
) -> list[np.ndarray]:
    """``views`` world-to-camera poses inside the room, alternating between two points of interest."""
    X, Y, _ = size
    focus = [np.array([rng.uniform(1, X - 1), rng.uniform(1, Y - 1), rng.uniform(0.3, 1.6)]) for _ in range(2)]
    base = rng.uniform(0, 2 * np.pi, 2)
    poses: list[np.ndarray] = []
    while len(poses) < views:
        group = len(poses) % 2
        target = focus[group] + rng.normal(0, 0.3, 3)
        azimuth, distance = base[group] + rng.normal(0, 0.7), rng.uniform(1.2, 3.5)
        center = target + np.array([np.cos(azimuth) * distance, np.sin(azimuth) * distance, 0.0])
        center[2] = rng.uniform(1.0, 2.0)
        inside = 0.3 < center[0] < X - 0.3 and 0.3 < center[1] < Y - 0.3
        if inside and all(np.linalg.norm(center[:2] - c) >= r * 0.8 + 0.2 for c, r in footprints):
            poses.append(look_at(center, target, rng.normal(0, 0.1)))
    return poses


def cast_rays(
    faces: list[Face], T: np.ndarray, K: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The nearest face hit by the ray through each image point (``xs``, ``ys`` in pixels).

    Returns:
        ``index`` (-1: no hit), the face coordinates ``a``, ``b`` in [0, 1] and the camera
        depth ``z`` (metres; inf without a hit), each of the shape of ``xs``.
    """
    R_world = T[:3, :3].T
    center = -R_world @ T[:3, 3]
    rays = np.stack([(xs - K[0, 2]) / K[0, 0], (ys - K[1, 2]) / K[1, 1], np.ones_like(xs)], -1) @ R_world.T
    depth = np.full(xs.shape, np.inf)
    index = np.full(xs.shape, -1)
    a_hit, b_hit = np.zeros(xs.shape), np.zeros(xs.shape)
    for i, face in enumerate(faces):
        n = face.normal
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((face.origin - center) @ n) / (rays @ n)  # z_cam of each ray is 1, so t is the depth
        hit = (t > _MIN_DEPTH) & (t < depth)
        if not hit.any():
            continue
        p = center + t[..., None] * rays - face.origin
        a, b = (p @ face.u) / (face.u @ face.u), (p @ face.v) / (face.v @ face.v)
        hit &= (a >= 0) & (a <= 1) & (b >= 0) & (b <= 1)
        depth[hit], index[hit], a_hit[hit], b_hit[hit] = t[hit], i, a[hit], b[hit]
    return index, a_hit, b_hit, depth


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``image [h, w, 3]`` sampled at (x, y) (pixel centres at integers), ``[N, 3]``."""
    h, w = image.shape[:2]
    x, y = np.clip(x, 0, w - 1.001), np.clip(y, 0, h - 1.001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def render_view(
    faces: list[Face],
    textures: list[list[np.ndarray]],
    shading: np.ndarray,
    T: np.ndarray,
    K: np.ndarray,
    image_size: tuple[int, int],
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """One view: ``image [H, W, 3]`` (uint8, RGB) and ``depth [H, W]`` (float32 metres, 0: none).

    ``textures[i]`` is the pyramid (float32 RGB, finest first) of face ``i``, ``shading[i]`` its
    brightness factor; ``rng`` draws the photometric change (None: none, for tests).
    """
    W, H = image_size
    s = SUPERSAMPLING
    ys, xs = np.mgrid[0 : H * s, 0 : W * s].astype(float)
    index, a, b, z = cast_rays(faces, T, K, (xs - (s - 1) / 2) / s, (ys - (s - 1) / 2) / s)
    colour = np.zeros((H * s, W * s, 3), np.float32)
    for i in np.unique(index[index >= 0]):
        hit = index == i
        pyramid = textures[i]
        samples_per_metre = K[0, 0] * s / np.median(z[hit])
        texels = pyramid[0].shape[1] / np.linalg.norm(faces[i].u) / samples_per_metre
        level = int(np.clip(np.floor(np.log2(max(texels, 1e-6))), 0, len(pyramid) - 1))
        tex = pyramid[level]
        colour[hit] = _bilinear(tex, a[hit] * (tex.shape[1] - 1), b[hit] * (tex.shape[0] - 1)) * shading[i]
    image = cv2.resize(colour, (W, H), interpolation=cv2.INTER_AREA) / 255.0
    if rng is not None:
        image = np.clip(image * rng.uniform(0.7, 1.3) + rng.uniform(-0.08, 0.08), 0, 1) ** rng.uniform(0.8, 1.25)
        if rng.random() < 0.5:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.2))
        image = image + rng.normal(0, rng.uniform(0, 0.02), image.shape)
    ys, xs = np.mgrid[0:H, 0:W].astype(float)
    depth = cast_rays(faces, T, K, xs, ys)[3]
    depth[~np.isfinite(depth)] = 0
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), depth.astype(np.float32)


def covisible_share(
    depth0: np.ndarray, depth1: np.ndarray, K: np.ndarray, T0: np.ndarray, T1: np.ndarray, step: int = 16
) -> float:
    """Share of a grid (every ``step`` px) of view 0's surface points that view 1 sees at the same depth (3 %)."""
    H, W = depth0.shape
    ys, xs = np.mgrid[step // 2 : H : step, step // 2 : W : step]
    z = depth0[ys, xs]
    valid = z > 0
    points = np.stack([(xs - K[0, 2]) / K[0, 0] * z, (ys - K[1, 2]) / K[1, 1] * z, z], -1)[valid]
    T = T1 @ np.linalg.inv(T0)
    q = points @ T[:3, :3].T + T[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = q[:, :2] / q[:, 2:3] * K[[0, 1], [0, 1]] + K[:2, 2]
    seen = (q[:, 2] > _MIN_DEPTH) & (uv[:, 0] >= 0) & (uv[:, 0] <= W - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= H - 1)
    u, v = np.round(uv[seen]).astype(int).T
    consistent = np.abs(depth1[v, u] - q[seen, 2]) < 0.03 * q[seen, 2]
    return float(consistent.sum() / max(valid.sum(), 1))


def _load_texture(path: Path, rng: np.random.Generator) -> list[np.ndarray]:
    image = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32)
    if rng.random() < 0.5:
        image = np.ascontiguousarray(image[:, ::-1])
    pyramid = [image]
    while min(pyramid[-1].shape[:2]) > 16:
        pyramid.append(cv2.pyrDown(pyramid[-1]))
    return pyramid


def render_scene(
    photos_root: str | os.PathLike,
    photos: list[str],
    out: str | os.PathLike,
    name: str,
    seed: int,
    views: int,
    image_size: tuple[int, int] = (640, 480),
    photometric: bool = True,
) -> Path:
    """Render scene ``name`` (textures drawn from ``photos``, relative to ``photos_root``) into ``out``.

    Returns:
        The path of the scene's ``scene_info/<name>.npz``.
    """
    out = Path(out)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    size, faces, footprints = make_room(rng)
    light = rng.normal(size=3)
    light[2] = abs(light[2]) + 0.5
    light /= np.linalg.norm(light)
    chosen, textures = [], []
    for _ in faces:
        chosen.append(photos[int(rng.integers(len(photos)))])
        textures.append(_load_texture(Path(photos_root) / chosen[-1], rng))
    shading = np.array([0.55 + 0.45 * abs(face.normal @ light) for face in faces])
    W, H = image_size
    focal = rng.uniform(0.75 * W, 0.96875 * W)
    K = np.array([[focal, 0, (W - 1) / 2], [0, focal, (H - 1) / 2], [0, 0, 1]])
    poses = camera_poses(rng, size, footprints, views)
    for sub in ("images", "depth_undistorted"):
        (out / sub / name).mkdir(parents=True, exist_ok=True)
    depths, image_paths, depth_paths = [], [], []
    for k, T in enumerate(poses):
        image, depth = render_view(faces, textures, shading, T, K, image_size, rng if photometric else None)
        image_paths.append(f"images/{name}/{k:03d}.png")
        depth_paths.append(f"depth_undistorted/{name}/{k:03d}.h5")
        cv2.imwrite(str(out / image_paths[-1]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        with h5py.File(out / depth_paths[-1], "w") as f:
            f.create_dataset("depth", data=depth, compression="gzip", compression_opts=1)
        depths.append(depth)
    share = np.array([[covisible_share(depths[i], depths[j], K, poses[i], poses[j]) if i != j else 0.0
                       for j in range(views)] for i in range(views)])  # fmt: skip
    info = out / "scene_info" / f"{name}.npz"
    store_entry(info, {
        "image_paths": np.array(image_paths, dtype=object),
        "depth_paths": np.array(depth_paths, dtype=object),
        "intrinsics": np.stack([K] * views),
        "poses": np.stack(poses),
        "overlap_matrix": np.minimum(share, share.T),
        "texture_paths": np.array(chosen, dtype=object),
    })
    return info


def render_scenes(
    photos_root: str | os.PathLike,
    out: str | os.PathLike,
    scenes: int,
    views: int = 8,
    seed: int = 0,
    workers: int = 1,
    image_size: tuple[int, int] = (640, 480),
    val_fraction: float = 0.1,
) -> Iterator[tuple[str, bool]]:
    """Render scenes ``s0000`` ... into ``out``, skipping those already finished.

    Yields:
        ``(scene name, rendered now)`` as scenes finish (in completion order).

    Raises:
        ValueError: fewer than 6 usable training photos, or a bad count.
    """
    if scenes < 1 or views < 2 or workers < 1:
        raise ValueError(f"Need scenes >= 1, views >= 2 and workers >= 1, got {scenes}, {views}, {workers}.")
    corpus = scan_photos(photos_root, "train", val_fraction, min_photos=6)
    names = [f"s{i:04d}" for i in range(scenes)]
    todo = [n for n in names if not (Path(out) / "scene_info" / f"{n}.npz").is_file()]
    for name in names:
        if name not in todo:
            yield name, False
    args = (corpus.root, corpus.photos, out)
    if workers == 1:
        for name in todo:
            render_scene(*args, name, seed, views, image_size)
            yield name, True
        return
    with ProcessPoolExecutor(workers) as pool:
        futures = {pool.submit(render_scene, *args, name, seed, views, image_size): name for name in todo}
        for future in as_completed(futures):
            future.result()
            yield futures[future], True
