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
from lightglue.collection.scene import (
    frustum_depth,
    frustum_lines,
    robust_bounds,
    robust_inliers,
    scene_from_reconstruction,
    view_axes,
)


def _save(fig: Figure, path: str | os.PathLike, dpi: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    return path


def _marker_size(num_points: int) -> float:
    """Point size (points^2) that keeps a cloud of ``num_points`` legible: big when sparse, small when dense."""
    return float(np.clip(6000.0 / max(num_points, 1), 0.3, 8.0))


def _draw_frusta(ax, segments: np.ndarray, axes2d: np.ndarray) -> None:
    """Project frustum ``segments [C, 8, 2, 3]`` on two view axes ``[2, 3]`` and draw them in red."""
    for seg in (segments.reshape(-1, 2, 3) @ axes2d.T):
        ax.plot(seg[:, 0], seg[:, 1], color="red", linewidth=0.6)


def _box(points2d: np.ndarray, always: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Robust box ``([2], [2])`` of ``points2d [N, 2]``, grown to hold every point of ``always [M, 2]``."""
    lo, hi = robust_bounds(points2d) if len(points2d) else robust_bounds(always)
    if always is not None and len(always):
        lo, hi = robust_bounds(np.concatenate([[lo, hi], always]), margin=0.03)
    return lo, hi


def _frame(ax, box: tuple[np.ndarray, np.ndarray]) -> None:
    """Equal axes on ``box``."""
    ax.set_xlim(box[0][0], box[1][0])
    ax.set_ylim(box[0][1], box[1][1])
    ax.set_aspect("equal", adjustable="box")
    ax.tick_params(labelsize=7)


def _aspect(box: tuple[np.ndarray, np.ndarray]) -> float:
    """Width over height of a 2D box, kept within [0.4, 2.5] so that no panel gets too thin."""
    w, h = np.maximum(box[1] - box[0], 1e-9)
    return float(np.clip(w / h, 0.4, 2.5))


def render_reconstruction(
    rec: pycolmap.Reconstruction,
    path: str | os.PathLike,
    max_points: int = 50_000,
    dpi: int = 110,
    seed: int = 0,
) -> Path:
    """Draw a reconstruction to a PNG in three views framed on the bulk of its points.

    The views look along the scene's principal axes (:func:`~lightglue.collection.scene.view_axes`):
    a front view (along the axis in which the points spread least, upright as in the photos,
    far points drawn first), a top view with the cameras' viewing pyramids (red), and a 3D
    perspective in the same frame. Outliers (:func:`~lightglue.collection.scene.robust_inliers`)
    are not drawn; every panel has equal axes on a box holding 98 % of what it shows.

    Args:
        rec: the reconstruction.
        path: output ``.png``.
        max_points: at most this many points are drawn (random subset).
        dpi: resolution.
        seed: seed of the subset.
    """
    scene = scene_from_reconstruction(rec)
    inliers = robust_inliers(scene.xyz)
    pts, rgb = scene.xyz[inliers], scene.rgb[inliers].astype(np.float64) / 255.0
    if len(pts) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(pts), max_points, replace=False))
        pts, rgb = pts[keep], rgb[keep]
    axes = view_axes(pts, scene.rotations)  # rows: right, up, forward
    origin = np.median(pts, axis=0) if len(pts) else np.zeros(3)
    local = (pts - origin) @ axes.T
    cams = (scene.centres - origin) @ axes.T
    segments = frustum_lines(scene, frustum_depth(scene, inliers)) - origin
    size = _marker_size(len(pts))
    far_first = np.argsort(-local[:, 2])

    front_box = _box(local[:, :2], always=None if len(local) else cams[:, :2])
    top_box = _box(local[:, [0, 2]], always=cams[:, [0, 2]])
    ratios = [_aspect(front_box), _aspect(top_box), 1.0]
    fig = Figure(figsize=(min(5.0 * sum(ratios) + 1.0, 18.0), 5.6))
    grid = fig.add_gridspec(1, 3, width_ratios=ratios)
    front = fig.add_subplot(grid[0])
    front.scatter(local[far_first, 0], local[far_first, 1], c=rgb[far_first], s=size, linewidths=0)
    _frame(front, front_box)
    front.set_title("front (along the thinnest principal axis)", fontsize=10)

    top = fig.add_subplot(grid[1])
    top_axes = axes[[0, 2]]  # right, forward: seen from above, the cameras look up the page
    top.scatter(local[:, 0], local[:, 2], c=rgb, s=size, linewidths=0)
    _draw_frusta(top, segments, top_axes)
    top.scatter(cams[:, 0], cams[:, 2], c="red", s=8)
    _frame(top, top_box)
    top.set_title("top view, cameras in red", fontsize=10)

    persp = fig.add_subplot(grid[2], projection="3d")
    # matplotlib's z is up: plot (right, forward, up), seen from behind the cameras, a little from above
    persp.scatter(local[:, 0], local[:, 2], local[:, 1], c=rgb, s=size, linewidths=0, depthshade=False)
    lo, hi = robust_bounds(local[:, [0, 2, 1]]) if len(local) else robust_bounds(cams[:, [0, 2, 1]])
    span = float(np.max(hi - lo))
    mid = (lo + hi) / 2
    persp.set_xlim(mid[0] - span / 2, mid[0] + span / 2)
    persp.set_ylim(mid[1] - span / 2, mid[1] + span / 2)
    persp.set_zlim(mid[2] - span / 2, mid[2] + span / 2)
    persp.set_box_aspect((1, 1, 1))
    persp.view_init(elev=20, azim=-70)
    persp.tick_params(labelsize=6)
    persp.set_title("3D (points only)", fontsize=10)

    hidden = int((~inliers).sum())
    fig.suptitle(
        f"{len(scene.names)} cameras, {len(scene.xyz)} points"
        + (f" ({hidden} outliers not drawn)" if hidden else "")
        + (f", {len(pts)} drawn" if len(pts) < inliers.sum() else ""),
        fontsize=12,
    )
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
