"""``features.h5`` in hloc's layout.

One group per image, named by the image's path relative to the image folder (with ``/``
for sub-folders, which HDF5 turns into nested groups, as in hloc), holding:

- ``keypoints`` ``[N, 2]`` float32: (x, y) in pixels of the ORIGINAL image, pixel centres at
  integer coordinates; attribute ``uncertainty`` (pixels, the resize factor, as hloc);
- ``descriptors`` ``[D, N]`` float32: TRANSPOSED, as hloc stores them (its LightGlue wrapper
  transposes them back); :func:`read_features` returns ``[N, D]``;
- ``scores`` ``[N]`` float32: detection scores;
- ``image_size`` ``[2]`` int64: (W, H) of the original image;
- for SIFT-like features also ``scales`` ``[N]`` (pixels) and ``oris`` ``[N]`` (radians).

:func:`read_features` reads every layout hloc's ``extract_features`` writes: scores named
``scores`` (SuperPoint, DoG/SIFT) or ``keypoint_scores`` (ALIKED, DISK), float16 datasets
(``as_half``), any integer or float ``image_size``, the ``uncertainty`` attribute, and extra
datasets (ignored). :func:`open_features` turns an unreadable (truncated, damaged) file into
an error that names it and says what to do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from lightglue.collection.h5store import Record


@dataclass(frozen=True)
class ImageFeatures:
    """Local features of one image, in our (not hloc's) orientation.

    Attributes:
        keypoints: ``[N, 2]`` float32, pixels of the original image.
        descriptors: ``[N, D]`` float32.
        scores: ``[N]`` float32.
        image_size: ``[2]`` (W, H) of the original image, pixels.
        scales: ``[N]`` float32 or None (SIFT-like features only).
        oris: ``[N]`` float32 radians or None (SIFT-like features only).
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    scores: np.ndarray
    image_size: np.ndarray
    scales: np.ndarray | None = None
    oris: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keypoints)


def feature_record(name: str, feats: ImageFeatures, uncertainty: float = 1.0) -> Record:
    """The hloc-layout record for one image (descriptors transposed to ``[D, N]``).

    Args:
        name: image name relative to the image folder.
        feats: the features.
        uncertainty: keypoint noise in original pixels (hloc: detector noise x resize factor).
    """
    datasets = {
        "keypoints": np.asarray(feats.keypoints, np.float32).reshape(-1, 2),
        "descriptors": np.ascontiguousarray(np.asarray(feats.descriptors, np.float32).T),
        "scores": np.asarray(feats.scores, np.float32).reshape(-1),
        "image_size": np.asarray(feats.image_size, np.int64).reshape(2),
    }
    for key in ("scales", "oris"):
        value = getattr(feats, key)
        if value is not None:
            datasets[key] = np.asarray(value, np.float32).reshape(-1)
    return Record(name, datasets, {"keypoints": {"uncertainty": float(uncertainty)}})


class FeaturesFileError(OSError):
    """A features file that cannot be read (truncated, damaged, or not HDF5)."""


def _damaged(path: str | os.PathLike, err: Exception, what: str = "") -> FeaturesFileError:
    return FeaturesFileError(
        f"Cannot read {what}the features file {str(path)!r}: it is truncated or damaged "
        f"(e.g. a run was killed or the disk was full while it was written; HDF5 says: {err}). "
        "Delete it and run 'lightglue extract' (or hloc's extract_features) again."
    )


@contextmanager
def open_features(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open a features file for reading.

    Raises:
        FileNotFoundError: there is no such file.
        FeaturesFileError: the file is not readable HDF5 (the message names it and what to do).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No features file at {path}: run 'lightglue extract' first.")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise _damaged(path, err) from err
    with f:
        yield f


_SCORE_KEYS = ("scores", "keypoint_scores")  # hloc: SuperPoint and DoG / ALIKED and DISK


def read_features(f: h5py.File, name: str) -> ImageFeatures:
    """Read one image's features from an open hloc-layout file (descriptors -> ``[N, D]``).

    Any float dtype (hloc's ``as_half`` stores float16) is returned as float32.

    Raises:
        KeyError: the image is not in the file.
        ValueError: the image's group lacks keypoints, descriptors, scores or image_size, or their shapes
            disagree (the message names the file, the image and the keys found).
        FeaturesFileError: a dataset cannot be read (damaged file).
    """
    if name not in f:
        raise KeyError(f"Image {name!r} is not in {f.filename}.")
    group = f[name]
    try:
        data = {k: group[k][()] for k in group if isinstance(group[k], h5py.Dataset)}
    except OSError as err:
        raise _damaged(f.filename, err, f"image {name!r} of ") from err
    found = sorted(data)
    score_key = next((k for k in _SCORE_KEYS if k in data), None)
    if score_key is None or any(k not in data for k in ("keypoints", "descriptors", "image_size")):
        raise ValueError(
            f"Image {name!r} in {f.filename} has datasets {found}; local features need 'keypoints', "
            "'descriptors', 'image_size' and 'scores' (or 'keypoint_scores')."
        )
    keypoints = np.asarray(data["keypoints"], np.float32)
    descriptors = np.asarray(data["descriptors"], np.float32)
    n = keypoints.shape[0] if keypoints.ndim == 2 else -1
    if keypoints.ndim != 2 or keypoints.shape[1] != 2 or descriptors.ndim != 2 or n not in descriptors.shape:
        raise ValueError(
            f"Image {name!r} in {f.filename}: keypoints {list(keypoints.shape)} and descriptors "
            f"{list(descriptors.shape)} do not fit ([N, 2] and hloc's [D, N])."
        )
    if descriptors.shape[1] == n:  # hloc's layout [D, N] (also when D == N)
        descriptors = descriptors.T
    optional = {k: np.asarray(data[k], np.float32).reshape(-1) for k in ("scales", "oris") if k in data}
    return ImageFeatures(
        keypoints=keypoints,
        descriptors=np.ascontiguousarray(descriptors),
        scores=np.asarray(data[score_key], np.float32).reshape(-1),
        image_size=np.asarray(data["image_size"]).reshape(2),
        **optional,
    )
