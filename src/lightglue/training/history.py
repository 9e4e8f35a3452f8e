"""The training log: one JSON record per line (``log.jsonl``) and a PNG plot of it.

Records are ``{"kind": "train", "step": ..., "loss": ..., ...}`` for training steps and
``{"kind": "val", "step": ..., "precision": ..., ...}`` for validations. Each line is flushed
as it is written; a resumed run first drops the records newer than its checkpoint, so the
log of an interrupted and resumed run reads like that of an uninterrupted one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightglue.training.checkpoint import atomic_write

LOG_FILE = "log.jsonl"
PLOT_FILE = "log.png"


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a log file (a torn last line, from a kill, is skipped)."""
    records = []
    if not Path(path).is_file():
        return records
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _clean(value: Any) -> Any:
    """JSON-safe numbers: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class TrainingLog:
    """Append-only JSON-lines log of a run.

    Args:
        path: the ``log.jsonl`` file.
        resume_step: keep only the records with ``step <= resume_step`` (None: start afresh).
    """

    def __init__(self, path: Path, resume_step: int | None = None) -> None:
        self.path = Path(path)
        kept = [r for r in read_log(self.path) if r.get("step", 0) <= resume_step] if resume_step is not None else []
        text = "".join(json.dumps(r) + "\n" for r in kept).encode()
        atomic_write(self.path, lambda f: f.write(text))
        self._file = open(self.path, "a")

    def write(self, kind: str, step: int, values: Mapping[str, Any]) -> None:
        record = {"kind": kind, "step": step, **{k: _clean(v) for k, v in values.items()}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def plot_log(log_path: Path, png_path: Path) -> Path:
    """Plot the training loss and the validation metrics of a log into a PNG (written atomically).

    Left: training loss (total) against step, log scale. Right: validation precision, recall
    and homography AUCs (when present) against step.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend, no window

    records = read_log(log_path)
    train = [r for r in records if r.get("kind") == "train" and r.get("loss") is not None]
    val = [r for r in records if r.get("kind") == "val"]
    fig = Figure(figsize=(11, 4), dpi=100)
    ax_loss, ax_val = fig.subplots(1, 2)
    if train:
        ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss", lw=1)
    val_loss = [r for r in val if r.get("loss") is not None]
    if val_loss:
        ax_loss.plot([r["step"] for r in val_loss], [r["loss"] for r in val_loss], "o-", label="val loss")
    if train and min(r["loss"] for r in train) > 0:
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_title("loss")
    ax_loss.legend(loc="upper right")
    keys = sorted({k for r in val for k in r if k in ("precision", "recall") or k.startswith("auc@")})
    for key in keys:
        points = [(r["step"], r[key]) for r in val if r.get(key) is not None]
        if points:
            ax_val.plot(*zip(*points, strict=True), "o-", label=key)
    ax_val.set_ylim(0, 1)
    ax_val.set_xlabel("step")
    ax_val.set_title("validation")
    if keys:
        ax_val.legend(loc="lower right")
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.12, top=0.92, wspace=0.18)
    atomic_write(Path(png_path), lambda f: fig.savefig(f, format="png"))
    return Path(png_path)
