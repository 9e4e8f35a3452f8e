"""Training checkpoints on disk: atomic writes, the newest good one, exported weights.

A run folder holds ``checkpoints/step_0000100.pt`` files (the whole training state) and a
text file ``checkpoints/latest`` naming the newest one. Every file is written under a
temporary name, flushed to disk and renamed into place, so a run killed at any moment
(``kill -9``) leaves the previous checkpoint intact and never a half-written one.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_DIR = "checkpoints"
LATEST = "latest"
_NAME = re.compile(r"^step_(\d+)\.pt$")


def atomic_write(path: Path, write) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, fsync, rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` that leaves either the complete new file or the old one."""
    atomic_write(path, lambda f: torch.save(obj, f))


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:07d}.pt"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every complete checkpoint of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    found = []
    for p in folder.glob("step_*.pt") if folder.is_dir() else []:
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def save_checkpoint(run_dir: Path, step: int, state: Mapping[str, Any], keep: int = 2) -> Path:
    """Write the training state of ``step``, point ``latest`` at it, drop all but ``keep`` newest."""
    path = checkpoint_path(run_dir, step)
    atomic_torch_save(dict(state), path)
    atomic_write(path.parent / LATEST, lambda f: f.write(path.name.encode()))
    for _, old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint named by ``latest`` (or the highest step if ``latest`` is missing), or None."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    pointer = folder / LATEST
    if pointer.is_file():
        candidate = folder / pointer.read_text().strip()
        if candidate.is_file():
            return candidate
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt file
        raise ValueError(f"cannot read checkpoint {str(path)!r}: {err}") from err
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise ValueError(f"{str(path)!r} is not a training checkpoint of this trainer")
    return state


def export_weights(state_dict: Mapping[str, torch.Tensor], path: Path, fp16: bool = False) -> Path:
    """Write a plain state dict (the inference parameter names) for ``LightGlue(weights=path)``.

    Args:
        state_dict: the model's ``state_dict()``.
        path: the ``.pth`` file to write (atomically).
        fp16: store floating-point tensors as float16 (they load back into a float32 model).
    """
    out = {}
    for key, value in state_dict.items():
        value = value.detach().cpu()
        out[key] = value.half() if fp16 and value.is_floating_point() else value.clone()
    atomic_torch_save(out, Path(path))
    return Path(path)
