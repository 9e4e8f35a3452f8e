"""Which image file a stored result was computed from: size, mtime and a content hash.

Each image's features carry, as attributes of its ``features.h5`` group, the file's size
(bytes), modification time (ns) and SHA-256. On a later run an image whose size and mtime
are unchanged is taken as unchanged without reading it; otherwise its hash decides, so a
file replaced under the same name (different content) is extracted again, and a file only
touched or copied back is not.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SIZE_ATTR = "lightglue_image_bytes"
MTIME_ATTR = "lightglue_image_mtime_ns"
HASH_ATTR = "lightglue_image_sha256"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_with_fingerprint(path: str | os.PathLike) -> tuple[bytes, dict[str, Any]]:
    """The bytes of the file at ``path`` and the group attributes that identify it (size,
    mtime_ns, sha256), from one read."""
    with open(path, "rb") as fh:
        stat = os.fstat(fh.fileno())
        data = fh.read()
    return data, {SIZE_ATTR: len(data), MTIME_ATTR: stat.st_mtime_ns, HASH_ATTR: hashlib.sha256(data).hexdigest()}


def is_unchanged(path: str | os.PathLike, stored: Mapping[str, Any]) -> bool:
    """Whether the file at ``path`` is the one ``stored`` (attributes of a features group) describes.

    Cheap when the file was not touched (one ``stat``); reads and hashes it otherwise.
    Results without a stored hash (e.g. written by hloc) are taken as current.
    """
    if HASH_ATTR not in stored:
        return True
    try:
        stat = Path(path).stat()
    except OSError:
        return False
    if stat.st_size == stored.get(SIZE_ATTR) and stat.st_mtime_ns == stored.get(MTIME_ATTR):
        return True
    return stat.st_size == stored.get(SIZE_ATTR) and file_sha256(path) == str(stored[HASH_ATTR])
