"""The on-disk feature cache of the training datasets: one ``.npz`` per entry, written atomically."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def cache_key(description: dict[str, Any]) -> str:
    """SHA-1 (hex) of the JSON of ``description`` (sorted keys): what a cached entry depends on."""
    return hashlib.sha1(json.dumps(description, sort_keys=True).encode()).hexdigest()


def cache_path(cache_dir: Path, group: str, key: str) -> Path:
    """``cache_dir / group / key[:2] / key.npz``."""
    return cache_dir / group / key[:2] / f"{key}.npz"


def load_entry(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cache entry, or None when it is absent or unreadable (then logged)."""
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError) as error:
        logger.warning("Ignoring the unreadable cache file %s (%s); computing it again.", path, error)
        return None


def store_entry(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (a temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
