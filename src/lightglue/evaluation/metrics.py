"""Benchmark metrics: the area under the cumulative error curve (AUC) and recall."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def _sorted_errors(errors: Iterable[float]) -> np.ndarray:
    """Errors as a sorted float array, with NaN (a failed estimate) counted as infinite."""
    e = np.asarray(list(errors), np.float64).ravel()
    return np.sort(np.where(np.isnan(e), np.inf, e))


def error_auc(errors: Iterable[float], thresholds: Sequence[float]) -> list[float]:
    """Normalised area under the recall-versus-error curve up to each threshold.

    The standard definition of the pose / homography AUC of the SuperGlue and LightGlue
    papers: sort the N errors ``e_1 <= ... <= e_N``; the curve passes through ``(0, 0)`` and
    ``(e_i, i / N)``, linearly in between; it is cut at the threshold ``t``, where it keeps
    the recall of the last error below ``t``; the area under it, divided by ``t``, is the AUC.
    Failed estimates should be given as ``inf`` (or NaN): they lower the recall.

    Args:
        errors: one error per pair (degrees, pixels: the unit of the thresholds).
        thresholds: positive thresholds in the same unit.
    Returns:
        One AUC in [0, 1] per threshold; 0 for every threshold when there is no error.
    """
    e = _sorted_errors(errors)
    if len(e) == 0:
        return [0.0 for _ in thresholds]
    x = np.concatenate([[0.0], e])
    recall = np.arange(len(x)) / len(e)
    aucs = []
    for t in thresholds:
        if t <= 0:
            raise ValueError(f"AUC thresholds must be positive, got {t}")
        n = int(np.searchsorted(x, t, side="left"))  # curve points strictly below t
        xs = np.append(x[:n], t)
        ys = np.append(recall[:n], recall[n - 1])
        area = np.sum(0.5 * (ys[1:] + ys[:-1]) * np.diff(xs))
        aucs.append(float(area / t))
    return aucs


def cumulative_recall(errors: Iterable[float], thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    """Fraction of errors at or below each threshold ``[T]`` (the curve an AUC integrates)."""
    e = _sorted_errors(errors)
    if len(e) == 0:
        return np.zeros(len(thresholds))
    return np.searchsorted(e, np.asarray(thresholds, np.float64), side="right") / len(e)
