"""PNG pictures: a reconstruction (camera positions and 3D points) and one pair's matches.

Figures are drawn with matplotlib's object API on an Agg canvas: no global pyplot state,
no display needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch

from lightglue.collection._pycolmap import pycolmap


def _save(fig: Figure, path: str | os.PathLike, dpi: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    return path


def camera_geometry(rec: pycolmap.Reconstruction) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Centres ``[C, 3]`` and unit viewing directions ``[C, 3]`` (world frame) of registered images."""
    centres, dirs, names = [], [], []
    for image_id in sorted(rec.reg_image_ids()):
        image = rec.image(image_id)
        world_from_cam = image.cam_from_world().inverse()
        centres.append(world_from_cam.translation)
        dirs.append(world_from_cam.rotation.matrix()[:, 2])
        names.append(image.name)
    return np.array(centres).reshape(-1, 3), np.array(dirs).reshape(-1, 3), names


def _ground_axes(rec: pycolmap.Reconstruction) -> np.ndarray:
    """Two orthonormal world axes ``[2, 3]`` spanning the ground plane, seen from above.

    "Up" is taken as the mean of the cameras' up directions (image y points down), the
    first axis as the mean viewing direction projected onto the ground plane.
    """
    ups, views = [], []
    for image_id in rec.reg_image_ids():
        rot = rec.image(image_id).cam_from_world().rotation.matrix()  # rows: camera axes in world
        ups.append(-rot[1])
        views.append(rot[2])
    if not ups:
        return np.eye(3)[:2]
    up = np.mean(ups, 0)
    up /= max(np.linalg.norm(up), 1e-12)
    forward = np.mean(views, 0)
    forward -= forward.dot(up) * up
    if np.linalg.norm(forward) < 1e-9:
        forward = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    forward /= np.linalg.norm(forward)
    return np.stack([forward, np.cross(up, forward)])


def render_reconstruction(
    rec: pycolmap.Reconstruction,
    path: str | os.PathLike,
    max_points: int = 20_000,
    dpi: int = 120,
    seed: int = 0,
) -> Path:
    """Draw camera centres (red, with viewing direction) and 3D points (their colours) to a PNG.

    Two panels: a 3D perspective and a top view (ground plane: perpendicular to the cameras'
    mean up direction, the mean viewing direction pointing right). Points outside the
    1st-99th percentile box are dropped as outliers.

    Args:
        rec: the reconstruction.
        path: output ``.png``.
        max_points: at most this many points are drawn (random subset).
        dpi: resolution.
        seed: seed of the subset.
    """
    pts = np.array([p.xyz for p in rec.points3D.values()]).reshape(-1, 3)
    rgb = np.array([p.color for p in rec.points3D.values()], dtype=np.float64).reshape(-1, 3) / 255.0
    if len(pts) > max_points:
        keep = np.random.default_rng(seed).choice(len(pts), max_points, replace=False)
        pts, rgb = pts[keep], rgb[keep]
    if len(pts) > 10:
        lo, hi = np.percentile(pts, [1, 99], axis=0)
        inside = np.all((pts >= lo) & (pts <= hi), axis=1)
        pts, rgb = pts[inside], rgb[inside]
    centres, dirs, _ = camera_geometry(rec)
    both = np.concatenate([pts, centres])
    half = max(np.ptp(both, axis=0).max() / 2, 1e-9) if len(both) else 1.0
    arrow = 0.1 * half

    fig = Figure(figsize=(12, 6))
    ax3d = fig.add_subplot(1, 2, 1, projection="3d")
    ax3d.scatter(*pts.T, c=rgb, s=0.5, depthshade=False)
    ax3d.scatter(*centres.T, c="red", s=12)
    ax3d.quiver(*centres.T, *(dirs * arrow).T, color="red", linewidth=0.8)
    if len(both):
        mid = (both.max(0) + both.min(0)) / 2
        ax3d.set_xlim(mid[0] - half, mid[0] + half)
        ax3d.set_ylim(mid[1] - half, mid[1] + half)
        ax3d.set_zlim(mid[2] - half, mid[2] + half)
    ax3d.set_title(f"{len(centres)} cameras, {rec.num_points3D()} points")

    top = fig.add_subplot(1, 2, 2)
    axes = _ground_axes(rec)
    mean = centres.mean(0) if len(centres) else np.zeros(3)
    p2, c2, d2 = (pts - mean) @ axes.T, (centres - mean) @ axes.T, dirs @ axes.T
    top.scatter(*p2.T, c=rgb, s=0.5)
    top.scatter(*c2.T, c="red", s=12)
    top.quiver(*c2.T, *d2.T, color="red", angles="xy", scale_units="xy", scale=1 / arrow, width=0.003)
    top.set_aspect("equal", adjustable="datalim")
    top.set_title("top view (cameras in red)")
    fig.tight_layout()
    return _save(fig, path, dpi)


def render_matches(
    image0: np.ndarray,
    image1: np.ndarray,
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    matches: np.ndarray,
    path: str | os.PathLike,
    title: str = "",
    dpi: int = 100,
) -> Path:
    """Draw two images side by side with lines between matched keypoints.

    Args:
        image0, image1: ``[H, W, 3]`` uint8 or float in [0, 1] RGB images.
        kpts0, kpts1: ``[N0, 2]``, ``[N1, 2]`` keypoints, pixels.
        matches: ``[K, 2]`` index pairs into ``kpts0`` and ``kpts1``.
        path: output ``.png``.
        title: figure title.
        dpi: resolution.
    """
    fig = Figure(figsize=(12, 5))
    axes = fig.subplots(1, 2)
    for ax, image, kpts in ((axes[0], image0, kpts0), (axes[1], image1, kpts1)):
        ax.imshow(image)
        ax.scatter(*np.asarray(kpts).reshape(-1, 2).T, s=1, c="lime")
        ax.set_axis_off()
    cmap = matplotlib.colormaps["viridis"]
    for i, (a, b) in enumerate(np.asarray(matches).reshape(-1, 2)):
        color = cmap(i / max(1, len(matches) - 1))
        fig.add_artist(
            ConnectionPatch(
                xyA=kpts0[a], coordsA=axes[0].transData, xyB=kpts1[b], coordsB=axes[1].transData,
                color=color, linewidth=0.5,
            )
        )
    fig.suptitle(title or f"{len(matches)} matches")
    fig.tight_layout()
    return _save(fig, path, dpi)
