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
"""

from __future__ import annotations

from dataclasses import dataclass

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


def read_features(f: h5py.File, name: str) -> ImageFeatures:
    """Read one image's features from an open hloc-layout file (descriptors -> ``[N, D]``).

    Raises:
        KeyError: the image is not in the file.
    """
    if name not in f:
        raise KeyError(f"Image {name!r} is not in {f.filename}.")
    group = f[name]
    optional = {k: group[k][()] for k in ("scales", "oris") if k in group}
    return ImageFeatures(
        keypoints=group["keypoints"][()].astype(np.float32),
        descriptors=np.ascontiguousarray(group["descriptors"][()].astype(np.float32).T),
        scores=group["scores"][()].astype(np.float32),
        image_size=group["image_size"][()],
        **optional,
    )
