"""``matches.h5`` in hloc's layout.

One group per pair, named by :func:`names_to_pair` (``name0/name1`` with any ``/`` inside
a name replaced by ``-``), holding:

- ``matches0`` ``[N0]`` int32: for each keypoint of image 0 the index of its match in
  image 1, or -1 (hloc writes int16; int32 reads the same and allows more than 32767
  keypoints);
- ``matching_scores0`` ``[N0]`` float32: the match confidence, 0 for unmatched points.
"""

from __future__ import annotations

import h5py
import numpy as np

from lightglue.collection.h5store import Record


def names_to_pair(name0: str, name1: str, separator: str = "/") -> str:
    """hloc's key of the pair (name0, name1)."""
    return separator.join((name0.replace("/", "-"), name1.replace("/", "-")))


def match_record(name0: str, name1: str, matches0: np.ndarray, scores0: np.ndarray) -> Record:
    """The record of one matched pair.

    Args:
        name0, name1: image names.
        matches0: ``[N0]`` index into image 1 or -1.
        scores0: ``[N0]`` confidence in [0, 1].
    """
    return Record(
        names_to_pair(name0, name1),
        {
            "matches0": np.asarray(matches0, np.int32).reshape(-1),
            "matching_scores0": np.asarray(scores0, np.float32).reshape(-1),
        },
    )


def find_pair(f: h5py.File, name0: str, name1: str) -> tuple[str, bool] | None:
    """Key of the pair in an open file and whether it is stored reversed, or None."""
    key = names_to_pair(name0, name1)
    if key in f:
        return key, False
    key = names_to_pair(name1, name0)
    if key in f:
        return key, True
    return None


def read_matches(f: h5py.File, name0: str, name1: str) -> tuple[np.ndarray, np.ndarray]:
    """Matches of a pair from an open file, in either stored order.

    Returns:
        ``[K, 2]`` int64 index pairs (image 0, image 1) and ``[K]`` float32 scores.

    Raises:
        KeyError: the pair is not in the file.
    """
    found = find_pair(f, name0, name1)
    if found is None:
        raise KeyError(f"Pair ({name0!r}, {name1!r}) is not in {f.filename}.")
    key, reverse = found
    matches0 = f[key]["matches0"][()]
    scores0 = f[key]["matching_scores0"][()]
    idx = np.flatnonzero(matches0 >= 0)
    matches = np.stack([idx, matches0[idx]], -1).astype(np.int64)
    if reverse:
        matches = matches[:, ::-1].copy()
    return matches, scores0[idx].astype(np.float32)
