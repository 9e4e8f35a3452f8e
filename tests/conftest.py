"""Session-wide fixtures: the golden fixtures and our extractors' outputs on them (computed once)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def golden() -> dict[str, dict[str, np.ndarray]]:
    return {name: dict(np.load(DATA / f"{name}.npz")) for name in ("motorcycle", "astronaut_h")}


@pytest.fixture(scope="session")
def extractors() -> dict[str, torch.nn.Module]:
    from lightglue.extractors import ALIKED, DISK

    return {"aliked": ALIKED(max_num_keypoints=2048), "disk": DISK(max_num_keypoints=2048)}


@pytest.fixture(scope="session")
def golden_outputs(golden, extractors):
    """Our features on every golden image, computed once: get(feat, pair, i) -> features."""
    from lightglue.image import numpy_image_to_torch

    cache: dict[tuple[str, str, int], dict[str, torch.Tensor]] = {}

    def get(feat: str, pair: str, i: int) -> dict[str, torch.Tensor]:
        key = (feat, pair, i)
        if key not in cache:
            with torch.inference_mode():
                cache[key] = extractors[feat].extract(numpy_image_to_torch(golden[pair][f"image{i}"]))
        return cache[key]

    return get
