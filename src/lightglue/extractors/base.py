"""The common interface of the feature extractors: configuration, input checks, resizing.

An extractor is a ``torch.nn.Module``. :meth:`Extractor.extract` takes an image in ``[0, 1]``,
resizes it (long side to 1024 px by default, antialiased), runs the detector and descriptor and
maps the keypoints back to the pixels of the image it was given.

Pixel convention: a keypoint ``(x, y)`` has the centre of the top-left pixel at ``(0, 0)``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..image import resize_image

_PREPROCESS_KEYS = ("resize", "side", "interpolation", "align_corners", "antialias")
_RANGE_TOLERANCE = 1e-3


def max_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Maximum over each ``(2r+1) x (2r+1)`` window, the window clipped at the border.

    Equal, value for value, to ``F.max_pool2d(x, 2r+1, stride=1, padding=r)`` (a maximum has no
    rounding), computed as a row pass and a column pass of element-wise maxima of shifted views,
    about 20x faster than the pooling kernel on one CPU thread.

    Args:
        x: ``[B, C, H, W]`` float map.
        radius: ``r`` in pixels, >= 0.

    Returns:
        ``[B, C, H, W]``.
    """
    h, w = x.shape[-2:]
    padded = F.pad(x, (radius, radius, 0, 0), value=float("-inf"))
    rows = padded[..., 0:w]
    for k in range(1, 2 * radius + 1):
        rows = torch.maximum(rows, padded[..., k : k + w])
    padded = F.pad(rows, (0, 0, radius, radius), value=float("-inf"))
    out = padded[..., 0:h, :]
    for k in range(1, 2 * radius + 1):
        out = torch.maximum(out, padded[..., k : k + h, :])
    return out


def simple_nms(scores: torch.Tensor, radius: int) -> torch.Tensor:
    """Non-maximum suppression of SuperPoint and ALIKED: maxima, then two rounds of maxima found away from them.

    Args:
        scores: ``[B, 1, H, W]`` score map.
        radius: suppression radius in pixels (window ``2 * radius + 1``).

    Returns:
        ``[B, 1, H, W]``: ``scores`` at the kept positions, 0 elsewhere.
    """
    zeros = torch.zeros_like(scores)
    keep = scores == max_filter(scores, radius)
    for _ in range(2):
        suppressed = max_filter(keep.float(), radius) > 0
        remaining = torch.where(suppressed, zeros, scores)
        keep = keep | ((remaining == max_filter(remaining, radius)) & ~suppressed)
    return torch.where(keep, scores, zeros)


