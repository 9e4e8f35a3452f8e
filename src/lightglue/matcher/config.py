"""Configuration of the LightGlue matcher and the per-feature presets.

The keys and defaults are the official implementation's. Unlike the official code, a value
the user passes always wins over the preset, values are range-checked, and an unknown key is
ignored with a warning that names the closest valid key (the official class silently keeps
any key; hloc passes its own ``compile`` key, which is ignored without a warning).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FeaturePreset:
    """What a feature type fixes in the matcher: its weights and input shape.

    Attributes:
        weights: canonical weight-file name for :func:`lightglue.weights.resolve_weights`.
        input_dim: descriptor size D of the features.
        add_scale_ori: the features carry ``scales`` and ``oris`` (4-D positional input).
    """

    weights: str
    input_dim: int
    add_scale_ori: bool = False


FEATURE_PRESETS: dict[str, FeaturePreset] = {
    "superpoint": FeaturePreset("superpoint_lightglue", 256),
    "disk": FeaturePreset("disk_lightglue", 128),
    "aliked": FeaturePreset("aliked_lightglue", 128),
    "sift": FeaturePreset("sift_lightglue", 128, add_scale_ori=True),
    "doghardnet": FeaturePreset("doghardnet_lightglue", 128, add_scale_ori=True),
}

# Number of keypoints above which the reference prunes points, per device kind. On the CPU
# it prunes at every size; on CUDA only above these counts (pruning costs a gather), the
# higher one with fused attention ("flash").
PRUNING_MIN_KEYPOINTS = {"cpu": -1, "mps": -1, "cuda": 1024, "flash": 1536}


@dataclass(frozen=True)
class LightGlueConfig:
    """Matcher hyper-parameters (official names and defaults).

    Attributes:
        name: identifier, for interfacing only.
        input_dim: descriptor size D of the input features.
        descriptor_dim: internal state size d.
        add_scale_ori: add keypoint scale and orientation (radians) to the positional input.
        n_layers: number of self+cross layers L.
        num_heads: attention heads.
        flash: allow fused attention kernels in ``scaled_dot_product_attention`` (False:
            the plain math kernel only).
        mp: mixed precision (float16 on CUDA, bfloat16 on CPU).
        depth_confidence: early-exit ratio of confident points; -1 disables.
        width_confidence: point pruning; a point is dropped when confident and
            ``matchability <= 1 - width_confidence``; -1 disables.
        filter_threshold: minimal match score (strict).
        weights: a weight file, or a canonical name found by :mod:`lightglue.weights`; with a
            feature preset, None means the preset's file (its name is stored here, as in the
            official class); without one, None means random weights.
        pruning_min_keypoints: prune only images with more points than this; None uses the
            reference's per-device values (:data:`PRUNING_MIN_KEYPOINTS`).
    """

    name: str = "lightglue"
    input_dim: int = 256
    descriptor_dim: int = 256
    add_scale_ori: bool = False
    n_layers: int = 9
    num_heads: int = 4
    flash: bool = True
    mp: bool = False
    depth_confidence: float = 0.95
    width_confidence: float = 0.99
    filter_threshold: float = 0.1
    weights: str | None = None
    pruning_min_keypoints: int | None = None

    def __post_init__(self) -> None:
        for key in ("input_dim", "descriptor_dim", "n_layers", "num_heads"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be an integer >= 1, got {value!r}")
        for key in ("depth_confidence", "width_confidence"):
            value = _number(self, key)
            if not (value == -1 or 0 < value <= 1):
                raise ValueError(f"{key} must be in (0, 1], or -1 to disable, got {value!r}")
        if not 0 <= _number(self, "filter_threshold") <= 1:
            raise ValueError(f"filter_threshold must be in [0, 1], got {self.filter_threshold!r}")
        minimum = self.pruning_min_keypoints
        if minimum is not None and (isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < -1):
            raise ValueError(f"pruning_min_keypoints must be None or an integer >= -1, got {minimum!r}")
        if self.descriptor_dim % self.num_heads:
            raise ValueError(
                f"descriptor_dim={self.descriptor_dim} is not divisible by num_heads={self.num_heads}"
            )
        if (self.descriptor_dim // self.num_heads) % 2:
            raise ValueError("the head dimension must be even for the rotary encoding")

    @property
    def head_dim(self) -> int:
        return self.descriptor_dim // self.num_heads

    def confidence_thresholds(self) -> np.ndarray:
        """Per-layer confidence thresholds ``clip(0.8 + 0.1 exp(-4 i / L), 0, 1)``, float32 [L]."""
        i = np.arange(self.n_layers)
        return np.clip(0.8 + 0.1 * np.exp(-4.0 * i / self.n_layers), 0, 1).astype(np.float32)


def _number(config: LightGlueConfig, key: str) -> float:
    """The finite real value of option ``key`` (ValueError for NaN, inf or a non-number)."""
    value = getattr(config, key)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    return float(value)


CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(LightGlueConfig))

# Keys that callers of the official class pass without it using them: hloc's matcher
# configuration carries ``compile`` (hloc calls :meth:`LightGlue.compile` itself).
IGNORED_KEYS = frozenset({"compile"})


def warn_unknown_keys(keys: set[str] | frozenset[str], valid: frozenset[str], owner: str) -> None:
    """Warn once per key that is not a valid option, naming the closest valid one (a typo)."""
    for key in sorted(keys - valid - IGNORED_KEYS):
        close = difflib.get_close_matches(key, sorted(valid), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid options: {sorted(valid)}"
        warnings.warn(f"{owner}: unknown option {key!r} is ignored{hint}", UserWarning, stacklevel=4)


def make_config(features: str | None, **overrides) -> LightGlueConfig:
    """Merge defaults, the feature preset and the user's overrides (the user wins).

    Unknown keys are dropped with a warning (see :func:`warn_unknown_keys`).

    Raises:
        ValueError: unknown feature type, or an option out of its range.
    """
    warn_unknown_keys(set(overrides), CONFIG_KEYS, "LightGlue")
    overrides = {k: v for k, v in overrides.items() if k in CONFIG_KEYS}
    values: dict = {}
    if features is not None:
        if features not in FEATURE_PRESETS:
            raise ValueError(f"Unsupported features {features!r}; choose one of {sorted(FEATURE_PRESETS)}")
        preset = FEATURE_PRESETS[features]
        values.update(input_dim=preset.input_dim, add_scale_ori=preset.add_scale_ori)
    values.update(overrides)
    if features is not None and values.get("weights") is None:  # weights=None: the preset's file
        values["weights"] = FEATURE_PRESETS[features].weights
    return LightGlueConfig(**values)


__all__ = [
    "FEATURE_PRESETS",
    "FeaturePreset",
    "LightGlueConfig",
    "make_config",
    "PRUNING_MIN_KEYPOINTS",
    "warn_unknown_keys",
]
