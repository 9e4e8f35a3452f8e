"""Pictures of images, keypoints and matches (official ``viz2d`` names).

Typical use::

    axes = plot_images([image0, image1])
    plot_matches(kpts0[m[:, 0]], kpts1[m[:, 1]], color=cm_ranking(scores), lw=0.5)
    plot_keypoints([kpts0, kpts1], colors=[cm_prune(prune0), cm_prune(prune1)])
    save_plot("matches.png")

Keypoints are ``[N, 2]`` (x, y) pixels; images are ``[H, W, 3]`` arrays or ``[3, H, W]`` tensors.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

import numpy as np
import torch


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.ndim == 3 and x.shape[0] in (1, 3):
            x = x.permute(1, 2, 0)
        x = x.numpy()
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    return x


def cm_ranking(scores, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Colours [N, 4] from red (``low``) through yellow to green (``high``) for match scores."""
    s = np.clip((_numpy(scores).astype(float) - low) / max(high - low, 1e-12), 0, 1)
    return matplotlib.colormaps["RdYlGn"](s)


def cm_RdGn(x) -> np.ndarray:  # noqa: N802 (the official name)
    """RGB colours [..., 3]: red (0) through yellow (0.5) to green (1)."""
    x = np.clip(_numpy(x).astype(float), 0, 1)[..., None]
    return np.clip(np.concatenate([2 - 2 * x, 2 * x, 0 * x], -1), 0, 1)


def cm_BlRdGn(x) -> np.ndarray:  # noqa: N802 (the official name)
    """RGBA colours [..., 4]: blue (-1) through red (0) to green (1)."""
    x = _numpy(x).astype(float)
    pos = np.clip(x, 0, 1)[..., None]
    neg = np.clip(-x, 0, 1)[..., None]
    red_green = np.concatenate([2 - 2 * pos, 2 * pos, 0 * pos, 1 + 0 * pos], -1)
    red_blue = np.concatenate([2 - 2 * neg, 0.2 * neg, 2 * neg, 1 + 0 * neg], -1)
    return np.clip(np.where(x[..., None] < 0, red_blue, red_green), 0, 1)


def cm_grad2d(xy) -> np.ndarray:
    """RGB colours [..., 3] of 2-D points in [0, 1]^2: yellow (0, 0), green (1, 0), red (0, 1), blue (1, 1)."""
    xy = np.clip(_numpy(xy).astype(float), 0, 1)
    x, y = xy[..., :1], xy[..., 1:2]
    corners = [np.array(c, float) for c in ((1, 1, 0), (0, 1, 0), (1, 0, 0), (0, 0, 1))]
    weights = [(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y]
    return np.clip(sum(w * c for w, c in zip(weights, corners)), 0, 1)


def cm_prune(prune, n_layers: int | None = None) -> np.ndarray:
    """Colours [N, 4] for the layer at which each point was pruned.

    Points kept until the end (``prune >= n_layers``; pass the number of layers run, by
    default the largest value) are blue; pruned points go from red (dropped early) to yellow
    (dropped late).
    """
    prune = _numpy(prune).astype(float)
    if prune.size == 0:
        return np.zeros((0, 4))
    n_layers = int(prune.max()) if n_layers is None else n_layers
    colors = matplotlib.colormaps["autumn"](np.clip((prune - 1) / max(n_layers - 1, 1), 0, 1))
    colors[prune >= n_layers] = (0.1, 0.4, 1.0, 1.0)
    return colors


def plot_images(
    images, titles=None, cmaps="gray", dpi: int = 100, pad: float = 0.5, adaptive: bool = True,
    figsize_scale: float = 4.5,
):
    """Show images side by side in a new figure; returns the list of axes.

    ``adaptive``: panel widths follow the images' aspect ratios (False: 4:3 panels).
    """
    plt = _pyplot()
    images = [_numpy(im) for im in images]
    n = len(images)
    if isinstance(cmaps, str):
        cmaps = [cmaps] * n
    ratios = [im.shape[1] / im.shape[0] if adaptive else 4 / 3 for im in images]
    fig, axes = plt.subplots(
        1, n, figsize=(figsize_scale * sum(ratios), figsize_scale), dpi=dpi, gridspec_kw={"width_ratios": ratios}
    )
    axes = np.atleast_1d(axes).tolist()
    for i, (ax, im) in enumerate(zip(axes, images)):
        ax.imshow(im, cmap=cmaps[i])
        ax.set_axis_off()
        for side in ax.spines.values():
            side.set_visible(False)
        if titles:
            ax.set_title(titles[i])
    fig.tight_layout(pad=pad)
    return axes


def plot_keypoints(kpts, colors="lime", ps: float = 4, axes=None, a: float = 1.0) -> None:
    """Scatter keypoints [N, 2] on each axis (one array of keypoints per axis)."""
    plt = _pyplot()
    axes = axes if axes is not None else plt.gcf().axes
    if not isinstance(colors, list):
        colors = [colors] * len(kpts)
    for ax, k, c in zip(axes, kpts, colors):
        k = _numpy(k)
        if len(k):
            ax.scatter(k[:, 0], k[:, 1], c=c, s=ps, linewidths=0, alpha=a)


def plot_matches(kpts0, kpts1, color=None, lw: float = 1.5, ps: float = 4, a: float = 1.0, axes=None) -> None:
    """Draw lines between matched keypoints [S, 2] of the first two axes."""
    plt = _pyplot()
    from matplotlib.patches import ConnectionPatch

    axes = axes if axes is not None else plt.gcf().axes
    ax0, ax1 = axes[0], axes[1]
    k0, k1 = _numpy(kpts0), _numpy(kpts1)
    if len(k0) != len(k1):
        raise ValueError(f"plot_matches needs as many points in each image, got {len(k0)} and {len(k1)}")
    if color is None:
        color = matplotlib.colormaps["hsv"](np.random.default_rng(0).random(len(k0)))
    elif isinstance(color, str) or (np.ndim(color) == 1 and len(color) in (3, 4) and len(k0) not in (3, 4)):
        color = [color] * len(k0)
    for p0, p1, c in zip(k0, k1, color):
        line = ConnectionPatch(
            xyA=p1, xyB=p0, coordsA=ax1.transData, coordsB=ax0.transData, axesA=ax1, axesB=ax0,
            color=c, linewidth=lw, alpha=a, clip_on=False,
        )
        ax0.figure.add_artist(line)
    if ps > 0 and len(k0):
        ax0.scatter(k0[:, 0], k0[:, 1], c=color, s=ps, linewidths=0)
        ax1.scatter(k1[:, 0], k1[:, 1], c=color, s=ps, linewidths=0)


def add_text(idx: int, text: str, pos=(0.01, 0.99), fs: int = 12, color: str = "w", axes=None) -> None:
    """Write ``text`` in the corner of axis ``idx`` with a dark outline."""
    plt = _pyplot()
    from matplotlib import patheffects

    axes = axes if axes is not None else plt.gcf().axes
    t = axes[idx].text(*pos, text, fontsize=fs, ha="left", va="top", color=color, transform=axes[idx].transAxes)
    t.set_path_effects([patheffects.Stroke(linewidth=2, foreground="k"), patheffects.Normal()])


def save_plot(path: str | Path, **kwargs) -> None:
    """Save the current figure tightly cropped and close it.

    The file is written under a temporary name and renamed into place, so ``path`` is never
    left half-written.
    """
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        plt.savefig(str(tmp), bbox_inches="tight", pad_inches=0, **kwargs)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close()
