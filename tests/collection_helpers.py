"""Shared helpers of the collection tests: synthetic features, textures, the CLI as a subprocess."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from lightglue.collection.features_h5 import ImageFeatures, feature_record
from lightglue.collection.h5store import H5Store

CLI = [sys.executable, "-c", "from lightglue.cli import main; main()"]
# One torch thread in the subprocesses: their results do not depend on it (both runs use the
# same), and it keeps them fast when other processes compete for the cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def texture(seed: int, shape=(240, 320)) -> np.ndarray:
    """A blurred random texture with structure at several scales (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    img = sum(cv2.resize(rng.uniform(0, 255, (s, s * 4 // 3, 3)), shape[::-1]) for s in (6, 24, 96)) / 3
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_features(path: Path, num_images: int = 8, n: int = 128, names: list[str] | None = None) -> list[str]:
    """features.h5 of images that see one random scene with small shifts (matchable).

    ``names`` (default ``frame000.jpg``, ...) name the images; returns them.
    """
    rng = np.random.default_rng(0)
    base_kpts = rng.uniform(0, [640, 480], (n, 2))
    base_desc = rng.normal(size=(n, 128))
    store = H5Store(path)
    names = names or [f"frame{i:03d}.jpg" for i in range(num_images)]
    records = []
    for i, name in enumerate(names):
        desc = base_desc + 0.3 * rng.normal(size=base_desc.shape)
        perm = rng.permutation(n)
        records.append(
            feature_record(
                name,
                ImageFeatures(
                    keypoints=(base_kpts + [3.0 * i, 2.0 * i] + rng.normal(size=(n, 2)))[perm].astype(np.float32),
                    descriptors=(desc / np.linalg.norm(desc, axis=1, keepdims=True))[perm].astype(np.float32),
                    scores=rng.uniform(size=n),
                    image_size=np.array([640, 480]),
                ),
            )
        )
    store.append(records)
    store.consolidate()
    return names
