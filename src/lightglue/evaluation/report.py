"""Writing benchmark results: JSON (everything) and Markdown tables (the headline numbers)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that :func:`json.dump` writes as standard JSON.

    NumPy scalars and arrays become Python numbers and lists, paths become strings, and
    non-finite floats (a failed estimate's infinite error) become ``null``.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented standard JSON, creating the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(obj), indent=1, allow_nan=False) + "\n")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats are written with one decimal."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _auc_names(summary: dict[str, Any]) -> list[str]:
    first = next(iter(summary["estimators"].values()), {})
    return [k for k in first if k.startswith("auc@")]


def summary_table(summaries: dict[str, dict[str, Any]], error_name: str) -> str:
    """One row per (method, estimator): AUCs (%), mean error, failures, precision (%), matches.

    Args:
        summaries: method name -> output of :func:`~lightglue.evaluation.summary.summarize`.
        error_name: header of the mean-error column, e.g. ``"mean corner error (px)"``.
    """
    aucs = _auc_names(next(iter(summaries.values())))
    headers = [
        "method",
        "estimator",
        *(a.upper() for a in aucs),
        error_name,
        "failures",
        "precision (%)",
        "matches",
        "keypoints",
        "match time (ms)",
    ]
    rows = []
    for method, s in summaries.items():
        for estimator, e in s["estimators"].items():
            rows.append(
                [
                    method,
                    estimator,
                    *(100 * e[a] for a in aucs),
                    e["mean_error"],
                    e["failures"],
                    100 * s["precision"],
                    s["num_matches"],
                    s["num_keypoints"],
                    s["time_match_ms"],
                ]
            )
    return markdown_table(headers, rows)


def per_group_table(summaries: dict[str, dict[str, Any]], key: str, group_name: str) -> str:
    """One row per (group, method, estimator) from ``summary[key]`` (e.g. ``per_sequence``)."""
    aucs = _auc_names(next(iter(summaries.values())))
    headers = [group_name, "method", "estimator", *(a.upper() for a in aucs), "precision (%)", "matches"]
    groups = sorted({g for s in summaries.values() for g in s[key]})
    rows = []
    for group in groups:
        for method, s in summaries.items():
            g = s[key][group]
            for estimator, e in g["estimators"].items():
                rows.append(
                    [group, method, estimator, *(100 * e[a] for a in aucs), 100 * g["precision"], g["num_matches"]]
                )
    return markdown_table(headers, rows)


def weights_lines(methods: dict[str, dict[str, Any]]) -> str:
    """``Weights: method: name (sha256 …)`` for every method whose record names its weights."""
    found = [f"{name}: {m['weights']['name']} (sha256 {m['weights']['sha256']})" for name, m in methods.items()
             if m.get("weights")]
    return ("Weights: " + "; ".join(found) + ".") if found else ""
