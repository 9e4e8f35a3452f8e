"""PNG plots of benchmark results: cumulative error curves and matching time vs keypoints.

Figures are drawn with matplotlib's object API (no pyplot, no global backend change).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lightglue.evaluation.metrics import cumulative_recall


def plot_error_curves(
    errors: dict[str, dict[str, Sequence[float]]],
    max_threshold: float,
    unit: str,
    path: Path,
    title: str = "",
) -> None:
    """Draw recall versus error threshold: the curves whose normalised areas are the AUCs.

    Args:
        errors: panel name (an estimator) -> curve label (a method) -> per-pair errors.
        max_threshold: right end of the x axis, in ``unit``.
        unit: axis label unit, e.g. ``"px"`` or ``"deg"``.
        path: the PNG file to write.
        title: figure title.
    """
    x = np.linspace(0, max_threshold, 200)
    fig = Figure(figsize=(4.5 * len(errors), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(errors), squeeze=False)[0])
    for ax, (panel, curves) in zip(axes, errors.items(), strict=True):
        for label, values in curves.items():
            ax.plot(x, 100 * cumulative_recall(values, x), label=label)
        ax.set(
            title=panel, xlabel=f"error threshold ({unit})", ylabel="recall (%)", xlim=(0, max_threshold), ylim=(0, 100)
        )
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    if title:
        fig.suptitle(title)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def plot_time_vs_keypoints(
    series: dict[str, tuple[Sequence[int], Sequence[float]]], path: Path, title: str = ""
) -> None:
    """Draw matcher run time against the number of keypoints per image (log-2 x axis).

    Args:
        series: curve label -> (keypoint counts, times in milliseconds).
        path: the PNG file to write.
        title: figure title.
    """
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for label, (num_keypoints, times) in series.items():
        ax.plot(num_keypoints, times, marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="keypoints per image", ylabel="matching time (ms)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
