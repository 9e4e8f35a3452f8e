"""Named extractor + matcher configurations for collections, with overrides.

A preset says which extractor to build (and how), how to resize images before extraction,
and which LightGlue weights to match with. Values given by the user always win over the
preset's; an unknown preset or option is an error.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Preset:
    """One extractor + matcher configuration.

    Attributes:
        name: e.g. ``"aliked+lightglue"``.
        extractor: class name exported by :mod:`lightglue` (``"ALIKED"``, ``"DISK"``, ...).
        extractor_conf: keyword arguments of the extractor.
        resize: long side in pixels the images are resized to before extraction (None: as is).
        matcher_features: LightGlue feature preset (``"aliked"``, ``"disk"``, ...).
        matcher_conf: keyword arguments of :class:`lightglue.LightGlue`.
    """

    name: str
    extractor: str
    extractor_conf: Mapping[str, Any] = field(default_factory=dict)
    resize: int | None = 1024
    matcher_features: str = "aliked"
    matcher_conf: Mapping[str, Any] = field(default_factory=dict)

    def extractor_fingerprint(self) -> str:
        """A string that changes whenever the extracted features would (stored in features.h5)."""
        return json.dumps(
            {"extractor": self.extractor, "conf": dict(self.extractor_conf), "resize": self.resize}, sort_keys=True
        )

    def matcher_fingerprint(self) -> str:
        """A string that changes whenever the matches would (stored in matches.h5)."""
        return json.dumps({"features": self.matcher_features, "conf": dict(self.matcher_conf)}, sort_keys=True)

    def matcher_weights(self) -> str:
        """JSON name and short SHA-256 of the file the matcher loads (stored in matches.h5)."""
        from lightglue.matcher.config import FEATURE_PRESETS
        from lightglue.matcher.lightglue import weights_file
        from lightglue.weights import weights_provenance

        weights = self.matcher_conf.get("weights") or FEATURE_PRESETS[self.matcher_features].weights
        found = weights_provenance(weights_file(weights))
        return json.dumps({"name": found.name, "sha256": found.sha256}, sort_keys=True)

    def build_extractor(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        """The extractor in eval mode, on ``device``."""
        import lightglue

        return getattr(lightglue, self.extractor)(**self.extractor_conf).eval().to(device)

    def build_matcher(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        """The LightGlue matcher in eval mode, on ``device``."""
        from lightglue import LightGlue

        return LightGlue(features=self.matcher_features, **self.matcher_conf).eval().to(device)


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``device``, or the first CUDA GPU when there is one and ``device`` is None, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


_DEFAULT_KEYPOINTS = 2048

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("aliked+lightglue", "ALIKED", {"max_num_keypoints": _DEFAULT_KEYPOINTS}, 1024, "aliked"),
        Preset("disk+lightglue", "DISK", {"max_num_keypoints": _DEFAULT_KEYPOINTS}, 1024, "disk"),
        Preset("sift+lightglue", "SIFT", {"max_num_keypoints": _DEFAULT_KEYPOINTS}, 1024, "sift"),
        Preset("superpoint+lightglue", "SuperPoint", {"max_num_keypoints": _DEFAULT_KEYPOINTS}, 1024, "superpoint"),
        Preset("xfeat+lightglue", "XFeat", {"max_num_keypoints": _DEFAULT_KEYPOINTS}, 1024, "xfeat"),  # LighterGlue
    )
}

_UNSET: Any = object()


def get_preset(
    name: str,
    max_keypoints: int | None = None,
    resize: int | None = _UNSET,
    extractor_conf: Mapping[str, Any] | None = None,
    matcher_conf: Mapping[str, Any] | None = None,
) -> Preset:
    """A named preset with overrides applied.

    Args:
        name: one of :data:`PRESETS`.
        max_keypoints: keypoints kept per image (the extractor's ``max_num_keypoints``).
        resize: long side in pixels before extraction; None disables resizing; left out, the
            preset's value.
        extractor_conf: further extractor options (they win over the preset's).
        matcher_conf: further LightGlue options, e.g. ``{"depth_confidence": -1}``.

    Raises:
        ValueError: unknown preset name, or a non-positive ``max_keypoints`` / ``resize``.
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose from {sorted(PRESETS)}.")
    preset = PRESETS[name]
    ext = dict(preset.extractor_conf)
    if max_keypoints is not None:
        if max_keypoints < 1:
            raise ValueError(f"max_keypoints must be >= 1, got {max_keypoints}.")
        ext["max_num_keypoints"] = max_keypoints
    ext.update(extractor_conf or {})
    if resize is _UNSET:
        resize = preset.resize
    elif resize is not None and resize < 1:
        raise ValueError(f"resize must be >= 1 pixel (or None for no resizing), got {resize}.")
    return dataclasses.replace(
        preset,
        extractor_conf=ext,
        resize=resize,
        matcher_conf={**preset.matcher_conf, **(matcher_conf or {})},
    )
