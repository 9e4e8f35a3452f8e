"""``reconstruction.html``: an interactive 3D view of a reconstruction in one offline file.

The page inlines plotly.js (from the ``plotly`` package) and the scene, so it opens from
disk with no network: coloured 3D points, each camera's viewing pyramid with its image
name on hover, orbit / zoom / pan, outliers (:func:`~lightglue.collection.scene.robust_inliers`)
hidden until a checkbox or the legend shows them, and the summary figures in a header.
Coordinates are those of the view frame (:func:`~lightglue.collection.scene.view_axes`):
x right, y forward (the way the cameras look), z up, origin at the median point. Above
``max_points`` points a random subset is drawn and the page says so.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np

from lightglue.collection._pycolmap import pycolmap
from lightglue.collection.reconstruct import ReconstructionSummary, summarize
from lightglue.collection.scene import (
    frustum_depth,
    frustum_lines,
    robust_bounds,
    robust_inliers,
    scene_from_reconstruction,
    view_axes,
)
from lightglue.collection.viewer_page import b64_array, fill_template, script_json, write_page

POINT_BUDGET = 200_000


def _plotly_js() -> str:
    """plotly.js, minified, as the ``plotly`` package bundles it for offline use."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _points(xyz: np.ndarray, rgb: np.ndarray, track: np.ndarray, error: np.ndarray) -> dict[str, str]:
    """One group of points for the page: ``xyz [N, 3]``, ``rgb [N, 3]`` uint8, ``track [N]``, ``error [N]`` px."""
    return {
        "xyz": b64_array(xyz, "<f4"),
        "rgb": b64_array(rgb, "u1"),
        "track": b64_array(np.minimum(track, 65535), "<u2"),
        "error": b64_array(error, "<f4"),
    }


def _framing(xyz: np.ndarray, inliers: np.ndarray, cameras: np.ndarray) -> dict:
    """Plotly ``scene`` settings: equal axes over everything, the default view framed on the inliers.

    The axis ranges hold every point and camera (outliers included, so that showing them
    clips nothing); the view looks at the centre of the inliers' robust box from behind
    the cameras (-y), a little from the right and from above, from a distance at which the
    box fills most of the plot. Plotly maps an axis range onto ``[-a / 2, a / 2]`` of its
    normalised scene, ``a`` the aspect ratio of that axis.

    Args:
        xyz: ``[N, 3]`` points in the view frame (x right, y forward, z up).
        inliers: ``[N]`` mask of the bulk.
        cameras: ``[M, 3]`` camera vertices (centres and frusta) in the same frame.
    """
    everything = np.concatenate([xyz, cameras]) if len(xyz) else cameras
    if not len(everything):
        everything = np.zeros((1, 3))
    lo, hi = everything.min(0), everything.max(0)
    pad = 0.02 * max(float(np.max(hi - lo)), 1e-9)
    lo, hi = lo - pad, hi + pad
    ratio = (hi - lo) / np.max(hi - lo)
    bulk = xyz[inliers] if inliers.any() else everything
    blo, bhi = robust_bounds(bulk, margin=0.0)
    normalise = lambda p: (p - (lo + hi) / 2) / (hi - lo) * ratio  # noqa: E731
    centre = normalise((blo + bhi) / 2)
    extent = float(np.max(normalise(bhi) - normalise(blo)))
    direction = np.array([0.3, -1.0, 0.5]) / np.linalg.norm([0.3, -1.0, 0.5])
    eye = centre + direction * max(1.6 * extent, 1e-3)
    vec = lambda v: {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}  # noqa: E731
    return {
        "ranges": [[float(a), float(b)] for a, b in zip(lo, hi, strict=True)],
        "aspectratio": vec(ratio),
        "center": vec(centre),
        "eye": vec(eye),
    }