def pad_and_stack(per_image: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack per-image features of unequal lengths into a batch.

    Args:
        per_image: ``B`` dicts of tensors whose first dimension is that image's keypoint count
            ``N_i`` (the length of its ``keypoints``).

    Returns:
        The same keys stacked to ``[B, N, ...]`` with ``N = max N_i``, shorter images padded with
        zeros, plus ``keypoint_mask`` ``[B, N]`` (bool, True for real keypoints).
    """
    counts = [feats["keypoints"].shape[0] for feats in per_image]
    n_max = max(counts)
    batch: dict[str, list[torch.Tensor]] = {k: [] for k in per_image[0]}
    for feats, n in zip(per_image, counts):
        for key, value in feats.items():
            batch[key].append(torch.cat([value, value.new_zeros((n_max - n, *value.shape[1:]))]))
    out = {k: torch.stack(v) for k, v in batch.items()}
    device = per_image[0]["keypoints"].device
    out["keypoint_mask"] = torch.arange(n_max, device=device) < torch.tensor(counts, device=device)[:, None]
    return out


def check_image(image: torch.Tensor, min_size: int, what: str = "image") -> torch.Tensor:
    """Validate an image tensor and return it as ``[B, C, H, W]``.

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` float tensor, ``C`` in {1, 3}, values in ``[0, 1]``.
        min_size: the smallest allowed height and width in pixels.
        what: how to call the image in error messages.

    Raises:
        TypeError: not a floating-point torch tensor.
        ValueError: wrong rank, channel count, empty batch, too small, or values outside ``[0, 1]``.
    """
    if not isinstance(image, torch.Tensor):
        raise TypeError(
            f"The {what} must be a torch.Tensor [B, C, H, W] or [C, H, W], got {type(image).__name__}; "
            "convert arrays with lightglue.image.numpy_image_to_torch."
        )
    if not image.is_floating_point():
        raise TypeError(
            f"The {what} must be a float tensor with values in [0, 1], got dtype {image.dtype}; "
            "convert uint8 images with lightglue.image.numpy_image_to_torch or `image.float() / 255`."
        )
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4:
        raise ValueError(f"The {what} must have shape [C, H, W] or [B, C, H, W], got {tuple(image.shape)}.")
    b, c, h, w = image.shape
    if c not in (1, 3):
        raise ValueError(f"The {what} must have 1 or 3 channels (dim -3), got shape {tuple(image.shape)}.")
    if b == 0:
        raise ValueError(f"The {what} batch is empty: shape {tuple(image.shape)}.")
    if h < min_size or w < min_size:
        raise ValueError(f"The {what} is {w}x{h} pixels; this extractor needs at least {min_size}x{min_size}.")
    low, high = torch.aminmax(image)
    if not (torch.isfinite(low) and torch.isfinite(high)):
        raise ValueError(f"The {what} contains NaN or infinite values.")
    if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise ValueError(
            f"The {what} values must lie in [0, 1], got [{low.item():.4g}, {high.item():.4g}]; "
            "divide 8-bit images by 255."
        )
    return image


class Extractor(torch.nn.Module):
    """Base class of the local feature extractors.

    Subclasses set :attr:`default_conf` (every accepted keyword with its default),
    :attr:`preprocess_conf` (the default arguments of :meth:`extract`'s resizing),
    :attr:`min_image_size`, and implement :meth:`forward`.

    Args:
        **conf: overrides of :attr:`default_conf`; an unknown key is a ``TypeError``.
    """

    default_conf: ClassVar[dict[str, Any]] = {}
    preprocess_conf: ClassVar[dict[str, Any]] = {"resize": 1024}
    min_image_size: ClassVar[int] = 16

    def __init__(self, **conf: Any) -> None:
        super().__init__()
        unknown = sorted(set(conf) - set(self.default_conf))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown option(s) {unknown}; valid options: {sorted(self.default_conf)}."
            )
        self.conf = SimpleNamespace(**{**self.default_conf, **conf})

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Detect and describe keypoints in ``data["image"]`` ``[B, C, H, W]`` (no resizing).

        Returns ``keypoints [B, N, 2]`` (pixels of the given image), ``keypoint_scores [B, N]``,
        ``descriptors [B, N, D]`` and ``keypoint_mask [B, N]`` (subclasses may add keys).
        """
        raise NotImplementedError

    def _placement(self) -> tuple[torch.device | None, torch.dtype]:
        """Device and float dtype of the module's weights (None, float32 for a module without weights)."""
        for tensor in self.parameters():
            return tensor.device, tensor.dtype
        return None, torch.float32

    @torch.inference_mode()
    def extract(self, image: torch.Tensor, **preprocess: Any) -> dict[str, torch.Tensor]:
        """Extract features from an image, resizing it first as :attr:`preprocess_conf` says.

        Args:
            image: ``[3, H, W]``, ``[1, H, W]`` or batched ``[B, C, H, W]`` float image in ``[0, 1]``.
            **preprocess: overrides of :attr:`preprocess_conf`: ``resize`` (long side in pixels,
                None to keep the size), ``side``, ``interpolation``, ``align_corners``, ``antialias``.

        Returns:
            ``keypoints [B, N, 2]`` float32 pixels in the frame of ``image``,
            ``keypoint_scores [B, N]``, ``descriptors [B, N, D]``, ``image_size [B, 2]`` (W, H) of
            ``image``, ``keypoint_mask [B, N]`` (True for real keypoints; images of a batch with
            fewer keypoints are padded with zeros), plus extractor-specific keys.
        """
        unknown = sorted(set(preprocess) - set(_PREPROCESS_KEYS))
        if unknown:
            raise TypeError(f"Unknown preprocessing option(s) {unknown}; valid options: {list(_PREPROCESS_KEYS)}.")
        conf = {"side": "long", "antialias": True, **self.preprocess_conf, **preprocess}
        image = check_image(image, self.min_image_size)
        device, dtype = self._placement()
        image = image.to(device=device or image.device, dtype=dtype)
        b, _, h, w = image.shape
        size = conf.pop("resize")
        if size is not None:
            image, scale = resize_image(image, size, **conf)
            check_image(image, self.min_image_size, what="resized image")
        feats = self.forward({"image": image})
        if size is not None:  # back to the pixels of the given image
            mask = feats["keypoint_mask"][..., None]
            feats["keypoints"] = torch.where(mask, (feats["keypoints"] + 0.5) / scale - 0.5, 0.0)
        feats["keypoints"] = feats["keypoints"].float()
        feats["image_size"] = torch.tensor([w, h], dtype=torch.float32, device=image.device).expand(b, 2).clone()
        return feats
