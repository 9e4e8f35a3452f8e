"""``matches.h5`` in hloc's layout.

One group per pair, named by :func:`pair_key`, holding:

- ``matches0`` ``[N0]`` int32: for each keypoint of image 0 the index of its match in
  image 1, or -1 (hloc writes int16; int32 reads the same and allows more than 32767
  keypoints);
- ``matching_scores0`` ``[N0]`` float32: the match confidence, 0 for unmatched points;
- group attributes ``lightglue_image0_sha256`` / ``lightglue_image1_sha256``: the content
  hashes of the two images whose features were matched (a replaced image invalidates them).

Pair keys. hloc names a pair ``name0/name1`` with any ``/`` inside a name replaced by ``-``
(:func:`names_to_pair`; files of old hloc versions used ``_`` between the names). Two image
names can share that key (``sub/c.jpg`` and ``sub-c.jpg``). The file's root attribute
``lightglue_pair_keys`` says which keys it uses:

- ``"hloc"`` (also assumed when the attribute is absent): hloc's keys, used whenever no two
  images of the collection share one, so hloc reads the file;
- ``"quoted"``: every name percent-encoded (``%`` -> ``%25``, ``/`` -> ``%2F``, ``-`` ->
  ``%2D``), collision-free for any names. Names with none of these characters keep hloc's
  key; hloc fails loudly ("Could not find pair") on the others instead of reading another
  pair's matches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import h5py
import numpy as np

from lightglue.collection.h5store import Record

PAIR_KEYS_ATTR = "lightglue_pair_keys"
PAIR_KEY_SCHEMES = ("hloc", "quoted")
IMAGE_HASH_ATTRS = ("lightglue_image0_sha256", "lightglue_image1_sha256")


class DamagedRecordError(ValueError):
    """A stored pair lacks a dataset or has one of the wrong shape."""


def names_to_pair(name0: str, name1: str, separator: str = "/") -> str:
    """hloc's key of the pair (name0, name1)."""
    return separator.join((name0.replace("/", "-"), name1.replace("/", "-")))


def quote_name(name: str) -> str:
    """A name as one collision-free HDF5 path component (``%``, ``/``, ``-`` percent-encoded)."""
    return name.replace("%", "%25").replace("/", "%2F").replace("-", "%2D")


def pair_key(name0: str, name1: str, scheme: str = "hloc") -> str:
    """Key of the pair (name0, name1) under a key scheme (``"hloc"`` or ``"quoted"``)."""
    if scheme == "hloc":
        return names_to_pair(name0, name1)
    if scheme == "quoted":
        return f"{quote_name(name0)}/{quote_name(name1)}"
    raise ValueError(f"Unknown pair key scheme {scheme!r}; expected one of {PAIR_KEY_SCHEMES}.")


def hloc_key_collisions(names: Iterable[str]) -> list[list[str]]:
    """Groups of distinct image names that hloc's pair keys cannot tell apart (sorted)."""
    by_key: dict[str, set[str]] = defaultdict(set)
    for name in names:
        by_key[name.replace("/", "-")].add(name)
    return sorted(sorted(group) for group in by_key.values() if len(group) > 1)


def key_scheme(f: h5py.File) -> str:
    """The pair key scheme of an open file (``"hloc"`` when it does not say)."""
    scheme = str(f.attrs.get(PAIR_KEYS_ATTR, "hloc"))
    if scheme not in PAIR_KEY_SCHEMES:
        raise ValueError(f"{f.filename}: unknown {PAIR_KEYS_ATTR}={scheme!r}.")
    return scheme


def match_record(
    name0: str,
    name1: str,
    matches0: np.ndarray,
    scores0: np.ndarray,
    scheme: str = "hloc",
    image_hashes: tuple[str, str] = ("", ""),
) -> Record:
    """The record of one matched pair.

    Args:
        name0, name1: image names.
        matches0: ``[N0]`` index into image 1 or -1.
        scores0: ``[N0]`` confidence in [0, 1].
        scheme: the file's pair key scheme.
        image_hashes: content hashes of the two images ("" when unknown).
    """
    return Record(
        pair_key(name0, name1, scheme),
        {
            "matches0": np.asarray(matches0, np.int32).reshape(-1),
            "matching_scores0": np.asarray(scores0, np.float32).reshape(-1),
        },
        group_attrs=dict(zip(IMAGE_HASH_ATTRS, image_hashes, strict=True)),
    )


def find_pair(f: h5py.File, name0: str, name1: str) -> tuple[str, bool] | None:
    """Key of the pair in an open file and whether it is stored reversed, or None.

    Keys follow the file's scheme (:func:`key_scheme`); a file in hloc's scheme is also
    searched for the keys of old hloc versions (``name0_name1``).
    """
    scheme = key_scheme(f)
    for key, reverse in ((pair_key(name0, name1, scheme), False), (pair_key(name1, name0, scheme), True)):
        if key in f:
            return key, reverse
    if scheme == "hloc":  # an old key is a top-level name: take it only if it holds matches
        for key, reverse in ((names_to_pair(name0, name1, "_"), False), (names_to_pair(name1, name0, "_"), True)):
            if isinstance(f.get(key), h5py.Group) and "matches0" in f[key]:
                return key, reverse
    return None


def record_problem(f: h5py.File, key: str, num_keypoints0: int, image_hashes: tuple[str, str]) -> str | None:
    """What is wrong with a stored pair record, or None if it is whole and current.

    Only metadata is read (dataset names, shapes, attributes), never the matches.

    Args:
        f: the open matches file.
        key: the record's key.
        num_keypoints0: keypoints of the record's first image.
        image_hashes: current content hashes of the record's two images, in its order.
    """
    group = f.get(key)
    if not isinstance(group, h5py.Group):
        return "missing"
    for name in ("matches0", "matching_scores0"):
        dset = group.get(name)
        if not isinstance(dset, h5py.Dataset):
            return f"no {name!r} dataset"
        if dset.shape != (num_keypoints0,):
            return f"{name!r} has shape {dset.shape}, image 0 has {num_keypoints0} keypoints"
    stored = tuple(str(group.attrs.get(a, "")) for a in IMAGE_HASH_ATTRS)
    if stored != tuple(image_hashes):
        return "computed for other image contents"
    return None


def read_matches(f: h5py.File, name0: str, name1: str) -> tuple[np.ndarray, np.ndarray]:
    """Matches of a pair from an open file, in either stored order.

    Returns:
        ``[K, 2]`` int64 index pairs (image 0, image 1) and ``[K]`` float32 scores.

    Raises:
        KeyError: the pair is not in the file.
        DamagedRecordError: its record lacks a dataset.
    """
    found = find_pair(f, name0, name1)
    if found is None:
        raise KeyError(f"Pair ({name0!r}, {name1!r}) is not in {f.filename}.")
    key, reverse = found
    group = f[key]
    missing = [d for d in ("matches0", "matching_scores0") if not isinstance(group.get(d), h5py.Dataset)]
    if missing:
        raise DamagedRecordError(
            f"{f.filename}: the record of pair ({name0!r}, {name1!r}) is damaged (no {missing[0]!r}); "
            "run 'lightglue match-pairs' (or reconstruct) again to recompute it."
        )
    matches0 = group["matches0"][()]
    scores0 = group["matching_scores0"][()]
    idx = np.flatnonzero(matches0 >= 0)
    matches = np.stack([idx, matches0[idx]], -1).astype(np.int64)
    if reverse:
        matches = matches[:, ::-1].copy()
    return matches, scores0[idx].astype(np.float32)
