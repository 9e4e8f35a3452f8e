"""Helpers with the official LightGlue names: image loading, batch handling, one-call matching."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import torch

from lightglue import image as _image
from lightglue.image import load_image, numpy_image_to_torch, read_image

__all__ = [
    "Extractor",
    "ImagePreprocessor",
    "batch_features",
    "batch_to_device",
    "load_image",
    "map_tensor",
    "match_pair",
    "numpy_image_to_torch",
    "rbd",
    "read_image",
    "resize_image",
]


def __getattr__(name: str) -> Any:
    # The extractors' base class, imported on first use (it pulls in every extractor).
    if name == "Extractor":
        return importlib.import_module("lightglue.extractors").Extractor
    raise AttributeError(f"module 'lightglue.utils' has no attribute {name!r}")


class ImagePreprocessor:
    """Resize an image tensor as the extractors do (the official preprocessing object).

    Options (``conf``): ``resize`` (new length in pixels of ``side``, None: keep the size),
    ``side`` (``"long"``), ``interpolation`` (``"bilinear"``), ``align_corners`` (None),
    ``antialias`` (True); see :func:`lightglue.image.resize_image`.
    """

    default_conf: dict[str, Any] = {
        "resize": None,
        "side": "long",
        "interpolation": "bilinear",
        "align_corners": None,
        "antialias": True,
    }

    def __init__(self, **conf: Any) -> None:
        self.conf = SimpleNamespace(**{**self.default_conf, **conf})

    def __call__(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``img [..., C, H, W]`` -> (resized image, scale ``[2]`` = (new W / W, new H / H))."""
        if self.conf.resize is None:
            return img, torch.ones(2).to(img)
        c = self.conf
        return _image.resize_image(img, c.resize, c.side, c.interpolation, c.align_corners, c.antialias)


def resize_image(
    image: np.ndarray, size: int | Sequence[int], fn: str = "max", interp: str = "area"
) -> tuple[np.ndarray, tuple[float, float]]:
    """Resize an ``[H, W, ...]`` array with OpenCV (the official ``lightglue.utils.resize_image``).

    Args:
        size: new length in pixels of the longest (``fn="max"``) or shortest (``fn="min"``)
            side, or an explicit ``(H, W)``.
        interp: ``"area"``, ``"linear"``, ``"cubic"`` or ``"nearest"``.

    Returns:
        The resized array and ``(new W / W, new H / H)``.
    """
    h, w = image.shape[:2]
    resized = _image.resize_array(image, size if isinstance(size, int) else tuple(size), fn, interp)
    return resized, (resized.shape[1] / w, resized.shape[0] / h)


def map_tensor(value: Any, func: Callable[[torch.Tensor], Any]) -> Any:
    """Apply ``func`` to every tensor inside nested dicts, lists and tuples."""
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, Mapping):
        return {k: map_tensor(v, func) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [map_tensor(v, func) for v in value]
    if isinstance(value, torch.Tensor):
        return func(value)
    return value


def batch_to_device(batch: dict, device: str | torch.device = "cpu", non_blocking: bool = True) -> dict:
    """Move (and detach) every tensor of a nested batch to ``device``."""
    return map_tensor(batch, lambda t: t.to(device=device, non_blocking=non_blocking).detach())


def rbd(data: dict) -> dict:
    """Remove the batch dimension: take element 0 of every tensor, array or list value."""
    return {k: v[0] if isinstance(v, (torch.Tensor, np.ndarray, list)) else v for k, v in data.items()}


_PER_POINT = ("keypoints", "descriptors", "keypoint_scores", "scales", "oris")


def batch_features(features: Sequence[dict]) -> dict:
    """Stack per-image feature dicts with different keypoint counts into one padded batch.

    Args:
        features: dicts with ``keypoints [1, N_i, 2]`` or ``[N_i, 2]``, ``descriptors``
            ``[(1,) N_i, D]``, optional ``keypoint_scores``, ``scales``, ``oris`` ``[(1,) N_i]``
            and ``image_size`` ``[(1,) 2]``.

    Returns:
        dict with the same keys padded with zeros to ``[B, max N_i, ...]`` and
        ``keypoint_mask [B, max N_i]`` (True = real keypoint), ready for :class:`LightGlue`.
    """
    if not features:
        raise ValueError("batch_features needs at least one feature dict")

    def unbatched(value: torch.Tensor, point_dims: int) -> torch.Tensor:
        if value.ndim == point_dims + 1:
            if value.shape[0] != 1:
                raise ValueError(f"expected one image per dict, got a batch of {value.shape[0]}")
            return value[0]
        return value

    per_point = [k for k in _PER_POINT if all(k in f for f in features)]
    if "keypoints" not in per_point or "descriptors" not in per_point:
        raise ValueError("every feature dict needs 'keypoints' and 'descriptors'")
    counts = [unbatched(f["keypoints"], 2).shape[0] for f in features]
    width = max(counts)
    out: dict = {}
    for key in per_point:
        point_dims = 2 if key in ("keypoints", "descriptors") else 1
        values = [unbatched(f[key], point_dims) for f in features]
        padded = values[0].new_zeros((len(values), width, *values[0].shape[1:]))
        for i, v in enumerate(values):
            padded[i, : v.shape[0]] = v
        out[key] = padded
    mask = torch.zeros((len(features), width), dtype=torch.bool, device=out["keypoints"].device)
    for i, count in enumerate(counts):
        mask[i, :count] = True
    out["keypoint_mask"] = mask
    if all("image_size" in f for f in features):
        out["image_size"] = torch.stack([torch.as_tensor(f["image_size"]).reshape(2) for f in features])
    return out


def match_pair(
    extractor: torch.nn.Module,
    matcher: torch.nn.Module,
    image0: torch.Tensor,
    image1: torch.Tensor,
    device: str | torch.device = "cpu",
    **preprocess,
) -> tuple[dict, dict, dict]:
    """Extract features from two images and match them.

    Args:
        extractor: an :class:`~lightglue.extractors.Extractor`.
        matcher: a :class:`~lightglue.LightGlue`.
        image0, image1: [3, H, W] float images in [0, 1].
        device: where to run.
        **preprocess: overrides of the extractor's preprocessing (e.g. ``resize=1024``).

    Returns:
        ``(feats0, feats1, matches01)`` without batch dimension, on the CPU.
    """
    feats0 = extractor.extract(image0.to(device), **preprocess)
    feats1 = extractor.extract(image1.to(device), **preprocess)
    matches01 = matcher({"image0": feats0, "image1": feats1})
    return tuple(batch_to_device(rbd(x), "cpu") for x in (feats0, feats1, matches01))
