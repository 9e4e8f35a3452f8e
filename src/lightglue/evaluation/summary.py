"""Aggregating per-pair benchmark records into the numbers reported in tables.

A record is a dict with ``num_keypoints0``, ``num_keypoints1``, ``num_matches``,
``precision`` (NaN without matches), ``time_match_ms`` and ``estimators``:
``{estimator: {"error": float (inf on failure), ...}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lightglue.evaluation.metrics import error_auc


def auc_key(threshold: float, unit: str) -> str:
    """Name of an AUC column, e.g. ``auc@3px`` or ``auc@10deg``."""
    return f"auc@{threshold:g}{unit}"


def _mean(values: Sequence[float]) -> float:
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if len(finite) else float("nan")


def summarize(records: Sequence[dict[str, Any]], thresholds: Sequence[float], unit: str) -> dict[str, Any]:
    """Benchmark numbers of a set of pairs.

    Args:
        records: per-pair results, all with the same estimators.
        thresholds: AUC thresholds, in ``unit``.
        unit: ``"px"`` or ``"deg"``, used in the AUC names.
    Returns:
        ``num_pairs``; means over pairs of ``num_keypoints`` (per image), ``num_matches``,
        ``precision`` (pairs with matches) and ``time_match_ms``; and per estimator: the AUCs
        (fractions in [0, 1]), ``mean_error`` over the successful estimates, ``failures``.
    """
    summary: dict[str, Any] = {
        "num_pairs": len(records),
        "num_keypoints": _mean([(r["num_keypoints0"] + r["num_keypoints1"]) / 2 for r in records]),
        "num_matches": _mean([r["num_matches"] for r in records]),
        "precision": _mean([r["precision"] for r in records]),
        "time_match_ms": _mean([r["time_match_ms"] for r in records]),
        "estimators": {},
    }
    for estimator in records[0]["estimators"] if records else []:
        errors = [r["estimators"][estimator]["error"] for r in records]
        aucs = error_auc(errors, thresholds)
        summary["estimators"][estimator] = {
            **{auc_key(t, unit): a for t, a in zip(thresholds, aucs, strict=True)},
            "mean_error": _mean(errors),
            "failures": int(np.sum(~np.isfinite(np.asarray(errors, np.float64)))),
        }
    return summary