def _figures(summary: ReconstructionSummary, num_outliers: int) -> str:
    """The header's ``<dt>/<dd>`` figures."""
    items = [
        ("images registered", f"{summary.num_registered} / {summary.num_images}"),
        ("3D points", f"{summary.num_points3D:,}"),
        ("mean track length", f"{summary.mean_track_length:.2f}"),
        ("mean reprojection error", f"{summary.mean_reprojection_error:.3f} px"),
        ("outliers hidden", f"{num_outliers:,}"),
    ]
    return "".join(f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>" for k, v in items)


def reconstruction_page(
    rec: pycolmap.Reconstruction,
    summary: ReconstructionSummary | None = None,
    max_points: int = POINT_BUDGET,
    title: str = "Reconstruction",
    seed: int = 0,
) -> str:
    """The HTML text of the 3D viewer of ``rec``.

    Args:
        rec: the reconstruction.
        summary: figures for the header (default: computed from ``rec``, counting only the
            images in the model).
        max_points: point budget; above it a random subset of this many points is drawn.
        title: page title.
        seed: seed of the subset.
    """
    if max_points < 1:
        raise ValueError(f"max_points must be positive, got {max_points}.")
    scene = scene_from_reconstruction(rec)
    summary = summary or summarize(rec, [rec.image(i).name for i in rec.reg_image_ids()])
    inliers = robust_inliers(scene.xyz)
    depth = frustum_depth(scene, inliers)
    axes = view_axes(scene.xyz[inliers], scene.rotations)[[0, 2, 1]]  # x right, y forward, z up: a rotation
    origin = np.median(scene.xyz[inliers], axis=0) if inliers.any() else np.zeros(3)
    xyz = (scene.xyz - origin) @ axes.T
    num_total = len(xyz)
    shown = np.arange(num_total)
    notes = []
    if num_total > max_points:
        shown = np.sort(np.random.default_rng(seed).choice(num_total, max_points, replace=False))
        notes.append(
            f"Large model: showing a random subset of {max_points:,} of its {num_total:,} points "
            f"(point budget {max_points:,}) so that the page stays responsive."
        )
    groups = {}
    for key, mask in (("inliers", inliers[shown]), ("outliers", ~inliers[shown])):
        idx = shown[mask]
        groups[key] = _points(xyz[idx], scene.rgb[idx], scene.track_length[idx], scene.error[idx])
    frusta = (frustum_lines(scene, depth) - origin) @ axes.T  # [C, 8, 2, 3]
    framing = _framing(xyz, inliers, frusta.reshape(-1, 3))
    data = {
        **groups,
        "cameras": {
            "names": scene.names,
            "centres": np.round((scene.centres - origin) @ axes.T, 6).tolist(),
            "frusta": np.round(frusta.reshape(len(scene.names), -1), 6).tolist(),
            "observed": scene.num_observed.tolist(),
        },
        "scene": framing,
        "pointSize": float(np.clip(60.0 / np.sqrt(max(len(shown), 1)) + 1.0, 1.5, 5.0)),
    }
    if summary.unregistered:
        notes.append(f"Not registered: {', '.join(summary.unregistered)}.")
    num_outliers = int((~inliers).sum())
    return fill_template(
        "reconstruction.html",
        TITLE=html.escape(title),
        FIGURES=_figures(summary, num_outliers),
        NUM_OUTLIERS=f"{num_outliers:,}",
        NOTES="".join(f'<p class="note">{html.escape(n)}</p>' for n in notes),
        DATA=script_json(data),
        PLOTLY_JS=_plotly_js(),
    )


def write_reconstruction_html(
    rec: pycolmap.Reconstruction,
    path: str | os.PathLike,
    summary: ReconstructionSummary | None = None,
    max_points: int = POINT_BUDGET,
    title: str = "Reconstruction",
) -> Path:
    """Write :func:`reconstruction_page` of ``rec`` to ``path`` (atomically) and return the path."""
    return write_page(path, reconstruction_page(rec, summary, max_points, title))
