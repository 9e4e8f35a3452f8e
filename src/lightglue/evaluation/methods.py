"""Named matching methods (features + matcher) and the matches they produce for a pair.

Every benchmark runs a :class:`Method`: a feature extractor (ALIKED, DISK, SIFT) and a matcher
(LightGlue, or a nearest-neighbour baseline on the same descriptors), chosen by name from
:data:`METHODS`, e.g. ``"aliked+lightglue"`` or ``"sift+ratio"``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from lightglue.evaluation.baselines import nearest_neighbour_match


@dataclass(frozen=True)
class MethodConfig:
    """What a named method is made of.

    Attributes:
        features: ``"aliked"``, ``"disk"``, ``"sift"`` or ``"xfeat"``.
        matcher: ``"lightglue"`` (with the weights for these features) or ``"nn"``.
        ratio: Lowe's ratio threshold of the ``"nn"`` matcher (None: no ratio test).
        mutual: mutual check of the ``"nn"`` matcher.
    """

    features: str
    matcher: str
    ratio: float | None = None
    mutual: bool = True


METHODS: dict[str, MethodConfig] = {
    "aliked+lightglue": MethodConfig("aliked", "lightglue"),
    "disk+lightglue": MethodConfig("disk", "lightglue"),
    "xfeat+lightglue": MethodConfig("xfeat", "lightglue"),  # LighterGlue
    "aliked+mnn": MethodConfig("aliked", "nn"),
    "aliked+ratio": MethodConfig("aliked", "nn", ratio=0.8),
    "disk+mnn": MethodConfig("disk", "nn"),
    "disk+ratio": MethodConfig("disk", "nn", ratio=0.8),
    "sift+lightglue": MethodConfig("sift", "lightglue"),
    "sift+mnn": MethodConfig("sift", "nn"),
    "sift+ratio": MethodConfig("sift", "nn", ratio=0.8),
}
"""The named methods. ``sift+lightglue`` runs the official SIFT weights when the user has them,
else the project's own file when the package ships one (``docs/models/sift_lightglue.md``)."""

EXTRACTOR_DEFAULTS: dict[str, dict[str, Any]] = {
    "aliked": {"detection_threshold": 0.0},
    "disk": {"detection_threshold": 0.0},
    "sift": {},
    "xfeat": {},
}
"""Extractor options of the benchmarks: the learned detectors keep exactly their
``max_keypoints`` strongest points (top-k, no score threshold), as in the published
evaluations, so that methods are compared at a fixed keypoint budget. XFeat keeps its
reference threshold (0.05 on its heatmap), as in its own evaluation."""


@dataclass(frozen=True)
class Matches:
    """Correspondences of one image pair.

    Attributes:
        kpts0, kpts1: matched keypoints ``[S, 2]``, pixels of the images given to the method.
        scores: ``[S]`` match confidences.
        num_keypoints0, num_keypoints1: keypoints detected in each image.
        time_match_s: wall time of the matcher alone, seconds.
    """

    kpts0: np.ndarray
    kpts1: np.ndarray
    scores: np.ndarray
    num_keypoints0: int
    num_keypoints1: int
    time_match_s: float = 0.0


class ImagePairCase(Protocol):
    """A benchmark pair as given to a method: two images and a cache key for each."""

    key0: str
    key1: str
    image0: torch.Tensor
    image1: torch.Tensor


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Method:
    """A named method, ready to match image pairs.

    Args:
        name: a key of :data:`METHODS`.
        max_keypoints: keypoints per image kept by the extractor.
        device: where the networks run.
        extractor_conf: options of the extractor, over :data:`EXTRACTOR_DEFAULTS`.
        matcher_conf: options of LightGlue (e.g. ``depth_confidence``); an error for ``"nn"``.
        cache_size: how many images' features are kept (pairs often share an image).
    """

    def __init__(
        self,
        name: str,
        max_keypoints: int = 2048,
        device: str | torch.device = "cpu",
        extractor_conf: dict[str, Any] | None = None,
        matcher_conf: dict[str, Any] | None = None,
        cache_size: int = 4,
    ) -> None:
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; choose from {sorted(METHODS)}")
        import lightglue
        from lightglue.extractors import EXTRACTORS

        self.name = name
        self.config = METHODS[name]
        self.device = torch.device(device)
        extractor_cls = EXTRACTORS[self.config.features]
        conf = {
            "max_num_keypoints": max_keypoints,
            **EXTRACTOR_DEFAULTS[self.config.features],
            **(extractor_conf or {}),
        }
        self.extractor = extractor_cls(**conf).eval().to(self.device)
        self.matcher: torch.nn.Module | None = None
        if self.config.matcher == "lightglue":
            self.matcher = lightglue.LightGlue(features=self.config.features, **(matcher_conf or {}))
            self.matcher = self.matcher.eval().to(self.device)
        elif matcher_conf:
            raise ValueError(f"method {name!r} takes no matcher options, got {sorted(matcher_conf)}")
        self._cache: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self._cache_size = cache_size

    @property
    def weights(self) -> dict[str, str] | None:
        """Name, short SHA-256 and path of the matcher's weight file (None for ``"nn"``)."""
        found = getattr(self.matcher, "weights_provenance", None)
        return found.as_dict() if found is not None else None

    def features(self, key: str, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features ``[1, N, ...]`` of ``image [3, H, W]`` (not resized), cached under ``key``."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        feats = self.extractor.extract(image.to(self.device), resize=None)
        self._cache[key] = feats
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return feats

    @torch.inference_mode()
    def match_features(
        self, feats0: dict[str, torch.Tensor], feats1: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Match two single-image feature dicts; ``matches [S, 2]`` and ``scores [S]``."""
        if self.matcher is not None:
            out = self.matcher({"image0": feats0, "image1": feats1})
            return out["matches"][0], out["scores"][0]
        return nearest_neighbour_match(
            feats0["descriptors"][0], feats1["descriptors"][0], self.config.ratio, self.config.mutual
        )

    def __call__(self, case: ImagePairCase) -> Matches:
        """Extract (or reuse) the features of both images and match them."""
        feats0 = self.features(case.key0, case.image0)
        feats1 = self.features(case.key1, case.image1)
        _synchronize(self.device)
        start = time.perf_counter()
        matches, scores = self.match_features(feats0, feats1)
        _synchronize(self.device)
        elapsed = time.perf_counter() - start
        kpts0, kpts1 = feats0["keypoints"][0].cpu(), feats1["keypoints"][0].cpu()
        matches = matches.cpu()
        return Matches(
            kpts0[matches[:, 0]].cpu().double().numpy(),
            kpts1[matches[:, 1]].cpu().double().numpy(),
            scores.float().cpu().numpy(),
            int(kpts0.shape[0]),
            int(kpts1.shape[0]),
            elapsed,
        )
