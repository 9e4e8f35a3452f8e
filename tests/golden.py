"""Access to the golden fixtures of the official implementation (tests/data/*.npz)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"
PAIRS = ("motorcycle", "astronaut_h")
FEATURES = ("aliked", "disk")
MODES = {"adaptive": {}, "full": {"depth_confidence": -1, "width_confidence": -1}}


def index() -> dict:
    return json.loads((DATA / "index.json").read_text())


def features(golden: dict, feat: str, i: int) -> dict:
    """The reference extractor output of image ``i`` as a batched feature dict."""
    return {
        "keypoints": torch.from_numpy(golden[f"{feat}_keypoints{i}"]).float()[None],
        "descriptors": torch.from_numpy(golden[f"{feat}_descriptors{i}"]).float()[None],
        "keypoint_scores": torch.from_numpy(golden[f"{feat}_keypoint_scores{i}"]).float()[None],
        "image_size": torch.from_numpy(golden[f"{feat}_image_size{i}"]).float()[None],
    }
