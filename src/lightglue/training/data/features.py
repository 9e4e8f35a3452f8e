"""Frozen local features of a training view: exactly K keypoints, the strongest, or none.

The project's extractors (:data:`lightglue.extractors.EXTRACTORS`) run on the view as it is (no
resizing), with the settings of the LightGlue homography recipe unless overridden: SIFT with a
3-pixel NMS, ALIKED and DISK with a zero detection threshold (top-K). The K strongest keypoints
after the extractor's own filtering are kept. SIFT caps its detections *before* removing
duplicates and NMS, so it first runs with a cap of ``2 K`` (the top K survivors are the same as
without a cap when at least K survive) and, when fewer than K survive, again without a cap. A
view on which fewer than K keypoints are found gives None, and the data pipeline draws another
sample.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from lightglue.extractors import EXTRACTORS, Extractor

RECIPE_EXTRACTOR_CONF: dict[str, dict[str, Any]] = {
    "sift": {"nms_radius": 3},
    "aliked": {"detection_threshold": 0.0},
    "disk": {"detection_threshold": 0.0},
    "superpoint": {"detection_threshold": 0.0},
}
"""Extractor options of the reference homography configs, per feature name."""

DETECTION_OVERSAMPLING: dict[str, int] = {"sift": 2}
"""Extractors that cap detections before filtering them: the cap of the first run, in units of K."""


class FrozenFeatures:
    """Extract exactly ``num_keypoints`` features from an RGB uint8 view with a frozen extractor.

    The extractor is built on first use (and not pickled), so a dataset holding this object can
    be sent to ``DataLoader`` workers cheaply.

    Args:
        name: a key of :data:`lightglue.extractors.EXTRACTORS` (``"sift"``, ``"aliked"``, ``"disk"``, ...).
        num_keypoints: K, the keypoints kept per view (the strongest).
        conf: extractor options overriding :data:`RECIPE_EXTRACTOR_CONF` (``max_num_keypoints``
            is set by this class from K).
        device: where the extractor runs.
    """

    def __init__(self, name: str, num_keypoints: int, conf: dict[str, Any] | None = None, device: str = "cpu") -> None:
        if name not in EXTRACTORS:
            raise ValueError(f"Unknown features {name!r}; choose from {sorted(EXTRACTORS)}.")
        if num_keypoints < 1:
            raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}.")
        self.name, self.num_keypoints, self.device = name, int(num_keypoints), device
        self.conf = {**RECIPE_EXTRACTOR_CONF.get(name, {}), **(conf or {}), "max_num_keypoints": self.num_keypoints}
        unknown = sorted(set(self.conf) - set(EXTRACTORS[name].default_conf))
        if unknown:
            raise TypeError(f"Unknown {name} option(s) {unknown}; valid: {sorted(EXTRACTORS[name].default_conf)}.")
        self._extractors: dict[int | None, Extractor] = {}

    @property
    def key(self) -> str:
        """A stable text naming the features and their settings (used in cache keys)."""
        return f"{self.name}:" + json.dumps(self.conf, sort_keys=True)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_extractors": {}}

    def extractor(self, cap: int | None) -> Extractor:
        """The frozen extractor with ``max_num_keypoints=cap`` (built on first use, in eval mode)."""
        if cap not in self._extractors:
            conf = {**self.conf, "max_num_keypoints": cap}
            self._extractors[cap] = EXTRACTORS[self.name](**conf).eval().to(self.device)
        return self._extractors[cap]

    def __call__(self, view: np.ndarray) -> dict[str, np.ndarray] | None:
        """Features of an RGB ``[H, W, 3]`` uint8 view (see :meth:`extract`)."""
        return self.extract(torch.from_numpy(view).permute(2, 0, 1).float().div(255.0))

    @torch.inference_mode()
    def extract(self, image: torch.Tensor) -> dict[str, np.ndarray] | None:
        """Features of a ``[3, H, W]`` float image in [0, 1], or None when it has fewer than K keypoints.

        Returns:
            ``keypoints [K, 2]`` (pixels of the image), ``keypoint_scores [K]``,
            ``descriptors [K, D]``, and for SIFT ``scales [K]`` (pixels) and ``oris [K]``
            (radians); all float32 NumPy arrays, strongest first.
        """
        image = image[None].to(self.device)
        oversampling = DETECTION_OVERSAMPLING.get(self.name)
        caps = [self.num_keypoints] if oversampling is None else [oversampling * self.num_keypoints, None]
        for cap in caps:
            feats = self.extractor(cap)({"image": image})
            count = int(feats["keypoint_mask"][0].sum())
            if count >= self.num_keypoints:
                break
        else:
            return None
        order = torch.argsort(-feats["keypoint_scores"][0, :count], stable=True)[: self.num_keypoints]
        return {
            key: value[0, :count][order].float().cpu().numpy()
            for key, value in feats.items()
            if key in ("keypoints", "keypoint_scores", "descriptors", "scales", "oris")
        }
